import pytest
import tensorflow_datasets as tfds

from sharedformer_tf.data import text_pairs
from sharedformer_tf.data.text_pairs import DataSpec, parse_spec, read_pairs


@pytest.mark.parametrize(
    "spec, expected",
    [
        ("builtin", DataSpec("builtin", name="en-fr")),
        ("builtin:en-de", DataSpec("builtin", name="en-de")),
        ("builtin:en-fr:test", DataSpec("builtin", name="en-fr", split="test")),
        ("parallel:a.en,b.fr", DataSpec("parallel", paths=("a.en", "b.fr"))),
        ("tsv:pairs.tsv", DataSpec("tsv", paths=("pairs.tsv",))),
        ("tfds:ted_hrlr_translate/pt_to_en", DataSpec("tfds", name="ted_hrlr_translate/pt_to_en")),
        (
            "tfds:wmt14_translate/de-en:validation",
            DataSpec("tfds", name="wmt14_translate/de-en", split="validation"),
        ),
        ("bible:es-en", DataSpec("bible", name="es-en")),
        ("bible:en-es:test", DataSpec("bible", name="en-es", split="test")),
    ],
)
def test_parse_spec(spec, expected):
    assert parse_spec(spec) == expected


@pytest.mark.parametrize(
    "spec, message",
    [
        ("csv:x", "Unknown data SPEC kind 'csv'"),
        ("parallel:only_one", "two files"),
        ("tsv:", "needs a file"),
        ("tfds:", "needs a dataset name"),
        ("builtin:en-xx", "pair='en-xx'"),
        ("builtin:en-fr:dev", "spec='builtin:en-fr:dev'"),
        ("", "non-empty"),
        ("bible:es", "needs a language pair"),
        ("bible:es-fr", "language='fr'"),
        ("bible:en-en", "two languages"),
        ("bible:es-en:dev", "spec='bible:es-en:dev'"),
    ],
)
def test_bad_specs(spec, message):
    with pytest.raises(ValueError, match=message):
        parse_spec(spec)


def test_builtin_uses_the_requested_split():
    pairs = read_pairs("builtin:en-fr", "valid", num_examples=5)
    assert len(pairs) == 5
    assert read_pairs("builtin:en-fr:valid", "train", num_examples=5) == pairs


def test_parallel_files(tmp_path):
    (tmp_path / "src.txt").write_text("one\r\n two \n\nthree\n", encoding="utf-8")
    (tmp_path / "tgt.txt").write_text("\ufeffun\r\ndeux\n\ntrois\n", encoding="utf-8")
    pairs = read_pairs(f"parallel:{tmp_path}/src.txt,{tmp_path}/tgt.txt")
    assert pairs == [("one", "un"), ("two", "deux"), ("", ""), ("three", "trois")]
    assert read_pairs(f"parallel:{tmp_path}/src.txt,{tmp_path}/tgt.txt", num_examples=1) == [
        ("one", "un")
    ]


def test_parallel_files_must_align(tmp_path):
    (tmp_path / "a").write_text("1\n2\n")
    (tmp_path / "b").write_text("1\n")
    with pytest.raises(ValueError, match="2 lines.*1 lines"):
        read_pairs(f"parallel:{tmp_path}/a,{tmp_path}/b")


def test_tsv_keeps_two_columns_and_skips_blank_lines(tmp_path):
    path = tmp_path / "pairs.tsv"
    path.write_text("Go.\tVa !\tCC-BY 2.0 (France) Attribution\n\nHi.\tSalut.\n", encoding="utf-8")
    assert read_pairs(f"tsv:{path}") == [("Go.", "Va !"), ("Hi.", "Salut.")]


def test_tsv_line_without_tab_is_named(tmp_path):
    path = tmp_path / "pairs.tsv"
    path.write_text("a\tb\nno tab here\n")
    with pytest.raises(ValueError, match=r"pairs.tsv, line 2: expected source<TAB>target"):
        read_pairs(f"tsv:{path}")


def test_non_utf8_bytes_name_file_and_line(tmp_path):
    path = tmp_path / "latin1.tsv"
    path.write_bytes("ok\tbien\ncaf\xe9\tcaf\xe9\n".encode("latin-1"))
    with pytest.raises(ValueError, match=r"latin1.tsv, line 2: not valid UTF-8"):
        read_pairs(f"tsv:{path}")


def test_missing_file(tmp_path):
    with pytest.raises(FileNotFoundError, match="nope.tsv"):
        read_pairs(f"tsv:{tmp_path}/nope.tsv")


@pytest.mark.parametrize("name", ["ted_hrlr_translate/pt_to_en", "wmt14_translate/de-en"])
def test_tfds_reader_with_mock_data(name):
    with tfds.testing.mock_data(num_examples=6, policy=tfds.testing.MockPolicy.USE_CODE):
        pairs = read_pairs(f"tfds:{name}", "valid")
    assert len(pairs) == 6
    assert all(isinstance(s, str) and isinstance(t, str) for s, t in pairs)


def test_builtin_sizes_cover_every_split():
    assert set(text_pairs.BUILTIN_SIZES) == {"train", "valid", "test"}


def test_bible_pairs_take_the_split_and_name_the_packages(monkeypatch):
    calls = []

    def verse_pairs(source, target, split):
        calls.append((source, target, split))
        return [("a", "b")] * 3

    monkeypatch.setattr(text_pairs.sword_bible, "verse_pairs", verse_pairs)
    assert read_pairs("bible:es-en", "valid", num_examples=2) == [("a", "b")] * 2
    assert read_pairs("bible:en-es:test", "train") == [("a", "b")] * 3
    assert calls == [("es", "en", "validation"), ("en", "es", "test")]

    def missing(*args):
        raise FileNotFoundError("The SWORD module spaRV1909eb is not installed. Install it ...")

    monkeypatch.setattr(text_pairs.sword_bible, "verse_pairs", missing)
    with pytest.raises(FileNotFoundError, match="not installed.*Other SPECs: builtin.*tsv:FILE"):
        read_pairs("bible:es-en")
