"""Elastic depth: one set of weights run at several depths.

For each classification app, the app's default model is trained twice with
its own `train` command on the same data and epochs: once at its plan's
depth only (`single`), once with `--depths` (`elastic`: one depth drawn
per step). Both are scored with the app's `evaluate` at every depth (the
single-depth model run shallower with its own weights: it is allowed to
collapse there), and the elastic model is exported, so the bytes of its
multi-depth TFLite file (a signature per depth) stand next to the
single-depth file's.

    python benchmarks/elastic_depth.py [--apps keyword_spotting,classify_images]
        [--depths 2,4,6] [--exit-thresholds 0.5,0.9] [--epochs 12] [--seed 0] [--out DIR]

The last stdout line is one JSON object: a row per app and model with the
test accuracy and the Keras prediction seconds at each depth (and the
elastic model's confidence early exit: accuracy and mean depth at each
threshold), the export
sizes of the elastic model, and per app the accuracy differences (elastic -
single) at each depth.
"""

import argparse
import json
import os
import sys
import tempfile

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

import app_sharing_comparison  # noqa: E402

APPS = ("keyword_spotting", "classify_images")


def parse_args():
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--apps", default=",".join(APPS))
    parser.add_argument("--depths", default="2,4,6", help="the elastic model's extra depths")
    parser.add_argument("--exit-thresholds", default="0.5,0.7,0.8,0.9,0.95,0.99",
                        help="confidence early exit of the elastic model")  # fmt: skip
    parser.add_argument("--epochs", type=int, default=12)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--out", help="where models go (default: a temporary directory)")
    args = parser.parse_args()
    args.apps = args.apps.split(",")
    if not args.apps or not set(args.apps) <= set(APPS):
        parser.error(f"--apps takes a comma-separated subset of {list(APPS)}")
    args.depth_list = sorted(int(d) for d in args.depths.split(","))
    return args


def run_model(app, model, args, directory):
    path = os.path.join(app_sharing_comparison.ROOT, "apps", f"{app}.py")
    model_dir = os.path.join(directory, f"{app}-{model}")
    extra = ["--depths", args.depths] if model == "elastic" else []
    _, seconds = app_sharing_comparison.run_app(
        path, "train", "--out", model_dir, "--overwrite", "--epochs", str(args.epochs),
        "--seed", str(args.seed), *extra,
    )  # fmt: skip
    exits = ["--exit-thresholds", args.exit_thresholds] if model == "elastic" else []
    metrics, _ = app_sharing_comparison.run_app(path, "evaluate", "--model", model_dir, *exits)
    per_depth = {row["depth"]: row for row in metrics.get("per_depth", [metrics])}
    for depth in args.depth_list:
        if depth not in per_depth:  # the single-depth model, run shallower
            out = os.path.join(model_dir, f"depth_{depth}")
            at, _ = app_sharing_comparison.run_app(path, "evaluate", "--model", model_dir,
                                                   "--depth", str(depth), "--out", out)  # fmt: skip
            per_depth[depth] = at
    row = {
        "app": app,
        "model": model,
        "train_seconds": round(seconds, 1),
        "accuracy": {d: per_depth[d]["accuracy"] for d in sorted(per_depth)},
        "predict_seconds": {d: per_depth[d]["seconds"] for d in sorted(per_depth)},
    }
    if "early_exit" in metrics:
        row["early_exit"] = [{k: r[k] for k in ("threshold", "accuracy", "mean_depth")}
                             for r in metrics["early_exit"]]  # fmt: skip
    if model == "elastic":
        export, _ = app_sharing_comparison.run_app(
            path, "export", "--model", model_dir, "--out", os.path.join(model_dir, "export"),
            "--tflite", "fp32",
        )  # fmt: skip
        sizes = export["bytes"]
        row["bytes"] = sizes
        row["multi_depth_tflite_bytes_ratio"] = round(
            sizes["classifier_depths_fp32.tflite"] / sizes["classifier_fp32.tflite"], 3
        )
    print(json.dumps(row), file=sys.stderr)
    return row


def main():
    args = parse_args()
    rows = []
    with tempfile.TemporaryDirectory() as scratch:
        directory = args.out or scratch
        for app in args.apps:
            for model in ("single", "elastic"):
                rows.append(run_model(app, model, args, directory))
    differences = {}
    for app in args.apps:
        single, elastic = (next(r for r in rows if r["app"] == app and r["model"] == m)
                           for m in ("single", "elastic"))  # fmt: skip
        differences[app] = {
            depth: round(elastic["accuracy"][depth] - single["accuracy"][depth], 4)
            for depth in elastic["accuracy"]
            if depth in single["accuracy"]
        }
    print(json.dumps({"depths": args.depth_list, "epochs": args.epochs, "seed": args.seed,
                      "rows": rows, "elastic_minus_single": differences}))  # fmt: skip


if __name__ == "__main__":
    main()
