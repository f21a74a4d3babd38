import io
import json
import os
import pathlib
import signal
import subprocess
import sys
import time
import warnings

import pytest

from sharedformer_tf import SharingPlan, parameter_report
from sharedformer_tf.data import builtin_corpus
from sharedformer_tf.models import Seq2SeqTransformer, seq2seq_config
from sharedformer_tf.training import recipes
from tests.apps import app_helpers
from tests.apps.app_helpers import snapshot

ROOT = pathlib.Path(__file__).resolve().parents[2]
APP = str(ROOT / "apps" / "translate.py")
SMALL = ["--preset", "tiny", "--layers", "2", "--sharing", "all", "--vocab-size", "100",
         "--max-length", "24", "--batch-size", "16", "--no-jit"]  # fmt: skip


def run(*args, stdin=None, timeout=600):
    env = dict(os.environ, TF_CPP_MIN_LOG_LEVEL="3", PYTHONUNBUFFERED="1")
    return subprocess.run(
        [sys.executable, APP, *args],
        input=stdin,
        capture_output=True,
        text=True,
        timeout=timeout,
        cwd=ROOT,
        env=env,
    )


def load_app():
    return app_helpers.load_app(APP)


def exit_code_and_error(argv, capsys):
    return app_helpers.exit_code_and_error(load_app(), argv, capsys)


@pytest.fixture(scope="module")
def corpus(tmp_path_factory):
    folder = tmp_path_factory.mktemp("corpus")
    train = builtin_corpus.generate("en-fr", "train", 240, seed=0)
    test = builtin_corpus.generate("en-fr", "test", 20, seed=0)
    (folder / "train.tsv").write_text("".join(f"{s}\t{t}\n" for s, t in train), encoding="utf-8")
    (folder / "test.en").write_text("".join(f"{s}\n" for s, _ in test), encoding="utf-8")
    (folder / "test.fr").write_text("".join(f"{t}\n" for _, t in test), encoding="utf-8")
    return folder


@pytest.fixture(scope="module")
def trained(corpus):
    out = corpus / "model"
    result = run(
        "train", "--data", f"tsv:{corpus}/train.tsv", "--out", str(out), "--epochs", "2",
        "--dropout", "0.05", *SMALL,
    )  # fmt: skip
    assert result.returncode == 0, result.stderr[-3000:]
    return out, result


def test_train_writes_a_complete_model_directory(trained):
    out, result = trained
    for name in (
        "model.keras",
        "tokenizer.model",
        "config.json",
        "parameter_report.json",
        "history.json",
    ):
        assert (out / name).is_file(), name
    report = json.loads((out / "parameter_report.json").read_text())
    assert 0 < report["unique_params"] < report["effective_params"]
    history = json.loads((out / "history.json").read_text())
    assert history["epoch"] == [0, 1] and len(history["loss"]) == 2
    config = json.loads((out / "config.json").read_text())
    assert config["model"]["encoder_plan"] == {
        "num_layers": 2,
        "num_groups": None,
        "strategy": "all",
        "scope": "block",
        "num_groups_ffn": None,
    }
    assert config["model"]["dropout"] == 0.05
    assert config["training"]["learning_rate"] == recipes.SEQ2SEQ_LEARNING_RATES["tiny"]
    assert config["training"]["epochs"] == 2
    assert "unique parameters" in result.stdout
    assert not (out / "backup").exists()  # a finished run leaves no backup


def test_evaluate_prints_json_last(trained, corpus, capsys):
    out, _ = trained
    data = f"parallel:{corpus}/test.en,{corpus}/test.fr"
    load_app().main(["evaluate", "--model", str(out), "--data", data])
    metrics = json.loads(capsys.readouterr().out.strip().splitlines()[-1])
    assert metrics["num_examples"] == 20
    for key in ("bleu", "chrf", "exact_match", "seconds"):
        assert isinstance(metrics[key], (int, float))


def set_stdin(monkeypatch, data):
    monkeypatch.setattr(sys, "stdin", io.TextIOWrapper(io.BytesIO(data), encoding="utf-8"))


def test_translate_from_arguments_and_stdin(trained, capsys, monkeypatch):
    out, _ = trained
    load_app().main(["translate", "--model", str(out), "ten", "€3.50"])
    from_args = capsys.readouterr().out.split("\n")
    assert len(from_args) == 3 and from_args[2] == ""
    set_stdin(monkeypatch, "ten\n\n€3.50\n".encode())
    load_app().main(["translate", "--model", str(out)])
    assert capsys.readouterr().out.split("\n")[:3] == [from_args[0], "", from_args[1]]


