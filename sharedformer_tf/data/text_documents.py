"""Reading documents for language modelling from a data SPEC.

SPEC forms:

- `bible[:LANG]`: a public-domain Bible from Debian's SWORD packages
  (`sword_bible`; `en`, the World English Bible, by default), one document
  per chapter, split by whole chapters.
- `text:FILE`: a UTF-8 text file. Paragraphs separated by blank lines are
  the documents (the lines of a paragraph joined by spaces); a file without
  blank lines has one document per line. The last 5% of the documents are
  the test split and the 5% before them the validation split, so the
  held-out text is contiguous and never interleaved with training text.
- `tfds:NAME`: the first string feature of a prepared TensorFlow Datasets
  set (e.g. `tfds:tiny_shakespeare`), its own train/validation/test splits,
  read from the user's data_dir (nothing is downloaded).
"""

import os

from sharedformer_tf.data import sword_bible
from sharedformer_tf.data.text_pairs import decode_lines
from sharedformer_tf.data.tfds_reader import load_prepared

KINDS = ("bible", "text", "tfds")
SPLITS = ("train", "validation", "test")
HELD_OUT_PERCENT = 5  # of a text file's documents, for each of test and validation


def parse_spec(spec):
    """Checks a SPEC (see the module docstring); returns `(kind, argument)`."""
    if not isinstance(spec, str) or not spec:
        raise ValueError(f"A data SPEC must be a non-empty string. Received: spec={spec!r}")
    kind, _, argument = spec.partition(":")
    if kind not in KINDS:
        raise ValueError(
            f"Unknown data SPEC kind {kind!r}; expected one of bible[:en], text:FILE, "
            f"tfds:NAME. Received: spec={spec!r}"
        )
    if kind == "bible":
        argument = argument or "en"
        sword_bible.check_language(argument)
    elif not argument:
        what = "a file, text:FILE" if kind == "text" else "a dataset name, tfds:NAME"
        raise ValueError(f"`{kind}:` needs {what}. Received: spec={spec!r}")
    return kind, argument


def split_documents(documents, split):
    """The `split` part of a list of documents: the last `HELD_OUT_PERCENT`%
    (at least one) is test, as many before it validation, the rest train."""
    if len(documents) < 3:
        raise ValueError(
            "A text file needs at least 3 documents (lines, or paragraphs between blank "
            f"lines) for its train, validation and test parts. Received: {len(documents)}"
        )
    held_out = max(1, len(documents) * HELD_OUT_PERCENT // 100)
    bounds = {"train": (0, len(documents) - 2 * held_out),
              "validation": (len(documents) - 2 * held_out, len(documents) - held_out),
              "test": (len(documents) - held_out, len(documents))}  # fmt: skip
    start, end = bounds[split]
    return documents[start:end]


def read_text_file(path):
    """The documents of a UTF-8 text file (see the module docstring).

    Raises:
        FileNotFoundError: no such file.
        ValueError: a line is not UTF-8 (named), or the file has no text.
    """
    if not os.path.isfile(path):
        raise FileNotFoundError(f"Data file not found. Received: path={path!r}")
    with open(path, "rb") as f:
        lines = decode_lines(f.read(), path)
    if any(not line.strip() for line in lines):
        documents, paragraph = [], []
        for line in lines + [""]:
            if line.strip():
                paragraph.append(line.strip())
            elif paragraph:
                documents.append(" ".join(paragraph))
                paragraph = []
    else:
        documents = [line.strip() for line in lines]
    if not documents:
        raise ValueError(f"{path} holds no text")
    return documents


def _read_tfds(name, split, data_dir):
    import tensorflow as tf

    dataset, info = load_prepared(name, split, data_dir)
    strings = [key for key, feature in info.features.items()
               if getattr(feature, "dtype", None) == tf.string]  # fmt: skip
    if not strings:
        raise ValueError(f"tfds:{name} has no text feature. Received: features "
                         f"{sorted(info.features)}")  # fmt: skip
    key = "text" if "text" in strings else strings[0]
    return [row[key].decode("utf-8").strip() for row in dataset.as_numpy_iterator()]


def read_documents(spec, split="train", data_dir=None):
    """The documents of `split`.

    Args:
        spec: a SPEC string.
        split: `"train"`, `"validation"` or `"test"`.
        data_dir: tfds data directory (default: tfds' own).

    Returns:
        A list of non-empty strings.
    """
    if split not in SPLITS:
        raise ValueError(f"Unknown split; expected one of {SPLITS}. Received: split={split!r}")
    kind, argument = parse_spec(spec)
    if kind == "bible":
        try:
            verses = sword_bible.read_verses(argument)
        except FileNotFoundError as error:
            raise FileNotFoundError(f"{error} Other SPECs: text:FILE, tfds:NAME.") from None
        documents = [text for _, text in sword_bible.chapters(verses, split)]
    elif kind == "text":
        documents = split_documents(read_text_file(argument), split)
    else:
        documents = _read_tfds(argument, split, data_dir)
    return [d for d in documents if d]
