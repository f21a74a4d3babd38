"""Elastic depth: one set of weights run at several depths.

For each app, the app's default model is trained twice with its own
`train` command on the same data, seed and epochs: once at its plan's depth
only (`single`), once with `--depths` (`elastic`: one depth drawn per
step). Both are scored with the app's `evaluate` at every depth (the
single-depth model run shallower with its own weights: it is allowed to
collapse there): accuracy for the classifiers (`keyword_spotting`,
`classify_images`), perplexity for the language model (`generate_text`),
BLEU for the translator (`translate`, on its builtin corpus; trained with
`--sharing cycle`, whose shallower runs start the deeper ones, so tokens
can exit early: the preset's `cycle_rev` runs BA at 2 depths, not AB).

An elastic classifier is also exported (`export --tflite all
--exit-thresholds`): the bytes of its elastic TFLite files (fp32, fp16,
int8; depth budget and exit threshold as inputs, the exit rule in the
graph) stand next to the single-depth files', and the fp32 file is run on
the app's test split one input at a time on this CPU with LiteRT, the
settings taking turns input by input: accuracy and
latency per input at each depth, and for the confidence early exit at
each threshold its accuracy, mean depth and measured latency per input.

With `--models single,elastic,distilled,per_depth_heads`, more models are
trained with `--depths`: with `--depth-distillation` (shallower steps also
learn the deepest depth's outputs), with half the steps at the deepest
depth (`deepest_half`: `--deepest-share 0.5`), with the deepest depth and
one drawn shallower depth in every step (`sandwich`: `--depth-sampling
sandwich`), and, for the classifiers,
with a head per depth (`--exit-heads per_depth`) and with learned halting
(`halting`: `--halting 0.5`, PonderNet's loss over every exit each step;
its exported file exits by the cumulative halting probability, scored at
the same thresholds). The multi-depth language model and translator
are also scored with per-token early exit (`evaluate --exit-thresholds`:
perplexity or BLEU, mean depth and decoding seconds per threshold); the
language model's cached greedy decoding is also timed one prompt at a time
at full depth and at each threshold.

With several `--seeds`, every model is trained once per seed (seed N's
models in `--out/seed-N`), each seed's models one after the other.

The last stdout line is one JSON object: a row per app, model and seed;
per app and model the mean quality at each depth over the seeds; and per
app and multi-depth model the quality differences from the single-depth
model of the same seed at each depth, paired over the seeds (mean and
standard error; for perplexity also in percent of the single-depth
model's); `elastic_depth.png` (quality against depth,
early-exit accuracy against latency, the first seed's models) goes into
--out (default: the current directory).

    python benchmarks/elastic_depth.py [--apps keyword_spotting,classify_images,generate_text,
                                               translate]
        [--models single,elastic,distilled] [--depths 2,4,6] [--exit-thresholds 0.5,0.9]
        [--lm-exit-thresholds 0.05,0.1] [--epochs N] [--seeds 0,1,2] [--out DIR]
"""

import argparse
import json
import os
import sys
import tempfile

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

import app_sharing_comparison  # noqa: E402

APPS = ("keyword_spotting", "classify_images", "generate_text", "translate")
QUALITY = {"generate_text": "perplexity", "translate": "bleu"}  # the rest: accuracy
TRAIN_FLAGS = {"translate": ["--sharing", "cycle"]}  # see the docstring
CLASSIFIERS = ("keyword_spotting", "classify_images")
MODELS = (
    "single",
    "elastic",
    "distilled",
    "per_depth_heads",
    "deepest_half",
    "sandwich",
    "halting",
)


def parse_args():
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--apps", default=",".join(APPS[:3]))
    parser.add_argument("--depths", default="2,4,6", help="the elastic model's extra depths")
    parser.add_argument("--exit-thresholds", default="0.5,0.7,0.8,0.9,0.95,0.99",
                        help="confidence early exit of the elastic classifiers")  # fmt: skip
    parser.add_argument(
        "--models",
        default="single,elastic",
        help="of single, elastic, distilled (elastic with --depth-distillation), "
        "per_depth_heads (an elastic classifier with a head per depth), deepest_half (half "
        "the steps at the deepest depth), sandwich (the deepest and one drawn shallower depth "
        "each step), halting (a classifier with learned halting)",
    )
    parser.add_argument(
        "--depth-distillation",
        default="0.5",
        help="the distilled model's weight of KL(deepest || drawn depth)",
    )
    parser.add_argument("--lm-exit-thresholds", default="0.05,0.1,0.2,0.3,0.5,0.8",
                        help="per-token early exit of the elastic language model and translator "
                        "(change of the hidden state, a fraction of its norm)")  # fmt: skip
    parser.add_argument(
        "--decode-prompts",
        type=int,
        default=8,
        help="prompts (one at a time) timing the language model's greedy decoding",
    )
    parser.add_argument("--epochs", type=int, help="default: each app's own")
    parser.add_argument("--reuse-models", action="store_true",
                        help="score the models a previous run left in --out instead of "
                        "training them again (same flags)")  # fmt: skip
    parser.add_argument("--seeds", type=app_sharing_comparison.seed_list, default=[0],
                        help="comma-separated training seeds")  # fmt: skip
    parser.add_argument("--out", help="where models and the plot go (default: models in a "
                        "temporary directory, the plot here)")  # fmt: skip
    args = parser.parse_args()
    args.apps = args.apps.split(",")
    if not args.apps or not set(args.apps) <= set(APPS):
        parser.error(f"--apps takes a comma-separated subset of {list(APPS)}")
    args.depth_list = sorted(int(d) for d in args.depths.split(","))
    if args.reuse_models and not args.out:
        parser.error("--reuse-models needs --out (the directory of the previous run)")
    args.models = args.models.split(",")
    if not args.models or not set(args.models) <= set(MODELS):
        parser.error(f"--models takes a comma-separated subset of {list(MODELS)}")
    return args