def test_export_writes_saved_model_and_tflite(trained, tmp_path, capsys):
    out, _ = trained
    load_app().main(["export", "--model", str(out), "--out", str(tmp_path), "--tflite", "fp32"])
    summary = json.loads(capsys.readouterr().out.strip().splitlines()[-1])
    assert (tmp_path / "saved_model" / "saved_model.pb").is_file()
    tflite_file = tmp_path / "translator_fp32.tflite"
    assert tflite_file.stat().st_size == summary["bytes"]["translator_fp32.tflite"]
    assert (tmp_path / "tokenizer.model").is_file()
    # The exported file translates text as the Keras model does.
    texts = ["ten", "€3.50", "Tuesday, March 4, 2025"]
    load_app().main(["translate", "--model", str(out), *texts])
    keras_lines = capsys.readouterr().out
    load_app().main(["translate", "--model", str(out), "--tflite", str(tflite_file), *texts])
    assert capsys.readouterr().out == keras_lines
    code, error = exit_code_and_error(
        ["translate", "--model", str(out), "--tflite", str(tflite_file), "--beam", "2", "ten"],
        capsys,
    )
    assert code == 2 and "--tflite decodes greedily. Received: --beam 2" in error


def test_finished_model_is_not_overwritten_by_accident(trained, corpus, capsys):
    out, _ = trained
    before = snapshot(out)
    argv = ["train", "--data", f"tsv:{corpus}/train.tsv", "--out", str(out), *SMALL]
    code, error = exit_code_and_error(argv, capsys)
    assert code == 2 and "--overwrite" in error
    assert snapshot(out) == before


@pytest.mark.parametrize(
    "args, message",
    [
        (["train", "--data", "csv:x", "--out", "OUT"], "Unknown data SPEC kind 'csv'"),
        (["train", "--data", "bible:es-fr", "--out", "OUT"], "language='fr'"),
        (
            ["train", "--out", "OUT", "--sharing", "sequence", "--layers", "3", "--groups", "2"],
            "num_layers=3",
        ),
        (["train", "--out", "OUT", "--epochs", "0"], "must be a positive integer"),
        (["train", "--out", "OUT", "--dropout", "1"], "a number in [0, 1)"),
        (["train", "--out", "OUT", "--strategy", "tpu"], "no TPU is reachable"),
        (["train", "--out", "OUT", "--precision", "float8"], "invalid choice: 'float8'"),
        (["evaluate", "--model", "NOWHERE"], "not a trained translator directory"),
        (["train", "--out", "OUT", "--depth-distillation", "0.5"], "needs --depths"),
        (
            ["train", "--out", "OUT", "--layers", "4", "--depths", "6", "--sharing", "none"],
            "for its 4 depths only",
        ),
        (["translate"], "--model"),
        (["train", "--out", "OUT", "--kv-sharing", "depth"], "--kv-sharing: invalid choice"),
    ],
)
def test_bad_arguments_give_clear_errors(args, message, tmp_path, capsys):
    args = [str(tmp_path / a) if a in ("OUT", "NOWHERE") else a for a in args]
    code, error = exit_code_and_error(args, capsys)
    assert code == 2 and message in error and "Traceback" not in error
    assert not (tmp_path / "OUT").exists()


def test_evaluate_defaults_to_the_training_data_only_when_it_has_a_test_split(trained, capsys):
    code, error = exit_code_and_error(["evaluate", "--model", str(trained[0])], capsys)
    assert code == 2 and "has no test split: name one with --data" in error


def test_missing_bible_names_the_packages_and_other_specs(tmp_path, monkeypatch, capsys):
    from sharedformer_tf.data import sword_bible

    monkeypatch.setenv("HOME", str(tmp_path))  # no cached corpus
    monkeypatch.setattr(sword_bible.shutil, "which", lambda name: None)
    sword_bible.read_verses.cache_clear()
    try:
        argv = ["train", "--data", "bible:es-en", "--out", str(tmp_path / "out")]
        code, error = exit_code_and_error(argv, capsys)
    finally:
        sword_bible.read_verses.cache_clear()
    assert code == 2 and "apt-get install sword-text-sparv sword-text-web diatheke" in error
    assert "Other SPECs: builtin" in error and not (tmp_path / "out").exists()


