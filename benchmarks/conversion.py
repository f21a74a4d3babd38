"""From a trained unshared model to a shared one, side by side in one run.

With one app's own commands (`--app translate`, the default, on the builtin
en-fr pairs; `--app keyword_spotting` on the synthesized spoken commands;
`--app classify_images` on Fashion-MNIST; `--data` another SPEC):

- `teacher`: the `tiny` preset's shape unshared (`--sharing none`), trained
  `--teacher-epochs` epochs (default: 5 for translate, 12 otherwise);
- `scratch`: the shared model (`--sharing S --groups G [--groups-ffn F]
  [--share-cross-attention] [--no-per-depth-norms]`) trained from scratch
  for `--epochs` epochs;
- for each `--inits` init (and, with `--relax lora,adapter`, each init with
  per-depth LoRA deltas of rank `--rank` / adapters of width `--rank`): the
  teacher converted by `convert.to_shared`, scored right after conversion
  (no training), then `translate.py convert` (the conversion uptrained by
  distillation from the teacher for `--epochs` epochs, `--distill-alpha`)
  and scored again.

With `lora` among `--relax`, the first uptrained LoRA model is also exported
to TFLite two ways and both files are timed on LiteRT, interleaved: as it is
(each depth's deltas kept factorized beside the shared kernels) and merged
(each depth's kernels `W + A B` formed before export: an unshared model,
checked to compute the same translations).

Every model is scored by the app's `evaluate` on the test split (BLEU and
chrF by sacrebleu; accuracy for the classifiers). The issue's targets are
checked in the summary: converted + uptrained beats scratch at equal epochs,
reaches >= 95% of the teacher's quality at <= 0.5x its stored parameters,
with `--epochs` <= 20% of the teacher's epochs. The last stdout line is one
JSON object.

With several `--seeds`, every model (the teacher included) is trained
once per seed, and the summary pairs each converted model with the shared
model from scratch of the same seed: the mean difference and its standard
error.

    python benchmarks/conversion.py [--app translate|keyword_spotting|classify_images]
        [--data SPEC] [--max-length N] [--teacher-epochs 5] [--epochs 1] [--seeds 0,1,2]
        [--inits stepwise,average,lower] [--relax lora,adapter] [--rank 16] [--out DIR]
        [--distill-alpha 0.5] [--temperature 2] [--learning-rate LR (scratch, uptraining)]
        [--batch-size B (scratch, uptraining; default: the app's)]
        [--share-cross-attention (translate)] [--no-per-depth-norms]
        [--teacher DIR (a teacher trained by an earlier run: reused, not retrained)]
"""

import argparse
import json
import os
import sys
import tempfile
import time

import numpy as np

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

import app_sharing_comparison  # noqa: E402

from sharedformer_tf.app import flags  # noqa: E402

APPS = ("translate", "keyword_spotting", "classify_images")


