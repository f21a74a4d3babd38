import gzip
import json
import os
import pathlib
import struct
import subprocess
import sys

import numpy as np
import pytest
import tensorflow_datasets as tfds

from sharedformer_tf.data import image_data
from tests.apps import app_helpers

ROOT = pathlib.Path(__file__).resolve().parents[2]
APP = str(ROOT / "apps" / "classify_images.py")
SMALL = ["--layers", "2", "--groups", "1", "--sharing", "cycle", "--batch-size", "32",
         "--valid-examples", "40", "--augment", "none", "--learning-rate", "3e-3",
         "--no-jit"]  # fmt: skip


def run(*args, timeout=600):
    env = dict(os.environ, TF_CPP_MIN_LOG_LEVEL="3", PYTHONUNBUFFERED="1")
    return subprocess.run([sys.executable, APP, *args], capture_output=True, text=True,
                          timeout=timeout, cwd=ROOT, env=env)  # fmt: skip


def last_json(stdout):
    return json.loads(stdout.strip().splitlines()[-1])


def synthetic_images(n, seed):
    """Class k lights up cell k of a 4x3 grid of 7x9 cells, over noise: a
    pattern a small ViT learns in a few epochs."""
    rng = np.random.default_rng(seed)
    labels = rng.integers(0, 10, n).astype("uint8")
    images = rng.integers(0, 60, (n, 28, 28)).astype("uint8")
    for image, label in zip(images, labels, strict=True):
        row, col = divmod(int(label), 3)
        image[row * 7 : row * 7 + 7, col * 9 : col * 9 + 9] = 220
    return images, labels


def write_idx(path, array):
    header = struct.pack(">BBBB", 0, 0, 0x08, array.ndim)
    header += struct.pack(f">{array.ndim}I", *array.shape)
    path.write_bytes(gzip.compress(header + array.tobytes()))


@pytest.fixture(scope="module")
def fashion_dir(tmp_path_factory):
    folder = tmp_path_factory.mktemp("fashion")
    for split, (images_name, labels_name) in image_data.FASHION_MNIST_FILES.items():
        images, labels = synthetic_images(640 if split == "train" else 120, len(split))
        write_idx(folder / images_name, images)
        write_idx(folder / labels_name, labels)
    return folder


@pytest.fixture(scope="module")
def trained(fashion_dir):
    out = fashion_dir / "model"
    result = run("train", "--data", f"fashion_mnist:{fashion_dir}", "--out", str(out),
                 "--epochs", "4", *SMALL)  # fmt: skip
    assert result.returncode == 0, result.stderr[-3000:]
    return out, result