def test_non_utf8_training_file_names_file_and_line(tmp_path, capsys):
    path = tmp_path / "bad.tsv"
    path.write_bytes("ten\tdix\ncaf\xe9\tcaf\xe9\n".encode("latin-1"))
    argv = ["train", "--data", f"tsv:{path}", "--out", str(tmp_path / "out")]
    code, error = exit_code_and_error(argv, capsys)
    assert code == 2 and f"{path}, line 2: not valid UTF-8" in error
    assert not (tmp_path / "out").exists()


@pytest.mark.distributed
def test_interrupted_training_resumes_from_its_backup(corpus, tmp_path):
    out = tmp_path / "model"
    args = [sys.executable, APP, "train", "--data", f"tsv:{corpus}/train.tsv", "--out", str(out),
            "--epochs", "4", *SMALL]  # fmt: skip
    # PYTHONFAULTHANDLER: a crash inside TensorFlow prints the Python stack.
    env = dict(os.environ, TF_CPP_MIN_LOG_LEVEL="3", PYTHONFAULTHANDLER="1")
    metadata = out / "backup" / "training_metadata.json"
    crashes = []
    for _ in range(2):  # a second start only after a crash of TensorFlow itself
        first = subprocess.Popen(
            args, cwd=ROOT, env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT
        )
        deadline = time.time() + 300
        while time.time() < deadline and first.poll() is None:
            if metadata.is_file() and metadata.read_text().strip():
                break
            time.sleep(0.2)
        if first.poll() is None or first.returncode >= 0:
            break
        # Killed by a signal before its first backup (SIGSEGV inside
        # TensorFlow, seen twice in ~40 CI runs): say so, then start again.
        output = first.stdout.read().decode(errors="replace")[-3000:]
        crashes.append(f"status {first.returncode}:\n{output}")
        # A warning: pytest lists it in the summary of a passing run too.
        warnings.warn(f"training crashed before its first backup, started again: "
                      f"{crashes[-1][-1500:]}", stacklevel=1)  # fmt: skip
    if first.poll() is not None:
        output = first.stdout.read().decode(errors="replace")[-3000:]
        pytest.fail(f"training ended (status {first.returncode}) before it could be "
                    f"interrupted:\n{output}\nearlier crashes: {crashes}")  # fmt: skip
    first.send_signal(signal.SIGKILL)
    first.wait()
    done = json.loads(metadata.read_text())["epoch"]
    assert 1 <= done < 4
    assert not (out / "model.keras").exists()

    second = run(*args[2:])
    assert second.returncode == 0, second.stderr[-3000:]
    assert "Resuming the interrupted run" in second.stderr + second.stdout
    assert f"Epoch {done + 1}/4" in second.stdout
    assert "Epoch 1/4" not in second.stdout
    history = json.loads((out / "history.json").read_text())
    assert history["epoch"] == [0, 1, 2, 3]
    assert (out / "model.keras").is_file() and not (out / "backup").exists()


def test_non_utf8_stdin_names_the_line(trained, capsys, monkeypatch):
    out, _ = trained
    set_stdin(monkeypatch, "ten\ncaf\xe9\n".encode("latin-1"))
    code, error = exit_code_and_error(["translate", "--model", str(out)], capsys)
    assert code == 2 and "<stdin>, line 2: not valid UTF-8" in error


def test_mixed_precision_training_exports_float32_models(corpus, tmp_path, capsys):
    out = tmp_path / "mixed"
    args = ["--data", f"tsv:{corpus}/train.tsv", "--epochs", "1", "--precision", "mixed_bfloat16",
            "--learning-rate", "5e-4"]  # fmt: skip
    load_app().main(["train", "--out", str(out), *args, *SMALL])
    config = json.loads((out / "config.json").read_text())
    assert config["devices"]["precision"] == "mixed_bfloat16"
    assert config["training"]["learning_rate"] == 5e-4
    export_dir = str(tmp_path / "export")
    load_app().main(["export", "--model", str(out), "--out", export_dir, "--tflite", "fp32"])
    summary = json.loads(capsys.readouterr().out.strip().splitlines()[-1])
    assert summary["bytes"]["translator_fp32.tflite"] > 0


