import pytest
import tensorflow_datasets as tfds

from sharedformer_tf.data import text_documents


@pytest.mark.parametrize(
    "spec, message",
    [
        ("csv:x", "Unknown data SPEC kind 'csv'"),
        ("bible:fr", "Received: language='fr'"),
        ("text:", "`text:` needs a file"),
        ("tfds:", "`tfds:` needs a dataset name"),
    ],
)
def test_bad_specs_are_named(spec, message):
    with pytest.raises(ValueError, match=message):
        text_documents.parse_spec(spec)


def test_text_file_documents_are_paragraphs_or_lines(tmp_path):
    paragraphs = tmp_path / "paragraphs.txt"
    paragraphs.write_text("one line\nand its next\n\n\nsecond part\n\nthird\n", encoding="utf-8")
    assert text_documents.read_text_file(str(paragraphs)) == [
        "one line and its next", "second part", "third"]  # fmt: skip
    lines = tmp_path / "lines.txt"
    lines.write_text("\ufefffirst\r\nsecond\nthird\n", encoding="utf-8")
    assert text_documents.read_text_file(str(lines)) == ["first", "second", "third"]


def test_held_out_parts_are_the_contiguous_end(tmp_path):
    path = tmp_path / "doc.txt"
    path.write_text("".join(f"document {i}\n" for i in range(100)), encoding="utf-8")
    parts = {s: text_documents.read_documents(f"text:{path}", s) for s in text_documents.SPLITS}
    assert parts["train"] == [f"document {i}" for i in range(90)]
    assert parts["validation"] == [f"document {i}" for i in range(90, 95)]
    assert parts["test"] == [f"document {i}" for i in range(95, 100)]


def test_bad_text_files_give_one_clear_error(tmp_path):
    empty = tmp_path / "empty.txt"
    empty.write_text("\n\n", encoding="utf-8")
    with pytest.raises(ValueError, match="holds no text"):
        text_documents.read_documents(f"text:{empty}")
    latin = tmp_path / "latin.txt"
    latin.write_bytes("ok\ncaf\xe9\n".encode("latin-1"))
    with pytest.raises(ValueError, match="line 2: not valid UTF-8"):
        text_documents.read_documents(f"text:{latin}")
    short = tmp_path / "short.txt"
    short.write_text("one\ntwo\n", encoding="utf-8")
    with pytest.raises(ValueError, match="at least 3 documents.*Received: 2"):
        text_documents.read_documents(f"text:{short}")
    with pytest.raises(FileNotFoundError, match="nowhere.txt"):
        text_documents.read_documents(f"text:{tmp_path}/nowhere.txt")


def test_tfds_text_sets_are_read_from_their_splits():
    with tfds.testing.mock_data(num_examples=3, policy=tfds.testing.MockPolicy.USE_CODE):
        train = text_documents.read_documents("tfds:tiny_shakespeare", "train")
        test = text_documents.read_documents("tfds:tiny_shakespeare", "test")
    assert len(train) == 3 and len(test) == 3
    assert all(isinstance(text, str) and text for text in train + test)
