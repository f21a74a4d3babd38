"""The builtin parallel corpus: number, date, time and money expressions.

Every pair is rendered on the fly by locale libraries (babel's CLDR data
and num2words) in two real languages, deterministically from a seed, so the
demo translator trains offline and nothing is copied into the repository.
The source side is always as a speaker of the source language writes it;
the target side is what the target locale writes for the same value, so a
model has to learn word order (`Tuesday, March 4, 2025` -> `mardi 4 mars
2025`), 12- vs 24-hour clocks, decimal and grouping separators, currency
placement, agreement (`deux cents` / `deux cent un`, `doscientas libras`)
and French vigesimal numbers (`quatre-vingt-dix-sept`).

Splits are decided by a hash of the source text, so the test split is the
same whatever the number of training pairs, and never overlaps training.
"""

import datetime
import hashlib
import random

import babel.dates
import babel.numbers
from num2words import num2words

LANGUAGES = ("en", "fr", "de", "es")
SPLITS = ("train", "valid", "test")

# Short frames around dates and times, written for this corpus.
_ON_DATE = {"en": "on {}", "fr": "le {}", "de": "am {}", "es": "el {}"}
_AT_TIME = {"en": "at {}", "fr": "à {}", "de": "um {}", "es": "a las {}"}
_DATE_AT_TIME = {
    "en": "{} at {}",
    "fr": "{} à {}",
    "de": "{} um {}",
    "es": "{} a las {}",
}
# Currencies whose spelled-out forms num2words renders correctly in all four
# languages; amounts in figures use more.
_WORD_CURRENCIES = ("EUR", "USD")
_FIGURE_CURRENCIES = ("EUR", "USD", "GBP", "CHF", "JPY")

KINDS = (
    ("cardinal", 30),
    ("ordinal", 8),
    ("date", 17),
    ("time", 10),
    ("date_time", 5),
    ("money_figures", 15),
    ("money_words", 15),
)


def parse_pair(pair):
    """`"en-fr"` -> `("en", "fr")`, validated."""
    parts = pair.split("-") if isinstance(pair, str) else []
    if len(parts) != 2 or parts[0] == parts[1] or not set(parts) <= set(LANGUAGES):
        raise ValueError(
            "A builtin language pair is two different codes among "
            f"{LANGUAGES} joined by '-', e.g. 'en-fr'. Received: pair={pair!r}"
        )
    return parts[0], parts[1]


def _clean(text):
    # CLDR uses narrow and ordinary no-break spaces; keep plain spaces.
    return " ".join(text.replace("\u202f", " ").replace("\xa0", " ").split())


def _number(rng):
    digits = rng.randint(1, 6)
    low = 0 if digits == 1 else 10 ** (digits - 1)
    return rng.randint(low, 10**digits - 1)


def _date(rng):
    start = datetime.date(1900, 1, 1).toordinal()
    return datetime.date.fromordinal(start + rng.randrange(200 * 365))


def _time(rng):
    return datetime.time(rng.randrange(24), rng.randrange(60))


def _amount(rng, currency):
    whole = _number(rng)
    if currency == "JPY":
        return whole
    return round(whole + rng.randrange(100) / 100, 2)


def _sample(kind, rng):
    """A random value of `kind`, as the arguments of `_render`."""
    if kind == "cardinal":
        return (_number(rng),)
    if kind == "ordinal":
        return (rng.randint(1, 1000),)
    if kind in ("date", "time"):
        return (_date(rng) if kind == "date" else _time(rng), rng.random() < 0.5)
    if kind == "date_time":
        return _date(rng), _time(rng)
    currency = rng.choice(_FIGURE_CURRENCIES if kind == "money_figures" else _WORD_CURRENCIES)
    return _amount(rng, currency), currency


def _render(kind, value, lang):
    """Writes `value` of `kind` as a speaker of `lang` would."""
    if kind == "cardinal":
        return num2words(value[0], lang=lang)
    if kind == "ordinal":
        return num2words(value[0], to="ordinal", lang=lang)
    if kind == "date":
        text = babel.dates.format_date(value[0], "full", locale=lang)
        return _ON_DATE[lang].format(text) if value[1] else text
    if kind == "time":
        text = babel.dates.format_time(value[0], "short", locale=lang)
        return _AT_TIME[lang].format(text) if value[1] else text
    if kind == "date_time":
        return _DATE_AT_TIME[lang].format(
            babel.dates.format_date(value[0], "full", locale=lang),
            babel.dates.format_time(value[1], "short", locale=lang),
        )
    if kind == "money_figures":
        return babel.numbers.format_currency(value[0], value[1], locale=lang)
    if kind == "money_words":
        return num2words(value[0], to="currency", lang=lang, currency=value[1])
    raise ValueError(f"Unknown kind. Received: kind={kind!r}")


def split_of(source):
    """The split of a source sentence: 2% test, 2% valid, 96% train."""
    bucket = int(hashlib.sha1(source.encode("utf-8")).hexdigest()[:8], 16) % 100
    if bucket < 2:
        return "test"
    if bucket < 4:
        return "valid"
    return "train"


def generate(pair="en-fr", split="train", num_examples=1000, seed=0):
    """Generates `num_examples` distinct `(source, target)` pairs of `split`.

    Args:
        pair: `"SRC-TGT"` with codes among `LANGUAGES`, e.g. `"en-fr"`.
        split: `"train"`, `"valid"` or `"test"`.
        num_examples: int, number of pairs.
        seed: int. Equal seeds give equal corpora.

    Returns:
        List of `(source, target)` string tuples.

    Example:

    >>> generate("en-fr", "train", 2, seed=3)  # doctest: +SKIP
    [('on Monday, June 8, 1953', 'le lundi 8 juin 1953'), ...]
    """
    source_lang, target_lang = parse_pair(pair)
    if split not in SPLITS:
        raise ValueError(f"Expected split in {SPLITS}. Received: split={split!r}")
    if not isinstance(num_examples, int) or num_examples < 0:
        raise ValueError(
            f"`num_examples` must be an integer >= 0. Received: num_examples={num_examples!r}"
        )
    rng = random.Random(f"{seed}/{pair}")
    kinds, weights = zip(*KINDS, strict=True)
    seen, pairs = set(), []
    attempts = 0
    while len(pairs) < num_examples:
        attempts += 1
        if attempts > 200 * (num_examples + 100):
            raise RuntimeError(
                f"Could not find {num_examples} distinct {split} pairs; found {len(pairs)}."
            )
        kind = rng.choices(kinds, weights)[0]
        value = _sample(kind, rng)
        source = _clean(_render(kind, value, source_lang))
        if source in seen or split_of(source) != split:
            continue
        seen.add(source)
        pairs.append((source, _clean(_render(kind, value, target_lang))))
    return pairs
