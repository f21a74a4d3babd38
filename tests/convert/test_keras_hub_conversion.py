"""`to_shared` on keras-hub backbones built from TransformerEncoder (BERT,
post-LN) and TransformerDecoder (GPT-2, pre-LN, causal) layers."""

import keras
import keras_hub
import numpy as np
import pytest
import tensorflow as tf

from sharedformer_tf import SharingPlan, parameter_report
from sharedformer_tf.convert import to_shared
from sharedformer_tf.export import tflite

SIZE = dict(vocabulary_size=20, num_layers=4, num_heads=2, hidden_dim=8, intermediate_dim=16,
            max_sequence_length=12, dropout=0.0)  # fmt: skip


def _randomize(model, seed=0):
    rng = np.random.default_rng(seed)
    model.set_weights([rng.normal(0, 0.5, w.shape).astype("float32") for w in model.weights])
    return model


def _inputs(family):
    rng = np.random.default_rng(1)
    ids = rng.integers(1, 20, (2, 6)).astype("int32")
    mask = np.ones((2, 6), "int32")
    mask[1, 4:] = 0
    inputs = {"token_ids": ids, "padding_mask": mask}
    return {**inputs, "segment_ids": np.zeros_like(ids)} if family == "bert" else inputs


def _outputs(model, inputs):
    """The outputs as a dict of arrays, padded positions zeroed."""
    outputs = model(inputs)
    outputs = outputs if isinstance(outputs, dict) else {"sequence_output": outputs}
    mask = inputs["padding_mask"].astype(bool)
    return {k: np.asarray(v) * (mask[..., None] if np.ndim(v) == 3 else 1)
            for k, v in outputs.items()}  # fmt: skip


FAMILIES = {
    "bert": lambda: _randomize(keras_hub.models.BertBackbone(**SIZE)),
    "gpt2": lambda: _randomize(keras_hub.models.GPT2Backbone(**SIZE), seed=2),
}


@pytest.mark.parametrize("family", sorted(FAMILIES))
def test_unshared_and_full_rank_lora_reproduce_the_source(family):
    model, x = FAMILIES[family](), _inputs(family)
    expected = _outputs(model, x)
    for plan, relax, rank in [(SharingPlan(4, strategy="none"), None, None),
                              (SharingPlan(4, 1, strategy="cycle"), "lora", 8)]:  # fmt: skip
        converted = to_shared(model, plan, init="average", relax=relax, rank=rank)
        got = _outputs(converted, x)
        for key, value in expected.items():
            np.testing.assert_allclose(got[key], value, rtol=1e-4, atol=1e-4)
    plain = _outputs(to_shared(model, SharingPlan(4, 1, strategy="cycle")), x)
    assert np.abs(plain["sequence_output"] - expected["sequence_output"]).max() > 1e-2


@pytest.mark.parametrize("family", sorted(FAMILIES))
def test_stepwise_takes_evenly_spaced_layers_and_stores_fewer_weights(family):
    model = FAMILIES[family]()
    converted = to_shared(model, SharingPlan(4, 2, strategy="cycle"), init="stepwise")
    stack = converted.get_layer("shared_stack")
    for group, source in enumerate((0, 2)):  # group g of 2 <- source layer g * 4 // 2
        ours = stack.self_attention_layers[group].query_dense.kernel
        theirs = model.get_layer(f"transformer_layer_{source}")._self_attention_layer._query_dense
        np.testing.assert_array_equal(np.asarray(ours), np.asarray(theirs.kernel).reshape(8, 8))
    block = 4 * (8 * 8 + 8) + (8 * 16 + 16 + 16 * 8 + 8)  # two blocks stored instead of four
    assert parameter_report(converted)["unique_params"] == model.count_params() - 2 * block
    # Group norms: each taken from its group's source layer, two depths' fewer.
    grouped = to_shared(model, SharingPlan(4, 2, strategy="cycle"), per_depth_norms=False)
    norms = grouped.get_layer("shared_stack").blocks
    assert norms[0].feed_forward_norm is norms[2].feed_forward_norm
    np.testing.assert_array_equal(
        np.asarray(norms[1].feed_forward_norm.gamma),
        np.asarray(model.get_layer("transformer_layer_2")._feedforward_layer_norm.gamma),
    )
    saved = (
        parameter_report(converted)["unique_params"] - parameter_report(grouped)["unique_params"]
    )
    assert saved == 2 * 2 * 2 * 8  # 2 depths x 2 norms x (gamma, beta) of width 8


