import json
import os
import shutil

import pytest

from sharedformer_tf.data import sword_bible

installed = pytest.mark.skipif(
    shutil.which("diatheke") is None,
    reason="needs diatheke and sword-text-web (make system-packages)",
)
both_installed = pytest.mark.skipif(
    shutil.which("diatheke") is None
    or not {"engWEB2015eb", "spaRV1909eb"}
    <= set(sword_bible.installed_modules() if shutil.which("diatheke") else ()),
    reason="needs diatheke, sword-text-web and sword-text-sparv (make system-packages)",
)


@pytest.mark.parametrize(
    "fragment, text",
    [
        ('<w savlm="x">Ab</w><w savlm="y">cd</w> <w>ef</w>.', "Ab cd ef."),  # glued words
        ("<w>one</w>, <w>two</w>’s <w>three</w>!", "one, two’s three!"),
        ('<title type="x">A heading</title><w>Kept</w> words', "Kept words"),
        ("<w>said</w>, “<w>go</w>.”<l eID='1'/> <l sID='2'/><w>Then</w>", "said, “go.” Then"),
        ('<w>only</w> born</q><q marker=""><w>One</w>', "only born One"),
        ('<w>tóma</w><transChange type="added">lo</transChange> <w>ya</w>', "tómalo ya"),
        ('<w>allí</w><transChange type="added">más</transChange><w>oro</w>', "allí más oro"),
        ("<w>a &amp; b</w>", "a & b"),
    ],
)
def test_clean_markup_restores_spaces_and_drops_headings(fragment, text):
    assert sword_bible.clean_markup(fragment) == text


def test_parse_osis_keeps_listed_books_and_drops_empty_verses():
    rendered = (
        "Genesis 1:1: <w>First</w> <w>words</w>.\n"
        '<title type="x">Heading</title> <div sID="1"/>Genesis 1:2: <w>Second</w>.\n'
        "Genesis 1:3: \n"
        "Tobit 1:1: <w>Not</w> <w>kept</w>.\n"
        "I Samuel 2:5: <w>Numbered</w> <w>book</w>.\n"
        '<title type="psalm">A Song.</title> <l sID="3"/> Psalms 133:1: <w>After</w> a title.\n'
        "Psalms 134:1: EN el <w>CAMINO</w>.\n"
        'Revelation of John 22:21: <w>Amen</w>. <div sID="9" type="glossary"/> Glossary words\n'
        "(engWEB2015eb)\n"
    )
    assert sword_bible.parse_osis(rendered) == [
        sword_bible.Verse("Genesis", 1, 1, "First words."),
        sword_bible.Verse("Genesis", 1, 2, "Second."),
        sword_bible.Verse("I Samuel", 2, 5, "Numbered book."),
        sword_bible.Verse("Psalms", 133, 1, "After a title."),  # a reference after "> "
        sword_bible.Verse("Psalms", 134, 1, "En el CAMINO."),  # the drop cap only
        sword_bible.Verse("Revelation of John", 22, 21, "Amen."),  # the glossary cut off
    ]


@pytest.mark.parametrize(
    "text, expected",
    [
        ("EN el principio", "En el principio"),
        ("Y FUÉ la vida", "Y Fué la vida"),
        ("¿ENTONCES respondió", "¿Entonces respondió"),
        ("I will go", "I will go"),
        ("Él dijo", "Él dijo"),
    ],
)
def test_undo_drop_cap(text, expected):
    assert sword_bible.undo_drop_cap(text) == expected


def fake_bibles(monkeypatch):
    """Two tiny Bibles with a verse missing, an empty one and a misnumbered one."""
    test_chapter = next(c for c in range(1, 200) if sword_bible.split_of("Genesis", c) == "test")
    train_chapter = next(c for c in range(1, 200) if sword_bible.split_of("Genesis", c) == "train")
    Verse = sword_bible.Verse
    bibles = {
        "es": (
            Verse("Genesis", train_chapter, 1, "uno"),
            Verse("Genesis", train_chapter, 2, "dos"),
            Verse("Genesis", train_chapter, 3, "solo en español"),
            Verse("Genesis", train_chapter, 4, "muy corto"),
            Verse("Genesis", test_chapter, 1, "prueba"),
        ),
        "en": (
            Verse("Genesis", train_chapter, 1, "one"),
            Verse("Genesis", train_chapter, 2, "two"),
            Verse("Genesis", train_chapter, 4, "a verse that belongs to another number here"),
            Verse("Genesis", train_chapter, 5, "only in English"),
            Verse("Genesis", test_chapter, 1, "test"),
        ),
    }
    monkeypatch.setattr(
        sword_bible, "read_verses", lambda language, cache_dir=None: bibles[language]
    )