def lm_decoding(model_dir, thresholds, count, new_tokens=32):
    """Greedy decoding of the language model at full depth and with each
    per-token exit threshold, one prompt at a time (the first words of
    `count` test verses), the settings taking turns prompt by prompt:
    milliseconds per generated token, and how many tokens each produced
    (a prompt stops at its end-of-text token)."""
    import time

    import numpy as np

    from sharedformer_tf.data import text_documents
    from sharedformer_tf.generation import TextGenerator

    generator = TextGenerator.load(model_dir)
    documents = text_documents.read_documents("bible:en", "test")
    prompts = [generator.encode_prompts([" ".join(d.split()[:4])], new_tokens)[0]
               for d in documents[:count]]  # fmt: skip
    # One width for every prompt (right-padded; generation starts after each
    # prompt): one traced graph per setting, not one per prompt length.
    pad = generator.model.config.pad_id
    width = max(len(p) for p in prompts)
    padded = [np.pad(p, (0, width - len(p)), constant_values=pad)[None] for p in prompts]
    settings = [None, *thresholds]
    seconds, tokens = dict.fromkeys(settings, 0.0), dict.fromkeys(settings, 0)
    for i, ids in enumerate([padded[0], *padded]):  # the first round traces
        length = int((ids != pad).sum())
        for threshold in settings:
            start = time.perf_counter()
            out = np.asarray(generator.model.generate(ids, width + new_tokens,
                                                      exit_threshold=threshold))  # fmt: skip
            if i:
                seconds[threshold] += time.perf_counter() - start
                tokens[threshold] += int((out[:, length:] != pad).sum())
    return [{"threshold": t, "ms_per_token": round(1e3 * seconds[t] / max(tokens[t], 1), 3),
             "tokens": tokens[t]} for t in settings]  # fmt: skip


def run_model(app, model, args, directory, seed):
    path = os.path.join(app_sharing_comparison.ROOT, "apps", f"{app}.py")
    model_dir = os.path.join(directory, f"{app}-{model}")
    quality = QUALITY.get(app, "accuracy")
    epochs = ["--epochs", str(args.epochs)] if args.epochs else []
    extra = ["--depths", args.depths] if model != "single" else []
    if model == "distilled":
        extra += ["--depth-distillation", args.depth_distillation]
    if model == "deepest_half":
        extra += ["--deepest-share", "0.5"]
    if model == "sandwich":
        extra += ["--depth-sampling", "sandwich"]
    if model in ("per_depth_heads", "halting") and app not in CLASSIFIERS:
        raise SystemExit(f"{model} is a classifier model; {app} has no exit heads")
    if model == "per_depth_heads":
        extra += ["--exit-heads", "per_depth"]
    if model == "halting":
        extra += ["--halting", "0.5"]
    seconds = None
    if not (args.reuse_models and os.path.isfile(os.path.join(model_dir, "model.keras"))):
        _, seconds = app_sharing_comparison.run_app(
            path, "train", "--out", model_dir, "--overwrite", "--seed", str(seed), *epochs,
            *TRAIN_FLAGS.get(app, []), *extra,
        )  # fmt: skip
    classifier = quality == "accuracy"
    exits = ["--exit-thresholds", args.lm_exit_thresholds] if extra and not classifier else []
    metrics, _ = app_sharing_comparison.run_app(path, "evaluate", "--model", model_dir, *exits)
    per_depth = {row["depth"]: row for row in metrics.get("per_depth", [metrics])}
    for depth in args.depth_list:
        if depth not in per_depth:  # the single-depth model, run shallower
            out = ["--out", os.path.join(model_dir, f"depth_{depth}")] if classifier else []
            at, _ = app_sharing_comparison.run_app(path, "evaluate", "--model", model_dir,
                                                   "--depth", str(depth), *out)  # fmt: skip
            per_depth[depth] = at
    row = {
        "app": app,
        "model": model,
        "seed": seed,
        "train_seconds": None if seconds is None else round(seconds, 1),
        quality: {d: per_depth[d][quality] for d in sorted(per_depth)},
    }
    if exits:
        row["early_exit"] = metrics["early_exit"]
        thresholds = [float(t) for t in args.lm_exit_thresholds.split(",")]
        if app == "generate_text":
            row["decoding"] = lm_decoding(model_dir, thresholds, args.decode_prompts)
    if classifier and extra:
        export, _ = app_sharing_comparison.run_app(
            path, "export", "--model", model_dir, "--out", os.path.join(model_dir, "export"),
            "--tflite", "all", "--exit-thresholds", args.exit_thresholds,
        )  # fmt: skip
        sizes = export["bytes"]
        row["bytes"] = sizes
        row["elastic_tflite_bytes_ratio"] = {
            q: round(sizes[f"classifier_elastic_{q}.tflite"] / sizes[f"classifier_{q}.tflite"], 4)
            for q in ("fp32", "fp16", "int8")
        }
        scored = export["elastic_tflite"]
        row["tflite_per_depth"] = scored["per_depth"]
        full = scored["per_depth"][-1]["seconds_per_input"]
        row["early_exit"] = [
            {**r, "speedup_vs_full_depth": round(full / r["seconds_per_input"], 2)}
            for r in scored["early_exit"]
        ]
    print(json.dumps(row), file=sys.stderr)
    return row


