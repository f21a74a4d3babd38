"""Train, evaluate, run and export a parameter-shared audio Transformer that
spots spoken commands: a raw 16 kHz waveform in, a label out.

    python apps/keyword_spotting.py              # demo: synthesize, train, evaluate, export
    python apps/keyword_spotting.py train --data SPEC --out DIR [--preset tiny|small] [--epochs N]
                                          [--layers N --groups M --sharing STRATEGY]
    python apps/keyword_spotting.py convert --model DIR --out DIR [--sharing S --groups M]
                                            [--init I] [--relax lora|adapter --rank R] [--epochs N]
    python apps/keyword_spotting.py evaluate --model DIR [--data SPEC]   # last line: JSON
    python apps/keyword_spotting.py predict --model DIR FILE.wav ...
    python apps/keyword_spotting.py export --model DIR [--tflite fp32|fp16|int8|all]
                                           [--exit-thresholds P,...]   # elastic: score early exit

SPEC: spoken_commands[:espeak-ng,festival] (synthesized offline; default both engines)
      | tfds:speech_commands | folder:DIR (one sub-folder of WAV files per label)
"""

import argparse
import dataclasses
import json
import logging
import os
import re
import sys
import time

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

import absl.logging  # noqa: E402
import numpy as np  # noqa: E402
import tensorflow as tf  # noqa: E402

from sharedformer_tf import app, classification, training  # noqa: E402
from sharedformer_tf.app import flags  # noqa: E402
from sharedformer_tf.data import waveform_augmentation  # noqa: E402
from sharedformer_tf.data.array_dataset import make_array_dataset  # noqa: E402
from sharedformer_tf.data.audio_data import load_clip, read_audio  # noqa: E402
from sharedformer_tf.export.classifier_export import (  # noqa: E402
    CLASSIFIER_QUANTIZATIONS,
)
from sharedformer_tf.models import AudioClassifier, audio_config  # noqa: E402

EXPORT_DIR = os.path.join("saved_models", "keyword_spotting")
log = logging.getLogger("keyword_spotting")


def parse_args(argv):
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    commands = parser.add_subparsers(dest="command")
    train = commands.add_parser("train", help="train a keyword spotter into --out DIR")
    convert = commands.add_parser(
        "convert", help="convert a trained keyword spotter (--model) to a shared one and uptrain "
        "it by distillation from it into --out DIR")  # fmt: skip
    app.add_conversion_flags(convert)
    for sub in (train, convert):
        sub.add_argument("--data", default="spoken_commands" if sub is train else None,
                         help="SPEC of the training clips (convert: the teacher's)")  # fmt: skip
        flags.add_classifier_training_flags(sub, 12 if sub is train else 2, 64)
        sub.add_argument("--augment", type=augmentations, default=(),
                         help="'none' (default) or comma-separated waveform augmentations: "
                         + ",".join(waveform_augmentation.AUGMENTATIONS))  # fmt: skip
        sub.add_argument("--train-examples", type=flags.positive_int, help="use N clips only")
        sub.add_argument("--seed", type=int, default=0, help="training and synthesis seed")
    train.add_argument("--preset", choices=sorted(audio_config.PRESETS), default="tiny")
    train.add_argument("--pooling", choices=("class_token", "mean"), help="default: the preset's")
    train.add_argument("--normalization", choices=audio_config.NORMALIZATIONS,
                       help="log-mel normalization per clip or per mel band; default: the "
                       "preset's")  # fmt: skip
    train.add_argument("--stem", type=stem_filters, metavar="F,F,...",
                       help="a convolutional tokenizer: a 3x3 convolution (ReLU) and a "
                       "stride-2 max pooling per entry, with that many filters, e.g. 16,32; "
                       "0: none (tokens of whole frames; with --frames-per-patch 2 the model of "
                       "the earlier preset); default: the preset's")  # fmt: skip
    train.add_argument("--frames-per-patch", type=flags.positive_int, metavar="N",
                       help="frames (after the stem's pooling) per token; default: the "
                       "preset's")  # fmt: skip
    train.add_argument("--spec-augment", type=spec_augment, metavar="TxW,FxB",
                       help="SpecAugment in training: T time masks of <= W frames, F "
                       "frequency masks of <= B bands, e.g. 2x10,2x8; none: off; default: the "
                       "preset's (tiny: 2x5,2x4)")  # fmt: skip
    for command in ("train", "convert", "evaluate", "predict", "export"):
        sub = commands.choices.get(command) or commands.add_parser(command)
        if command not in ("train", "convert"):
            sub.add_argument("--model", required=True, help="a directory written by train")
        if command in ("evaluate", "export"):
            sub.add_argument("--data", help="SPEC of the test clips (default: the training SPEC)")
            sub.add_argument("--num-examples", type=flags.positive_int, help="first N test clips")
            app.add_split_flag(sub)
        if command != "predict":
            sub.add_argument("--tfds-data-dir", help="TensorFlow Datasets data_dir")
            sub.add_argument("--cache-dir", help="cache of the synthesized clips")
    evaluate, predict, export = (commands.choices[c] for c in ("evaluate", "predict", "export"))
    evaluate.add_argument("--out", help="where confusion_matrix.png goes (default: --model)")
    flags.add_depth_flags(train, evaluate, exits=(evaluate, export), exit_heads=True)
    predict.add_argument("files", nargs="+", metavar="FILE.wav")
    predict.add_argument("--top", type=flags.positive_int, default=3, help="labels shown per clip")
    export.add_argument("--out", default=EXPORT_DIR)
    export.add_argument("--tflite", choices=CLASSIFIER_QUANTIZATIONS + ("all",), default="all")
    return parser, parser.parse_args(argv)


