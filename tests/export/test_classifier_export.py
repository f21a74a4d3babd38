import json

import keras
import numpy as np
import pytest
import tensorflow as tf

from sharedformer_tf import SharingPlan
from sharedformer_tf.classification import confidence_exit
from sharedformer_tf.export import tflite
from sharedformer_tf.export.classifier_export import export_classifier, probabilities_function
from sharedformer_tf.export.tflite_classifier import TFLiteClassifier
from sharedformer_tf.models import ViTClassifier, vit_config

NAMES = ["zero", "one", "two"]


def tiny_model(dtype=None):
    keras.utils.set_random_seed(3)
    config = vit_config.tiny(hidden_dim=8, num_heads=2, intermediate_dim=16, num_classes=3,
                             plan=SharingPlan(4, 2, strategy="cycle"))  # fmt: skip
    return ViTClassifier(config, dtype=dtype)


def images(n, seed=0):
    return np.random.default_rng(seed).integers(0, 256, (n, 28, 28, 1)).astype("uint8")


@pytest.fixture(scope="module")
def exported(tmp_path_factory):
    directory = tmp_path_factory.mktemp("classifier")
    model = tiny_model()
    summary = export_classifier(model, NAMES, directory, representative_inputs=images(32, 1))
    return model, directory, summary


def test_files_sizes_and_builtin_ops(exported):
    model, directory, summary = exported
    assert json.loads((directory / "export.json").read_text()) == summary
    assert (directory / "labels.txt").read_text().splitlines() == NAMES
    assert summary["unique_params"] < summary["effective_params"]
    for variant in ("fp32", "fp16", "int8"):
        flatbuffer = (directory / f"classifier_{variant}.tflite").read_bytes()
        assert len(flatbuffer) == summary["bytes"][f"classifier_{variant}.tflite"]
        names = tflite.op_names(flatbuffer)
        assert "SOFTMAX" in names and not [n for n in names if n.startswith("Flex")], names


def test_shared_weights_are_stored_once(tmp_path):
    """The fp32 files of a shared and an unshared model of the same depth
    differ by 4 bytes per parameter the unshared one adds."""
    sizes, unique = {}, {}
    plans = {"shared": SharingPlan(4, 1), "plain": SharingPlan(4, strategy="none")}
    for name, plan in plans.items():
        config = vit_config.tiny(hidden_dim=32, num_heads=2, intermediate_dim=64, plan=plan)
        summary = export_classifier(ViTClassifier(config), list("abcdefghij"), tmp_path / name,
                                    ["fp32"])  # fmt: skip
        sizes[name] = summary["bytes"]["classifier_fp32.tflite"]
        unique[name] = summary["unique_params"]
    extra = 4 * (unique["plain"] - unique["shared"])
    assert extra > 50_000
    assert sizes["plain"] - sizes["shared"] == pytest.approx(extra, rel=0.05)


def test_tflite_and_saved_model_equal_keras(exported):
    model, directory, _ = exported
    x = images(5, 2)
    want = np.asarray(keras.ops.softmax(model(x.astype("float32"))))
    classifier = TFLiteClassifier(directory / "classifier_fp32.tflite", batch_size=2)
    np.testing.assert_allclose(classifier.predict(x), want, atol=1e-5)
    served = tf.saved_model.load(str(directory / "saved_model")).signatures["serving_default"]
    out = served(inputs=tf.constant(x))
    np.testing.assert_allclose(out["probabilities"], want, atol=1e-5)
    assert out["class_id"].numpy().tolist() == want.argmax(-1).tolist()
    assert [n.decode() for n in out["class_name"].numpy()] == [NAMES[i] for i in want.argmax(-1)]
    int8 = TFLiteClassifier(directory / "classifier_int8.tflite").predict(x)
    assert int8.shape == want.shape and np.allclose(int8.sum(-1), 1, atol=0.05)


def test_mixed_precision_model_exports_in_float32(tmp_path):
    model = tiny_model("mixed_bfloat16")
    float32 = model.in_float32()
    assert float32 is not model and float32.get_weights()[0].dtype == np.float32
    summary = export_classifier(model, NAMES, tmp_path, ["fp32"])
    x = images(3, 4)
    want = np.asarray(keras.ops.softmax(float32(x.astype("float32"))))
    got = TFLiteClassifier(tmp_path / "classifier_fp32.tflite").predict(x)
    np.testing.assert_allclose(got, want, atol=1e-5)
    assert summary["input_dtype"] == "uint8"
    float32_model = tiny_model()
    assert float32_model.in_float32() is float32_model


