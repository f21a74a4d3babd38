import json

import keras
import numpy as np

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