def spec_augment(text):
    """argparse type: `TxW,FxB` or `none` -> the `AudioConfig` SpecAugment
    fields."""
    if text == "none":
        return {"time_masks": 0, "frequency_masks": 0}
    match = re.fullmatch(r"(\d+)x(\d+),(\d+)x(\d+)", text)
    if not match or int(match[2]) < 1 or int(match[4]) < 1:
        raise argparse.ArgumentTypeError(
            f"expected TxW,FxB such as 2x10,2x8, or none, got {text!r}"
        )
    names = ("time_masks", "time_mask_frames", "frequency_masks", "frequency_mask_bands")
    return dict(zip(names, map(int, match.groups()), strict=True))


def stem_filters(text):
    """argparse type: `0` or comma-separated filters -> the `AudioConfig`
    stem fields (ReLU convolutions, each followed by a max pooling)."""
    if text == "0":
        return {"stem_filters": 0}
    if not re.fullmatch(r"[1-9]\d*(,[1-9]\d*)*", text):
        raise argparse.ArgumentTypeError(f"expected 0 or filters such as 16,32, got {text!r}")
    filters = tuple(int(part) for part in text.split(","))
    return {"stem_filters": filters, "stem_pooling": True, "stem_activation": "relu"}


def augmentations(text):
    """argparse type: `none` or a comma-separated subset of AUGMENTATIONS."""
    names = () if text == "none" else tuple(n for n in text.split(",") if n)
    try:
        return waveform_augmentation.check_augmentations(names)
    except ValueError as error:
        raise argparse.ArgumentTypeError(str(error)) from None


def read_split(spec, split, config, args, seed=0, class_names=None, limit=None):
    """`AudioData` of `split`; with `class_names` (a trained model's), its
    labels renumbered to the model's classes by name."""
    data = read_audio(spec, split, config.sample_rate, config.clip_samples,
                      args.tfds_data_dir, seed, args.cache_dir)  # fmt: skip
    if class_names is None:
        return data
    labels = classification.align_labels(data.labels, data.class_names, class_names, spec)
    data = dataclasses.replace(data, labels=labels, class_names=tuple(class_names))
    return data.take(slice(limit))


def training_dataset(args, data, batch_size, sample_rate):
    """The shuffled training batches of `--train-examples` clips of `data`,
    with the `--augment` augmentations in tf.data (never part of the model
    or its exports); checks the clips first. Returns `(dataset, clips)`."""
    order = np.random.default_rng(args.seed).permutation(len(data.labels))[: args.train_examples]
    classification.check_training_classes(data.labels[order], data.class_names, args.data)
    if "clean" in args.augment and data.noise is None:
        raise ValueError("--augment clean needs clips that carry their noise apart (the "
                         f"synthesized spoken_commands). Received: --data {args.data}")  # fmt: skip
    if len(order) < batch_size:
        raise ValueError(f"{len(order)} training clips are fewer than one batch of "
                         f"{batch_size}. Received: --data {args.data}")  # fmt: skip
    inputs, augment = data.waveforms[order], None
    if args.augment:
        clean = "clean" in args.augment  # then the noise inside each clip goes along
        inputs = (inputs, data.noise[order]) if clean else inputs

        def augment(batch, seed):
            waveforms, noise = batch if clean else (batch, None)
            return waveform_augmentation.augment_waveforms(waveforms, seed, args.augment,
                                                           sample_rate, noise)  # fmt: skip

    dataset = make_array_dataset(inputs, data.labels[order], batch_size, shuffle=True,
                                 seed=args.seed, drop_remainder=True, augment=augment)  # fmt: skip
    return dataset, len(order)