def test_bad_arguments(tmp_path):
    model = tiny_model()
    with pytest.raises(ValueError, match="representative inputs"):
        export_classifier(model, NAMES, tmp_path, ["int8"])
    with pytest.raises(ValueError, match="quantizations"):
        export_classifier(model, NAMES, tmp_path, ["int4"])
    with pytest.raises(ValueError, match="3 classes but 2 class names"):
        export_classifier(model, NAMES[:2], tmp_path, ["fp32"])


def test_tflite_classifier_checks_input_shape(exported):
    _, directory, _ = exported
    classifier = TFLiteClassifier(directory / "classifier_fp32.tflite")
    with pytest.raises(ValueError, match=r"Expected inputs \[n, 28, 28, 1\]"):
        classifier.predict(images(2)[:, :14])


def test_audio_int8_keeps_the_spectrogram_float(tmp_path):
    from ai_edge_litert.interpreter import Interpreter

    from sharedformer_tf.models import AudioClassifier, audio_config

    config = audio_config.tiny(hidden_dim=8, num_heads=2, intermediate_dim=16, num_mel_bins=10,
                               num_classes=3, plan=SharingPlan(4, 2))  # fmt: skip
    model = AudioClassifier(config)
    waveforms = (0.1 * np.random.default_rng(0).standard_normal((8, 16000))).astype("float32")
    export_classifier(model, NAMES, tmp_path, ["int8"], waveforms, input_dtype=tf.float32)
    # The exported file has no intermediate tensor names: convert as the
    # export does, in memory, to read them.
    flatbuffer = tflite.convert_function(
        probabilities_function(model, tf.float32), model, "int8",
        lambda: ([w[None]] for w in waveforms), float_scopes=model.int8_float_layers,
    )  # fmt: skip
    interpreter = Interpreter(model_content=flatbuffer)
    tensors = {t["name"]: t["dtype"] for t in interpreter.get_tensor_details()}
    front_end = [dtype for name, dtype in tensors.items() if "/log_mel" in name]
    encoder = [dtype for name, dtype in tensors.items() if "/encoder" in name]
    assert front_end and all(dtype == np.float32 for dtype in front_end if dtype != np.int32)
    assert sum(dtype == np.int8 for dtype in encoder) > len(encoder) / 2
    got = TFLiteClassifier(tmp_path / "classifier_int8.tflite").predict(waveforms)
    assert got.shape == (8, 3) and np.allclose(got.sum(-1), 1, atol=0.05)


