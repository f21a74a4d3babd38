"""A ViTClassifier converts to builtin-only TFLite models (uint8 images in)."""

import numpy as np
import pytest
import tensorflow as tf

from sharedformer_tf import SharingPlan
from sharedformer_tf.export import tflite
from sharedformer_tf.models import ViTClassifier, vit_config


@pytest.fixture(scope="module")
def model():
    config = vit_config.tiny(hidden_dim=16, num_heads=2, intermediate_dim=32,
                             plan=SharingPlan(4, 2, strategy="cycle"))  # fmt: skip
    return ViTClassifier(config)


def images(n, seed):
    return np.random.default_rng(seed).integers(0, 256, (n, 28, 28, 1)).astype("uint8")


def classify_function(model):
    return tf.function(
        lambda x: model(tf.cast(x, tf.float32)),
        input_signature=[tf.TensorSpec([None, 28, 28, 1], tf.uint8, name="images")],
    )


def run(flatbuffer, x):
    from ai_edge_litert.interpreter import Interpreter

    interpreter = Interpreter(model_content=flatbuffer)
    inputs = interpreter.get_input_details()[0]
    interpreter.resize_tensor_input(inputs["index"], x.shape)
    interpreter.allocate_tensors()
    interpreter.set_tensor(inputs["index"], x)
    interpreter.invoke()
    return interpreter.get_tensor(interpreter.get_output_details()[0]["index"])


def test_fp32_equals_keras_and_uses_builtins_only(model):
    flatbuffer = tflite.convert_function(classify_function(model), model)
    names = tflite.op_names(flatbuffer)
    assert "CONV_2D" in names and "MAX_POOL_2D" in names, names  # the tokenizer
    assert not [n for n in names if n.startswith("Flex")], names
    x = images(5, 0)
    np.testing.assert_allclose(run(flatbuffer, x), model(x), atol=1e-4)


def test_full_int8_runs_and_mostly_agrees(model):
    def representative():
        for i in range(16):
            yield [images(1, 100 + i)]

    flatbuffer = tflite.convert_function(classify_function(model), model, "int8", representative)
    assert not [n for n in tflite.op_names(flatbuffer) if n.startswith("Flex")]
    x = images(32, 1)
    got, want = run(flatbuffer, x), np.asarray(model(x))
    assert got.shape == want.shape
    assert np.mean(got.argmax(-1) == want.argmax(-1)) >= 0.5


def test_int8_needs_a_representative_dataset(model):
    with pytest.raises(ValueError, match="representative_dataset"):
        tflite.convert_function(classify_function(model), model, "int8")
