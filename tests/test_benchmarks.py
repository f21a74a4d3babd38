import argparse
import json
import os
import pathlib
import subprocess
import sys

import numpy as np
import pytest

ROOT = pathlib.Path(__file__).resolve().parents[1]


@pytest.mark.slow
def test_throughput_benchmark_runs_and_ends_with_its_json_summary():
    args = ["--steps", "1", "--rounds", "1", "--batch-size", "4", "--length", "8",
            "--decode-length", "6", "--decode-batch", "2",
            "--evaluate-sentences", "20", "--real-data", "builtin:en-fr", "--real-pairs", "40",
            "--real-max-length", "16", "--real-rounds", "1"]  # fmt: skip
    result = subprocess.run(
        [sys.executable, str(ROOT / "benchmarks" / "throughput.py"), *args],
        capture_output=True, text=True, timeout=1200, cwd=ROOT,
        env=dict(os.environ, TF_CPP_MIN_LOG_LEVEL="3"),
    )  # fmt: skip
    assert result.returncode == 0, result.stderr[-3000:]
    summary = json.loads(result.stdout.strip().splitlines()[-1])
    for key in (
        "train_ratio_vs_keras_hub",
        "decode_cache_speedup",
        "decode_ratio_vs_keras_hub_cached",
        "decode_ratio_kv_group_vs_keras_hub_cached",
        "train_real_tokens_ratio_vs_keras_hub",
        "mfu",
    ):
        assert summary[key] > 0, key
    real = summary["train_real_data"]
    padding = {row["pipeline"]: row["padding_fraction"] for row in real["rows"]}
    assert 0 <= padding["bucketed"] < padding["padded_to_longest"] < 1
    models = {(row["model"], row["xla"]) for row in summary["train"]}
    assert ("keras_hub", True) in models and ("sharedformer_unshared", False) in models
    assert summary["decode"]["output_tokens"] == 6
    assert summary["evaluate"]["sentences"] == 20 and summary["evaluate_xla_speedup"] > 0
    assert 0 < summary["mfu"] < 1


def run_sharing_benchmark(name, data, out):
    train_flags = ["--layers", "2", "--batch-size", "16", "--no-jit"]
    result = subprocess.run(
        [sys.executable, str(ROOT / "benchmarks" / name), "--data", data, "--epochs", "1",
         "--out", str(out), "--", *train_flags],
        capture_output=True, text=True, timeout=1200, cwd=ROOT,
        env=dict(os.environ, TF_CPP_MIN_LOG_LEVEL="3"),
    )  # fmt: skip
    assert result.returncode == 0, result.stderr[-3000:]
    summary = json.loads(result.stdout.strip().splitlines()[-1])
    assert [row["model"] for row in summary["rows"]] == ["shared", "unshared"]
    shared, unshared = summary["rows"]
    # --layers 2 keeps the preset's 2 groups: the "shared" model is unshared too.
    assert summary["unique_params_ratio"] == 1.0
    assert shared["effective_params"] == unshared["effective_params"]
    for row in summary["rows"]:
        assert set(row["tflite_accuracy"]) == {"fp32", "fp16", "int8"}
        assert row["tflite_agreement_with_keras"]["fp32"] == 1.0
    return summary


@pytest.mark.slow
def test_vision_sharing_benchmark(tmp_path):
    from sharedformer_tf.data import image_data
    from tests.apps.test_classify_images_cli import synthetic_images, write_idx

    for split, (images_name, labels_name) in image_data.FASHION_MNIST_FILES.items():
        images, labels = synthetic_images(200 if split == "train" else 40, len(split))
        write_idx(tmp_path / images_name, images)
        write_idx(tmp_path / labels_name, labels)
    run_sharing_benchmark("vision_sharing.py", f"fashion_mnist:{tmp_path}", tmp_path / "runs")


@pytest.mark.slow
def test_speech_sharing_benchmark(tmp_path):
    import numpy as np

    from sharedformer_tf.data.wav_files import encode_wav
    from tests.apps.test_keyword_spotting_cli import LABELS, clip

    rng = np.random.default_rng(0)
    for label in LABELS:
        (tmp_path / "clips" / label).mkdir(parents=True)
        for i in range(40):
            wav = encode_wav(clip(label, 16000, rng), 16000)
            (tmp_path / "clips" / label / f"{i}.wav").write_bytes(wav)
    run_sharing_benchmark("speech_sharing.py", f"folder:{tmp_path / 'clips'}", tmp_path / "runs")


