import keras_hub
import numpy as np
import pytest
import tensorflow as tf

from sharedformer_tf.models import seq2seq_config
from sharedformer_tf.preprocessing import Seq2SeqPreprocessor

TEXTS = ["forty-two", "Tuesday, March 4, 2025", " ".join(["seven"] * 40)]


@pytest.fixture(scope="module")
def tokenizer(builtin_vocabulary):
    return keras_hub.tokenizers.SentencePieceTokenizer(proto=builtin_vocabulary[1])


@pytest.fixture(scope="module")
def preprocessor(tokenizer):
    config = seq2seq_config.tiny(vocabulary_size=tokenizer.vocabulary_size(), max_length=16)
    return Seq2SeqPreprocessor.for_model(config, tokenizer)


def test_ids_follow_the_seq2seq_convention(preprocessor, tokenizer):
    tokens = [tokenizer.tokenize([text])[0] for text in TEXTS]
    source = preprocessor(TEXTS).numpy()
    decoder_ids, labels = preprocessor.target_ids(preprocessor.tokenize(TEXTS))
    assert source.shape == (3, 16) and source.dtype == np.int32
    for row, ids, dec, lab in zip(source, tokens, decoder_ids.to_list(), labels.to_list(),
                                  strict=True):  # fmt: skip
        kept = list(ids[:15])
        assert list(row[: len(kept) + 1]) == kept + [2]
        assert np.all(row[len(kept) + 1 :] == 0)
        assert dec == [1] + kept and lab == kept + [2]
    assert len(tokens[2]) > 15  # the third text was truncated


def test_eager_graph_and_tf_data_agree(preprocessor):
    eager = preprocessor(TEXTS).numpy()
    # A copy: the module's preprocessor predates this test's seeding.
    copy = preprocessor.copy()
    fields = ("sequence_length", "pad_id", "bos_id", "eos_id")
    assert [getattr(copy, f) for f in fields] == [getattr(preprocessor, f) for f in fields]
    assert copy.tokenizer is not preprocessor.tokenizer
    assert copy.tokenizer.proto == preprocessor.tokenizer.proto
    graph = tf.function(copy)(tf.constant(TEXTS)).numpy()
    batches = tf.data.Dataset.from_tensor_slices(TEXTS).batch(3).map(copy)
    np.testing.assert_array_equal(eager, graph)
    np.testing.assert_array_equal(eager, next(iter(batches)).numpy())


def test_detokenize_cuts_at_the_first_eos(preprocessor):
    ids = preprocessor.tokenize(["vingt", "trois"]).to_list()
    rows = np.zeros((2, 12), np.int32)
    rows[0, : 2 * len(ids[0]) + 1] = ids[0] + [2] + ids[0]  # text after EOS is dropped
    rows[1, : len(ids[1])] = ids[1]  # no EOS: padding is dropped
    assert preprocessor.detokenize(rows) == ["vingt", "trois"]
    graph = tf.function(preprocessor.copy().detokenize)(tf.constant(rows)).numpy().tolist()
    assert graph == [b"vingt", b"trois"]


def test_special_ids_come_from_the_config_and_must_be_the_tokenizers(tokenizer):
    config = seq2seq_config.tiny(vocabulary_size=tokenizer.vocabulary_size(), max_length=24)
    preprocessor = Seq2SeqPreprocessor.for_model(config, tokenizer)
    assert (preprocessor.sequence_length, preprocessor.max_tokens) == (24, 23)
    # A config with another EOS passes its own validation but not this one.
    with pytest.raises(ValueError, match=r"eos_id=5 \(the tokenizer's is 2\)"):
        Seq2SeqPreprocessor.for_model(config.replace(eos_id=5), tokenizer)
    with pytest.raises(ValueError, match="more ids than the model's vocabulary"):
        Seq2SeqPreprocessor.for_model(config.replace(vocabulary_size=50), tokenizer)


def test_bad_arguments_are_named(tokenizer):
    with pytest.raises(TypeError, match="Received: tokenizer of type str"):
        Seq2SeqPreprocessor("spm.model", 16, 0, 1, 2)
    with pytest.raises(ValueError, match="Received: sequence_length=1"):
        Seq2SeqPreprocessor(tokenizer, 1, 0, 1, 2)


def test_config_and_assets_round_trip(preprocessor, tmp_path):
    config = preprocessor.get_config()
    restored = Seq2SeqPreprocessor.from_config(config)
    assert restored.get_config() == config
    # As in a `.keras` file: the tokenizer's proto travels as an asset.
    preprocessor.tokenizer.save_assets(str(tmp_path))
    restored.tokenizer.load_assets(str(tmp_path))
    np.testing.assert_array_equal(restored(TEXTS), preprocessor(TEXTS))
