"""The default shared Vision Transformer against the unshared model of the
same depth, each trained, evaluated and exported by `apps/classify_images.py`
on the same data for the same number of epochs.

    python benchmarks/vision_sharing.py [--data fashion_mnist] [--epochs 10] [--preset tiny]
                                        [--models shared,unshared] [--out DIR]

Every phase runs as the app's own command in a subprocess and is timed end
to end (data loading, compilation, training, evaluation, export). The last
stdout line is one JSON object: a row per model (parameters, test accuracy,
TFLite accuracies and sizes, seconds) and the shared/unshared ratios.
"""

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
APP = os.path.join(ROOT, "apps", "classify_images.py")
MODELS = {"shared": [], "unshared": ["--sharing", "none"]}


def app(*args):
    """Runs the app, streams its stderr, returns (last JSON line, seconds)."""
    start = time.perf_counter()
    result = subprocess.run([sys.executable, APP, *args], stdout=subprocess.PIPE, text=True,
                            cwd=ROOT, env=dict(os.environ, TF_CPP_MIN_LOG_LEVEL="2"))  # fmt: skip
    seconds = time.perf_counter() - start
    print(result.stdout, file=sys.stderr)
    if result.returncode:
        raise SystemExit(f"{' '.join(args[:1])} failed with status {result.returncode}")
    return json.loads(result.stdout.strip().splitlines()[-1]), seconds


def run_model(name, args, directory):
    model_dir = os.path.join(directory, name)
    train = ["train", "--data", args.data, "--out", model_dir, "--epochs", str(args.epochs),
             "--preset", args.preset, "--overwrite", *MODELS[name], *args.train_flags]  # fmt: skip
    _, train_seconds = app(*train)
    metrics, evaluate_seconds = app("evaluate", "--model", model_dir)
    export, export_seconds = app("export", "--model", model_dir,
                                 "--out", os.path.join(model_dir, "export"))  # fmt: skip
    with open(os.path.join(model_dir, "parameter_report.json")) as f:
        report = json.load(f)
    return {
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


def main():
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--data", default="fashion_mnist")
    parser.add_argument("--epochs", type=int, default=10)
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
        rows = [run_model(name, args, directory) for name in names]
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
    for row in rows:
        if "int8" in row["tflite_accuracy"]:
            row["int8_accuracy_loss"] = round(row["accuracy"] - row["tflite_accuracy"]["int8"], 4)
    print(json.dumps(summary))


if __name__ == "__main__":
    main()
