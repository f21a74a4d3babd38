"""Shared by `vision_sharing.py` and `speech_sharing.py`: the default shared
model of a classification app against the unshared model of the same
depth, each trained, evaluated and exported by the app itself on the same
data for the same number of epochs.

Every phase runs as the app's own command in a subprocess and is timed end
to end (data loading, compilation, training, evaluation, export). The last
stdout line is one JSON object: a row per model (parameters, test accuracy,
TFLite accuracies and sizes, seconds) and the shared/unshared ratios.
"""

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
MODELS = {"shared": [], "unshared": ["--sharing", "none"]}


def run_app(app, *args):
    """Runs the app, streams its stderr, returns (last JSON line, seconds)."""
    start = time.perf_counter()
    result = subprocess.run([sys.executable, app, *args], stdout=subprocess.PIPE, text=True,
                            cwd=ROOT, env=dict(os.environ, TF_CPP_MIN_LOG_LEVEL="2"))  # fmt: skip
    seconds = time.perf_counter() - start
    print(result.stdout, file=sys.stderr)
    if result.returncode:
        raise SystemExit(f"{args[0]} failed with status {result.returncode}")
    return json.loads(result.stdout.strip().splitlines()[-1]), seconds


def seed_list(text):
    """An argparse type: comma-separated integer seeds, none repeated
    (a repeated seed would overwrite its own run and be paired twice)."""
    try:
        seeds = [int(s) for s in text.split(",")]
    except ValueError:
        raise argparse.ArgumentTypeError(
            f"expected comma-separated integers. Received: {text!r}"
        ) from None
    if len(set(seeds)) != len(seeds):
        raise argparse.ArgumentTypeError(f"a seed is repeated. Received: {text!r}")
    return seeds


def paired(differences):
    """Mean and standard error of paired differences (one per seed or run)."""
    n = len(differences)
    mean = statistics.fmean(differences)
    se = statistics.stdev(differences) / n**0.5 if n > 1 else None
    return {"mean": round(mean, 4), "standard_error": se and round(se, 4), "pairs": n}


def add_learning_rate_flags(parser, baseline_default, baseline_help):
    """`--learning-rate` (the sharedformer_tf models') and
    `--baseline-learning-rate` (keras-hub's; `baseline_help` says whose) of a
    side-by-side benchmark: each model family is tuned on its own."""
    from sharedformer_tf.app.flags import positive_float  # the apps' benchmarks never need it

    parser.add_argument("--learning-rate", type=positive_float,
                        help="peak learning rate of the sharedformer_tf models (default: "
                        "the preset's)")  # fmt: skip
    parser.add_argument("--baseline-learning-rate", type=positive_float,
                        default=baseline_default, help=baseline_help)  # fmt: skip


def learning_rate(name, args, preset_rates):
    """The peak learning rate of model `name` in a side-by-side benchmark:
    `--baseline-learning-rate` for `keras_hub`; for the sharedformer_tf
    models `--learning-rate`, or the preset's recipe
    (`preset_rates[args.preset]`) without it."""
    if name == "keras_hub":
        return args.baseline_learning_rate
    return args.learning_rate or preset_rates[args.preset]


def run_model(app, name, args, directory):
    model_dir = os.path.join(directory, name)
    train = ["train", "--data", args.data, "--out", model_dir, "--epochs", str(args.epochs),
             "--preset", args.preset, "--overwrite", *MODELS[name], *args.train_flags]  # fmt: skip
    _, train_seconds = run_app(app, *train)
    metrics, evaluate_seconds = run_app(app, "evaluate", "--model", model_dir)
    export_dir = os.path.join(model_dir, "export")
    export, export_seconds = run_app(app, "export", "--model", model_dir, "--out", export_dir)
    with open(os.path.join(model_dir, "parameter_report.json")) as f:
        report = json.load(f)
    row = {
        "model": name,
        "unique_params": report["unique_params"],
        "effective_params": report["effective_params"],
        "accuracy": metrics["accuracy"],
        "per_class_accuracy": metrics["per_class_accuracy"],
        "tflite_accuracy": {k: v for k, v in export["accuracy"].items() if k != "keras"},
        "tflite_agreement_with_keras": export["agreement_with_keras"],
        "bytes": export["bytes"],
        "train_seconds": round(train_seconds, 1),
        "total_seconds": round(train_seconds + evaluate_seconds + export_seconds, 1),
    }
    if "int8" in row["tflite_accuracy"]:
        row["int8_accuracy_loss"] = round(row["accuracy"] - row["tflite_accuracy"]["int8"], 4)
    return row


def main(app, description, data, epochs):
    """Parses the benchmark's flags, runs both models and prints the JSON."""
    parser = argparse.ArgumentParser(
        description=description, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--data", default=data)
    parser.add_argument("--epochs", type=int, default=epochs)
    parser.add_argument("--preset", default="tiny")
    parser.add_argument("--models", default="shared,unshared")
    parser.add_argument("--out", help="where models go (default: a temporary directory)")
    parser.add_argument("train_flags", nargs="*", help="more `train` flags, after --")
    args = parser.parse_args()
    names = args.models.split(",")
    if not names or not set(names) <= set(MODELS):
        parser.error(f"--models takes a comma-separated subset of {sorted(MODELS)}")
    with tempfile.TemporaryDirectory() as scratch:
        directory = args.out or scratch
        rows = [run_model(app, name, args, directory) for name in names]
    summary = {"data": args.data, "epochs": args.epochs, "preset": args.preset, "rows": rows}
    by_name = {row["model"]: row for row in rows}
    if {"shared", "unshared"} <= set(by_name):
        shared, unshared = by_name["shared"], by_name["unshared"]
        fp32 = "classifier_fp32.tflite"
        summary.update(
            unique_params_ratio=round(shared["unique_params"] / unshared["unique_params"], 3),
            accuracy_difference=round(shared["accuracy"] - unshared["accuracy"], 4),
            tflite_fp32_bytes_ratio=round(shared["bytes"][fp32] / unshared["bytes"][fp32], 3),
            train_seconds_ratio=round(shared["train_seconds"] / unshared["train_seconds"], 3),
        )
    print(json.dumps(summary))