def import_benchmark(name):
    sys.path.insert(0, str(ROOT / "benchmarks"))
    try:
        return __import__(name)
    finally:
        sys.path.remove(str(ROOT / "benchmarks"))


@pytest.mark.parametrize("vocabulary_size", [247, 8000])  # builtin corpus, preset
def test_small_preset_stores_at_most_half_of_the_keras_hub_baseline(vocabulary_size):
    from sharedformer_tf.models import seq2seq_config

    translate_quality = import_benchmark("translate_quality")
    config = seq2seq_config.small(vocabulary_size=vocabulary_size)
    small = translate_quality.stored_params_vs_keras_hub(config, 3)
    v = small["vocabulary_size"]
    assert v == vocabulary_size
    # 4+4 depths: 2 attention groups of 263,168 (+ 2 cross-attention groups),
    # 3 FFN groups of 525,568, the decoder tied to the encoder, 22 norms of
    # 512, 8 per-depth adapters of 16,672, one tied Vx256 table.
    adapters = 8 * 16_672
    assert small["shared"] == 4 * 263_168 + 3 * 525_568 + 22 * 512 + adapters + v * 256
    # keras-hub 3+3: 3 encoder layers of 789,760 and 3 decoder layers of
    # 1,053,440, two Vx256 token + two 128x256 position tables, output layer
    # 256xV + V.
    assert small["keras_hub"] == 3 * 789_760 + 3 * 1_053_440 + 2 * (v + 128) * 256 + 257 * v
    assert small["ratio"] <= 0.5


def test_tiny_relaxed_preset_stores_under_half_of_the_keras_hub_baseline():
    from sharedformer_tf.models import seq2seq_config

    translate_quality = import_benchmark("translate_quality")
    counts = translate_quality.stored_params_vs_keras_hub(seq2seq_config.tiny_relaxed(), 3)
    v = counts["vocabulary_size"]
    assert v == 1000
    # small's scheme at H=128: attention groups of 66,048, FFN groups of
    # 131,712, 22 norms of 256, 8 adapters of 8,352, one tied Vx128 table.
    assert counts["shared"] == 4 * 66_048 + 3 * 131_712 + 22 * 256 + 8 * 8_352 + v * 128
    # keras-hub 3+3: encoder layers of 198,272, decoder layers of 264,576,
    # two Vx128 token and two 128x128 position tables, output 128xV + V.
    assert counts["keras_hub"] == 3 * 198_272 + 3 * 264_576 + 2 * (v + 128) * 128 + 129 * v
    assert counts["ratio"] <= 0.5
    # The preset is the design its RESULTS rows measured: `--preset tiny
    # --max-length 128 --groups-ffn 3 --share-encoder-decoder --adapter-dim 32`.
    given = {"groups_ffn": 3, "share_encoder_decoder": True, "adapter_dim": 32}
    args = argparse.Namespace(**{**dict.fromkeys((*translate_quality.DESIGN, "dropout")), **given})
    measured = translate_quality.design(seq2seq_config.tiny(max_length=128), args)
    assert measured == seq2seq_config.tiny_relaxed()


def test_translate_quality_decodes_keras_hub_with_its_caches_as_its_uncached_loop(
    builtin_vocabulary,
):
    import keras
    import keras_hub

    from sharedformer_tf.models import Seq2SeqTransformer, seq2seq_config
    from sharedformer_tf.translation import Translator

    translate_quality = import_benchmark("translate_quality")
    keras_hub_baseline = import_benchmark("keras_hub_baseline")
    pairs, proto = builtin_vocabulary
    tokenizer = keras_hub.tokenizers.SentencePieceTokenizer(proto=proto)
    config = seq2seq_config.tiny(vocabulary_size=tokenizer.vocabulary_size(), hidden_dim=32,
                                 num_heads=2, intermediate_dim=64, max_length=12)  # fmt: skip
    keras.utils.set_random_seed(3)
    model = translate_quality.build_baseline(config, 2)
    helper = Translator(Seq2SeqTransformer(config), tokenizer)
    texts = [source for source, _ in pairs[:7]]
    # Batches of 3 sorted by length: the order is restored.
    cached = translate_quality.keras_hub_translate(model, helper, batch_size=3)(texts)
    uncached = [
        helper.decode(keras_hub_baseline.greedy(model, helper.encode([text]), 11))[0]
        for text in texts
    ]
    assert cached == uncached
    assert len(set(cached)) > 1


