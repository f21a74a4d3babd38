import json
import os
import pathlib
import subprocess
import sys

import numpy as np
import pytest
import tensorflow_datasets as tfds

from sharedformer_tf.data.wav_files import encode_wav
from tests.apps import app_helpers

ROOT = pathlib.Path(__file__).resolve().parents[2]
APP = str(ROOT / "apps" / "keyword_spotting.py")
SMALL = ["--layers", "2", "--groups", "1", "--sharing", "cycle", "--batch-size", "16",
         "--learning-rate", "3e-3", "--no-jit"]  # fmt: skip
LABELS = ("high", "low", "sweep")


def run(*args, timeout=600):
    env = dict(os.environ, TF_CPP_MIN_LOG_LEVEL="3", PYTHONUNBUFFERED="1")
    return subprocess.run([sys.executable, APP, *args], capture_output=True, text=True,
                          timeout=timeout, cwd=ROOT, env=env)  # fmt: skip


def load_app():
    return app_helpers.load_app(APP)


def last_json(stdout):
    return json.loads(stdout.strip().splitlines()[-1])


def clip(label, rate, rng):
    """Half a second of a high tone, a low tone or a rising sweep at a random
    place, loudness and phase, over noise."""
    t = np.arange(rate // 2) / rate
    if label == "sweep":
        sound = np.sin(2 * np.pi * (300 + 2000 * t) * t)
    else:
        sound = np.sin(2 * np.pi * (2600 if label == "high" else 400) * t + rng.uniform(0, 6))
    out = 0.01 * rng.standard_normal(rate)
    start = rng.integers(0, rate // 2)
    out[start : start + len(sound)] += rng.uniform(0.1, 0.6) * sound
    return out


@pytest.fixture(scope="module")
def clips_dir(tmp_path_factory):
    folder = tmp_path_factory.mktemp("clips")
    rng = np.random.default_rng(0)
    for label in LABELS:
        (folder / label).mkdir()
        for i in range(60):
            rate = (16000, 8000, 22050)[i % 3]  # the reader resamples
            (folder / label / f"{i}.wav").write_bytes(encode_wav(clip(label, rate, rng), rate))
    return folder


@pytest.fixture(scope="module")
def trained(clips_dir):
    out = clips_dir.parent / "kws_model"
    result = run("train", "--data", f"folder:{clips_dir}", "--out", str(out), "--epochs", "4",
                 *SMALL)  # fmt: skip
    assert result.returncode == 0, result.stderr[-3000:]
    return out, result


def test_train_writes_a_complete_model_directory(trained):
    out, result = trained
    for name in ("model.keras", "config.json", "parameter_report.json", "history.json"):
        assert (out / name).is_file(), name
    assert (out / "learning_curve.png").read_bytes()[:4] == b"\x89PNG"
    config = json.loads((out / "config.json").read_text())
    assert config["class_names"] == list(LABELS) and config["model"]["num_classes"] == 3
    masks = [config["model"][k] for k in ("time_masks", "time_mask_frames", "frequency_masks",
                                          "frequency_mask_bands")]  # fmt: skip
    assert masks == [2, 5, 2, 4]  # the preset's SpecAugment
    report = json.loads((out / "parameter_report.json").read_text())
    assert 0 < report["unique_params"] < report["effective_params"]
    assert "unique parameters" in result.stdout and not (out / "backup").exists()


def test_evaluate_reports_accuracy_and_a_confusion_matrix(trained, capsys):
    out, _ = trained
    load_app().main(["evaluate", "--model", str(out)])
    metrics = last_json(capsys.readouterr().out)
    assert metrics["num_examples"] > 5 and metrics["accuracy"] > 0.6  # chance is 1/3
    assert list(metrics["per_class_accuracy"]) == list(LABELS)
    assert pathlib.Path(metrics["confusion_matrix_png"]).read_bytes()[:4] == b"\x89PNG"


def test_convert_relaxes_a_trained_spotter_and_distills_it(trained, tmp_path, capsys):
    """`convert` with per-depth LoRA: the teacher's one group stays one
    group (so the deltas start at zero and the student starts as the
    teacher), one epoch of distillation; bad flags write nothing."""
    teacher, _ = trained
    student = tmp_path / "student"
    for argv, message in [(["--layers", "3"], "keeps the source's 2 depths"),
                          (["--relax", "lora"], "rank=None")]:  # fmt: skip
        code, error = app_helpers.exit_code_and_error(
            load_app(), ["convert", "--model", str(teacher), "--out", str(student), *argv],
            capsys)  # fmt: skip
        assert code == 2 and message in error and "Traceback" not in error
        assert not student.exists()
    load_app().main(["convert", "--model", str(teacher), "--out", str(student), "--layers", "2",
                     "--groups", "1", "--sharing", "cycle", "--relax", "lora", "--rank", "2",
                     "--epochs", "1", "--batch-size", "16", "--no-jit"])  # fmt: skip
    capsys.readouterr()
    config = json.loads((student / "config.json").read_text())
    assert config["model"]["lora_rank"] == 2 and config["conversion"]["relax"] == "lora"
    assert config["class_names"] == list(LABELS) and config["run"]["data"].startswith("folder:")
    sizes = [json.loads((d / "parameter_report.json").read_text())["unique_params"]
             for d in (teacher, student)]  # fmt: skip
    assert sizes[1] > sizes[0]  # the same shared weights plus the deltas
    accuracy = []
    for model in (teacher, student):
        load_app().main(["evaluate", "--model", str(model)])
        accuracy.append(last_json(capsys.readouterr().out)["accuracy"])
    assert accuracy[1] >= accuracy[0] - 0.1


def test_predict_names_a_bad_file_and_still_predicts_the_rest(trained, tmp_path, capsys):
    import keras

    from sharedformer_tf.data.audio_data import load_clip

    out, _ = trained
    rng = np.random.default_rng(7)
    paths = []
    for label, rate in (("high", 44100), ("low", 16000)):
        path = tmp_path / f"{label}.wav"
        path.write_bytes(encode_wav(clip(label, rate, rng), rate))
        paths.append(str(path))
    broken = tmp_path / "broken.wav"
    broken.write_bytes(b"RIFF\x00\x00\x00\x00WAVEnot audio")
    argv = ["predict", "--model", str(out), paths[0], str(broken), paths[1]]
    code, stdout, stderr = app_helpers.exit_code_and_output(load_app(), argv, capsys)
    assert code == 2
    assert f"{broken}: no fmt chunk" in stderr
    assert "1 of 3 files could not be read" in stderr
    lines = stdout.strip().splitlines()
    assert [line.split(": ")[0] for line in lines] == paths
    model = keras.saving.load_model(out / "model.keras")
    waveforms = np.stack([load_clip(p, 16000, 16000) for p in paths])
    probabilities = np.asarray(keras.ops.softmax(model(waveforms)))
    for line, p in zip(lines, probabilities, strict=True):
        top = line.split(": ", 1)[1].split(", ")[0]
        assert top == f"{LABELS[p.argmax()]} {p.max():.3f}"


def test_export_waveform_models_match_keras(trained, tmp_path, capsys):
    import keras

    from sharedformer_tf.export import tflite
    from sharedformer_tf.export.tflite_classifier import TFLiteClassifier

    out, _ = trained
    export_dir = tmp_path / "export"
    load_app().main(["export", "--model", str(out), "--out", str(export_dir)])
    summary = last_json(capsys.readouterr().out)
    assert summary["input_shape"] == [None, 16000] and summary["input_dtype"] == "float32"
    assert summary["agreement_with_keras"]["fp32"] == 1.0
    # int8 keeps the spectrogram in float (AudioClassifier.int8_float_layers); a fully
    # integer front end loses the quiet parts of the power spectrum and most predictions.
    assert summary["agreement_with_keras"]["int8"] >= 0.8, summary["agreement_with_keras"]
    for variant in ("fp32", "fp16", "int8"):
        names = tflite.op_names((export_dir / f"classifier_{variant}.tflite").read_bytes())
        assert not [n for n in names if n.startswith("Flex") or "FFT" in n], names
    rng = np.random.default_rng(3)
    waveforms = np.stack([clip(label, 16000, rng) for label in LABELS]).astype("float32")
    model = keras.saving.load_model(out / "model.keras")
    want = np.asarray(keras.ops.softmax(model(waveforms)))
    got = TFLiteClassifier(export_dir / "classifier_fp32.tflite").predict(waveforms)
    np.testing.assert_allclose(got, want, atol=1e-4)
    np.save(tmp_path / "waveforms.npy", waveforms)
    script = (
        "import sys, json, numpy as np, tensorflow as tf\n"
        "serve = tf.saved_model.load(sys.argv[1]).signatures['serving_default']\n"
        "out = serve(inputs=tf.constant(np.load(sys.argv[2])))\n"
        "assert 'sharedformer_tf' not in sys.modules\n"
        "print(json.dumps(out['probabilities'].numpy().tolist()))\n"
    )
    arguments = [str(export_dir / "saved_model"), str(tmp_path / "waveforms.npy")]
    served = subprocess.run([sys.executable, "-c", script, *arguments], capture_output=True,
                            text=True, timeout=300)  # fmt: skip
    assert served.returncode == 0, served.stderr[-2000:]
    np.testing.assert_allclose(json.loads(served.stdout.splitlines()[-1]), want, atol=1e-4)


@pytest.mark.parametrize(
    "args, message",
    [
        (["train", "--out", "{tmp}/m", "--data", "folder:{tmp}/none"], "is not a directory"),
        (["train", "--out", "{tmp}/m", "--data", "mp3:x"], "Unknown audio data SPEC"),
        (
            ["train", "--out", "{tmp}/m", "--data", "spoken_commands:flite"],
            "Expected speech engines from ('espeak-ng', 'festival'). Received: ['flite']",
        ),
        (["evaluate", "--model", "{tmp}/missing"], "is not a trained classifier directory"),
        (["train", "--out", "{tmp}/m", "--sharing", "sometimes"], "invalid choice"),
        (["train", "--out", "{tmp}/m", "--spec-augment", "2x0,1x1"], "expected TxW,FxB"),
        (["train", "--out", "{tmp}/m", "--augment", "gain,echo"], "Received: ['echo']"),
        (["train", "--out", "{tmp}/m", "--stem", "16,x"], "expected 0 or filters such as 16,32"),
        (
            ["train", "--out", "{tmp}/m", "--stem", "16,32", "--frames-per-patch", "2"],
            "must divide the 25 frames of a clip (after the stem's pooling). "
            "Received: frames_per_patch=2",
        ),
    ],
)
def test_bad_input_exits_2_with_a_clear_message(tmp_path, args, message, capsys):
    argv = [a.format(tmp=tmp_path) for a in args]
    code, error = app_helpers.exit_code_and_error(load_app(), argv, capsys)
    assert code == 2 and message in error and "Traceback" not in error
    assert not (tmp_path / "m").exists()


def test_train_and_evaluate_on_tfds_mock_speech_commands_at_several_depths(tmp_path, capsys):
    app = load_app()
    out = tmp_path / "model"
    with tfds.testing.mock_data(num_examples=40, policy=tfds.testing.MockPolicy.USE_CODE):
        app.main(["train", "--data", "tfds:speech_commands", "--out", str(out), "--epochs", "1",
                  *SMALL, "--depths", "1,3", "--normalization", "band",
                  "--exit-heads", "per_depth",
                  "--stem", "4,8", "--frames-per-patch", "5",
                  "--spec-augment", "none"])  # fmt: skip
        app.main(["evaluate", "--model", str(out), "--num-examples", "10"])
    metrics = last_json(capsys.readouterr().out)
    assert metrics["num_examples"] == 10
    assert [row["depth"] for row in metrics["per_depth"]] == [1, 2, 3]
    config = json.loads((out / "config.json").read_text())
    assert config["model"]["depths"] == [1, 3] and config["model"]["normalization"] == "band"
    assert config["model"]["exit_heads"] == "per_depth"
    stem = {k: config["model"][k] for k in ("stem_filters", "stem_pooling", "stem_activation")}
    assert stem == {"stem_filters": [4, 8], "stem_pooling": True, "stem_activation": "relu"}
    assert config["model"]["frames_per_patch"] == 5
    assert config["model"]["time_masks"] == config["model"]["frequency_masks"] == 0
    names = config["class_names"]
    assert names[-2:] == ["_silence_", "_unknown_"] and len(names) == 12


def test_mixed_bfloat16_augmented_training_exports_a_float32_model(clips_dir, tmp_path, capsys):
    out = tmp_path / "bf16"
    load_app().main(["train", "--data", f"folder:{clips_dir}", "--out", str(out), "--epochs", "2",
                     "--precision", "mixed_bfloat16", "--strategy", "one_device",
                     "--spec-augment", "1x5,2x4", "--augment", "gain,band,reverb,speed",
                     *SMALL])  # fmt: skip
    config = json.loads((out / "config.json").read_text())
    assert config["devices"]["precision"] == "mixed_bfloat16"
    masks = {k: config["model"][k] for k in ("time_masks", "time_mask_frames", "frequency_masks",
                                             "frequency_mask_bands")}  # fmt: skip
    assert masks == {"time_masks": 1, "time_mask_frames": 5, "frequency_masks": 2,
                     "frequency_mask_bands": 4}  # fmt: skip
    assert config["training"]["augment"] == ["gain", "band", "reverb", "speed"]
    export_dir = tmp_path / "export"
    capsys.readouterr()
    load_app().main(["export", "--model", str(out), "--out", str(export_dir), "--tflite", "fp32"])
    summary = last_json(capsys.readouterr().out)
    assert summary["bytes"]["classifier_fp32.tflite"] > 4 * summary["unique_params"]
    # The TFLite model is the float32 copy of the bfloat16-trained weights. (Class agreement
    # with the bfloat16 Keras model is no test: two epochs leave near-tied logits.)
    import keras

    from sharedformer_tf.export.tflite_classifier import TFLiteClassifier

    model = keras.saving.load_model(out / "model.keras")
    rng = np.random.default_rng(3)
    waveforms = np.stack([clip(label, 16000, rng) for label in LABELS]).astype("float32")
    want = np.asarray(keras.ops.softmax(model.in_float32()(waveforms)))
    got = TFLiteClassifier(export_dir / "classifier_fp32.tflite").predict(waveforms)
    np.testing.assert_allclose(got, want, atol=1e-5)


def test_a_new_folder_is_scored_whole_with_labels_matched_by_name(trained, tmp_path, capsys):
    """A folder of only `sweep` and `high` numbers them 1 and 0 in folder
    order; the model's `sweep` is 2: matched by name, the scores hold."""
    out, _ = trained
    rng = np.random.default_rng(7)
    for label in ("sweep", "high"):
        (tmp_path / "new" / label).mkdir(parents=True)
        for i in range(8):
            (tmp_path / "new" / label / f"{i}.wav").write_bytes(
                encode_wav(clip(label, 16000, rng), 16000)
            )
    app = load_app()
    app.main(["evaluate", "--model", str(out), "--data", f"folder:{tmp_path / 'new'}",
              "--out", str(tmp_path)])  # fmt: skip
    metrics = last_json(capsys.readouterr().out)
    assert metrics["num_examples"] == 16
    assert metrics["per_class_count"] == {"high": 8, "low": 0, "sweep": 8}
    assert metrics["accuracy"] > 0.6
    (tmp_path / "new" / "sweep").rename(tmp_path / "new" / "bark")
    argv = ["evaluate", "--model", str(out), "--data", f"folder:{tmp_path / 'new'}"]
    code, error = app_helpers.exit_code_and_error(app, argv, capsys)
    assert code == 2 and "not trained on: 'bark'" in error


def test_predict_warns_about_an_empty_clip_and_refuses_a_hostile_rate(trained, tmp_path,
                                                                     capsys, caplog):  # fmt: skip
    out, _ = trained
    (tmp_path / "empty.wav").write_bytes(encode_wav(np.zeros(0), 16000))
    hostile = bytearray(encode_wav(np.zeros(16000), 16000))
    hostile[24:28] = (1).to_bytes(4, "little")  # sample_rate = 1 Hz
    (tmp_path / "hostile.wav").write_bytes(bytes(hostile))
    argv = ["predict", "--model", str(out), str(tmp_path / "empty.wav"),
            str(tmp_path / "hostile.wav")]  # fmt: skip
    code, stdout, stderr = app_helpers.exit_code_and_output(load_app(), argv, capsys)
    assert code == 2
    assert "empty.wav: the WAV file has no samples" in caplog.text  # a logged warning
    assert "hostile.wav: sample rate 1 Hz is outside" in stderr
    assert stdout.startswith(f"{tmp_path / 'empty.wav'}: ")


def test_clean_augmentation_trains_on_synthesized_clips_and_needs_them(
    clips_dir, tmp_path, monkeypatch, capsys
):
    from sharedformer_tf.data import spoken_commands

    plans = {split: spoken_commands.clip_plan(split) for split in ("train", "validation")}
    speakers = {split: sorted({s for s, _, _ in plan}) for split, plan in plans.items()}
    small = {split: [c for c in plans[split] if c[0] in speakers[split][:n]]
             for split, n in (("train", 3), ("validation", 1))}  # fmt: skip
    monkeypatch.setattr(spoken_commands, "clip_plan", lambda split, **kwargs: small[split])
    out = tmp_path / "clean"
    load_app().main(["train", "--out", str(out), "--epochs", "1", "--augment", "clean,gain",
                     "--cache-dir", str(tmp_path / "cache"), *SMALL])  # fmt: skip
    config = json.loads((out / "config.json").read_text())
    assert config["training"]["augment"] == ["clean", "gain"]
    assert json.loads((out / "history.json").read_text())["loss"]
    # Recorded recordings carry no separate noise: refused before anything is written.
    argv = ["train", "--data", f"folder:{clips_dir}", "--out", str(tmp_path / "m"),
            "--augment", "clean"]  # fmt: skip
    code, error = app_helpers.exit_code_and_error(load_app(), argv, capsys)
    assert code == 2 and "--augment clean needs clips that carry their noise apart" in error
    assert not (tmp_path / "m").exists()