def parse_args():
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--app", choices=APPS, default="translate")
    parser.add_argument("--data", help="SPEC (default: the app's)")
    parser.add_argument("--train-examples", type=int, help="first N training examples")
    parser.add_argument("--teacher-epochs", type=int, help="default: 5 (translate) or 12")
    parser.add_argument("--epochs", type=int, help="scratch and uptraining epochs (default: 1 "
                        "for translate, 2 otherwise)")  # fmt: skip
    parser.add_argument("--sharing", default="cycle_rev")
    parser.add_argument("--groups", type=int, default=2)
    parser.add_argument("--groups-ffn", type=int, help="feed-forward groups, if not --groups")
    parser.add_argument("--share-cross-attention", action="store_true",
                        help="translate: one cross-attention for all decoder depths")  # fmt: skip
    parser.add_argument(
        "--per-depth-norms",
        action=argparse.BooleanOptionalAction,
        help="every depth its own layer norms (default: the teacher's)",
    )
    parser.add_argument("--inits", default="stepwise,average,lower")
    parser.add_argument("--relax", default="", help="comma-separated: lora, adapter (also "
                        "convert with each)")  # fmt: skip
    parser.add_argument("--rank", type=int, default=16)
    parser.add_argument("--distill-alpha", type=flags.weight, default=0.5)
    parser.add_argument("--temperature", type=flags.positive_float, default=2.0,
                        help="distillation temperature")  # fmt: skip
    parser.add_argument("--learning-rate", type=flags.positive_float,
                        help="peak learning rate of scratch and uptraining (default: the "
                        "preset's, the teacher's)")  # fmt: skip
    parser.add_argument("--batch-size", type=flags.positive_int,
                        help="per replica, of scratch and uptraining (default: the app's, the "
                        "teacher's)")  # fmt: skip
    parser.add_argument("--seeds", type=app_sharing_comparison.seed_list, default=[0],
                        help="comma-separated; one run per seed")  # fmt: skip
    parser.add_argument("--max-length", type=int, help="translate: longest sequence in tokens "
                        "(default: the preset's)")  # fmt: skip
    parser.add_argument("--out", help="where the models go (default: a temporary directory)")
    parser.add_argument("--teacher", help="a teacher directory from an earlier run (reused)")
    parser.add_argument("--rounds", type=int, default=20, help="LiteRT timing rounds")
    args = parser.parse_args()
    args.inits = args.inits.split(",")
    translate = args.app == "translate"
    args.teacher_epochs = args.teacher_epochs or (5 if translate else 12)
    args.epochs = args.epochs or (1 if translate else 2)
    args.metric = "bleu" if translate else "accuracy"
    args.path = os.path.join(app_sharing_comparison.ROOT, "apps", f"{args.app}.py")
    args.relax = [r for r in args.relax.split(",") if r]
    if args.teacher and len(args.seeds) > 1:
        parser.error("--teacher is one seed's teacher: give one --seeds value with it")
    if args.max_length is not None and not translate:
        parser.error(f"--max-length is for --app translate. Received: --app {args.app}")
    if args.share_cross_attention and not translate:
        parser.error(f"--share-cross-attention is for --app translate. Received: --app {args.app}")
    if args.max_length is not None and args.max_length < 8:
        parser.error(f"--max-length must be at least 8. Received: {args.max_length}")
    if set(args.relax) - {"lora", "adapter"}:
        parser.error(f"--relax takes lora and adapter. Received: {args.relax}")
    return args


def score(args, model_dir, name, seconds=None):
    metrics, _ = app_sharing_comparison.run_app(args.path, "evaluate", "--model", model_dir)
    with open(os.path.join(model_dir, "parameter_report.json")) as f:
        report = json.load(f)
    row = {"model": name, "unique_params": report["unique_params"],
           **{k: metrics[k] for k in ("bleu", "chrf", "accuracy") if k in metrics},
           "train_seconds": None if seconds is None else round(seconds, 1)}  # fmt: skip
    print(json.dumps(row), file=sys.stderr)
    return row


def score_conversion(teacher_dir, args, init, relax):
    """The quality of the converted teacher before any training: BLEU and
    chrF, or test accuracy."""
    from sharedformer_tf import classification
    from sharedformer_tf.app import conversion_options
    from sharedformer_tf.convert import to_shared
    from sharedformer_tf.data import text_pairs
    from sharedformer_tf.data.audio_data import read_audio
    from sharedformer_tf.data.image_data import read_images
    from sharedformer_tf.translation import Translator, evaluate

    # What the app's `convert` is given (see `run_seed`), as its flags.
    flags = argparse.Namespace(
        layers=None, groups=args.groups, groups_ffn=args.groups_ffn, sharing=args.sharing,
        share_scope=None, per_depth_norms=args.per_depth_norms,
        share_cross_attention=args.share_cross_attention, init=init, relax=relax,
        rank=args.rank if relax else None)  # fmt: skip
    with open(os.path.join(teacher_dir, "config.json")) as f:
        saved = json.load(f)
    spec = saved["run"]["data"]
    if args.app == "translate":
        teacher = Translator.load(teacher_dir)
        options = conversion_options(flags, teacher.model.encoder.num_layers)
        student = to_shared(teacher.model, **options)
        metrics, _ = evaluate(Translator(student, teacher.tokenizer),
                              text_pairs.read_pairs(spec, "test"), jit_compile=True)  # fmt: skip
        return {"bleu": metrics["bleu"], "chrf": metrics["chrf"]}
    teacher, _ = classification.load_classifier(teacher_dir)
    c = teacher.config
    student = to_shared(teacher, **conversion_options(flags, c.plan.num_layers))
    if args.app == "keyword_spotting":
        data = read_audio(spec, "test", c.sample_rate, c.clip_samples, seed=saved["run"]["seed"])
        inputs = data.waveforms
    else:
        data = read_images(spec, "test", c.image_size, c.channels)
        inputs = data.images
    labels = classification.align_labels(data.labels, data.class_names, saved["class_names"])
    predicted = np.argmax(student.predict(inputs, batch_size=256, verbose=0), axis=-1)
    return {"accuracy": round(float(np.mean(predicted == labels)), 4)}