@pytest.mark.slow
def test_translate_quality_benchmark_reports_every_model_and_seed():
    result = subprocess.run(
        [sys.executable, str(ROOT / "benchmarks" / "translate_quality.py"), "--train-examples",
         "200", "--test-examples", "8", "--epochs", "1", "--seeds", "0,1", "--batch-size", "16",
         "--no-jit", "--baseline-learning-rate", "5e-4", "--max-length", "24",
         "--validation-examples", "6"],
        capture_output=True, text=True, timeout=1800, cwd=ROOT,
        env=dict(os.environ, TF_CPP_MIN_LOG_LEVEL="3"),
    )  # fmt: skip
    assert result.returncode == 0, result.stderr[-3000:]
    summary = json.loads(result.stdout.strip().splitlines()[-1])
    models = ["shared", "unshared", "keras_hub_3+3"]
    assert [(row["model"], row["seed"]) for row in summary["rows"]] == [
        (model, seed) for seed in (0, 1) for model in models
    ]
    assert set(summary["mean"]) == set(models)
    for row in summary["rows"]:
        assert 0 <= row["bleu"] <= 100 and row["num_examples"] == 8
        assert 0 <= row["validation_bleu"] <= 100 and row["validation_chrf"] >= 0
    shared, unshared, keras_hub = summary["rows"][:3]
    from sharedformer_tf.training import recipes

    tiny_rate = recipes.SEQ2SEQ_LEARNING_RATES["tiny"]
    assert shared["learning_rate"] == unshared["learning_rate"] == tiny_rate
    assert keras_hub["learning_rate"] == 5e-4
    assert shared["effective_params"] == unshared["unique_params"] > shared["unique_params"]
    assert summary["max_length"] == 24 and summary["signature"]["bleu"].startswith("nrefs:1")
    assert 0 <= summary["truncated_train_pairs"] <= summary["train_pairs"] == 200
    for name in ("unshared", "keras_hub_3+3"):
        differences = [
            r["bleu"] - s["bleu"]
            for r, s in zip(
                summary["rows"][models.index(name) :: 3], summary["rows"][::3], strict=True
            )
        ]
        paired = summary["paired"][f"{name} - shared"]["bleu"]
        assert paired["pairs"] == 2 and paired["mean"] == pytest.approx(
            sum(differences) / 2, abs=1e-4
        )
    at_corpus, at_preset = summary["stored_params_vs_keras_hub"]
    assert at_corpus["vocabulary_size"] < at_preset["vocabulary_size"] == 1000
    assert at_corpus["shared"] == shared["unique_params"]


@pytest.mark.slow
def test_image_folder_baseline_benchmark(tmp_path):
    pytest.importorskip("sklearn")
    from sharedformer_tf.data import image_data
    from tests.apps.test_classify_images_cli import synthetic_images, write_idx

    for split, (images_name, labels_name) in image_data.FASHION_MNIST_FILES.items():
        images, labels = synthetic_images(300 if split == "train" else 60, len(split))
        write_idx(tmp_path / images_name, images)
        write_idx(tmp_path / labels_name, labels)
    result = subprocess.run(
        [sys.executable, str(ROOT / "benchmarks" / "image_folder_baseline.py"),
         "--data", f"fashion_mnist:{tmp_path}", "--out", str(tmp_path / "run"),
         "--", "--epochs", "2", "--layers", "2", "--batch-size", "32", "--no-jit"],
        capture_output=True, text=True, timeout=1200, cwd=ROOT,
        env=dict(os.environ, TF_CPP_MIN_LOG_LEVEL="3"),
    )  # fmt: skip
    assert result.returncode == 0, result.stderr[-3000:]
    summary = json.loads(result.stdout.strip().splitlines()[-1])
    assert summary["images"] == 360 and summary["augment"] == []
    shared, baseline = summary["rows"]
    assert shared["num_test"] == baseline["num_test"] > 0  # the same test split
    assert baseline["num_train"] + baseline["num_test"] == 360
    assert baseline["accuracy"] > 0.5  # the synthetic pattern is linearly separable
    assert (tmp_path / "run" / "images" / "T-shirt_top").is_dir()


