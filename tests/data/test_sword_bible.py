import json
import os
import shutil

import pytest

from sharedformer_tf.data import sword_bible

installed = pytest.mark.skipif(
    shutil.which("diatheke") is None,
    reason="needs diatheke and sword-text-web (make system-packages)",
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
        "(engWEB2015eb)\n"
    )
    assert sword_bible.parse_osis(rendered) == [
        sword_bible.Verse("Genesis", 1, 1, "First words."),
        sword_bible.Verse("Genesis", 1, 2, "Second."),
        sword_bible.Verse("I Samuel", 2, 5, "Numbered book."),
    ]


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
