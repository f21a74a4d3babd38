"""Public-domain Bibles from Debian's SWORD modules, read offline.

`LANGUAGES` maps a language to its SWORD module and Debian package: `en` is
the World English Bible (`engWEB2015eb`, `sword-text-web`), `es` the Reina-
Valera 1909 (`spaRV1909eb`, `sword-text-sparv`). Debian's `diatheke` renders
a whole module in a few seconds as OSIS markup; `read_verses` parses it into
plain verse texts and caches them (JSON) so later runs read the cache.

Only the 66 books both modules have (`BOOKS`) are kept: 31,102 verse numbers;
verses empty in a module are dropped. Headings, psalm titles and other
markup are removed. Where the markup glues words together (`<w>God</w><w>
created</w>`, a frequent flaw of these modules) a space is put back, except
before the Spanish enclitic pronouns the Reina-Valera marks as added words
(`sáca` + `lo` -> `sácalo`).

Splits keep whole chapters apart (`split_of`): a chapter's split is a stable
hash of its book and number, so no test verse has a neighbour in training.
"""

import functools
import hashlib
import html
import json
import logging
import os
import re
import shutil
import subprocess
import typing

logger = logging.getLogger("sharedformer_tf")

# language -> (SWORD module, Debian package).
LANGUAGES = {"en": ("engWEB2015eb", "sword-text-web"), "es": ("spaRV1909eb", "sword-text-sparv")}
# The books of both modules, with the names diatheke's English locale prints.
BOOKS = (
    "Genesis", "Exodus", "Leviticus", "Numbers", "Deuteronomy", "Joshua", "Judges", "Ruth",
    "I Samuel", "II Samuel", "I Kings", "II Kings", "I Chronicles", "II Chronicles", "Ezra",
    "Nehemiah", "Esther", "Job", "Psalms", "Proverbs", "Ecclesiastes", "Song of Solomon",
    "Isaiah", "Jeremiah", "Lamentations", "Ezekiel", "Daniel", "Hosea", "Joel", "Amos",
    "Obadiah", "Jonah", "Micah", "Nahum", "Habakkuk", "Zephaniah", "Haggai", "Zechariah",
    "Malachi", "Matthew", "Mark", "Luke", "John", "Acts", "Romans", "I Corinthians",
    "II Corinthians", "Galatians", "Ephesians", "Philippians", "Colossians", "I Thessalonians",
    "II Thessalonians", "I Timothy", "II Timothy", "Titus", "Philemon", "Hebrews", "James",
    "I Peter", "II Peter", "I John", "II John", "III John", "Jude", "Revelation of John",
)  # fmt: skip
SPLITS = ("train", "validation", "test")
# Percent of chapters per split, by a stable hash of "Book chapter".
SPLIT_PERCENT = {"test": 5, "validation": 5}
CACHE_VERSION = 2
# Longest/shortest text of a verse pair kept by `verse_pairs`.
MAX_LENGTH_RATIO = 2.5
# A verse reference starts a line or follows a tag (and maybe one space).
_HEADER = re.compile(r"(?:^|(?<=>)|(?<=> ))"
                     r"((?:[1-4I]+ )?[A-Z][A-Za-z]*(?: (?:of )?[A-Z][A-Za-z]*)*) "
                     r"(\d+):(\d+): ", re.M)  # fmt: skip
_DROPPED = re.compile(r"<(title|note|speaker)\b[^>]*>.*?</\1>", re.S)
_TAGS = re.compile(r"(?:<[^>]*>)+")
_ENCLITIC = re.compile(r"</w><transChange[^>]*>(?=(?:lo|la|le|los|las|les|me|te|se|nos|os)\b)")
_WORD = re.compile(r"\w", re.U)
_GLOSSARY = re.compile(r'<div\b[^>]*type="glossary"')  # the WEB's appendix, after Revelation
_ATTACHES_LEFT = set(",.;:!?’”)»]")
_ATTACHES_RIGHT = set("‘“(«¿¡[")


class Verse(typing.NamedTuple):
    """One verse: `book` (a name of `BOOKS`), `chapter`, `verse`, `text`."""

    book: str
    chapter: int
    verse: int
    text: str