def test_elastic_export_runs_each_depth_and_exit_and_stores_everything_once(tmp_path):
    """One file with the depth budget and the exit threshold as inputs:
    at each depth (threshold 1.0: no exit) it equals the Keras model at that
    depth; with a threshold, each input leaves where the confidence rule
    says, with that depth's probabilities; and it is within 5% of the
    single-depth file's bytes in fp32 and fp16 (weights and layers' graphs
    stored once)."""
    keras.utils.set_random_seed(4)
    config = vit_config.tiny(hidden_dim=64, num_heads=2, intermediate_dim=256, num_classes=3,
                             plan=SharingPlan(4, 1), depths=(2, 3))  # fmt: skip
    model = ViTClassifier(config)
    summary = export_classifier(model, NAMES, tmp_path, ["fp32", "fp16"])
    assert summary["depths"] == [2, 3, 4]
    single = summary["bytes"]["classifier_fp32.tflite"]
    elastic = summary["bytes"]["classifier_elastic_fp32.tflite"]
    assert 4 * summary["unique_params"] > 100_000 and single < elastic < 1.05 * single
    half_single = summary["bytes"]["classifier_fp16.tflite"]
    assert half_single < summary["bytes"]["classifier_elastic_fp16.tflite"] < 1.05 * half_single
    flatbuffer = (tmp_path / "classifier_elastic_fp32.tflite").read_bytes()
    names = tflite.op_names(flatbuffer)
    assert "IF" in names and "WHILE" not in names and not [n for n in names if "Flex" in n]
    x = images(6, 5)
    served = tf.saved_model.load(str(tmp_path / "saved_model")).signatures["elastic"]
    half = tmp_path / "classifier_elastic_fp16.tflite"
    exits = [np.asarray(keras.ops.softmax(p)) for p in model.exit_logits(x.astype("float32"))]
    for depth, want in zip((2, 3, 4), exits, strict=True):
        np.testing.assert_allclose(
            want, keras.ops.softmax(model.at_depth(depth)(x.astype("float32"))), atol=1e-6
        )
        got, used = TFLiteClassifier(flatbuffer, depth=depth).predict_exits(x)
        np.testing.assert_allclose(got, want, atol=1e-5)
        assert used.tolist() == [depth] * 6
        out = served(inputs=tf.constant(x), depth=tf.constant(depth), threshold=tf.constant(1.0))
        np.testing.assert_allclose(out["probabilities"], want, atol=1e-5)
        assert out["depth"].numpy().tolist() == [depth] * 6
        got = TFLiteClassifier(half, depth=depth).predict(x)
        np.testing.assert_allclose(got, want, atol=2e-2)
    # A budget between listed depths runs the deepest below it; under all: the shallowest.
    assert TFLiteClassifier(flatbuffer, depth=1).predict_exits(x)[1].tolist() == [2] * 6
    # A threshold between the confidences at depth 2: some inputs leave there.
    confidence = np.sort(exits[0].max(-1))
    threshold = float(confidence[2:4].mean())
    rule = confidence_exit(exits, [2, 3, 4], np.zeros(6, int), [threshold])[0]
    assert 0 < rule["exits"][2] < 1
    got, used = TFLiteClassifier(flatbuffer, threshold=threshold).predict_exits(x)
    for i, depth in enumerate(used):
        first = next(j for j, p in enumerate(exits) if p[i].max() > threshold or j == 2)
        assert depth == (2, 3, 4)[first]
        np.testing.assert_allclose(got[i], exits[first][i], atol=1e-5)
    assert used.mean() == pytest.approx(rule["mean_depth"])
    out = served(inputs=tf.constant(x), depth=tf.constant(4), threshold=tf.constant(threshold))
    assert out["depth"].numpy().tolist() == used.tolist()
    # The loaded `serve` takes the depth and threshold as optional inputs.
    loaded = tf.saved_model.load(str(tmp_path / "saved_model"))
    plain = loaded.serve(tf.constant(x))["probabilities"]
    np.testing.assert_allclose(plain, exits[-1], atol=1e-5)
    out = loaded.serve(tf.constant(x), tf.constant(4), tf.constant(threshold))
    assert out["depth"].numpy().tolist() == used.tolist()
    with pytest.raises(ValueError, match="depth=0"):
        TFLiteClassifier(flatbuffer, depth=0)
    with pytest.raises(ValueError, match="Received: depth=2"):
        TFLiteClassifier(tmp_path / "classifier_fp32.tflite", depth=2)


def test_elastic_export_with_a_head_per_depth_also_in_int8(tmp_path):
    keras.utils.set_random_seed(6)
    config = vit_config.tiny(hidden_dim=8, num_heads=2, intermediate_dim=16, num_classes=3,
                             plan=SharingPlan(4, 2), depths=(2,),
                             exit_heads="per_depth")  # fmt: skip
    model = ViTClassifier(config)
    export_classifier(model, NAMES, tmp_path, ["fp32", "int8"], images(32, 1))
    x = images(4, 2)
    for depth in (2, 4):
        want = keras.ops.softmax(model.at_depth(depth)(x.astype("float32")))
        got = TFLiteClassifier(tmp_path / "classifier_elastic_fp32.tflite", depth=depth).predict(x)
        np.testing.assert_allclose(got, want, atol=1e-5)
        # int8, calibrated at full depth: every exit's ranges are known.
        got = TFLiteClassifier(tmp_path / "classifier_elastic_int8.tflite", depth=depth).predict(x)
        np.testing.assert_allclose(got, want, atol=0.05)


def test_elastic_export_of_learned_halting_exits_by_the_halting_probability(tmp_path):
    from sharedformer_tf.classification import halting_exit

    keras.utils.set_random_seed(9)
    config = vit_config.tiny(hidden_dim=8, num_heads=2, intermediate_dim=16, num_classes=3,
                             plan=SharingPlan(4, 2), depths=(2,), halting_prior=0.5)  # fmt: skip
    model = ViTClassifier(config)
    model.head.kernel.assign(np.asarray(model.head.kernel) * np.r_[1, 1, 1, 8.0])
    export_classifier(model, NAMES, tmp_path, ["fp32"])
    x = images(8, 3)
    exits = [np.asarray(keras.ops.softmax(p)) for p in model.exit_logits(x.astype("float32"))]
    halting = model.exit_halting(x.astype("float32"))
    threshold = float(np.sort(halting[0])[3:5].mean())  # about half halt at depth 2
    rule = halting_exit(exits, halting, [2, 4], np.zeros(8, int), [threshold])[0]
    assert 0 < rule["exits"][2] < 1
    path = tmp_path / "classifier_elastic_fp32.tflite"
    got, used = TFLiteClassifier(path, threshold=threshold).predict_exits(x)
    assert used.tolist() == [2 if h > threshold else 4 for h in halting[0]]
    for i, depth in enumerate(used):
        np.testing.assert_allclose(got[i], exits[(2, 4).index(depth)][i], atol=1e-5)
    got, used = TFLiteClassifier(path).predict_exits(x)  # threshold 1.0: the full depth
    assert used.tolist() == [4] * 8
    np.testing.assert_allclose(got, exits[1], atol=1e-5)