def test_verse_pairs_align_by_reference_within_whole_chapters(monkeypatch):
    fake_bibles(monkeypatch)
    assert sword_bible.verse_pairs("es", "en", "train") == [("uno", "one"), ("dos", "two")]
    assert sword_bible.verse_pairs("en", "es", "test") == [("test", "prueba")]
    assert sword_bible.verse_pairs("es", "en", "validation") == []
    with pytest.raises(ValueError, match="Received: es-es"):
        sword_bible.verse_pairs("es", "es", "train")
    with pytest.raises(ValueError, match="Received: split='dev'"):
        sword_bible.verse_pairs("es", "en", "dev")


def test_splits_keep_whole_chapters_apart_in_stable_shares():
    keys = [(book, chapter) for book in sword_bible.BOOKS for chapter in range(1, 30)]
    splits = [sword_bible.split_of(*key) for key in keys]
    assert splits == [sword_bible.split_of(*key) for key in keys]  # stable
    for split, percent in (("test", 5), ("validation", 5)):
        assert abs(splits.count(split) / len(keys) - percent / 100) < 0.02
    verses = [sword_bible.Verse(b, c, v, f"{b} {c}:{v}") for b, c in keys[:200] for v in (1, 2)]
    parts = {s: sword_bible.chapters(verses, s) for s in sword_bible.SPLITS}
    names = [name for part in parts.values() for name, _ in part]
    assert len(names) == len(set(names)) == 200  # every chapter in one split, whole
    name, text = parts["test"][0]
    assert text == f"{name}:1 {name}:2"


def test_missing_diatheke_names_the_packages(monkeypatch, tmp_path):
    monkeypatch.setattr(sword_bible.shutil, "which", lambda name: None)
    with pytest.raises(FileNotFoundError, match="apt-get install sword-text-web diatheke"):
        sword_bible.read_verses.__wrapped__("en", str(tmp_path))
    with pytest.raises(ValueError, match="Received: language='fr'"):
        sword_bible.read_verses.__wrapped__("fr", str(tmp_path))


@installed
def test_world_english_bible_is_rendered_once_and_cached(tmp_path):
    verses = sword_bible.read_verses.__wrapped__("en", str(tmp_path))
    assert 31_000 < len(verses) <= 31_102
    assert {v.book for v in verses} == set(sword_bible.BOOKS)
    assert verses[0][:3] == ("Genesis", 1, 1) and verses[-1][:3] == ("Revelation of John", 22, 21)
    assert all(v.text and "<" not in v.text for v in verses)
    (cache,) = os.listdir(tmp_path)
    with open(tmp_path / cache, encoding="utf-8") as f:
        assert [tuple(row) for row in json.load(f)] == [tuple(v) for v in verses]
    assert sword_bible.read_verses.__wrapped__("en", str(tmp_path)) == tuple(verses)


@both_installed
def test_spanish_english_pairs_from_the_installed_modules():
    parts = {split: sword_bible.verse_pairs("es", "en", split) for split in sword_bible.SPLITS}
    assert 26_000 < len(parts["train"]) and 1_000 < len(parts["test"]) < 2_500
    assert parts["train"][0] == (
        "En el principio crió Dios los cielos y la tierra.",
        "In the beginning, God created the heavens and the earth.",
    )
    train, test = set(parts["train"]), set(parts["test"])
    assert len(train & test) < 0.02 * len(test)  # only verses the Bible repeats word for word
    assert all(s and t and "<" not in s + t for s, t in parts["test"])