def test_speech_engines_summary_pairs_runs_of_the_same_seed_and_held_out_engine():
    speech_engines = import_benchmark("speech_engines")
    args = type("Args", (), {"variants": {"plain": [], "aug": ["--augment", "gain"]},
                             "models": ["shared", "unshared"]})  # fmt: skip
    rows = []
    accuracy = {("plain", "shared"): 0.5, ("plain", "unshared"): 0.6,
                ("aug", "shared"): 0.7, ("aug", "unshared"): 0.9}  # fmt: skip
    for seed in (0, 1):
        for held_out in ("espeak-ng", "festival", None):
            for (variant, model), value in accuracy.items():
                voices = {"x": 0.95 + 0.01 * seed}
                row = {"seed": seed, "held_out_engine": held_out, "variant": variant,
                       "model": model, "held_out_voice_accuracy": voices}  # fmt: skip
                if held_out:
                    # The festival rows are 0.1 lower and seed 1 is 0.02 higher.
                    value += 0.02 * seed - 0.1 * (held_out == "festival")
                    row["held_out_engine_accuracy"] = value
                rows.append(row)
    table, comparisons = speech_engines.summarize(rows, args)
    assert table["aug/unshared"] == {"held_out_engine_mean": 0.86, "held_out_engine_worst": 0.8,
                                     "held_out_voice_mean": 0.955}  # fmt: skip
    # 8 pairs (2 seeds x 2 engines x 2 models): aug - plain is 0.2 or 0.3.
    assert comparisons["aug - plain"] == {"mean": 0.25, "standard_error": 0.0189, "pairs": 8}
    assert comparisons["shared - unshared"]["mean"] == -0.15


def test_conversion_summary_pairs_each_conversion_with_scratch_of_its_seed():
    conversion = import_benchmark("conversion")
    args = type("Args", (), {"metric": "bleu", "seeds": [0, 1, 2], "epochs": 1,
                             "teacher_epochs": 5})  # fmt: skip
    rows = []
    for seed, (teacher, scratch, converted) in enumerate([(40, 10, 38), (50, 20, 45), (60, 5, 54)]):
        for model, bleu, params in (("teacher", teacher, 1000), ("scratch", scratch, 400),
                                    ("converted_lower", converted, 400)):  # fmt: skip
            rows.append({"model": model, "seed": seed, "bleu": bleu, "unique_params": params})
    # Rows arrive in any order; pairing is by seed, not position.
    targets, paired = conversion.summarize(args, rows[::-1])
    assert targets["converted_lower"] == {
        "beats_scratch": [True] * 3,
        "of_teacher": [0.95, 0.9, 0.9],
        "params_vs_teacher": 0.4,
        "epochs_vs_teacher": 0.2,
    }
    # converted - scratch per seed: 28, 25, 49 -> mean 34, s.e. stdev / sqrt(3).
    assert paired["converted_lower - scratch"] == {"mean": 34.0, "standard_error": 7.5498,
                                                   "pairs": 3}  # fmt: skip
    assert paired["converted_lower / teacher"]["mean"] == pytest.approx(0.9167, abs=1e-4)


def test_rows_file_reuses_only_rows_of_the_same_settings(tmp_path):
    rows_file = import_benchmark("rows_file")
    settings = {"data": "bible:es-en", "epochs": 5}
    rows = [
        {"model": "shared", "seed": 0, "learning_rate": 1e-3, "settings": settings},
        {"model": "shared", "seed": 0, "learning_rate": 2e-3, "settings": settings},
        {"model": "shared", "seed": 1, "learning_rate": 1e-3,
         "settings": {**settings, "epochs": 3}},
        # Written by an older version that recorded one more setting.
        {"model": "keras_hub_3+3", "seed": 0, "learning_rate": 1e-3,
         "settings": {**settings, "no_jit": False}},
        # An older version that did not record `epochs`: not the same settings.
        {"model": "keras_hub_3+3", "seed": 1, "learning_rate": 1e-3,
         "settings": {"data": "bible:es-en"}},
    ]  # fmt: skip
    path = tmp_path / "rows.jsonl"
    path.write_text("".join(json.dumps(r) + "\n" for r in rows))
    done = rows_file.read_rows(str(path), settings)
    # The 3-epoch row is another run's: not reused; both rates of seed 0 are kept.
    assert sorted(done) == [("keras_hub_3+3", 0, 1e-3), ("shared", 0, 1e-3), ("shared", 0, 2e-3)]
    assert done[("shared", 0, 2e-3)] == rows[1]
    assert rows_file.read_rows(str(tmp_path / "missing.jsonl"), settings) == {}
    path.write_text(json.dumps(rows[0]) + "\n{not json\n")
    with pytest.raises(ValueError, match="rows.jsonl, line 2: not a JSON row"):
        rows_file.read_rows(str(path), settings)
    path.write_text(json.dumps(rows[0]) + "\n" + json.dumps({"model": "shared", "seed": 2}))
    with pytest.raises(ValueError, match=r"line 2: a row without \['learning_rate'\]"):
        rows_file.read_rows(str(path), settings)