def merged_copy(model):
    """`model` (with LoRA deltas) as an unshared model whose kernel at each
    depth is the shared kernel plus that depth's `A B` (bias plus offset):
    what exporting the deltas merged per depth stores."""
    from sharedformer_tf import SharingPlan

    config = model.config
    plans = {f: SharingPlan(getattr(config, f).num_layers, strategy="none")
             for f in ("encoder_plan", "decoder_plan")}  # fmt: skip
    merged = type(model)(config.replace(lora_rank=None, cross_attention_plan=None, **plans))
    done = set()
    for stack in ("encoder", "decoder"):
        blocks = getattr(model, stack).blocks
        for block, target in zip(blocks, getattr(merged, stack).blocks, strict=True):
            for name in ("self_attention", "cross_attention", "feed_forward"):
                deltas = block.lora(name)
                for dense in deltas.kernel_shapes if deltas is not None else ():
                    a, b, offset = (np.asarray(w) for w in deltas.factors[dense])
                    source, layer = (
                        getattr(getattr(block, name), dense),
                        getattr(getattr(target, name), dense),
                    )
                    layer.kernel.assign(np.asarray(source.kernel) + a @ b)
                    layer.bias.assign(np.asarray(source.bias) + offset)
                    done.update((id(layer.kernel), id(layer.bias)))
    sources = {v.path: v for v in model.weights}
    for variable in merged.weights:
        if id(variable) not in done:
            variable.assign(sources[variable.path])
    return merged


def lora_export(model_dir, rounds):
    """Bytes and LiteRT latency of the LoRA model exported factorized and
    merged (fp32 and dynamic-range int8), timed interleaved."""
    from sharedformer_tf.data import text_pairs
    from sharedformer_tf.export import tflite
    from sharedformer_tf.translation import Translator

    translator = Translator.load(model_dir)
    model = translator.model
    merged = merged_copy(model)
    source = json.load(open(os.path.join(model_dir, "config.json")))["run"]["data"]
    texts = [p[0] for p in text_pairs.read_pairs(source, "test")[:8]]
    ids = np.asarray(translator.preprocessor(texts))
    length = translator.max_length
    same = np.array_equal(Translator(merged, translator.tokenizer).generate_ids(ids),
                          translator.generate_ids(ids))  # fmt: skip
    files = {f"{form}_{q}": tflite.convert_generator(m, length, length - 1, q)
             for form, m in (("factorized", model), ("merged", merged))
             for q in ("fp32", "dynamic-int8")}  # fmt: skip
    runners = {k: tflite.TFLiteGenerator(v) for k, v in files.items()}
    outputs = {k: r.generate(ids) for k, r in runners.items()}  # warm up
    times = {k: [] for k in files}
    for _ in range(rounds):
        for key, runner in runners.items():
            start = time.perf_counter()
            runner.generate(ids)
            times[key].append(time.perf_counter() - start)
    result = {"merged_translations_equal": bool(same), "batch": len(texts),
              "factorized_fp32_equals_merged_fp32": bool(np.array_equal(
                  outputs["factorized_fp32"], outputs["merged_fp32"]))}  # fmt: skip
    for key in files:
        result[key] = {"bytes": len(files[key]), "ms": round(1e3 * float(np.median(times[key])), 2)}
    print(json.dumps({"lora_export": result}), file=sys.stderr)
    return result