def diatheke_binary(language="en"):
    """Path of `diatheke`, or a `FileNotFoundError` naming the packages."""
    path = shutil.which("diatheke")
    if path is None:
        raise FileNotFoundError(
            f"diatheke is not installed. Install it with {install_hint(language)}."
        )
    return path


def install_hint(*languages):
    """How to install diatheke and the modules of `languages`."""
    packages = " ".join(LANGUAGES[language][1] for language in languages)
    return f"`sudo apt-get install {packages} diatheke` (Debian/Ubuntu) or `make system-packages`"


def installed_modules():
    """The SWORD Bible modules diatheke can read (a set of names)."""
    listing = subprocess.run([diatheke_binary(), "-b", "system", "-k", "modulelist"],
                             capture_output=True, text=True, check=True).stdout  # fmt: skip
    return {line.split(" : ")[0].strip() for line in listing.splitlines() if " : " in line}


def check_language(language):
    """Raises `ValueError` for a language not in `LANGUAGES`."""
    if language not in LANGUAGES:
        raise ValueError(
            f"Unknown Bible language; expected one of {sorted(LANGUAGES)}. "
            f"Received: language={language!r}"
        )


def clean_markup(fragment):
    """Plain text of an OSIS fragment of one verse (see the module docstring)."""
    fragment = _DROPPED.sub("", fragment)
    fragment = _ENCLITIC.sub("", fragment)  # a clitic stays glued to its verb

    def between(match):
        before = fragment[match.start() - 1] if match.start() else " "
        after = fragment[match.end()] if match.end() < len(fragment) else " "
        if before.isspace() or after.isspace():
            return ""
        if after in _ATTACHES_LEFT or before in _ATTACHES_RIGHT:
            return ""
        glued = _WORD.match(before) or before in _ATTACHES_LEFT
        return " " if glued and (_WORD.match(after) or after in _ATTACHES_RIGHT) else ""

    text = html.unescape(_TAGS.sub(between, fragment))
    return " ".join(text.split())


def undo_drop_cap(text):
    """A chapter's first words printed in capitals (the Reina-Valera's drop
    cap) in ordinary case: `"Y FUÉ la vida"` -> `"Y Fué la vida"`."""
    words = text.split(" ")
    for i, word in enumerate(words):
        letters = [j for j, c in enumerate(word) if c.isalpha()]
        if not letters or not all(word[j].isupper() for j in letters):
            break
        if len(letters) > 1:
            words[i] = word[: letters[1]] + word[letters[1] :].lower()
    return " ".join(words)


def parse_osis(rendered):
    """`Verse`s of diatheke's OSIS rendering, in order, books of `BOOKS` only,
    empty verses dropped."""
    books = set(BOOKS)
    rendered = _GLOSSARY.split(rendered)[0]
    headers = list(_HEADER.finditer(rendered))
    verses = []
    for header, following in zip(headers, headers[1:] + [None], strict=True):
        book = header.group(1)
        end = following.start() if following else len(rendered)
        if book not in books:
            continue
        text = clean_markup(rendered[header.end() : end])
        if following is None:  # diatheke ends with "(module name)"
            text = re.sub(r"\s*\([A-Za-z0-9]+\)\s*$", "", text)
        verse = int(header.group(3))
        if text:
            text = undo_drop_cap(text) if verse == 1 else text
            verses.append(Verse(book, int(header.group(2)), verse, text))
    return verses


