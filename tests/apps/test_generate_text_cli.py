import json
import logging
import pathlib

import pytest
import tensorflow_datasets as tfds

from sharedformer_tf.data import sword_bible
from tests.apps import app_helpers
from tests.generation.lm_fixtures import sentences

ROOT = pathlib.Path(__file__).resolve().parents[2]
APP = str(ROOT / "apps" / "generate_text.py")
SMALL = ["--preset", "tiny", "--layers", "4", "--groups", "2", "--sharing", "cycle",
         "--vocab-size", "48", "--context", "16", "--batch-size", "8", "--no-jit"]  # fmt: skip


def load_app():
    return app_helpers.load_app(APP)


def last_json(stdout):
    return json.loads(stdout.strip().splitlines()[-1])


@pytest.fixture(scope="module")
def corpus(tmp_path_factory):
    path = tmp_path_factory.mktemp("text") / "story.txt"
    path.write_text("".join(f"{s}\n" for s in sentences(400)), encoding="utf-8")
    return path


@pytest.fixture(scope="module")
def trained(corpus, tmp_path_factory):
    out = tmp_path_factory.mktemp("lm") / "model"
    load_app().main(["train", "--data", f"text:{corpus}", "--out", str(out), "--epochs", "2",
                     *SMALL])  # fmt: skip
    return out


def test_train_evaluate_generate_and_export(trained, corpus, tmp_path, capsys):
    app = load_app()
    config = json.loads((trained / "config.json").read_text())
    assert config["model"]["plan"]["strategy"] == "cycle" and config["model"]["max_length"] == 16
    capsys.readouterr()
    app.main(["evaluate", "--model", str(trained)])  # the training SPEC's test part
    metrics = last_json(capsys.readouterr().out)
    assert metrics["data"] == f"text:{corpus}"
    assert metrics["split"] == "test" and metrics["num_documents"] == 20
    assert 1 < metrics["perplexity"] < 30  # 12 words: far below the 48-piece vocabulary
    assert metrics["bits_per_byte"] > 0 and metrics["num_tokens"] > 100
    app.main(["generate", "--model", str(trained), "--prompt", "sun moon", "--max-tokens", "6",
              "--sampler", "greedy"])  # fmt: skip
    greedy = capsys.readouterr().out
    assert greedy.startswith("sun moon") and len(greedy.strip()) > len("sun moon")
    app.main(["generate", "--model", str(trained), "--max-tokens", "6", "--seed", "3"])
    first = capsys.readouterr().out
    app.main(["generate", "--model", str(trained), "--max-tokens", "6", "--seed", "3"])
    assert capsys.readouterr().out == first  # seeded top-p
    out = tmp_path / "export"
    app.main(["export", "--model", str(trained), "--out", str(out), "--tflite", "fp32"])
    summary = last_json(capsys.readouterr().out)
    assert sorted(summary["bytes"]) == ["generator_fp32.tflite", "saved_model"]
    assert (out / "tokenizer.model").is_file() and (out / "export.json").is_file()
    assert summary["cache_shape"] == [1, 4, 2, 16, 4, 32]


def test_convert_loops_one_block_with_lora_and_distills_it(trained, tmp_path, capsys):
    """`convert`: the 2-group teacher to one group at every depth with rank-2
    LoRA deltas, one epoch of distillation; it keeps the teacher's tokenizer
    and data and still models the text."""
    student = tmp_path / "student"
    code, error = app_helpers.exit_code_and_error(
        load_app(), ["convert", "--model", str(trained), "--out", str(student), "--init",
                     "middle"], capsys)  # fmt: skip
    assert code == 2 and "invalid choice: 'middle'" in error and not student.exists()
    load_app().main(["convert", "--model", str(trained), "--out", str(student), "--sharing",
                     "all", "--relax", "lora", "--rank", "2", "--batch-size", "8",
                     "--no-jit"])  # fmt: skip
    capsys.readouterr()
    config = json.loads((student / "config.json").read_text())
    assert config["model"]["plan"]["strategy"] == "all" and config["model"]["lora_rank"] == 2
    assert config["run"]["data"] == json.loads((trained / "config.json").read_text())["run"]["data"]
    assert (student / "tokenizer.model").read_bytes() == (trained / "tokenizer.model").read_bytes()
    load_app().main(["evaluate", "--model", str(student)])
    assert 1 < last_json(capsys.readouterr().out)["perplexity"] < 30


def test_a_prompt_longer_than_the_context_is_cut_with_a_warning(trained, capsys, caplog):
    with caplog.at_level(logging.WARNING):
        load_app().main(["generate", "--model", str(trained), "--prompt", "sun " * 40,
                         "--max-tokens", "4", "--sampler", "greedy"])  # fmt: skip
    assert "their beginning was cut off" in caplog.text
    assert capsys.readouterr().out.startswith("sun sun")


