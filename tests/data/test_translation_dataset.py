import keras_hub
import numpy as np
import pytest

from sharedformer_tf.data.sentencepiece_vocabulary import BOS_ID, EOS_ID, PAD_ID
from sharedformer_tf.data.translation_dataset import (
    count_truncated_pairs,
    length_buckets,
    make_translation_dataset,
)
from sharedformer_tf.preprocessing import Seq2SeqPreprocessor


@pytest.fixture(scope="module")
def setup(builtin_vocabulary):
    pairs, proto = builtin_vocabulary
    return pairs, keras_hub.tokenizers.SentencePieceTokenizer(proto=proto)


def preprocessor(tokenizer, sequence_length):
    return Seq2SeqPreprocessor(tokenizer, sequence_length, PAD_ID, BOS_ID, EOS_ID)


def test_length_buckets():
    assert length_buckets(20) == [8, 16, 20]
    assert length_buckets(16) == [8, 16]


@pytest.mark.parametrize("drop_remainder", [False, True])
def test_batches_are_padded_to_bucket_boundaries(setup, drop_remainder):
    pairs, tokenizer = setup
    dataset = make_translation_dataset(
        pairs, preprocessor(tokenizer, 24), 16, drop_remainder=drop_remainder
    )
    batches = list(dataset.as_numpy_iterator())
    assert len(batches) == int(dataset.cardinality())
    total = 0
    for inputs, labels in batches:
        enc, dec = inputs["encoder_token_ids"], inputs["decoder_token_ids"]
        assert enc.shape[1] in (8, 16, 24) and enc.shape == dec.shape == labels.shape
        if drop_remainder:
            assert enc.shape[0] == 16
        assert np.all(dec[:, 0] == BOS_ID)
        # Labels are the decoder inputs shifted left, ending with EOS.
        shifted = dec[:, 1:] != PAD_ID
        np.testing.assert_array_equal(dec[:, 1:][shifted], labels[:, :-1][shifted])
        np.testing.assert_array_equal((dec != PAD_ID).sum(1), (labels != PAD_ID).sum(1))
        assert np.all((labels == EOS_ID).sum(axis=1) == 1)
        assert np.all((enc == EOS_ID).sum(axis=1) == 1)
        total += enc.shape[0]
    if not drop_remainder:
        assert total == len(pairs)


def test_one_bucket_pads_every_batch_to_the_longest_length_in_data_order(setup):
    pairs, tokenizer = setup
    pairs = pairs[:50]
    bucketed = list(make_translation_dataset(pairs, preprocessor(tokenizer, 24), 16)
                    .as_numpy_iterator())  # fmt: skip
    padded = list(make_translation_dataset(pairs, preprocessor(tokenizer, 24), 16, bucket_step=24)
                  .as_numpy_iterator())  # fmt: skip
    assert [labels.shape for _, labels in padded] == [(16, 24)] * 3 + [(2, 24)]
    # The same real tokens either way, in the order of the pairs.
    first = tokenizer.tokenize([pairs[0][1]])[0]
    assert list(padded[0][1][0, : len(first)]) == list(first)
    real = [sum(int((labels != PAD_ID).sum()) for _, labels in b) for b in (bucketed, padded)]
    assert real[0] == real[1] > 0
    positions = [sum(labels.size for _, labels in b) for b in (bucketed, padded)]
    assert positions[0] < positions[1] == 50 * 24
    with pytest.raises(ValueError, match="bucket_step=0"):
        make_translation_dataset(pairs, preprocessor(tokenizer, 24), 16, bucket_step=0)


def test_first_batch_matches_tokenizer(setup):
    pairs, tokenizer = setup
    dataset = make_translation_dataset(pairs[:1], preprocessor(tokenizer, 64), 4)
    (inputs, labels) = next(iter(dataset.as_numpy_iterator()))
    source_ids = list(tokenizer.tokenize([pairs[0][0]])[0])
    target_ids = list(tokenizer.tokenize([pairs[0][1]])[0])
    n = len(source_ids)
    assert list(inputs["encoder_token_ids"][0, : n + 1]) == source_ids + [EOS_ID]
    assert list(labels[0, : len(target_ids) + 1]) == target_ids + [EOS_ID]


def test_overlong_pairs_are_truncated(setup):
    pairs, tokenizer = setup
    long = [(" ".join(["neuf"] * 80), " ".join(["nine"] * 80))]
    inputs, labels = next(
        iter(make_translation_dataset(long, preprocessor(tokenizer, 16), 2).as_numpy_iterator())
    )
    assert inputs["encoder_token_ids"].shape == (1, 16)
    assert inputs["encoder_token_ids"][0, -1] == EOS_ID and labels[0, -1] == EOS_ID


def test_empty_input_is_an_error(setup):
    with pytest.raises(ValueError, match="0 pairs"):
        make_translation_dataset([], preprocessor(setup[1], 16), 4)


def test_truncated_pairs_are_counted(setup):
    pairs, tokenizer = setup
    long = (" ".join(["neuf"] * 40), "neuf")
    pairs16 = [long, ("neuf", "neuf"), long[::-1]]
    assert count_truncated_pairs(pairs16, preprocessor(tokenizer, 16)) == 2
    assert count_truncated_pairs(pairs[:50], preprocessor(tokenizer, 512)) == 0
    assert count_truncated_pairs([], preprocessor(tokenizer, 16)) == 0