def plot(rows, apps, path):
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    figure, axes = plt.subplots(1, len(apps) + 1, figsize=(4.2 * (len(apps) + 1), 3.6))
    for axis, app in zip(axes, apps, strict=False):
        quality = QUALITY.get(app, "accuracy")
        for row in (r for r in rows if r["app"] == app):
            depths = sorted(row[quality], key=int)
            axis.plot([int(d) for d in depths], [row[quality][d] for d in depths], "o-",
                      label=row["model"])  # fmt: skip
        axis.set(title=app, xlabel="depth", ylabel=quality)
        axis.legend()
    last = axes[-1]
    for row in rows:
        if "tflite_per_depth" in row:  # a classifier's measured early exit
            points = sorted(row["early_exit"], key=lambda r: r["seconds_per_input"])
            last.plot([1e3 * p["seconds_per_input"] for p in points],
                      [p["accuracy"] for p in points], "o-", label=row["app"])  # fmt: skip
    last.set(title="early exit (elastic TFLite)", xlabel="ms per input (LiteRT)",
             ylabel="accuracy")  # fmt: skip
    last.legend()
    figure.tight_layout()
    figure.savefig(path, dpi=110)


def summarize(rows, apps):
    """`(means, minus_single, minus_single_percent)` of `rows` (one per app,
    model and seed): each model's mean quality at each depth over its
    seeds, and each multi-depth model's difference from the single-depth
    model of the same seed at each depth, paired over the seeds
    (`app_sharing_comparison.paired`); the percent form for perplexity."""
    means, differences, relative = {}, {}, {}
    for app in apps:
        quality = QUALITY.get(app, "accuracy")
        own = [r for r in rows if r["app"] == app]
        by = {(r["model"], r["seed"]): r[quality] for r in own}
        models = list(dict.fromkeys(r["model"] for r in own))
        means[app] = {}
        for model in models:
            runs = [q for (m, _), q in by.items() if m == model]
            depths = sorted(set.intersection(*(set(q) for q in runs)), key=int)
            means[app][model] = {d: round(sum(q[d] for q in runs) / len(runs), 4) for d in depths}
        if "single" not in models:
            continue
        paired = app_sharing_comparison.paired
        differences[app] = {}
        if quality == "perplexity":
            relative[app] = {}
        for model in (m for m in models if m != "single"):
            pairs = [(q, by[("single", seed)]) for (m, seed), q in by.items()
                     if m == model and ("single", seed) in by]  # fmt: skip
            if not pairs:
                continue
            depths = sorted(set.intersection(*(set(q) & set(s) for q, s in pairs)), key=int)
            differences[app][model] = {
                d: paired([q[d] - single[d] for q, single in pairs]) for d in depths
            }
            if quality == "perplexity":
                relative[app][model] = {
                    d: paired([100 * (q[d] / single[d] - 1) for q, single in pairs]) for d in depths
                }
    return means, differences, relative


def main():
    args = parse_args()
    rows = []
    with tempfile.TemporaryDirectory() as scratch:
        directory = args.out or scratch
        for seed in args.seeds:
            seed_dir = os.path.join(directory, f"seed-{seed}") if len(args.seeds) > 1 else directory
            for app in args.apps:
                for model in args.models:
                    rows.append(run_model(app, model, args, seed_dir, seed))
    means, differences, relative = summarize(rows, args.apps)
    png = os.path.join(args.out or ".", "elastic_depth.png")
    plot([r for r in rows if r["seed"] == args.seeds[0]], args.apps, png)
    print(json.dumps({"depths": args.depth_list, "epochs": args.epochs, "seeds": args.seeds,
                      "rows": rows, "means": means, "minus_single": differences,
                      "minus_single_percent": relative, "plot": png}))  # fmt: skip


if __name__ == "__main__":
    main()