def test_compacted_int8_elastic_file_writes_equal_tables_and_vectors_once(tmp_path):
    """The `IF` branches of an int8 elastic file read the same weights, each
    through a tensor of its own with the weight's per-channel scales: the
    written file points every tensor with equal quantization parameters at
    one table, every tensor with an equal shape at one vector and every
    tensor without data at the empty buffer 0, and runs exactly as the
    converter's file."""
    from ai_edge_litert.interpreter import Interpreter
    from tensorflow.lite.python import schema_py_generated as schema

    from sharedformer_tf.export.classifier_export import elastic_function

    keras.utils.set_random_seed(3)
    config = vit_config.tiny(hidden_dim=16, num_heads=2, intermediate_dim=32, num_classes=3,
                             plan=SharingPlan(4, 2), depths=(2,))  # fmt: skip
    model = ViTClassifier(config)
    calibration = images(16, 1)

    def representative():
        for x in calibration:
            yield {"inputs": x[None], "depth": np.int32(4), "threshold": np.float32(1.0)}

    raw = tflite.convert_signatures({"elastic": elastic_function(model, tf.uint8)}, model, "int8",
                                    representative)  # fmt: skip
    size = tflite.write_builtin_only(raw, tmp_path / "elastic.tflite")
    written = (tmp_path / "elastic.tflite").read_bytes()
    assert size == len(written) < len(raw)

    def tables(flatbuffer):  # (number of tensors with one, distinct positions, distinct values)
        model = schema.Model.GetRootAs(flatbuffer, 0)
        positions, values, count = set(), set(), 0
        for g in range(model.SubgraphsLength()):
            subgraph = model.Subgraphs(g)
            for t in range(subgraph.TensorsLength()):
                table = subgraph.Tensors(t).Quantization()
                if table is not None and table.ScaleLength():
                    count += 1
                    positions.add(table._tab.Pos)
                    values.add(
                        (
                            table.ScaleAsNumpy().tobytes(),
                            table.ZeroPointAsNumpy().tobytes(),
                            table.QuantizedDimension(),
                        )
                    )
        return count, len(positions), len(values)

    count, positions, values = tables(raw)
    assert positions == count > values  # the converter writes a table per tensor
    assert tables(written) == (count, values, values)

    def shapes_and_buffers(flatbuffer):
        model = schema.Model.GetRootAs(flatbuffer, 0)
        positions, values, empty = set(), set(), set()
        for g in range(model.SubgraphsLength()):
            subgraph = model.Subgraphs(g)
            for t in range(subgraph.TensorsLength()):
                tensor = subgraph.Tensors(t)
                positions.add(tensor._tab.Vector(tensor._tab.Offset(4)))  # field 0: shape
                values.add(tensor.ShapeAsNumpy().tobytes() if tensor.ShapeLength() else b"")
                if not model.Buffers(tensor.Buffer()).DataLength():
                    empty.add(tensor.Buffer())
        return len(positions), len(values), empty, model.BuffersLength()

    positions, values, empty, buffers = shapes_and_buffers(raw)
    assert positions > values and len(empty) > 1  # a vector and a buffer per tensor
    positions, values, empty, fewer = shapes_and_buffers(written)
    assert positions == values and empty == {0} and fewer < buffers
    x = images(3, 7)
    for depth in (2, 4):
        outputs = []
        for flatbuffer in (raw, written):
            runner = Interpreter(model_content=flatbuffer).get_signature_runner()
            outputs.append(runner(inputs=x, depth=np.int32(depth), threshold=np.float32(1.0)))
        for key in outputs[0]:
            np.testing.assert_array_equal(outputs[0][key], outputs[1][key])