def test_rows_file_finds_a_row_appended_after_the_run_started(tmp_path):
    # Two runs of one command share a file: a row the other run has just
    # finished is reused, not trained again.
    rows_file = import_benchmark("rows_file")
    settings = {"epochs": 5}
    path = str(tmp_path / "rows.jsonl")
    rows_file.check_path(argparse.ArgumentParser(), path)
    assert rows_file.find_row(path, settings, ("shared", 0, 1e-3)) is None
    row = {"model": "shared", "seed": 0, "learning_rate": 1e-3, "settings": settings}
    rows_file.append_row(path, row)
    assert rows_file.find_row(path, settings, ("shared", 0, 1e-3)) == row
    assert rows_file.find_row(path, {"epochs": 3}, ("shared", 0, 1e-3)) is None


@pytest.mark.parametrize("data", ["tsv:pairs.tsv", "bible:es-en:test"])
def test_translate_quality_refuses_validation_examples_without_a_validation_split(data, tmp_path):
    result = subprocess.run(
        [sys.executable, str(ROOT / "benchmarks" / "translate_quality.py"), "--data", data,
         "--validation-examples", "6"],
        capture_output=True, text=True, timeout=300, cwd=tmp_path,
        env=dict(os.environ, TF_CPP_MIN_LOG_LEVEL="3"),
    )  # fmt: skip
    assert result.returncode == 2
    assert "--validation-examples" in result.stderr
    assert "has no validation split" in result.stderr.strip().splitlines()[-1]
    assert "Traceback" not in result.stderr
    assert os.listdir(tmp_path) == []


def test_translate_quality_design_flags_shape_the_shared_models_only():
    from sharedformer_tf.models import seq2seq_config

    translate_quality = import_benchmark("translate_quality")
    names = translate_quality.DESIGN
    given = {"groups_ffn": 3, "share_encoder_decoder": True, "adapter_dim": 16, "layers": 6}
    args = argparse.Namespace(**{**dict.fromkeys(names), **given, "dropout": None})
    config = translate_quality.design(seq2seq_config.tiny(), args)
    for plan in (config.encoder_plan, config.decoder_plan):
        assert (plan.num_layers, plan.num_groups, plan.num_groups_ffn) == (6, 2, 3)
        assert plan.strategy == "cycle_rev"
    assert config.share_encoder_decoder and config.adapter_dim == 16
    # Unset flags keep the preset.
    unset = argparse.Namespace(**dict.fromkeys((*names, "dropout")))
    assert translate_quality.design(seq2seq_config.small(), unset) == seq2seq_config.small()
    settings = {"data": "bible:es-en"}
    assert translate_quality.model_settings("keras_hub", settings, args) == settings
    assert translate_quality.model_settings("unshared", settings, args) == {**settings, "layers": 6}
    shared = translate_quality.model_settings("shared", settings, args)
    assert shared == {**settings, **{name: getattr(args, name) for name in names}}


def test_translate_quality_dropout_reaches_every_model_and_keys_the_rows(tmp_path):
    import keras

    from sharedformer_tf.models import Seq2SeqTransformer, seq2seq_config

    translate_quality = import_benchmark("translate_quality")
    names = (*translate_quality.DESIGN, "dropout")
    args = argparse.Namespace(**{**dict.fromkeys(names), "dropout": 0.0})
    tiny = seq2seq_config.tiny(hidden_dim=32, num_heads=2, intermediate_dim=64, max_length=12)
    assert tiny.dropout == 0.1
    config = translate_quality.design(tiny, args)
    assert config == tiny.replace(dropout=0.0)

    def rates(model):
        return {layer.rate for layer in model._flatten_layers() if isinstance(
            layer, keras.layers.Dropout)}  # fmt: skip

    ours = Seq2SeqTransformer(config)
    ids = np.ones((1, 4), "int32")  # a forward pass builds every sublayer
    ours({"encoder_token_ids": ids, "decoder_token_ids": ids,
          "encoder_padding_mask": ids > 0, "decoder_padding_mask": ids > 0})  # fmt: skip
    assert rates(ours) == {0.0}
    assert rates(translate_quality.build_baseline(config, 2)) == {0.0}
    assert rates(translate_quality.build_baseline(tiny, 2)) == {0.1}
    # A row of another dropout is not reused; rows before the flag (no
    # `dropout` in their settings) are the preset's.
    rows_file = import_benchmark("rows_file")
    path = str(tmp_path / "rows.jsonl")
    old = {"model": "shared", "seed": 0, "learning_rate": 4e-3, "settings": {"data": "bible:es-en"}}
    rows_file.append_row(path, old)
    rows_file.append_row(path, {**old, "seed": 1, "settings": {**old["settings"], "dropout": 0.0}})
    for dropout, seeds in ((None, [0]), (0.0, [1]), (0.2, [])):
        run = argparse.Namespace(**{**vars(args), "dropout": dropout})
        settings = {key: getattr(run, key, None) for key in translate_quality.SETTINGS}
        settings["data"] = "bible:es-en"
        kept = translate_quality.model_settings("keras_hub", settings, run)
        found = [s for s in (0, 1) if rows_file.find_row(path, kept, ("shared", s, 4e-3))]
        assert found == seeds, dropout