def run_seed(args, seed, directory, export_lora):
    """Teacher, scratch and every conversion for one seed: `(rows, the LoRA
    export's measurement or None)`; with `export_lora`, the first uptrained
    LoRA translator is exported both ways."""
    common = ["--seed", str(seed), "--overwrite"] + (["--data", args.data] if args.data else [])
    if args.train_examples:
        common += ["--train-examples", str(args.train_examples)]
    lengths = ["--max-length", str(args.max_length)] if args.max_length else []
    shared = ["--sharing", args.sharing, "--groups", str(args.groups)]
    if args.groups_ffn:
        shared += ["--groups-ffn", str(args.groups_ffn)]
    if args.share_cross_attention:
        shared += ["--share-cross-attention"]
    if args.per_depth_norms is not None:
        shared += ["--per-depth-norms" if args.per_depth_norms else "--no-per-depth-norms"]
    if args.learning_rate:  # scratch and uptraining, not the teacher
        shared += ["--learning-rate", str(args.learning_rate)]
    if args.batch_size:
        shared += ["--batch-size", str(args.batch_size)]
    rows, export = [], None
    teacher_dir, seconds = args.teacher, None
    if teacher_dir is None:
        teacher_dir = os.path.join(directory, "teacher")
        _, seconds = app_sharing_comparison.run_app(
            args.path, "train", "--out", teacher_dir, "--epochs", str(args.teacher_epochs),
            "--sharing", "none", *lengths, *common)  # fmt: skip
    rows.append(score(args, teacher_dir, "teacher", seconds))
    scratch_dir = os.path.join(directory, "scratch")
    _, seconds = app_sharing_comparison.run_app(
        args.path, "train", "--out", scratch_dir, "--epochs", str(args.epochs), *shared,
        *lengths, *common)  # fmt: skip
    rows.append(score(args, scratch_dir, "scratch", seconds))
    for init in args.inits:
        for relax in (None, *args.relax):
            name = f"converted_{init}" + (f"_{relax}{args.rank}" if relax else "")
            before = score_conversion(teacher_dir, args, init, relax)
            out = os.path.join(directory, name)
            extra = ["--relax", relax, "--rank", str(args.rank)] if relax else []
            _, seconds = app_sharing_comparison.run_app(
                args.path, "convert", "--model", teacher_dir, "--out", out, "--init", init,
                "--epochs", str(args.epochs), "--distill-alpha", str(args.distill_alpha),
                "--temperature", str(args.temperature),
                *shared, *extra, *common)  # fmt: skip
            row = score(args, out, name, seconds)
            row["before_uptraining"] = before
            rows.append(row)
            if export_lora and relax == "lora" and args.app == "translate" and export is None:
                export = {"model": name, "seed": seed, **lora_export(out, args.rounds)}
    for row in rows:
        row["seed"] = seed
    return rows, export


def summarize(args, rows):
    """The issue's targets per converted model and seed, and over seeds the
    paired differences from scratch and the mean share of the teacher."""
    metric = args.metric
    by = {(r["model"], r["seed"]): r for r in rows}
    targets, paired = {}, {}
    for name in dict.fromkeys(r["model"] for r in rows if r["model"].startswith("converted")):
        runs = [(by[(name, s)], by[("scratch", s)], by[("teacher", s)]) for s in args.seeds]
        params = runs[0][0]["unique_params"] / runs[0][2]["unique_params"]
        shares = [row[metric] / teacher[metric] for row, _, teacher in runs if teacher[metric]]
        targets[name] = {
            "beats_scratch": [row[metric] > scratch[metric] for row, scratch, _ in runs],
            "of_teacher": [round(x, 4) for x in shares],
            "params_vs_teacher": round(params, 4),
            "epochs_vs_teacher": round(args.epochs / args.teacher_epochs, 4),
        }
        paired[f"{name} - scratch"] = app_sharing_comparison.paired(
            [row[metric] - scratch[metric] for row, scratch, _ in runs]
        )
        if shares:
            paired[f"{name} / teacher"] = app_sharing_comparison.paired(shares)
    return targets, paired


def main():
    args = parse_args()
    rows, export = [], None
    with tempfile.TemporaryDirectory() as scratch:
        for seed in args.seeds:
            directory = os.path.join(args.out or scratch, f"seed_{seed}")
            seed_rows, seed_export = run_seed(args, seed, directory, export is None)
            rows += seed_rows
            export = export or seed_export
    targets, paired = summarize(args, rows)
    print(json.dumps({"app": args.app, "data": args.data, "max_length": args.max_length,
                      "teacher_epochs": args.teacher_epochs, "epochs": args.epochs,
                      "sharing": args.sharing, "groups": args.groups,
                      "groups_ffn": args.groups_ffn,
                      "share_cross_attention": args.share_cross_attention,
                      "per_depth_norms": args.per_depth_norms, "seeds": args.seeds,
                      "distill_alpha": args.distill_alpha, "temperature": args.temperature,
                      "learning_rate": args.learning_rate, "batch_size": args.batch_size,
                      "rows": rows, "targets": targets, "paired": paired,
                      "lora_export": export}))  # fmt: skip


if __name__ == "__main__":
    main()