@functools.lru_cache(maxsize=4)
def read_verses(language="en", cache_dir=None):
    """Every verse of the Bible in `language`, rendered once and cached.

    Args:
        language: a key of `LANGUAGES`.
        cache_dir: default `~/.cache/sharedformer_tf/bible`.

    Returns:
        A tuple of `Verse`s in canonical order.

    Raises:
        FileNotFoundError: diatheke or the module is not installed (the
            message names the `apt-get install` line).
    """
    check_language(language)
    module = LANGUAGES[language][0]
    binary = diatheke_binary(language)
    version = ""  # the module's configuration file changes with its version
    for name in (module, module.lower()):
        conf = os.path.join("/usr/share/sword/mods.d", f"{name}.conf")
        if os.path.isfile(conf):
            with open(conf, "rb") as f:
                version = hashlib.sha256(f.read()).hexdigest()[:16]
            break
    cache_dir = cache_dir or os.path.join(os.path.expanduser("~"), ".cache", "sharedformer_tf",
                                          "bible")  # fmt: skip
    path = os.path.join(cache_dir, f"{module}-{CACHE_VERSION}-{version}.json")
    if os.path.isfile(path):
        with open(path, encoding="utf-8") as f:
            return tuple(Verse(*row) for row in json.load(f))
    if module not in installed_modules():
        raise FileNotFoundError(
            f"The SWORD module {module} is not installed. Install it with {install_hint(language)}."
        )
    logger.info("Rendering the SWORD module %s with diatheke (once; cached in %s)", module,
                cache_dir)  # fmt: skip
    rendered = subprocess.run(
        [binary, "-b", module, "-l", "en", "-k", f"{BOOKS[0]} 1:1-Revelation 22:21"],
        capture_output=True, text=True, check=True,
    ).stdout  # fmt: skip
    verses = parse_osis(rendered)
    if not verses:
        raise ValueError(f"diatheke rendered no verse of {module}; is the module complete?")
    os.makedirs(cache_dir, exist_ok=True)
    partial = f"{path}.{os.getpid()}.partial"
    with open(partial, "w", encoding="utf-8") as f:
        json.dump([list(v) for v in verses], f, ensure_ascii=False)
    os.replace(partial, path)  # a killed run never leaves a torn cache file
    return tuple(verses)


def split_of(book, chapter):
    """`"train"`, `"validation"` or `"test"` for a whole chapter: the first
    8 bytes of sha256("Book chapter") as an integer, mod 100: below 5 is
    test, below 10 validation (`SPLIT_PERCENT`)."""
    digest = hashlib.sha256(f"{book} {chapter}".encode()).digest()
    bucket = int.from_bytes(digest[:8], "big") % 100
    if bucket < SPLIT_PERCENT["test"]:
        return "test"
    if bucket < SPLIT_PERCENT["test"] + SPLIT_PERCENT["validation"]:
        return "validation"
    return "train"


def chapters(verses, split):
    """The chapters of `split` as documents: `[(\"Book chapter\", text)]`,
    each text its verses joined by spaces, in canonical order."""
    if split not in SPLITS:
        raise ValueError(f"Unknown split; expected one of {SPLITS}. Received: split={split!r}")
    documents = {}
    for v in verses:
        if split_of(v.book, v.chapter) == split:
            documents.setdefault(f"{v.book} {v.chapter}", []).append(v.text)
    return [(name, " ".join(texts)) for name, texts in documents.items()]


def verse_pairs(source, target, split, cache_dir=None):
    """`(source text, target text)` verse pairs of `split`, aligned by
    reference (book, chapter, verse), in canonical order.

    A verse missing or empty in either module is dropped, and so is a pair
    whose texts differ in length (characters) by more than `MAX_LENGTH_RATIO`
    (a few dozen verses the two modules number differently); splits are
    whole chapters (`split_of`), the same for every pair of languages.

    Args:
        source: a key of `LANGUAGES`, e.g. `"es"`.
        target: another key, e.g. `"en"`.
        split: one of `SPLITS`.
        cache_dir: passed to `read_verses`.

    Returns:
        A list of `(source, target)` strings.
    """
    check_language(source)
    check_language(target)
    if source == target:
        raise ValueError(f"A Bible pair needs two languages. Received: {source}-{target}")
    if split not in SPLITS:
        raise ValueError(f"Unknown split; expected one of {SPLITS}. Received: split={split!r}")
    try:
        sources, targets = read_verses(source, cache_dir), read_verses(target, cache_dir)
    except FileNotFoundError as error:
        raise FileNotFoundError(f"{error} A {source}-{target} pair needs both modules: "
                                f"{install_hint(source, target)}.") from None  # fmt: skip
    targets = {v[:3]: v.text for v in targets}
    pairs = [(v.text, targets[v[:3]]) for v in sources
             if v[:3] in targets and split_of(v.book, v.chapter) == split]  # fmt: skip
    return [
        (s, t) for s, t in pairs if max(len(s), len(t)) <= MAX_LENGTH_RATIO * min(len(s), len(t))
    ]