def train(args):
    run = app.TrainingRun(args)
    config = audio_config.preset(args.preset)
    plan = flags.plan_from_flags(args, config.plan)  # bad flags fail before the data is read
    config = config.replace(plan=plan, **flags.sharing_config(args), **flags.depth_config(args),
                            **({"pooling": args.pooling} if args.pooling else {}),
                            **({"normalization": args.normalization}
                               if args.normalization else {}),
                            **(args.stem or {}),
                            **({"frames_per_patch": args.frames_per_patch}
                               if args.frames_per_patch else {}),
                            **(args.spec_augment or {}))  # fmt: skip
    data = read_split(args.data, "train", config, args, args.seed)
    valid = read_split(args.data, "validation", config, args, args.seed, data.class_names)
    config = config.replace(num_classes=len(data.class_names))
    batch_size = run.global_batch_size
    train_ds, size = training_dataset(args, data, batch_size, config.sample_rate)
    run.prepare()
    run.open(config, class_names=list(data.class_names), training={"augment": list(args.augment)})
    valid_ds = make_array_dataset(valid.waveforms, valid.labels, batch_size)
    steps = int(train_ds.cardinality()) * args.epochs
    log.info("Training on %d clips (%d validation), %d epochs, global batch %d, waveform "
             "augmentation: %s", size, len(valid.labels), args.epochs, batch_size,
             ", ".join(args.augment) or "none")  # fmt: skip

    def build(jit_compile):
        return training.compile_classifier(AudioClassifier(config), steps, args.learning_rate,
                                           args.warmup_steps, args.weight_decay,
                                           jit_compile=jit_compile)  # fmt: skip

    run.finish(run.fit(build, train_ds, valid_ds), app.save_training_outputs)


def convert(args):
    def datasets(args, config, names, batch_size):
        data = read_split(args.data, "train", config, args, args.seed, names)
        valid = read_split(args.data, "validation", config, args, args.seed, names)
        train_ds, _ = training_dataset(args, data, batch_size, config.sample_rate)
        valid_ds = make_array_dataset(valid.waveforms, valid.labels, batch_size)
        return train_ds, valid_ds, {"augment": list(args.augment)}

    app.convert_classifier(args, load, datasets)


def load(args):
    model, saved = classification.load_classifier(args.model)
    return model, saved, audio_config.AudioConfig.coerce(saved["model"])


def evaluate_model(args):
    model, saved, config = load(args)
    spec, names = args.data or saved["run"]["data"], saved["class_names"]
    split = app.evaluation_split(args.split, spec, saved["run"]["data"])
    data = read_split(spec, split, config, args, saved["run"]["seed"], names, args.num_examples)
    result = app.evaluate_depths(
        model, args.depth,
        lambda m, depth, out: classification.evaluate_classifier(
            m if depth is None else m.at_depth(depth), data.waveforms, data.labels, names, out,
            title=f"{spec} {split}:"),
        ("accuracy", "seconds"), args.out or args.model,
    )  # fmt: skip
    if args.exit_thresholds:
        result["early_exit"] = app.evaluate_early_exit(model, data.waveforms, data.labels,
                                                       args.exit_thresholds)  # fmt: skip
    app.print_evaluation(result)
    return result


def predict(args):
    model, saved, config = load(args)
    app.predict_files(
        model, args.files, lambda path: load_clip(path, config.sample_rate, config.clip_samples),
        saved["class_names"], args.top,
    )  # fmt: skip


def export(args):
    model, saved, config = load(args)
    spec, names = args.data or saved["run"]["data"], saved["class_names"]
    seed = saved["run"]["seed"]
    split = app.evaluation_split(args.split, spec, saved["run"]["data"])
    variants = CLASSIFIER_QUANTIZATIONS if args.tflite == "all" else (args.tflite,)
    representative = None
    if "int8" in variants:  # calibrate on a seeded sample of training clips
        calibration = "train" if split == "test" else "all"
        waveforms = read_split(spec, calibration, config, args, seed, names).waveforms
        representative = waveforms[np.random.default_rng(0).permutation(len(waveforms))[:200]]
    test = read_split(spec, split, config, args, seed, names, args.num_examples)
    summary = app.export_and_score(
        model, names, args.out, variants, representative,
        (test.waveforms, test.labels, spec), input_dtype=tf.float32,
        exit_thresholds=args.exit_thresholds,
    )  # fmt: skip
    print(json.dumps(summary))
    return summary


def demo(_):
    start = time.perf_counter()
    model_dir = os.path.join(EXPORT_DIR, "model")
    # Replaces an earlier demo model once trained; an interrupted run resumes.
    train(parse_args(["train", "--out", model_dir, "--overwrite"])[1])
    metrics = evaluate_model(parse_args(["evaluate", "--model", model_dir])[1])
    summary = export(parse_args(["export", "--model", model_dir])[1])
    app.print_demo_summary(model_dir, metrics, summary, time.perf_counter() - start)


def main(argv=None):
    absl.logging.set_verbosity(absl.logging.ERROR)  # TF's SavedModel chatter
    tf.get_logger().setLevel("ERROR")
    parser, args = parse_args(sys.argv[1:] if argv is None else argv)
    commands = {None: demo, "train": train, "convert": convert, "evaluate": evaluate_model,
                "predict": predict, "export": export}  # fmt: skip
    flags.run(commands, parser, args)


if __name__ == "__main__":
    main()
