"""Keyword spotting across speech engines: a leave-one-engine-out matrix.

For every engine E of --engines, the app trains on the other engines'
clips and is scored on every clip of E (all its voices: an engine it never
heard); a run on all engines is scored on each engine's test voices (voices
it never heard, from engines it did). Every row is the app's own `train`
and `evaluate` in a subprocess, for each model (shared, unshared), each
training variant and each seed, interleaved so the noisy machine treats
them alike. Model choices (augmentation, preset, epochs) are made on this
matrix, never on one engine.

    python benchmarks/speech_engines.py [--engines espeak-ng,festival] [--models shared,unshared]
        [--variant NAME=FLAGS ...] [--seeds 0,1] [--epochs 12] [--out DIR] [-- TRAIN_FLAGS]

A variant is a name and the `train` flags it adds, e.g. `--variant plain=`
`--variant augmented="--augment clean,gain --spec-augment 2x10,2x8"`. The
last stdout line is one JSON object: the rows, each variant x model's mean
held-out-engine accuracy (and its worst engine) and mean held-out-voice
accuracy, and paired differences (variant against the first variant,
shared against unshared) with standard errors over the paired runs.
"""

import argparse
import json
import os
import shlex
import statistics
import sys
import tempfile

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

import app_sharing_comparison  # noqa: E402

APP = os.path.join(app_sharing_comparison.ROOT, "apps", "keyword_spotting.py")
DEFAULT_VARIANTS = (
    "plain=",
    "augmented=--augment clean,gain,band,tilt,reverb,speed --spec-augment 2x10,2x8",
)


def parse_args():
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--engines", default="espeak-ng,festival")
    parser.add_argument("--models", default="shared,unshared")
    parser.add_argument("--variant", action="append", dest="variants", metavar="NAME=FLAGS")
    parser.add_argument("--seeds", type=app_sharing_comparison.seed_list, default=[0])
    parser.add_argument("--epochs", type=int, default=12)
    parser.add_argument("--out", help="where models go (default: a temporary directory)")
    parser.add_argument("train_flags", nargs="*", help="more `train` flags for every run, after --")
    args = parser.parse_args()
    args.engines = args.engines.split(",")
    args.models = args.models.split(",")
    pairs = [v.partition("=") for v in args.variants or DEFAULT_VARIANTS]
    if len(args.engines) < 2 or not set(args.models) <= set(app_sharing_comparison.MODELS):
        parser.error("expected two or more --engines and --models from shared,unshared")
    if any(not sep or not name for name, sep, _ in pairs):
        parser.error("a --variant is NAME=FLAGS")
    args.variants = {name: shlex.split(flags) for name, _, flags in pairs}
    return args


def spec(engines):
    return "spoken_commands:" + ",".join(engines)


def run_one(args, directory, seed, held_out, variant, model):
    """Trains without `held_out` (None: on every engine) and scores it."""
    trained_on = [e for e in args.engines if e != held_out]
    model_dir = os.path.join(directory, f"{seed}-{held_out or 'none'}-{variant}-{model}")
    _, seconds = app_sharing_comparison.run_app(
        APP, "train", "--data", spec(trained_on), "--out", model_dir, "--overwrite",
        "--epochs", str(args.epochs), "--seed", str(seed), *app_sharing_comparison.MODELS[model],
        *args.variants[variant], *args.train_flags,
    )  # fmt: skip
    row = {"seed": seed, "held_out_engine": held_out, "variant": variant, "model": model,
           "trained_on": trained_on, "train_seconds": round(seconds, 1)}  # fmt: skip
    if held_out:
        metrics, _ = app_sharing_comparison.run_app(
            APP, "evaluate", "--model", model_dir, "--data", spec([held_out]), "--split", "all"
        )
        row["held_out_engine_accuracy"] = metrics["accuracy"]
        row["held_out_engine_per_class"] = metrics["per_class_accuracy"]
    row["held_out_voice_accuracy"] = {}
    for engine in trained_on:  # the test voices of each training engine
        metrics, _ = app_sharing_comparison.run_app(
            APP, "evaluate", "--model", model_dir, "--data", spec([engine]), "--split", "test"
        )
        row["held_out_voice_accuracy"][engine] = metrics["accuracy"]
    print(json.dumps(row), file=sys.stderr)
    return row


def summarize(rows, args):
    def key(row):
        return row["seed"], row["held_out_engine"]

    table = {}
    for variant in args.variants:
        for model in args.models:
            mine = [r for r in rows if r["variant"] == variant and r["model"] == model]
            engines = [r["held_out_engine_accuracy"] for r in mine if r["held_out_engine"]]
            voices = [a for r in mine if not r["held_out_engine"]
                      for a in r["held_out_voice_accuracy"].values()]  # fmt: skip
            table[f"{variant}/{model}"] = {
                "held_out_engine_mean": round(statistics.fmean(engines), 4),
                "held_out_engine_worst": min(engines),
                "held_out_voice_mean": round(statistics.fmean(voices), 4),
            }

    def differences(group, a, b):
        """Paired (held-out engine accuracy of a) - (of b) within `group`."""
        found = {}
        for row in rows:
            if row["held_out_engine"]:
                found.setdefault((*key(row), row[group[0]]), {})[row[group[1]]] = row
        return [pair[a]["held_out_engine_accuracy"] - pair[b]["held_out_engine_accuracy"]
                for pair in found.values() if a in pair and b in pair]  # fmt: skip

    comparisons = {}
    names = list(args.variants)
    for other in names[1:]:
        comparisons[f"{other} - {names[0]}"] = app_sharing_comparison.paired(
            differences(("model", "variant"), other, names[0])
        )
    if {"shared", "unshared"} <= set(args.models):
        comparisons["shared - unshared"] = app_sharing_comparison.paired(
            differences(("variant", "model"), "shared", "unshared")
        )
    return table, comparisons


def main():
    args = parse_args()
    rows = []
    with tempfile.TemporaryDirectory() as scratch:
        for seed in args.seeds:
            for held_out in [*args.engines, None]:
                for variant in args.variants:
                    for model in args.models:
                        rows.append(run_one(args, args.out or scratch, seed, held_out, variant,
                                            model))  # fmt: skip
    table, comparisons = summarize(rows, args)
    print(json.dumps({"engines": args.engines, "epochs": args.epochs, "seeds": args.seeds,
                      "variants": args.variants, "summary": table,
                      "paired_held_out_engine_differences": comparisons,
                      "rows": rows}))  # fmt: skip


if __name__ == "__main__":
    main()