def test_sharing_flags_shape_the_model_config():
    app = load_app()

    def config(*flags):
        _, args = app.parse_args(["train", "--out", "unused", "--preset", "small", *flags])
        return app.model_config(args, 100)

    preset = seq2seq_config.small()
    shared = config()
    assert (shared.encoder_plan, shared.decoder_plan) == (preset.encoder_plan, preset.decoder_plan)
    assert shared.share_encoder_decoder and shared.vocabulary_size == 100
    assert shared.adapter_dim == preset.adapter_dim
    assert config("--adapter-dim", "8").adapter_dim == 8
    deeper = config("--layers", "8", "--groups-ffn", "2")
    assert deeper.encoder_plan == preset.encoder_plan.replace(num_layers=8, num_groups_ffn=2)
    plain = config("--sharing", "none")
    assert plain.encoder_plan == SharingPlan(4, strategy="none") == plain.decoder_plan
    assert not plain.share_encoder_decoder and plain.cross_attention_plan is None
    assert plain.adapter_dim is None
    report = parameter_report(Seq2SeqTransformer(plain))
    assert report["unique_params"] == report["effective_params"]
    one_cross = config("--layers", "4", "--share-cross-attention")
    assert one_cross.cross_attention_plan == SharingPlan(4, strategy="all")
    assert config("--sharing", "none", "--share-encoder-decoder").share_encoder_decoder
    assert not config("--no-share-encoder-decoder").share_encoder_decoder
    assert shared.kv_sharing == "none" and config("--kv-sharing", "group").kv_sharing == "group"
    assert shared.per_depth_norms and not config("--no-per-depth-norms").per_depth_norms


def test_convert_flags_share_cross_attention_and_norms():
    from sharedformer_tf.app import conversion_options

    app = load_app()

    def options(*flags):
        _, args = app.parse_args(["convert", "--model", "m", "--out", "o", *flags])
        return conversion_options(args, 4)

    default = options()
    assert default["plan"] == SharingPlan(4, 2, "cycle_rev") and "decoder_plan" not in default
    assert default["per_depth_norms"] is None  # the teacher's
    grouped = options("--share-cross-attention", "--no-per-depth-norms")
    decoder = grouped["decoder_plan"]
    assert decoder.assignments_of("cross_attention") == (0, 0, 0, 0)
    assert decoder.assignments_of("self_attention") == (0, 1, 1, 0)
    assert grouped["per_depth_norms"] is False


@pytest.mark.parametrize(
    "flags, message",
    [
        (["--layers", "6", "--unique", "4", "--sharing", "sequence"], "num_layers=6"),
        (["--max-length", "1"], "--max-length: must be an integer >= 8"),
        (["--data", "tsv:{corpus}/missing.tsv"], "missing.tsv"),
        (["--data", "tsv:{corpus}/test.en"], "expected source<TAB>target"),
    ],
)
def test_overwrite_with_bad_flags_or_data_keeps_the_previous_model(
    trained, corpus, tmp_path, capsys, flags, message
):
    import shutil

    from sharedformer_tf.translation import Translator

    out = tmp_path / "model"
    shutil.copytree(trained[0], out)
    before = snapshot(out)
    flags = [f.format(corpus=corpus) for f in flags]
    argv = ["train", "--data", f"tsv:{corpus}/train.tsv", "--out", str(out), "--overwrite",
            *SMALL, *flags]  # fmt: skip
    code, error = exit_code_and_error(argv, capsys)
    assert code == 2 and message in error and "Traceback" not in error
    assert snapshot(out) == before
    assert sorted(p.name for p in tmp_path.iterdir()) == ["model"]  # no partial run either
    Translator.load(out)


def test_files_not_written_by_train_are_never_deleted(corpus, tmp_path, capsys):
    home = tmp_path / "home"
    home.mkdir()
    (home / "thesis.tex").write_text("years of work")
    argv = ["train", "--data", f"tsv:{corpus}/train.tsv", *SMALL]
    code, error = exit_code_and_error([*argv, "--out", str(home), "--overwrite"], capsys)
    assert code == 2 and "holds files that train did not write" in error
    assert snapshot(home) == {pathlib.Path("thesis.tex"): b"years of work"}
    code, error = exit_code_and_error([*argv, "--out", str(home / "thesis.tex")], capsys)
    assert code == 2 and "is a file, not a directory" in error
    # A fresh --out gets nothing when the flags are bad.
    bad_plan = ["--layers", "6", "--unique", "4", "--sharing", "sequence"]
    code, _ = exit_code_and_error([*argv, *bad_plan, "--out", str(tmp_path / "new")], capsys)
    assert code == 2 and not (tmp_path / "new").exists()