@pytest.mark.parametrize("family", sorted(FAMILIES))
def test_the_converted_backbone_round_trips_and_exports_without_flex_ops(family, tmp_path):
    model, x = FAMILIES[family](), _inputs(family)
    converted = to_shared(model, SharingPlan(4, 2, strategy="cycle"), relax="lora", rank=2)
    expected = _outputs(converted, x)
    converted.save(tmp_path / "converted.keras")
    restored = keras.saving.load_model(tmp_path / "converted.keras", safe_mode=True)
    for key, value in _outputs(restored, x).items():
        np.testing.assert_array_equal(value, expected[key])
    names = sorted(x)
    signature = [tf.TensorSpec((2, 6), tf.int32, name=name) for name in names]
    function = tf.function(lambda *arrays: converted(dict(zip(names, arrays, strict=True))),
                           input_signature=signature)  # fmt: skip
    flatbuffer = tflite.convert_function(function, converted)
    assert not [op for op in tflite.op_names(flatbuffer) if op.startswith("Flex")]
    from ai_edge_litert.interpreter import Interpreter

    interpreter = Interpreter(model_content=flatbuffer)
    runner = interpreter.get_signature_runner()
    outputs = runner(**{name: x[name] for name in names})
    got = sorted(outputs.values(), key=lambda a: a.ndim)[-1]  # the sequence output
    mask = x["padding_mask"].astype(bool)[..., None]
    np.testing.assert_allclose(got * mask, expected["sequence_output"], rtol=1e-4, atol=1e-4)


def test_what_cannot_be_mapped_is_refused_by_name():
    encoder_input = keras.Input((None, 8))
    decoder_input = keras.Input((None, 8))
    memory = keras_hub.layers.TransformerEncoder(16, 2, name="encoder_layer")(encoder_input)
    x = decoder_input
    for i in range(2):
        x = keras_hub.layers.TransformerDecoder(16, 2, name=f"decoder_layer_{i}")(x, memory)
    seq2seq = keras.Model([encoder_input, decoder_input], x)
    with pytest.raises(ValueError, match="TransformerDecoder and TransformerEncoder"):
        to_shared(seq2seq, SharingPlan(3, 1))
    x = decoder_input
    for i in range(2):
        x = keras_hub.layers.TransformerDecoder(16, 2, name=f"cross_{i}")(x, encoder_input)
    with pytest.raises(ValueError, match="cross_0 of .* attends to an encoder"):
        to_shared(keras.Model([encoder_input, decoder_input], x), SharingPlan(2, 1))
    inputs = keras.Input((None, 8))
    first = keras_hub.layers.TransformerEncoder(16, 2, name="first")(inputs)
    second = keras_hub.layers.TransformerEncoder(16, 2, name="second")(first)
    tapped = keras.Model(inputs, keras.layers.Add()([first, second]))
    with pytest.raises(ValueError, match=r"output of first must go to second only"):
        to_shared(tapped, SharingPlan(2, 1))
    inputs = keras.Input((None, 8))
    narrow = keras_hub.layers.TransformerEncoder(16, 2, name="narrow")(inputs)
    wider = keras_hub.layers.TransformerEncoder(32, 2, name="wider")(narrow)
    with pytest.raises(ValueError, match="configured alike"):
        to_shared(keras.Model(inputs, wider), SharingPlan(2, 1))
    inputs = keras.Input((None, 8))
    pre_ln = inputs
    for _ in range(2):
        pre_ln = keras_hub.layers.TransformerEncoder(16, 2, normalize_first=True)(pre_ln)
    with pytest.raises(ValueError, match="must end in one LayerNormalization"):
        to_shared(keras.Model(inputs, pre_ln), SharingPlan(2, 1))

    class Subclassed(keras.Model):
        def __init__(self):
            super().__init__()
            self.block = keras_hub.layers.TransformerEncoder(16, 2)

        def call(self, x):
            return self.block(x)

    subclassed = Subclassed()
    subclassed(np.zeros((1, 3, 8), "float32"))
    with pytest.raises(ValueError, match="a subclassed Subclassed"):
        to_shared(subclassed, SharingPlan(1, 1))
    with pytest.raises(ValueError, match="keeps the source's 4 layers"):
        to_shared(FAMILIES["bert"](), SharingPlan(6, 2))
