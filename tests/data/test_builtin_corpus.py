import re

import pytest

from sharedformer_tf.data import builtin_corpus


@pytest.fixture(scope="module")
def train():
    return builtin_corpus.generate("en-fr", "train", 3000, seed=0)


def test_deterministic_by_seed(train):
    assert builtin_corpus.generate("en-fr", "train", 3000, seed=0) == train
    assert builtin_corpus.generate("en-fr", "train", 50, seed=1) != train[:50]


def test_pairs_are_distinct_and_splits_disjoint(train):
    sources = [s for s, _ in train]
    assert len(set(sources)) == len(sources)
    test = builtin_corpus.generate("en-fr", "test", 200, seed=0)
    valid = builtin_corpus.generate("en-fr", "valid", 200, seed=0)
    assert not set(sources) & {s for s, _ in test}
    assert not {s for s, _ in valid} & {s for s, _ in test}
    assert all(builtin_corpus.split_of(s) == "test" for s, _ in test)


def test_test_split_does_not_depend_on_training_size():
    assert builtin_corpus.generate("en-fr", "test", 30, seed=0) == builtin_corpus.generate(
        "en-fr", "test", 30, seed=0
    )


def test_covers_large_cardinals_dates_and_money(train):
    targets = " ".join(t for _, t in train)
    sources = " ".join(s for s, _ in train)
    # Cardinals in the hundreds of thousands, in words on both sides.
    assert re.search(r"hundred and \w+(-\w+)? thousand", sources)
    assert re.search(r"cent \w+(-\w+)* mille", targets)
    # French vigesimal forms and plural agreement of "cents" / "quatre-vingts".
    assert "quatre-vingt-dix" in targets and "soixante-dix" in targets
    assert re.search(r"\bdeux cents\b", targets) and re.search(r"\bdeux cent \w", targets)
    # Full dates with weekdays, reordered.
    assert re.search(
        r"\b(Monday|Tuesday|Wednesday|Thursday|Friday|Saturday|Sunday), \w+ \d+, \d{4}", sources
    )
    assert re.search(
        r"\b(lundi|mardi|mercredi|jeudi|vendredi|samedi|dimanche) \d+ \w+ \d{4}", targets
    )
    # Money in figures and in words; 12-hour clock to 24-hour clock.
    assert re.search(r"€[\d,]+\.\d\d", sources) and re.search(r"[\d ]+,\d\d €", targets)
    assert "euros et" in targets
    assert re.search(r"\d+:\d\d PM", sources) and re.search(r"\b(1[3-9]|2[0-3]):\d\d\b", targets)


def test_no_special_spaces(train):
    assert not any("\xa0" in t or "\u202f" in t for pair in train for t in pair)


@pytest.mark.parametrize("pair", ["en-de", "fr-es", "de-en"])
def test_other_pairs(pair):
    pairs = builtin_corpus.generate(pair, "train", 20, seed=0)
    assert len(pairs) == 20 and all(s and t for s, t in pairs)
    assert pairs != builtin_corpus.generate("en-fr", "train", 20, seed=0)


@pytest.mark.parametrize("pair", ["en", "en-en", "en-xx", "en_fr", None])
def test_invalid_pairs(pair):
    with pytest.raises(ValueError, match="Received: pair="):
        builtin_corpus.generate(pair, "train", 1)


def test_invalid_split_and_size():
    with pytest.raises(ValueError, match="split='dev'"):
        builtin_corpus.generate("en-fr", "dev", 1)
    with pytest.raises(ValueError, match="num_examples=-1"):
        builtin_corpus.generate("en-fr", "train", -1)