def test_damaged_model_files_are_named(trained, tmp_path, capsys):
    import shutil

    out = tmp_path / "model"
    shutil.copytree(trained[0], out)
    (out / "tokenizer.model").write_bytes(b"not a sentencepiece model")
    code, error = exit_code_and_error(["translate", "--model", str(out), "ten"], capsys)
    assert code == 2 and "tokenizer.model is not a SentencePiece model" in error
    shutil.copy(trained[0] / "tokenizer.model", out / "tokenizer.model")
    (out / "model.keras").write_bytes((out / "model.keras").read_bytes()[:1000])
    code, error = exit_code_and_error(["translate", "--model", str(out), "ten"], capsys)
    assert code == 2 and "model.keras is not a loadable Keras model" in error


def test_tfds_data_missing_from_the_data_dir_is_not_downloaded(trained, tmp_path, capsys):
    import tensorflow_datasets as tfds

    def refuse(*args, **kwargs):
        raise AssertionError("tfds tried to download")

    argv = ["evaluate", "--model", str(trained[0]), "--data", "tfds:ted_hrlr_translate/pt_to_en",
            "--tfds-data-dir", str(tmp_path)]  # fmt: skip
    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(tfds.core.DatasetBuilder, "download_and_prepare", refuse)
        patch.setattr(tfds.download.DownloadManager, "download", refuse)
        code, error = exit_code_and_error(argv, capsys)
    assert code == 2 and f"is not prepared in {tmp_path}" in error


def test_truncation_is_counted_and_overwrite_replaces_a_model_when_done(corpus, tmp_path, caplog):
    """--max-length 8 truncates most pairs (warned with the count); then a
    second run with --overwrite trains aside and replaces the first."""
    caplog.set_level("INFO")
    out = tmp_path / "model"
    argv = ["train", "--data", f"tsv:{corpus}/train.tsv", "--out", str(out), "--epochs", "1",
            *SMALL, "--max-length", "8"]  # fmt: skip
    load_app().main(argv)
    assert "of 238 training pairs" in caplog.text and "longer than 7 tokens" in caplog.text
    first = (out / "model.keras").read_bytes()
    load_app().main([*argv, "--overwrite", "--seed", "3"])
    assert "replaces" in caplog.text  # it trained in model.partial
    assert (out / "model.keras").read_bytes() != first
    assert json.loads((out / "config.json").read_text())["run"]["seed"] == 3
    assert sorted(p.name for p in tmp_path.iterdir()) == ["model"]


def test_the_run_description_holds_the_schedule():
    """Resuming compares it: another --epochs or learning rate is refused."""
    from sharedformer_tf.app import describe_run

    _, args = load_app().parse_args(["train", "--out", "x", "--epochs", "5", "--strategy",
                                     "one_device", "--learning-rate", "1e-3"])  # fmt: skip
    run = describe_run(args)
    assert run["epochs"] == 5 and run["learning_rate"] == 1e-3 and run["data"] == "builtin:en-fr"
    assert "out" not in run and "strategy" not in run and "overwrite" not in run


