"""Reading sentence pairs from a data SPEC.

SPEC forms:

- `builtin[:PAIR[:SPLIT]]`: the generated corpus (`builtin_corpus`), e.g.
  `builtin`, `builtin:en-fr`, `builtin:en-de:test`.
- `parallel:SRC_FILE,TGT_FILE`: two aligned UTF-8 files, one sentence a line.
- `tsv:FILE`: `source<TAB>target` a line (further columns, as in Tatoeba or
  Anki exports, are ignored).
- `tfds:NAME[:SPLIT]`: a TensorFlow Datasets translation set with supervised
  keys, read from the user's data_dir, e.g. `tfds:ted_hrlr_translate/pt_to_en`.
- `bible:SRC-TGT[:SPLIT]`: public-domain Bibles aligned by verse, from
  Debian's SWORD packages (`sword_bible`), e.g. `bible:es-en` (Reina-Valera
  1909 -> World English Bible); splits are whole chapters.
"""

import dataclasses
import os

from sharedformer_tf.data import builtin_corpus, sword_bible
from sharedformer_tf.data.tfds_reader import load_prepared

KINDS = ("builtin", "parallel", "tsv", "tfds", "bible")
# The kinds that have their own validation and test splits.
SPLIT_KINDS = ("builtin", "tfds", "bible")
SPECS = "builtin[:en-fr], parallel:SRC,TGT, tsv:FILE, tfds:NAME, bible:es-en"
# Default number of builtin pairs per split.
BUILTIN_SIZES = {"train": 40_000, "valid": 500, "test": 1_000}


@dataclasses.dataclass(frozen=True)
class DataSpec:
    """A parsed SPEC: `kind`, its `paths` or `name`, and an optional `split`."""

    kind: str
    name: str = ""
    paths: tuple = ()
    split: str | None = None


def parse_spec(spec):
    """Parses a SPEC string (see the module docstring) into a `DataSpec`."""
    if not isinstance(spec, str) or not spec:
        raise ValueError(f"A data SPEC must be a non-empty string. Received: spec={spec!r}")
    kind, _, rest = spec.partition(":")
    if kind not in KINDS:
        raise ValueError(
            f"Unknown data SPEC kind {kind!r}; expected one of {SPECS}. Received: spec={spec!r}"
        )
    if kind == "builtin":
        pair, _, split = rest.partition(":")
        pair = pair or "en-fr"
        builtin_corpus.parse_pair(pair)
        if split and split not in builtin_corpus.SPLITS:
            raise ValueError(
                f"Unknown builtin split; expected one of {builtin_corpus.SPLITS}. "
                f"Received: spec={spec!r}"
            )
        return DataSpec("builtin", name=pair, split=split or None)
    if kind == "parallel":
        paths = tuple(p for p in rest.split(","))
        if len(paths) != 2 or not all(paths):
            raise ValueError(
                "`parallel:` needs two files separated by a comma, "
                f"parallel:SRC_FILE,TGT_FILE. Received: spec={spec!r}"
            )
        return DataSpec("parallel", paths=paths)
    if kind == "tsv":
        if not rest:
            raise ValueError(f"`tsv:` needs a file, tsv:FILE. Received: spec={spec!r}")
        return DataSpec("tsv", paths=(rest,))
    name, _, split = rest.partition(":")
    if kind == "bible":
        source, dash, target = name.partition("-")
        if not dash:
            raise ValueError(f"`bible:` needs a language pair, e.g. bible:es-en. "
                             f"Received: spec={spec!r}")  # fmt: skip
        sword_bible.check_language(source)
        sword_bible.check_language(target)
        if source == target:
            raise ValueError(f"`bible:` needs two languages. Received: spec={spec!r}")
        if split and split not in builtin_corpus.SPLITS:
            raise ValueError(f"Unknown split; expected one of {builtin_corpus.SPLITS}. "
                             f"Received: spec={spec!r}")  # fmt: skip
        return DataSpec("bible", name=name, split=split or None)
    if not name:
        raise ValueError(f"`tfds:` needs a dataset name, tfds:NAME. Received: spec={spec!r}")
    return DataSpec("tfds", name=name, split=split or None)


