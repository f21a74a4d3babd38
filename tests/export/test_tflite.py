import numpy as np
import pytest

from sharedformer_tf import parameter_report
from sharedformer_tf.data import builtin_corpus
from sharedformer_tf.export import tflite

# Flatbuffer bytes beyond the weights: operators and tensors of the unrolled
# decoding loop (measured ~0.2-0.3 MiB for 3+3 depths; it grows with depth,
# not with width).
STRUCTURE_BYTES = 512 * 1024


@pytest.fixture(scope="module")
def batch(tiny_translator):
    sources = [s for s, _ in builtin_corpus.generate("en-fr", "test", 16, seed=0)]
    return tiny_translator.encode(sources)


@pytest.fixture(scope="module")
def flatbuffers(tiny_translator):
    length = tiny_translator.max_length
    return {
        q: tflite.convert_generator(tiny_translator.model, length, length - 1, q)
        for q in tflite.QUANTIZATIONS
    }


@pytest.mark.parametrize("quantization", tflite.QUANTIZATIONS)
def test_only_builtin_ops(flatbuffers, quantization):
    names = tflite.op_names(flatbuffers[quantization])
    assert "WHILE" in names, names  # the decoding loop is inside the model
    assert not [n for n in names if n.startswith("Flex")], names


def test_fp32_tflite_equals_keras_greedy(tiny_translator, flatbuffers, batch):
    expected = tiny_translator.generate_ids(batch)
    generator = tflite.TFLiteGenerator(flatbuffers["fp32"])
    np.testing.assert_array_equal(generator.generate(batch), expected)
    # A different batch size reuses the same model.
    np.testing.assert_array_equal(generator.generate(batch[:3]), expected[:3])


@pytest.mark.parametrize("quantization", ["fp16", "dynamic-int8"])
def test_quantized_agreement_is_reported(tiny_translator, flatbuffers, batch, quantization):
    expected = tiny_translator.generate_ids(batch)
    got = tflite.TFLiteGenerator(flatbuffers[quantization]).generate(batch)
    assert got.shape == expected.shape
    agreement = float(np.mean(got == expected))
    print(f"{quantization} token agreement with Keras: {agreement:.3f}")
    assert agreement > 0.5


def test_exported_bytes_reflect_sharing(tiny_translator, flatbuffers):
    fp32_params = parameter_report(tiny_translator.model)["fp32_bytes"]
    assert len(flatbuffers["fp32"]) <= 1.1 * fp32_params + STRUCTURE_BYTES
    assert len(flatbuffers["dynamic-int8"]) < len(flatbuffers["fp32"])


def test_file_input_and_errors(tiny_translator, flatbuffers, tmp_path, batch):
    path = tmp_path / "model.tflite"
    path.write_bytes(flatbuffers["fp32"])
    generator = tflite.TFLiteGenerator(str(path))
    assert generator.source_length == tiny_translator.max_length
    with pytest.raises(ValueError, match="length=30"):
        generator.generate(np.ones((1, 30), np.int32))
    with pytest.raises(ValueError, match="quantization='int4'"):
        tflite.convert_generator(tiny_translator.model, 8, 8, "int4")


def test_write_builtin_only_refuses_flex_models(tmp_path):
    import tensorflow as tf

    @tf.function(input_signature=[tf.TensorSpec([None], tf.string)])
    def string_length(texts):
        return tf.strings.length(texts)

    converter = tf.lite.TFLiteConverter.from_concrete_functions(
        [string_length.get_concrete_function()], string_length
    )
    converter.target_spec.supported_ops = [tf.lite.OpsSet.TFLITE_BUILTINS,
                                           tf.lite.OpsSet.SELECT_TF_OPS]  # fmt: skip
    flex_model = converter.convert()
    assert any(op.startswith("Flex") for op in tflite.op_names(flex_model))
    with pytest.raises(RuntimeError, match="Flex ops"):
        tflite.write_builtin_only(flex_model, tmp_path / "flex.tflite")
    assert not (tmp_path / "flex.tflite").exists()


@pytest.mark.parametrize("relaxation", [{"adapter_dim": 8}, {"lora_rank": 4}], ids=str)
def test_relaxed_sharing_exports_and_matches_keras(tiny_translator, batch, relaxation):
    from sharedformer_tf.models import Seq2SeqTransformer
    from sharedformer_tf.translation import Translator

    config = tiny_translator.model.config.replace(
        encoder_plan=tiny_translator.model.config.decoder_plan,
        share_encoder_decoder=True,
        **relaxation,
    )
    model = Seq2SeqTransformer(config)
    rng = np.random.default_rng(0)
    for variable in model.weights:  # adapters and LoRA deltas start at zero
        if "/adapter/output_dense/kernel" in variable.path or "_lora/" in variable.path:
            variable.assign(rng.normal(0, 0.3, variable.shape).astype("float32"))
    translator = Translator(model, tiny_translator.tokenizer)
    length = translator.max_length
    flatbuffer = tflite.convert_generator(model, length, length - 1, "fp32")
    assert not [n for n in tflite.op_names(flatbuffer) if n.startswith("Flex")]
    got = tflite.TFLiteGenerator(flatbuffer).generate(batch)
    np.testing.assert_array_equal(got, translator.generate_ids(batch))
    # Every weight once, the deltas factorized (no merged kernel per depth).
    assert len(flatbuffer) <= 1.1 * parameter_report(model)["fp32_bytes"] + STRUCTURE_BYTES


def test_stripped_tensor_names_keep_the_model_and_its_signature(tiny_translator, flatbuffers,
                                                                batch, tmp_path):  # fmt: skip
    """The decoding loop (a WHILE with subgraphs) written without its
    intermediate tensor names: smaller, the same ids, the same inputs and
    outputs by name."""
    from ai_edge_litert.interpreter import Interpreter

    original = flatbuffers["fp32"]
    written = tflite.write_builtin_only(original, tmp_path / "m.tflite")
    stripped = (tmp_path / "m.tflite").read_bytes()
    assert written == len(stripped) < len(original)
    names = [t["name"] for t in Interpreter(model_content=stripped).get_tensor_details()]
    assert sum(name == "" for name in names) > len(names) / 2
    before, after = Interpreter(model_content=original), Interpreter(model_content=stripped)
    assert after.get_signature_list() == before.get_signature_list()
    assert [d["name"] for d in after.get_input_details()] == [
        d["name"] for d in before.get_input_details()
    ]
    np.testing.assert_array_equal(tflite.TFLiteGenerator(stripped).generate(batch),
                                  tflite.TFLiteGenerator(original).generate(batch))  # fmt: skip
