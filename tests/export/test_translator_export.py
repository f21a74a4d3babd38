import json

import keras
import numpy as np
import pytest
from tensorflow.lite.tools import flatbuffer_utils

from sharedformer_tf.data import builtin_corpus
from sharedformer_tf.export import tflite
from sharedformer_tf.export.translator_export import export_translator
from sharedformer_tf.models import Seq2SeqTransformer
from sharedformer_tf.translation import Translator


def test_mixed_precision_model_exports_in_float32(tiny_translator, tmp_path):
    keras.config.set_dtype_policy("mixed_bfloat16")  # the conftest fixture restores it
    mixed = Seq2SeqTransformer(tiny_translator.model.config)
    mixed.set_weights(tiny_translator.model.get_weights())
    assert mixed.dtype_policy.compute_dtype == "bfloat16"

    summary = export_translator(Translator(mixed, tiny_translator.tokenizer), tmp_path, ["fp32"])
    assert json.loads((tmp_path / "export.json").read_text()) == summary
    assert summary["unique_params"] > 0 and summary["bytes"]["translator_fp32.tflite"] > 0
    sources = [s for s, _ in builtin_corpus.generate("en-fr", "test", 8, seed=0)]
    ids = tiny_translator.encode(sources)
    got = tflite.TFLiteGenerator(str(tmp_path / "translator_fp32.tflite")).generate(ids)
    # Same weights, float32 compute: the float32 Keras model's greedy output.
    np.testing.assert_array_equal(got, tiny_translator.generate_ids(ids))
    # Text in, text out through the model's preprocessor: the Translator's
    # translations, blank inputs giving "".
    generator = tflite.TFLiteGenerator(str(tmp_path / "translator_fp32.tflite"),
                                       tiny_translator.preprocessor)  # fmt: skip
    texts = sources + ["", "  "]
    assert generator.translate(texts) == tiny_translator.translate(texts)
    assert generator.translate([]) == []


def test_kv_shared_translator_exports_its_cache_of_group_slots(tiny_translator, tmp_path):
    """`kv_sharing="group"`: the TFLite greedy loop keeps one cache slot per
    self-attention group and decodes the Keras model's tokens, builtin ops
    only."""
    config = tiny_translator.model.config.replace(
        decoder_plan=tiny_translator.model.config.encoder_plan, kv_sharing="group"
    )
    keras.utils.set_random_seed(3)
    model = Seq2SeqTransformer(config)
    translator = Translator(model, tiny_translator.tokenizer)
    sources = [s for s, _ in builtin_corpus.generate("en-fr", "test", 8, seed=0)]
    ids = translator.encode(sources)
    assert model.init_cache(ids, 4)[0].shape[1] == 2  # 3 depths over 2 groups
    export_translator(translator, tmp_path, ["fp32"])
    path = str(tmp_path / "translator_fp32.tflite")
    with open(path, "rb") as f:
        names = tflite.op_names(f.read())
    assert not [n for n in names if n.startswith("Flex")], names
    np.testing.assert_array_equal(tflite.TFLiteGenerator(path).generate(ids),
                                  translator.generate_ids(ids))  # fmt: skip


def test_elastic_translator_exports_one_file_with_a_signature_per_depth(tiny_translator, tmp_path):
    """A translator trained at depths 2 and 4: the TFLite file has one greedy
    loop per depth, each equal to the Keras model at that depth, and stores
    the weights once (its bytes within 5% of the one-depth file); the
    SavedModel translates at a depth given as an input."""
    import tensorflow as tf

    from sharedformer_tf import SharingPlan

    # Weights dominate at this width (each further depth adds its loop's
    # graph, ~80 KB, not weights).
    config = tiny_translator.model.config.replace(
        hidden_dim=128, intermediate_dim=256, encoder_plan=SharingPlan(4, 2, strategy="cycle"),
        decoder_plan=SharingPlan(4, 2, strategy="cycle"), depths=(2,))  # fmt: skip
    keras.utils.set_random_seed(3)
    model = Seq2SeqTransformer(config)
    rng = np.random.default_rng(0)  # weights far from initial, so depths decode differently
    model.set_weights([rng.normal(0, 0.3, w.shape).astype("float32") for w in model.weights])
    translator = Translator(model, tiny_translator.tokenizer)
    summary = export_translator(translator, tmp_path, ["fp32"])
    assert summary["depths"] == [2, 4]
    path = tmp_path / "translator_elastic_fp32.tflite"
    assert summary["elastic_bytes_ratio"]["fp32"] == round(
        path.stat().st_size / (tmp_path / "translator_fp32.tflite").stat().st_size, 4
    )
    assert summary["elastic_bytes_ratio"]["fp32"] <= 1.05
    single = tmp_path / "translator_fp32.tflite"
    weights = [
        sorted(
            bytes(b.data)
            for b in flatbuffer_utils.read_model(str(f)).buffers
            if b.data is not None and len(b.data) >= 1024
        )
        for f in (single, path)
    ]
    assert weights[0] == weights[1]  # every weight once, in both files
    sources = [s for s, _ in builtin_corpus.generate("en-fr", "test", 8, seed=0)]
    ids = translator.encode(sources)
    outputs = {}
    for depth in (2, 4):
        got = tflite.TFLiteGenerator(str(path), depth=depth).generate(ids)
        outputs[depth] = translator.at_depth(depth).generate_ids(ids)
        np.testing.assert_array_equal(got, outputs[depth])
    assert not np.array_equal(outputs[2], outputs[4])
    np.testing.assert_array_equal(tflite.TFLiteGenerator(str(path)).generate(ids), outputs[4])
    with pytest.raises(ValueError, match="depth=3"):
        tflite.TFLiteGenerator(str(path), depth=3)
    with pytest.raises(ValueError, match="translator_elastic"):
        tflite.TFLiteGenerator(str(tmp_path / "translator_fp32.tflite"), depth=2)

    loaded = tf.saved_model.load(str(tmp_path / "saved_model"))
    texts = sources[:3] + [""]
    decoded = [t.decode("utf-8") for t in loaded.translate(tf.constant(texts)).numpy()]
    assert decoded == translator.translate(texts)
    at_2 = loaded.signatures["translate_at_depth"](texts=tf.constant(texts), depth=tf.constant(2))
    assert [t.decode("utf-8") for t in next(iter(at_2.values())).numpy()] == \
        translator.at_depth(2).translate(texts)  # fmt: skip
    shallow = loaded.translate(tf.constant(texts), tf.constant(2)).numpy()
    assert [t.decode("utf-8") for t in shallow] == translator.at_depth(2).translate(texts)
    with pytest.raises(tf.errors.InvalidArgumentError, match="depth must be one of"):
        loaded.translate(tf.constant(texts), tf.constant(3))