def test_translate_quality_refuses_a_design_the_preset_cannot_take(tmp_path):
    result = subprocess.run(
        [sys.executable, str(ROOT / "benchmarks" / "translate_quality.py"), "--groups", "5"],
        capture_output=True, text=True, timeout=300, cwd=tmp_path,
        env=dict(os.environ, TF_CPP_MIN_LOG_LEVEL="3"),
    )  # fmt: skip
    assert result.returncode == 2
    last = result.stderr.strip().splitlines()[-1]
    assert "num_groups=5" in last and "Traceback" not in result.stderr
    assert os.listdir(tmp_path) == []


def test_translate_quality_summary_pairs_models_by_seed():
    translate_quality = import_benchmark("translate_quality")
    metrics = {"exact_match": 0.0, "length_ratio": 1.0}
    rows = [
        {"model": model, "seed": seed, "bleu": bleu, "chrf": 2 * bleu, **metrics}
        for seed, scores in enumerate([(12.0, 10.0), (11.0, 10.5), (13.0, 11.0)])
        for model, bleu in zip(("shared", "keras_hub_3+3"), scores, strict=True)
    ]
    means, paired = translate_quality.summarize(rows[::-1], [0, 1, 2])
    assert means["shared"]["bleu"] == 12.0 and means["shared"]["seeds"] == 3
    # keras-hub - shared per seed: -2, -0.5, -2 -> mean -1.5, s.e. stdev / sqrt(3).
    assert paired["keras_hub_3+3 - shared"]["bleu"] == {
        "mean": -1.5,
        "standard_error": 0.5,
        "pairs": 3,
    }
    assert paired["keras_hub_3+3 - shared"]["chrf"]["mean"] == -3.0


def test_lm_quality_target_pairs_the_perplexity_excess_by_seed():
    from tests.apps.app_helpers import load_app

    lm_quality = load_app(str(ROOT / "benchmarks" / "lm_quality.py"))
    rows = [
        {"model": "shared", "seed": 0, "test_perplexity": 42.0, "unique_params": 500},
        {"model": "unshared", "seed": 0, "test_perplexity": 40.0, "unique_params": 1000},
        {"model": "shared", "seed": 1, "test_perplexity": 33.0, "unique_params": 500},
        {"model": "unshared", "seed": 1, "test_perplexity": 30.0, "unique_params": 1000},
        {"model": "unshared", "seed": 2, "test_perplexity": 10.0, "unique_params": 1000},
    ]
    target = lm_quality.target(rows)
    assert target["params_vs_unshared"] == 0.5
    assert target["perplexity_excess_percent"] == {"mean": 7.5, "standard_error": 2.5, "pairs": 2}
    assert lm_quality.target(rows[1::2]) is None