def test_train_writes_a_complete_model_directory(trained):
    out, result = trained
    for name in ("model.keras", "config.json", "parameter_report.json", "history.json"):
        assert (out / name).is_file(), name
    assert (out / "learning_curve.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    report = json.loads((out / "parameter_report.json").read_text())
    assert 0 < report["unique_params"] < report["effective_params"]
    config = json.loads((out / "config.json").read_text())
    assert config["class_names"] == list(image_data.FASHION_MNIST_CLASSES)
    assert config["model"]["plan"]["num_layers"] == 2
    history = json.loads((out / "history.json").read_text())
    assert history["epoch"] == [0, 1, 2, 3] and "val_accuracy" in history
    assert not (out / "backup").exists()
    assert "unique parameters" in result.stdout


def test_evaluate_reports_accuracy_per_class_and_a_confusion_matrix(trained, capsys):
    out, _ = trained
    load_app().main(["evaluate", "--model", str(out)])  # the training SPEC by default
    metrics = last_json(capsys.readouterr().out)
    assert metrics["num_examples"] == 120
    assert metrics["accuracy"] > 0.5  # chance is 0.1: the model learned the pattern
    assert list(metrics["per_class_accuracy"]) == list(image_data.FASHION_MNIST_CLASSES)
    assert pathlib.Path(metrics["confusion_matrix_png"]).read_bytes()[:4] == b"\x89PNG"
    saved = json.loads((out / "evaluation.json").read_text())
    matrix = np.array(saved["confusion_matrix"])
    assert matrix.sum() == 120 and np.trace(matrix) / 120 == pytest.approx(metrics["accuracy"])


def test_convert_unties_a_trained_classifier_and_distills_it(trained, tmp_path, capsys):
    """`convert` to an unshared plan: each depth a copy of the teacher's one
    group (the student starts as the teacher), one epoch of distillation."""
    teacher, _ = trained
    student = tmp_path / "student"
    code, error = app_helpers.exit_code_and_error(
        load_app(), ["convert", "--model", str(teacher), "--out", str(student), "--relax",
                     "adapter", "--rank", "4"], capsys)  # fmt: skip
    assert code == 2 and "relax='lora'" in error and not student.exists()
    load_app().main(["convert", "--model", str(teacher), "--out", str(student), "--layers", "2",
                     "--sharing", "none", "--init", "lower", "--epochs", "1", "--batch-size",
                     "32", "--valid-examples", "40", "--no-jit"])  # fmt: skip
    capsys.readouterr()
    config = json.loads((student / "config.json").read_text())
    assert config["model"]["plan"]["strategy"] == "none" and config["conversion"]["init"] == "lower"
    sizes = [json.loads((d / "parameter_report.json").read_text())["unique_params"]
             for d in (teacher, student)]  # fmt: skip
    assert sizes[1] > sizes[0]  # two stored blocks where the teacher has one
    accuracy = []
    for model in (teacher, student):
        load_app().main(["evaluate", "--model", str(model)])
        accuracy.append(last_json(capsys.readouterr().out)["accuracy"])
    assert accuracy[1] >= accuracy[0] - 0.1


def test_predict_names_a_bad_file_and_still_predicts_the_rest(trained, tmp_path, capsys):
    import keras

    out, _ = trained
    images, _ = synthetic_images(2, seed=99)
    paths = []
    for i, image in enumerate(images):
        path = tmp_path / f"image{i}.png"
        keras.utils.save_img(path, image[..., None], scale=False)
        paths.append(str(path))
    broken = tmp_path / "broken.png"
    broken.write_bytes(b"\x89PNG\r\n\x1a\n not really a png")
    argv = ["predict", "--model", str(out), paths[0], str(broken), paths[1], "--top", "2"]
    code, stdout, stderr = app_helpers.exit_code_and_output(load_app(), argv, capsys)
    assert code == 2
    assert f"{broken}: not a readable" in stderr
    assert "1 of 3 files could not be read" in stderr
    lines = stdout.strip().splitlines()
    assert [line.split(":")[0] for line in lines] == paths
    model = keras.saving.load_model(out / "model.keras")
    want = np.asarray(model(images[..., None].astype("float32"))).argmax(-1)
    top1 = [line.split(": ", 1)[1].split(", ")[0].rsplit(" ", 1)[0] for line in lines]
    assert top1 == [image_data.FASHION_MNIST_CLASSES[i] for i in want]


def test_export_saved_model_and_tflite_match_keras(trained, tmp_path, capsys):
    import keras

    from sharedformer_tf.export import tflite
    from sharedformer_tf.export.tflite_classifier import TFLiteClassifier

    out, _ = trained
    export_dir = tmp_path / "export"
    load_app().main(["export", "--model", str(out), "--out", str(export_dir)])
    summary = last_json(capsys.readouterr().out)
    assert set(summary["agreement_with_keras"]) == {"fp32", "fp16", "int8"}
    assert summary["agreement_with_keras"]["fp32"] == 1.0
    assert summary["num_test_examples"] == 120
    print("int8 agreement", summary["agreement_with_keras"]["int8"], summary["accuracy"])
    for variant in ("fp32", "fp16", "int8"):
        flatbuffer = (export_dir / f"classifier_{variant}.tflite").read_bytes()
        assert not [op for op in tflite.op_names(flatbuffer) if op.startswith("Flex")]
    assert summary["bytes"]["classifier_fp32.tflite"] > summary["bytes"]["classifier_int8.tflite"]
    labels = (export_dir / "labels.txt").read_text().splitlines()
    assert labels == list(image_data.FASHION_MNIST_CLASSES)

    images, _ = synthetic_images(6, seed=5)
    images = images[..., None]
    model = keras.saving.load_model(out / "model.keras")
    want = np.asarray(keras.ops.softmax(model(images.astype("float32"))))
    got = TFLiteClassifier(export_dir / "classifier_fp32.tflite").predict(images)
    np.testing.assert_allclose(got, want, atol=1e-5)
    # The SavedModel runs in a process that imports only TensorFlow.
    np.save(tmp_path / "images.npy", images)
    script = (
        "import sys, json, numpy as np, tensorflow as tf\n"
        "assert 'sharedformer_tf' not in sys.modules\n"
        "serve = tf.saved_model.load(sys.argv[1]).signatures['serving_default']\n"
        "out = serve(inputs=tf.constant(np.load(sys.argv[2])))\n"
        "print(json.dumps({'p': out['probabilities'].numpy().tolist(),"
        " 'names': [n.decode() for n in out['class_name'].numpy()]}))\n"
    )
    arguments = [str(export_dir / "saved_model"), str(tmp_path / "images.npy")]
    served = subprocess.run(
        [sys.executable, "-c", script, *arguments],
        capture_output=True, text=True, timeout=300,
        env=dict(os.environ, TF_CPP_MIN_LOG_LEVEL="3"),
    )  # fmt: skip
    assert served.returncode == 0, served.stderr[-2000:]
    served = json.loads(served.stdout.strip().splitlines()[-1])
    np.testing.assert_allclose(served["p"], want, atol=1e-5)
    assert served["names"] == [labels[i] for i in want.argmax(-1)]


@pytest.mark.parametrize(
    "args, message",
    [
        (["train", "--out", "{tmp}/m", "--data", "fashion_mnist:{tmp}/none"],
         "apt-get install dataset-fashion-mnist"),
        (["train", "--out", "{tmp}/m", "--augment", "rotate"], "--augment: expected 'none'"),
        (["train", "--out", "{tmp}/m", "--epochs", "0"], "must be a positive integer"),
        (["train", "--out", "{tmp}/m", "--depths", "4,800"], "at most 256"),
        (["train", "--out", "{tmp}/m", "--exit-heads", "per_depth"], "needs --depths"),
        (["train", "--out", "{tmp}/m", "--depth-distillation", "0.2"], "needs --depths"),
        (["train", "--out", "{tmp}/m", "--deepest-share", "0.5"], "needs --depths"),
        (["train", "--out", "{tmp}/m", "--halting", "0.5"], "needs --depths"),
        (["train", "--out", "{tmp}/m", "--depth-sampling", "sandwich"], "needs --depths"),
        (["train", "--out", "{tmp}/m", "--depths", "2", "--depth-sampling", "sandwich",
          "--deepest-share", "0.5"], "drop --deepest-share"),
        (["train", "--out", "{tmp}/m", "--depths", "2", "--depth-sampling", "both"],
         "invalid choice"),
        (["train", "--out", "{tmp}/m", "--depths", "2", "--halting", "0.5",
          "--deepest-share", "0.5"], "drop --depth-distillation"),
        (["evaluate", "--model", "{tmp}/missing"], "is not a trained classifier directory"),
        (["train", "--out", "{tmp}/m", "--data", "pictures:/x"], "Unknown image data SPEC"),
    ],
)  # fmt: skip
def test_bad_input_exits_2_with_a_clear_message(tmp_path, args, message, capsys):
    argv = [a.format(tmp=tmp_path) for a in args]
    code, error = app_helpers.exit_code_and_error(load_app(), argv, capsys)
    assert code == 2 and message in error and "Traceback" not in error
    assert not (tmp_path / "m").exists()


def test_evaluate_with_images_of_another_shape_is_refused(trained):
    out, _ = trained
    with tfds.testing.mock_data(num_examples=8, policy=tfds.testing.MockPolicy.USE_CODE):
        with pytest.raises(SystemExit) as exit_info:
            load_app().main(["evaluate", "--model", str(out), "--data", "tfds:cifar10"])
    assert exit_info.value.code == 2


def load_app():
    return app_helpers.load_app(APP)


def test_train_and_evaluate_on_tfds_mock_data(tmp_path, capsys):
    app = load_app()
    out = tmp_path / "model"
    with tfds.testing.mock_data(num_examples=96, policy=tfds.testing.MockPolicy.USE_CODE):
        app.main(["train", "--data", "tfds:fashion_mnist", "--out", str(out), "--epochs", "1",
                  *SMALL])  # fmt: skip
        app.main(["evaluate", "--model", str(out), "--num-examples", "20"])
    metrics = last_json(capsys.readouterr().out)
    assert metrics["num_examples"] == 20 and 0 <= metrics["accuracy"] <= 1
    assert json.loads((out / "config.json").read_text())["model"]["image_size"] == 28


MIRRORED = """
import sys
import tensorflow as tf

cpu = tf.config.list_physical_devices("CPU")[0]
tf.config.set_logical_device_configuration(cpu, [tf.config.LogicalDeviceConfiguration()] * 2)
import runpy

app = sys.argv[1]
sys.argv = [app, *sys.argv[2:]]
runpy.run_path(app, run_name="__main__")
"""


@pytest.mark.distributed
def test_trains_under_mirrored_strategy_on_two_logical_cpus(fashion_dir, tmp_path):
    """The app's --strategy mirrored: the model is built in the strategy's
    scope, the global batch is twice the per-replica one, and the whole-step
    XLA is off (logged) while training still learns, at two depths (one
    train function per depth, the same depth on both replicas)."""
    out = tmp_path / "mirrored"
    args = ["train", "--data", f"fashion_mnist:{fashion_dir}", "--out", str(out), "--epochs", "3",
            "--strategy", "mirrored", "--depths", "1",
            *[a for a in SMALL if a != "--no-jit"]]  # fmt: skip
    env = dict(os.environ, TF_CPP_MIN_LOG_LEVEL="3")
    result = subprocess.run([sys.executable, "-c", MIRRORED, APP, *args], capture_output=True,
                            text=True, timeout=600, cwd=ROOT, env=env)  # fmt: skip
    assert result.returncode == 0, result.stderr[-3000:]
    assert "MirroredStrategy with 2 replica(s)" in result.stderr
    assert "global batch 64" in result.stderr and "Whole-step XLA off" in result.stderr
    config = json.loads((out / "config.json").read_text())
    assert config["devices"] == {"strategy": "mirrored", "precision": "float32", "replicas": 2}
    assert config["model"]["depths"] == [1]
    history = json.loads((out / "history.json").read_text())
    assert history["loss"][-1] < history["loss"][0]


def write_class_folders(directory, classes, per_class, seed):
    """Synthetic images of the given Fashion-MNIST class ids, one sub-folder
    per class named as the class."""
    import keras

    images, labels = synthetic_images(per_class * 40, seed)
    for class_id in classes:
        folder = directory / image_data.FASHION_MNIST_CLASSES[class_id]
        folder.mkdir(parents=True)
        for i, image in enumerate(images[labels == class_id][:per_class]):
            keras.utils.save_img(folder / f"{i}.png", image[..., None], scale=False)
    return directory


def test_a_folder_is_scored_whole_with_labels_matched_by_name(trained, tmp_path, capsys):
    """Sorted folder order (Bag, Sneaker, Trouser) is not the model's (1, 7,
    8): matched by name, the model scores as on its own test data."""
    out, _ = trained
    folder = write_class_folders(tmp_path / "mine", (1, 7, 8), 10, seed=21)
    load_app().main(["evaluate", "--model", str(out), "--data", f"folder:{folder}",
                     "--out", str(tmp_path)])  # fmt: skip
    result = capsys.readouterr().out
    metrics = last_json(result)
    assert metrics["num_examples"] == 30  # all of it, not a 10% test split
    assert metrics["accuracy"] > 0.5
    counts = metrics["per_class_count"]
    assert (counts["Trouser"], counts["Sneaker"], counts["Bag"], counts["Coat"]) == (10, 10, 10, 0)
    assert "Trouser:" in result and "of 10 examples" in result
    only_test = ["--split", "test", "--out", str(tmp_path)]
    load_app().main(["evaluate", "--model", str(out), "--data", f"folder:{folder}", *only_test])
    assert last_json(capsys.readouterr().out)["num_examples"] < 30


def test_a_folder_class_the_model_lacks_is_named(trained, tmp_path, capsys):
    out, _ = trained
    folder = write_class_folders(tmp_path / "mine", (1, 7), 3, seed=22)
    (folder / "Sneaker").rename(folder / "Slipper")
    argv = ["evaluate", "--model", str(out), "--data", f"folder:{folder}", "--out", str(tmp_path)]
    code, error = app_helpers.exit_code_and_error(load_app(), argv, capsys)
    assert code == 2 and "classes the model was not trained on: 'Slipper'" in error


def test_overwrite_that_fails_validation_keeps_the_previous_model(
    trained, fashion_dir, tmp_path, capsys
):
    import shutil

    out = tmp_path / "model"
    shutil.copytree(trained[0], out)
    before = app_helpers.snapshot(out)
    argv = ["train", "--data", f"fashion_mnist:{fashion_dir}", "--out", str(out), "--overwrite",
            *SMALL, "--batch-size", "5000"]  # fmt: skip
    code, error = app_helpers.exit_code_and_error(load_app(), argv, capsys)
    assert code == 2 and "fewer than one batch" in error
    assert app_helpers.snapshot(out) == before and not (tmp_path / "model.partial").exists()


def test_folder_training_data_is_checked_and_mixed_files_are_read(tmp_path, capsys, caplog):
    """One class -> refused; an empty class folder -> warned; a broken file ->
    named and skipped; GIF, CMYK and 16-bit files -> read; no flip by
    default for a folder; resized to the preset's input, as logged."""
    from PIL import Image

    caplog.set_level("INFO")
    folder = write_class_folders(tmp_path / "data", (1,), 40, seed=23)
    argv = ["train", "--data", f"folder:{folder}", "--out", str(tmp_path / "m"), "--epochs", "1",
            *[a for a in SMALL if a not in ("--augment", "none")]]  # fmt: skip
    code, error = app_helpers.exit_code_and_error(load_app(), argv, capsys)
    assert code == 2 and "training examples of 1 class(es) ('Trouser')" in error
    assert not (tmp_path / "m").exists()
    write_class_folders(folder, (8,), 40, seed=24)
    (folder / "Coat").mkdir()
    Image.new("P", (30, 30), 7).save(folder / "Bag" / "palette.gif")
    Image.new("CMYK", (40, 20), (0, 0, 0, 255)).save(folder / "Bag" / "print.jpg")
    Image.new("I;16", (28, 28), 512).save(folder / "Trouser" / "deep.png")
    (folder / "Trouser" / "broken.png").write_bytes(b"\x89PNG\r\n\x1a\n")
    load_app().main(argv)
    assert "broken.png: not a readable" in caplog.text
    assert "1 of 3 classes in folder:" in caplog.text and "Coat" in caplog.text
    assert "resized to 28x28 with 1 channel(s)" in caplog.text
    assert "augmentation: none" in caplog.text
    config = json.loads((tmp_path / "m" / "config.json").read_text())
    assert config["class_names"] == ["Bag", "Coat", "Trouser"]
    assert config["training"]["augment"] == []


def test_default_augmentation_flips_only_mirror_safe_sets():
    from sharedformer_tf.data.image_dataset import default_augmentation

    assert default_augmentation("fashion_mnist:/some/dir") == ("flip",)
    assert default_augmentation("tfds:cifar10") == ("flip",)
    assert default_augmentation("tfds:mnist") == default_augmentation("folder:x") == ()


def test_elastic_depth_trains_and_evaluates_one_row_per_depth(fashion_dir, trained, capsys):
    out = fashion_dir / "elastic"
    app = load_app()
    argv = ["train", "--data", f"fashion_mnist:{fashion_dir}", "--out", str(out), "--epochs", "2",
            *SMALL, "--depths", "1,3"]  # fmt: skip
    app.main(argv)
    assert json.loads((out / "config.json").read_text())["model"]["depths"] == [1, 3]
    capsys.readouterr()
    app.main(["evaluate", "--model", str(out), "--exit-thresholds", "0.3,1.0"])
    metrics = last_json(capsys.readouterr().out)
    assert [row["depth"] for row in metrics["per_depth"]] == [1, 2, 3]
    lenient, never = metrics["early_exit"]  # p >= 1.0: every image runs all 3 depths
    assert never["mean_depth"] == 3 and never["accuracy"] == metrics["per_depth"][2]["accuracy"]
    assert 1 <= lenient["mean_depth"] < 3
    assert metrics["depth"] == 2 and metrics["accuracy"] == metrics["per_depth"][1]["accuracy"]
    assert (out / "depth_3" / "confusion_matrix.png").is_file()
    # The elastic TFLite file, one image at a time, agrees with the Keras model.
    app.main(["export", "--model", str(out), "--out", str(out / "export"), "--tflite", "fp32",
              "--exit-thresholds", "0.3,1.0"])  # fmt: skip
    scored = last_json(capsys.readouterr().out)["elastic_tflite"]
    assert scored["file"] == "classifier_elastic_fp32.tflite"
    one = 1 / metrics["num_examples"] + 1e-9  # at most one image may flip on a tie
    for row, keras_row in zip(scored["per_depth"], metrics["per_depth"], strict=True):
        assert row["depth"] == keras_row["depth"] and row["seconds_per_input"] > 0
        assert abs(row["accuracy"] - keras_row["accuracy"]) <= one
    for row, keras_row in zip(scored["early_exit"], metrics["early_exit"], strict=True):
        assert abs(row["mean_depth"] - keras_row["mean_depth"]) <= 2 * one
        assert abs(row["accuracy"] - keras_row["accuracy"]) <= one
    # A model trained at one depth runs shallower with its own weights.
    single, _ = trained
    argv_export = ["export", "--model", str(single), "--out", str(out / "x"),
                   "--exit-thresholds", "0.5"]  # fmt: skip
    code, error = app_helpers.exit_code_and_error(app, argv_export, capsys)
    assert code == 2 and "several depths" in error and not (out / "x").exists()
    app.main(["evaluate", "--model", str(single), "--depth", "1", "--out", str(out / "d1")])
    metrics = last_json(capsys.readouterr().out)
    assert metrics["depth"] == 1 and "per_depth" not in metrics
    code, error = app_helpers.exit_code_and_error(
        app, ["evaluate", "--model", str(single), "--depth", "5"], capsys
    )
    assert code == 2 and "depth=5" in error
    code, error = app_helpers.exit_code_and_error(app, [*argv[:-1], "0,2"], capsys)
    assert code == 2 and "--depths" in error


def test_learned_halting_trains_and_scores_its_exit_rule(fashion_dir, capsys):
    out = fashion_dir / "halting"
    app = load_app()
    app.main(["train", "--data", f"fashion_mnist:{fashion_dir}", "--out", str(out), "--epochs",
              "1", *SMALL, "--depths", "1", "--halting", "0.5"])  # fmt: skip
    assert json.loads((out / "config.json").read_text())["model"]["halting_prior"] == 0.5
    capsys.readouterr()
    app.main(["evaluate", "--model", str(out), "--exit-thresholds", "0.01,1.0"])
    metrics = last_json(capsys.readouterr().out)
    eager, never = metrics["early_exit"]
    assert eager["rule"] == never["rule"] == "halting"
    assert eager["mean_depth"] == 1  # every cumulative halting probability is above 0.01
    assert never["mean_depth"] == 2 and never["accuracy"] == metrics["accuracy"]
