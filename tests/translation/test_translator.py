import logging

import numpy as np
import pytest

from sharedformer_tf.data import builtin_corpus
from sharedformer_tf.data.sentencepiece_vocabulary import EOS_ID, PAD_ID
from sharedformer_tf.translation import Translator


def test_encode_appends_eos_and_pads(tiny_translator):
    ids = tiny_translator.encode(["ten", "one hundred and twelve"])
    assert ids.dtype == np.int32 and ids.shape[0] == 2
    for row in ids:
        real = row[row != PAD_ID]
        assert real[-1] == EOS_ID and (real == EOS_ID).sum() == 1


def test_overlong_input_is_truncated_with_a_warning(tiny_translator, caplog):
    text = " ".join(["seven"] * 100)
    with caplog.at_level(logging.WARNING, logger="sharedformer_tf"):
        ids = tiny_translator.encode([text])
    assert ids.shape == (1, tiny_translator.max_length)
    assert "truncated" in caplog.text
    assert isinstance(tiny_translator.translate([text])[0], str)


def test_empty_and_blank_inputs_give_empty_outputs(tiny_translator):
    outputs = tiny_translator.translate(["", "   ", "ten"])
    assert outputs[:2] == ["", ""]
    assert tiny_translator.translate([]) == []


def test_decode_cuts_at_eos(tiny_translator):
    tokens = tiny_translator.preprocessor.tokenize(["vingt"])[0].numpy().tolist()
    row = list(tokens) + [EOS_ID] + list(tokens)
    assert tiny_translator.decode(np.array([row])) == ["vingt"]


def test_batching_and_order_do_not_change_outputs(tiny_translator):
    sources = [s for s, _ in builtin_corpus.generate("en-fr", "test", 10, seed=0)]
    together = tiny_translator.translate(sources, batch_size=10)
    apart = tiny_translator.translate(sources, batch_size=3)
    assert together == apart
    assert tiny_translator.translate(sources[::-1], batch_size=4) == together[::-1]


def test_xla_decoding_equals_decoding_without_xla(tiny_translator):
    sources = [s for s, _ in builtin_corpus.generate("en-fr", "test", 11, seed=1)]
    plain = tiny_translator.translate(sources, batch_size=4)
    assert tiny_translator.translate(sources, batch_size=4, jit_compile=True) == plain
    ids = tiny_translator.encode(sources[:4])
    np.testing.assert_array_equal(
        tiny_translator.generate_ids(ids, jit_compile=True), tiny_translator.generate_ids(ids)
    )
    beam = tiny_translator.translate(sources[:3], beam=2)
    assert tiny_translator.translate(sources[:3], beam=2, jit_compile=True) == beam


def test_bucket_pads_rows_and_columns_without_changing_the_sources(tiny_translator):
    ids = tiny_translator.encode(["ten", "five"])
    padded = tiny_translator.bucket(ids, 8)
    config = tiny_translator.model.config
    assert padded.shape == (2, 16) and ids.shape[1] <= 16  # 2 rows: already a power of two
    assert tiny_translator.bucket(ids[:1], 8).shape == (1, 16)
    ids = tiny_translator.encode(["ten", "five", "six"])
    padded = tiny_translator.bucket(ids, 8)
    assert padded.shape == (4, 16)
    np.testing.assert_array_equal(padded[:3, : ids.shape[1]], ids)
    assert (padded[:3, ids.shape[1] :] == config.pad_id).all()
    assert (padded[3:, 0] == config.eos_id).all() and (padded[3:, 1:] == config.pad_id).all()
    wide = np.ones((1, 17), "int32")
    assert tiny_translator.bucket(wide, 1).shape == (1, 24)  # capped at max_length 24
    assert tiny_translator.bucket(np.ones((5, 4), "int32"), 6).shape == (6, 16)  # at most 6
    with pytest.raises(ValueError, match="3 sources do not fit a batch of 2"):
        tiny_translator.bucket(np.ones((3, 4), "int32"), 2)


def test_beam_search_runs(tiny_translator):
    sources = ["ten", "Tuesday, March 4, 2025"]
    outputs = tiny_translator.translate(sources, beam=3)
    assert len(outputs) == 2 and all(isinstance(o, str) for o in outputs)
    with pytest.raises(ValueError, match="beam=0"):
        tiny_translator.translate(sources, beam=0)


def test_save_and_load_round_trip(tiny_translator, tmp_path):
    tiny_translator.save(str(tmp_path))
    restored = Translator.load(str(tmp_path))
    sources = ["forty-two", "€12.50", "at 3:15 PM"]
    assert restored.translate(sources) == tiny_translator.translate(sources)
    assert not list(tmp_path.glob("*.tmp*"))


def test_load_from_a_wrong_directory(tmp_path):
    with pytest.raises(FileNotFoundError, match="not a trained translator directory"):
        Translator.load(str(tmp_path))