def test_elastic_depth_summary_pairs_each_model_with_the_single_model_of_its_seed():
    elastic_depth = import_benchmark("elastic_depth")
    rows = [
        {"app": "keyword_spotting", "model": "single", "seed": 0, "accuracy": {2: 0.5, 8: 0.9}},
        {"app": "keyword_spotting", "model": "sandwich", "seed": 0, "accuracy": {2: 0.8, 8: 0.88}},
        {"app": "keyword_spotting", "model": "single", "seed": 1, "accuracy": {2: 0.6, 8: 0.8}},
        {"app": "keyword_spotting", "model": "sandwich", "seed": 1, "accuracy": {2: 0.7, 8: 0.74}},
        {"app": "generate_text", "model": "single", "seed": 0, "perplexity": {8: 40.0}},
        {"app": "generate_text", "model": "elastic", "seed": 0, "perplexity": {8: 42.0}},
        {"app": "generate_text", "model": "single", "seed": 1, "perplexity": {8: 50.0}},
        {"app": "generate_text", "model": "elastic", "seed": 1, "perplexity": {8: 54.0}},
    ]
    apps = ["keyword_spotting", "generate_text"]
    # Rows arrive in any order; pairing is by seed, not position.
    means, minus_single, percent = elastic_depth.summarize(rows[::-1], apps)
    assert means["keyword_spotting"]["sandwich"] == {2: 0.75, 8: 0.81}
    # sandwich - single: depth 2: +0.3 and +0.1; depth 8: -0.02 and -0.06.
    kws = minus_single["keyword_spotting"]["sandwich"]
    assert kws[2] == {"mean": 0.2, "standard_error": 0.1, "pairs": 2}
    assert kws[8] == {"mean": -0.04, "standard_error": 0.02, "pairs": 2}
    assert minus_single["generate_text"]["elastic"][8]["mean"] == 3.0
    # In percent of the single model of the same seed: +5% and +8%.
    assert percent["generate_text"]["elastic"][8] == {"mean": 6.5, "standard_error": 1.5,
                                                      "pairs": 2}  # fmt: skip
    assert "keyword_spotting" not in percent


def test_seed_list_refuses_repeated_and_non_integer_seeds():

    comparison = import_benchmark("app_sharing_comparison")
    assert comparison.seed_list("2,0,1") == [2, 0, 1]
    for text in ("0,0", "0,x", ""):
        with pytest.raises(argparse.ArgumentTypeError, match=repr(text)):
            comparison.seed_list(text)


def test_each_model_family_trains_at_its_own_learning_rate():
    comparison = import_benchmark("app_sharing_comparison")
    rates = {"tiny": 1e-3, "small": 2e-3}
    args = argparse.Namespace(preset="small", learning_rate=None, baseline_learning_rate=5e-4)
    assert [comparison.learning_rate(n, args, rates) for n in ("shared", "keras_hub")] == [
        2e-3, 5e-4]  # fmt: skip
    args.learning_rate = 8e-3  # the sharedformer_tf models' only
    assert [comparison.learning_rate(n, args, rates) for n in ("unshared", "keras_hub")] == [
        8e-3, 5e-4]  # fmt: skip


def lm_quality_param_counts(names, changes):
    """Stored parameters of `lm_quality.build(name, ...)` for each model name
    and config change (`changes`: label -> config fields) at a tiny size."""
    import sharedformer_tf as sf
    from sharedformer_tf.models import causal_lm_config
    from tests.apps.app_helpers import load_app

    lm_quality = load_app(str(ROOT / "benchmarks" / "lm_quality.py"))
    config = causal_lm_config.tiny(vocabulary_size=50, hidden_dim=16, num_heads=2,
                                   intermediate_dim=32, max_length=8,
                                   plan=sf.SharingPlan(4, 2, strategy="sequence"))  # fmt: skip
    ids = np.ones((1, 8), "int32")
    counts = {}
    for name in names:
        for label, fields in changes.items():
            model = lm_quality.build(name, config.replace(**fields), plain=config)
            model(ids)
            counts[name, label] = sf.parameter_report(model)["unique_params"]
    return counts


def test_lm_quality_gives_lora_to_the_shared_models_only():
    counts = lm_quality_param_counts(("shared", "shared_kv", "unshared"),
                                     {None: {"lora_rank": None}, 2: {"lora_rank": 2}})  # fmt: skip
    # Rank 2 on 4 depths: A [in, 2], B [2, out] and a bias delta [out] of the
    # 4 attention kernels (16 x 16) and the two feed-forward ones (16 x 32, 32 x 16).
    lora = 4 * (2 * (4 * (16 + 16) + 2 * (16 + 32)) + 4 * 16 + 32 + 16)
    assert counts["shared", 2] == counts["shared", None] + lora
    assert counts["shared_kv", 2] == counts["shared", 2]
    assert counts["unshared", 2] == counts["unshared", None]


def test_lm_quality_gives_its_size_and_depth_options_to_the_shared_models_only():
    extras = {"embedding_dim": 4, "use_depth_embedding": True, "intermediate_dim": 24}
    counts = lm_quality_param_counts(("shared", "unshared"), {False: {}, True: extras})
    # A 50 x 4 table and a 4 x 16 projection instead of 50 x 16; 4 depth
    # vectors of 16; 2 stored feed-forward networks 8 units narrower (kernels
    # 16 x 8 and 8 x 16, biases 8).
    fewer = 50 * 16 - 50 * 4 - 4 * 16 - 4 * 16 + 2 * (2 * 16 * 8 + 8)
    assert counts["shared", True] == counts["shared", False] - fewer
    assert counts["unshared", True] == counts["unshared", False]