def test_elastic_translator_trains_evaluates_and_translates_at_each_depth(
    corpus, trained, tmp_path, capsys
):
    """`train --depths 2` on a 4-depth model: `evaluate` scores each depth
    and early exit (never: the plain model; always: every token at depth
    2); `translate --depth`/`--exit-threshold`, and at a depth of the
    exported file; a one-depth model refuses early exit."""
    out = tmp_path / "model"
    small = [a for a in SMALL if a not in ("--layers", "2", "--sharing", "all")]
    load_app().main(["train", "--data", f"tsv:{corpus}/train.tsv", "--out", str(out),
                     "--epochs", "1", *small, "--layers", "4", "--sharing", "cycle", "--groups",
                     "2", "--depths", "2", "--depth-distillation", "0.3"])  # fmt: skip
    config = json.loads((out / "config.json").read_text())["model"]
    assert config["depths"] == [2] and config["depth_distillation"] == 0.3
    data = f"parallel:{corpus}/test.en,{corpus}/test.fr"
    load_app().main(["evaluate", "--model", str(out), "--data", data, "--no-jit",
                     "--exit-thresholds", "0,1000"])  # fmt: skip
    metrics = json.loads(capsys.readouterr().out.strip().splitlines()[-1])
    assert [row["depth"] for row in metrics["per_depth"]] == [2, 4]
    assert metrics["depth"] == 4 and metrics["bleu"] == metrics["per_depth"][1]["bleu"]
    never, always = metrics["early_exit"]  # change < 0: no token exits; < 1000: all at 2
    assert never["mean_depth"] == 4 and never["bleu"] == metrics["bleu"]
    assert always["mean_depth"] == 2
    texts = ["ten", "€3.50", "Tuesday, March 4, 2025"]
    outputs = {}
    for extra in ([], ["--depth", "2"], ["--exit-threshold", "0"]):
        load_app().main(["translate", "--model", str(out), "--no-jit", *extra, *texts])
        outputs[" ".join(extra)] = capsys.readouterr().out
    assert outputs["--exit-threshold 0"] == outputs[""]
    assert len(outputs["--depth 2"].splitlines()) == 3
    load_app().main(["export", "--model", str(out), "--out", str(tmp_path / "export"), "--tflite",
                     "fp32"])  # fmt: skip
    assert json.loads(capsys.readouterr().out.strip().splitlines()[-1])["depths"] == [2, 4]
    elastic = tmp_path / "export" / "translator_elastic_fp32.tflite"
    load_app().main(["translate", "--model", str(out), "--tflite", str(elastic), "--depth", "2",
                     *texts])  # fmt: skip
    assert capsys.readouterr().out == outputs["--depth 2"]
    for argv, message in [
        (["evaluate", "--model", str(trained[0]), "--data", data, "--exit-thresholds", "0.1"],
         "several depths"),
        (["translate", "--model", str(out), "--depth", "5", "ten"], "depth=5"),
        (["translate", "--model", str(out), "--tflite", __file__, "--exit-threshold", "0.1",
          "ten"], "without early exit"),
    ]:  # fmt: skip
        code, error = exit_code_and_error(argv, capsys)
        assert code == 2 and message in error and "Traceback" not in error


def test_convert_makes_a_shared_student_of_a_trained_translator(corpus, tmp_path, capsys):
    """`convert`: an unshared 2+2 teacher -> one group per stack (averaged),
    distilled for an epoch; the student is a translator of its own with
    fewer stored parameters; bad flags write nothing."""
    teacher, student = tmp_path / "teacher", tmp_path / "student"
    small = [a for a in SMALL if a not in ("--sharing", "all")]
    load_app().main(["train", "--data", f"tsv:{corpus}/train.tsv", "--out", str(teacher),
                     "--epochs", "1", *small, "--sharing", "none"])  # fmt: skip
    for argv, message in [
        (["--layers", "3"], "keeps the source's 2 depths"),
        (["--relax", "lora"], "rank=None"),
        (["--init", "middle"], "invalid choice: 'middle'"),
        (["--relax", "lora", "--rank", "2", "--no-per-depth-norms"], "per_depth_norms=False"),
    ]:
        code, error = exit_code_and_error(["convert", "--model", str(teacher), "--out",
                                           str(student), *argv], capsys)  # fmt: skip
        assert code == 2 and message in error and "Traceback" not in error
        assert not student.exists()
    load_app().main(["convert", "--model", str(teacher), "--out", str(student), "--sharing",
                     "all", "--init", "average", "--relax", "lora", "--rank", "4",
                     "--batch-size", "16", "--no-jit"])  # fmt: skip
    capsys.readouterr()
    config = json.loads((student / "config.json").read_text())
    assert config["model"]["encoder_plan"]["strategy"] == "all"
    assert config["model"]["lora_rank"] == 4 and config["run"]["data"].startswith("tsv:")
    assert (
        config["conversion"]["init"] == "average" and config["conversion"]["distill_alpha"] == 0.5
    )
    sizes = [json.loads((d / "parameter_report.json").read_text())["unique_params"]
             for d in (teacher, student)]  # fmt: skip
    assert sizes[1] < sizes[0]
    data = f"parallel:{corpus}/test.en,{corpus}/test.fr"
    load_app().main(["evaluate", "--model", str(student), "--data", data, "--no-jit"])
    assert 0 <= json.loads(capsys.readouterr().out.strip().splitlines()[-1])["bleu"] <= 100