@pytest.mark.parametrize(
    "argv, message",
    [
        (["generate", "--model", "MODEL", "--max-tokens", "0"], "must be a positive integer"),
        (["generate", "--model", "MODEL", "--max-tokens", "16"], "below the model's context"),
        (["generate", "--model", "MODEL", "--top-p", "1.5"], "--top-p must be in (0, 1]"),
        (["generate", "--model", "MODEL", "--max-tokens", "4", "--exit-threshold", "0.1"],
         "several depths"),
        (["evaluate", "--model", "MODEL", "--exit-thresholds", "0.1"], "several depths"),
        (["evaluate", "--model", "MODEL", "--exit-thresholds", "0.1,-1"], "numbers >= 0"),
        (["generate", "--model", "NOWHERE"], "not a trained text generator directory"),
        (["evaluate", "--model", "MODEL", "--data", "csv:x"], "Unknown data SPEC kind"),
        (["export", "--model", "MODEL", "--out", "OUT", "--max-tokens", "16"], "max_new_tokens=16"),
        (["train", "--out", "OUT", "--data", "text:EMPTY"], "holds no text"),
        (["train", "--out", "OUT", "--data", "text:LATIN"], "line 2: not valid UTF-8"),
        (["train", "--out", "OUT", "--context", "4"], "must be an integer >= 8"),
        (["train", "--out", "OUT", "--depth-distillation", "0.5"], "needs --depths"),
        (["train", "--out", "OUT", "--data", "text:SHORT", *SMALL], "fewer than one batch"),
        (["train", "--out", "OUT", "--sharing", "sequence", "--layers", "3", "--groups", "2"],
         "num_layers=3"),
    ],
)  # fmt: skip
def test_bad_input_gives_one_line_and_writes_nothing(argv, message, trained, tmp_path, capsys):
    (tmp_path / "EMPTY").write_text("\n\n", encoding="utf-8")
    (tmp_path / "LATIN").write_bytes("ok\ncaf\xe9\n".encode("latin-1"))
    (tmp_path / "SHORT").write_text("sun moon.\nstar.\nrain.\nwind.\n", encoding="utf-8")
    names = {"MODEL": str(trained), "NOWHERE": str(tmp_path / "nowhere"),
             "OUT": str(tmp_path / "out")}  # fmt: skip
    argv = [names.get(a, a.replace("EMPTY", str(tmp_path / "EMPTY"))
                      .replace("LATIN", str(tmp_path / "LATIN"))
                      .replace("SHORT", str(tmp_path / "SHORT"))) for a in argv]  # fmt: skip
    code, error = app_helpers.exit_code_and_error(load_app(), argv, capsys)
    assert code == 2 and message in error and "Traceback" not in error
    assert sum("error:" in line for line in error.splitlines()) == 1  # (argparse adds usage)
    assert not (tmp_path / "out").exists()


def test_bible_without_its_packages_names_the_apt_get_line(tmp_path, capsys, monkeypatch):
    monkeypatch.setattr(sword_bible.shutil, "which", lambda name: None)
    sword_bible.read_verses.cache_clear()
    monkeypatch.setenv("HOME", str(tmp_path))  # no cached corpus either
    argv = ["train", "--out", str(tmp_path / "out"), "--data", "bible:en"]
    code, error = app_helpers.exit_code_and_error(load_app(), argv, capsys)
    assert code == 2 and "apt-get install sword-text-web diatheke" in error
    assert "Other SPECs: text:FILE, tfds:NAME" in error
    assert not (tmp_path / "out").exists()


def test_trains_on_tfds_mock_data_at_two_depths(tmp_path, capsys):
    out = tmp_path / "model"
    with tfds.testing.mock_data(num_examples=4, policy=tfds.testing.MockPolicy.USE_CODE):
        load_app().main(["train", "--data", "tfds:tiny_shakespeare", "--out", str(out),
                         "--epochs", "1", *SMALL, "--batch-size", "2",
                         "--depths", "2", "--depth-distillation", "0.3",
                         "--depth-sampling", "sandwich"])  # fmt: skip
        load_app().main(["evaluate", "--model", str(out), "--exit-thresholds", "0,1000"])
    metrics = last_json(capsys.readouterr().out)
    config = json.loads((out / "config.json").read_text())["model"]
    assert config["depths"] == [2] and config["depth_distillation"] == 0.3
    assert config["depth_sampling"] == "sandwich"
    assert metrics["num_documents"] == 4
    never, always = metrics["early_exit"]  # change < 0: no token exits; < 1000: all at 2
    assert never["mean_depth"] == 4 and never["perplexity"] == metrics["perplexity"]
    assert always["mean_depth"] == 2
    assert always["perplexity"] == pytest.approx(metrics["per_depth"][0]["perplexity"], rel=1e-3)
    assert [row["depth"] for row in metrics["per_depth"]] == [2, 4]
    assert metrics["depth"] == 4 and metrics["perplexity"] == metrics["per_depth"][1]["perplexity"]
    load_app().main(["generate", "--model", str(out), "--prompt", "to be", "--max-tokens", "4",
                     "--depth", "2", "--sampler", "greedy"])  # fmt: skip
    shallow = capsys.readouterr().out
    assert shallow.startswith("to be")
    load_app().main(["generate", "--model", str(out), "--prompt", "to be", "--max-tokens", "4",
                     "--exit-threshold", "1000", "--sampler", "greedy"])  # fmt: skip
    assert capsys.readouterr().out == shallow  # every token exits at depth 2
    code, error = app_helpers.exit_code_and_error(
        load_app(), ["generate", "--model", str(out), "--depth", "5"], capsys
    )
    assert code == 2 and "depth=5" in error