def decode_lines(raw, name):
    """Splits UTF-8 `raw` bytes into lines without line ends (or a leading
    byte-order mark); a bad byte raises `ValueError` naming `name` and the
    line."""
    lines = raw.split(b"\n")
    if lines and lines[-1] == b"":
        lines.pop()
    texts = []
    for number, line in enumerate(lines, start=1):
        try:
            text = line.decode("utf-8")
        except UnicodeDecodeError as error:
            raise ValueError(
                f"{name}, line {number}: not valid UTF-8 ({error.reason} at byte "
                f"{error.start}). Convert the text to UTF-8, e.g. with iconv."
            ) from None
        texts.append(text.removesuffix("\r").removeprefix("\ufeff" if number == 1 else ""))
    return texts


def _read_lines(path):
    if not os.path.isfile(path):
        raise FileNotFoundError(f"Data file not found. Received: path={path!r}")
    with open(path, "rb") as f:
        return decode_lines(f.read(), path)


def _read_parallel(source_path, target_path):
    sources, targets = _read_lines(source_path), _read_lines(target_path)
    if len(sources) != len(targets):
        raise ValueError(
            "Parallel files must have the same number of lines. Received: "
            f"{source_path!r} with {len(sources)} lines, {target_path!r} with "
            f"{len(targets)} lines"
        )
    return [(s.strip(), t.strip()) for s, t in zip(sources, targets, strict=True)]


def _read_tsv(path):
    pairs = []
    for number, line in enumerate(_read_lines(path), start=1):
        if not line.strip():
            continue
        columns = line.split("\t")
        if len(columns) < 2:
            raise ValueError(
                f"{path}, line {number}: expected source<TAB>target. Received: {line[:80]!r}"
            )
        pairs.append((columns[0].strip(), columns[1].strip()))
    return pairs


def _read_tfds(name, split, data_dir):
    dataset, _ = load_prepared(name, split, data_dir, as_supervised=True)
    return [
        (s.decode("utf-8").strip(), t.decode("utf-8").strip())
        for s, t in dataset.as_numpy_iterator()
    ]


def read_pairs(spec, split="train", num_examples=None, seed=0, data_dir=None):
    """Reads `(source, target)` pairs.

    Args:
        spec: SPEC string or `DataSpec`.
        split: split used when the SPEC names none (`"train"`, `"valid"` or
            `"test"`; tfds and bible use `"validation"` for `"valid"`).
            Files have no splits: all their lines are read.
        num_examples: int or `None`. Builtin: number of pairs to generate
            (default `BUILTIN_SIZES[split]`); other sources: keep the first
            `num_examples` pairs.
        seed: int, seed of the builtin corpus.
        data_dir: tfds data directory (default: tfds' own default).

    Returns:
        List of `(source, target)` strings, stripped of surrounding space.
    """
    spec = parse_spec(spec) if isinstance(spec, str) else spec
    split = spec.split or split
    if spec.kind == "builtin":
        count = BUILTIN_SIZES[split] if num_examples is None else num_examples
        return builtin_corpus.generate(spec.name, split, count, seed=seed)
    if spec.kind == "parallel":
        pairs = _read_parallel(*spec.paths)
    elif spec.kind == "tsv":
        pairs = _read_tsv(spec.paths[0])
    elif spec.kind == "bible":
        source, target = spec.name.split("-")
        try:
            pairs = sword_bible.verse_pairs(source, target,
                                            {"valid": "validation"}.get(split, split))  # fmt: skip
        except FileNotFoundError as error:
            raise FileNotFoundError(f"{error} Other SPECs: {SPECS}.") from None
    else:
        tfds_split = {"valid": "validation"}.get(split, split)
        pairs = _read_tfds(spec.name, tfds_split, data_dir)
    return pairs if num_examples is None else pairs[:num_examples]
