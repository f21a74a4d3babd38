"""From a trained unshared translator to a shared one, side by side in one run.

On one corpus (default: the builtin en-fr pairs), with the translation app's
own commands:

- `teacher`: the `tiny` preset's shape unshared (`--sharing none`), trained
  `--teacher-epochs` epochs;
- `scratch`: the shared model (`--sharing S --groups G`) trained from
  scratch for `--epochs` epochs;
- for each `--inits` init (and, with `--relax adapter`, each init with
  per-depth adapters of width `--rank`): the teacher converted by
  `convert.to_shared`, scored right after conversion (no training), then
  `translate.py convert` (the conversion uptrained by distillation from the
  teacher for `--epochs` epochs, `--distill-alpha`) and scored again.

Every model is scored by `evaluate` on the corpus's test split (BLEU, chrF
by sacrebleu). The issue's targets are checked in the summary: converted +
uptrained beats scratch at equal epochs, reaches >= 95% of the teacher's
BLEU at <= 0.5x its stored parameters, with `--epochs` <= 20% of the
teacher's epochs. The last stdout line is one JSON object.

    python benchmarks/conversion.py [--data builtin:en-fr] [--teacher-epochs 5] [--epochs 1]
        [--inits stepwise,average,lower] [--relax adapter] [--rank 16] [--out DIR]
"""

import argparse
import json
import os
import sys
import tempfile

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

import app_sharing_comparison  # noqa: E402

APP = os.path.join(app_sharing_comparison.ROOT, "apps", "translate.py")


def parse_args():
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--data", default="builtin:en-fr")
    parser.add_argument("--train-examples", type=int, help="first N training pairs")
    parser.add_argument("--teacher-epochs", type=int, default=5)
    parser.add_argument("--epochs", type=int, default=1, help="scratch and uptraining epochs")
    parser.add_argument("--sharing", default="cycle_rev")
    parser.add_argument("--groups", type=int, default=2)
    parser.add_argument("--inits", default="stepwise,average,lower")
    parser.add_argument("--relax", choices=("adapter",), help="also convert with adapters")
    parser.add_argument("--rank", type=int, default=16)
    parser.add_argument("--distill-alpha", default="0.5")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--out", help="where the models go (default: a temporary directory)")
    args = parser.parse_args()
    args.inits = args.inits.split(",")
    return args


def score(model_dir, name, seconds=None):
    metrics, _ = app_sharing_comparison.run_app(APP, "evaluate", "--model", model_dir)
    with open(os.path.join(model_dir, "parameter_report.json")) as f:
        report = json.load(f)
    row = {"model": name, "unique_params": report["unique_params"], "bleu": metrics["bleu"],
           "chrf": metrics["chrf"],
           "train_seconds": None if seconds is None else round(seconds, 1)}  # fmt: skip
    print(json.dumps(row), file=sys.stderr)
    return row


def score_conversion(teacher_dir, args, init, relax):
    """BLEU and chrF of the converted teacher before any training."""
    from sharedformer_tf import SharingPlan, parameter_report
    from sharedformer_tf.convert import to_shared
    from sharedformer_tf.data import text_pairs
    from sharedformer_tf.translation import Translator, evaluate

    teacher = Translator.load(teacher_dir)
    plan = SharingPlan(teacher.model.encoder.num_layers, args.groups, strategy=args.sharing)
    student = to_shared(teacher.model, plan, init=init, relax=relax,
                        rank=args.rank if relax else None)  # fmt: skip
    pairs = text_pairs.read_pairs(args.data, "test")
    metrics, _ = evaluate(Translator(student, teacher.tokenizer), pairs, jit_compile=True)
    return {"bleu": metrics["bleu"], "chrf": metrics["chrf"],
            "unique_params": parameter_report(student)["unique_params"]}  # fmt: skip


def main():
    args = parse_args()
    common = ["--data", args.data, "--seed", str(args.seed), "--overwrite"]
    if args.train_examples:
        common += ["--train-examples", str(args.train_examples)]
    shared = ["--sharing", args.sharing, "--groups", str(args.groups)]
    rows = []
    with tempfile.TemporaryDirectory() as scratch:
        directory = args.out or scratch
        teacher_dir = os.path.join(directory, "teacher")
        _, seconds = app_sharing_comparison.run_app(
            APP, "train", "--out", teacher_dir, "--epochs", str(args.teacher_epochs),
            "--sharing", "none", *common)  # fmt: skip
        rows.append(score(teacher_dir, "teacher", seconds))
        scratch_dir = os.path.join(directory, "scratch")
        _, seconds = app_sharing_comparison.run_app(
            APP, "train", "--out", scratch_dir, "--epochs", str(args.epochs), *shared, *common
        )
        rows.append(score(scratch_dir, "scratch", seconds))
        for init in args.inits:
            for relax in (None, args.relax) if args.relax else (None,):
                name = f"converted_{init}" + (f"_{relax}{args.rank}" if relax else "")
                before = score_conversion(teacher_dir, args, init, relax)
                out = os.path.join(directory, name)
                extra = ["--relax", relax, "--rank", str(args.rank)] if relax else []
                _, seconds = app_sharing_comparison.run_app(
                    APP, "convert", "--model", teacher_dir, "--out", out, "--init", init,
                    "--epochs", str(args.epochs), "--distill-alpha", args.distill_alpha,
                    *shared, *extra, *common)  # fmt: skip
                row = score(out, name, seconds)
                row["before_uptraining"] = {k: before[k] for k in ("bleu", "chrf")}
                rows.append(row)
    teacher, scratch_row = rows[0], rows[1]
    targets = {
        row["model"]: {
            "beats_scratch": row["bleu"] > scratch_row["bleu"],
            "of_teacher_bleu": round(row["bleu"] / teacher["bleu"], 4) if teacher["bleu"] else None,
            "params_vs_teacher": round(row["unique_params"] / teacher["unique_params"], 4),
            "epochs_vs_teacher": round(args.epochs / args.teacher_epochs, 4),
        }
        for row in rows[2:]
    }
    print(json.dumps({"data": args.data, "teacher_epochs": args.teacher_epochs,
                      "epochs": args.epochs, "sharing": args.sharing, "groups": args.groups,
                      "rows": rows, "targets": targets}))  # fmt: skip


if __name__ == "__main__":
    main()