def test_lm_quality_shallow_model_stores_the_shared_blocks_without_sharing():
    counts = lm_quality_param_counts(("shared", "shallow"),
                                     {32: {}, 24: {"intermediate_dim": 24}})  # fmt: skip
    # 4 depths over 2 groups against 2 unshared depths at the same
    # feed-forward width: the same blocks, but the shared model keeps its
    # two layer norms (scale and offset of 16) at each of its 2 extra depths.
    for width in (32, 24):
        assert counts["shallow", width] == counts["shared", width] - 2 * 2 * 2 * 16


@pytest.mark.parametrize(
    "argv, message",
    [
        (["--learning-rate", "x"], "--learning-rate"),
        (["--temperature", "0"], "--temperature"),
        (["--batch-size", "0"], "--batch-size"),
        (["--distill-alpha", "2"], "--distill-alpha"),
        (["--app", "keyword_spotting", "--share-cross-attention"], "--share-cross-attention"),
        (["--app", "classify_images", "--max-length", "64"], "--max-length"),
    ],
)
def test_conversion_flags_are_checked_before_any_training(argv, message, monkeypatch, capsys):
    conversion = import_benchmark("conversion")
    monkeypatch.setattr(sys, "argv", ["conversion.py", *argv])
    with pytest.raises(SystemExit) as exit_info:
        conversion.parse_args()
    assert exit_info.value.code == 2 and message in capsys.readouterr().err
    monkeypatch.setattr(sys, "argv", ["conversion.py", "--share-cross-attention",
                                      "--no-per-depth-norms"])  # fmt: skip
    args = conversion.parse_args()
    assert args.share_cross_attention and args.per_depth_norms is False


def test_lm_quality_rows_file_adds_seeds_and_retrains_rows_of_another_rate(tmp_path):
    from sharedformer_tf.training import recipes
    from tests.generation.lm_fixtures import sentences

    corpus = tmp_path / "story.txt"
    corpus.write_text("".join(f"{s}\n" for s in sentences(300)), encoding="utf-8")
    rows_path = tmp_path / "rows.jsonl"

    def benchmark(*extra):
        result = subprocess.run(
            [sys.executable, str(ROOT / "benchmarks" / "lm_quality.py"), "--data",
             f"text:{corpus}", "--layers", "2", "--groups", "1", "--vocab-size", "48",
             "--context", "16", "--batch-size", "8", "--epochs", "1", "--models",
             "shared,keras_hub", "--baseline-learning-rate", "3e-3", "--speed-prompts", "2",
             "--prompt-tokens", "4", "--new-tokens", "4", "--no-jit", "--rows", str(rows_path),
             *extra],
            capture_output=True, text=True, timeout=900, cwd=ROOT,
            env=dict(os.environ, TF_CPP_MIN_LOG_LEVEL="3"),
        )  # fmt: skip
        assert result.returncode == 0, result.stderr[-3000:]
        return json.loads(result.stdout.strip().splitlines()[-1])

    first = benchmark("--seeds", "0")
    shared, keras_hub = first["rows"]
    assert shared["learning_rate"] == recipes.CAUSAL_LM_LEARNING_RATES["tiny"]
    assert keras_hub["learning_rate"] == 3e-3
    assert first["learning_rates"] == {"shared": shared["learning_rate"], "keras_hub": 3e-3}
    written = [json.loads(line) for line in rows_path.read_text().splitlines()]
    assert written == first["rows"]
    # A row of another rate (an older recipe) is trained again, not reused.
    written[1]["learning_rate"] = 9e-3
    rows_path.write_text("".join(json.dumps(r) + "\n" for r in written))
    second = benchmark("--seeds", "0,1")
    assert second["rows"][0] == shared  # reused: the same train seconds
    assert [(r["model"], r["seed"]) for r in second["rows"]] == [
        ("shared", 0), ("keras_hub", 0), ("shared", 1), ("keras_hub", 1)]  # fmt: skip
    assert second["rows"][1]["learning_rate"] == 3e-3
    assert second["paired_perplexity"]["keras_hub - shared"]["pairs"] == 2
    assert len(rows_path.read_text().splitlines()) == 2 + 3
