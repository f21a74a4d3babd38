"""Train, evaluate, run and export a parameter-shared Vision Transformer.

    python apps/classify_images.py              # demo: Fashion-MNIST, train, evaluate, export
    python apps/classify_images.py train --data SPEC --out DIR [--preset tiny|small] [--epochs N]
                                         [--layers N --groups M --sharing STRATEGY]
    python apps/classify_images.py convert --model DIR --out DIR [--sharing S --groups M]
                                           [--init I] [--relax lora|adapter --rank R] [--epochs N]
    python apps/classify_images.py evaluate --model DIR [--data SPEC]   # last line: JSON
    python apps/classify_images.py predict --model DIR IMAGE ...
    python apps/classify_images.py export --model DIR [--tflite fp32|fp16|int8|all]
                                          [--exit-thresholds P,...]   # elastic: score early exit

SPEC: fashion_mnist[:DIR] (Debian's dataset-fashion-mnist, the default) | tfds:NAME | folder:DIR
"""

import argparse
import json
import logging
import os
import sys
import time

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

import absl.logging  # noqa: E402
import numpy as np  # noqa: E402
import tensorflow as tf  # noqa: E402

from sharedformer_tf import app, classification, training  # noqa: E402
from sharedformer_tf.app import flags  # noqa: E402
from sharedformer_tf.data.image_data import read_images  # noqa: E402
from sharedformer_tf.data.image_dataset import (  # noqa: E402
    AUGMENTATIONS,
    default_augmentation,
    make_image_dataset,
)
from sharedformer_tf.data.image_files import load_image  # noqa: E402
from sharedformer_tf.export.classifier_export import (  # noqa: E402
    CLASSIFIER_QUANTIZATIONS,
)
from sharedformer_tf.models import ViTClassifier, vit_config  # noqa: E402

EXPORT_DIR = os.path.join("saved_models", "classify_images")
log = logging.getLogger("classify_images")


def augmentations(text):
    """argparse type: `none` or a comma-separated subset of AUGMENTATIONS."""
    names = () if text == "none" else tuple(n for n in text.split(",") if n)
    if not set(names) <= set(AUGMENTATIONS):
        raise argparse.ArgumentTypeError(
            f"expected 'none' or some of {AUGMENTATIONS}, got {text!r}"
        )
    return names


def parse_args(argv):
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    commands = parser.add_subparsers(dest="command")
    train = commands.add_parser("train", help="train a classifier into --out DIR")
    convert = commands.add_parser(
        "convert", help="convert a trained classifier (--model) to a shared one and uptrain it "
        "by distillation from it into --out DIR")  # fmt: skip
    app.add_conversion_flags(convert)
    for sub in (train, convert):
        sub.add_argument("--data", default="fashion_mnist" if sub is train else None,
                         help="SPEC of the training images (convert: the teacher's)")  # fmt: skip
        flags.add_classifier_training_flags(sub, 12 if sub is train else 2, 128)
        sub.add_argument("--augment", type=augmentations,
                         help=f"'none' or comma-separated {', '.join(AUGMENTATIONS)} (default: "
                         "flip for sets known to be mirror-safe, else none)")  # fmt: skip
        sub.add_argument("--train-examples", type=flags.positive_int, help="use the first N only")
        sub.add_argument("--valid-examples", type=flags.positive_int, default=2000,
                         help="training images held out for validation (at most 10%%)")  # fmt: skip
        sub.add_argument("--seed", type=int, default=0)
        sub.add_argument("--tfds-data-dir", help="TensorFlow Datasets data_dir for tfds: SPECs")
    train.add_argument("--preset", choices=sorted(vit_config.PRESETS), default="tiny")
    train.add_argument("--pooling", choices=vit_config.POOLINGS, help="default: the preset's")
    for command in ("evaluate", "predict", "export"):
        sub = commands.add_parser(command)
        sub.add_argument("--model", required=True, help="a directory written by train")
        if command != "predict":
            sub.add_argument("--data", help="SPEC of the test images (default: the training SPEC)")
            sub.add_argument("--num-examples", type=flags.positive_int, help="first N test images")
            sub.add_argument("--tfds-data-dir", help="TensorFlow Datasets data_dir")
            app.add_split_flag(sub)
    evaluate, predict, export = (commands.choices[c] for c in ("evaluate", "predict", "export"))
    evaluate.add_argument("--out", help="where confusion_matrix.png goes (default: --model)")
    flags.add_depth_flags(train, evaluate, exits=(evaluate, export), exit_heads=True)
    predict.add_argument("images", nargs="+", metavar="IMAGE", help="BMP/GIF/JPEG/PNG files")
    predict.add_argument("--top", type=flags.positive_int, default=3, help="labels shown per image")
    export.add_argument("--out", default=EXPORT_DIR)
    choices = CLASSIFIER_QUANTIZATIONS + ("all",)
    export.add_argument("--tflite", choices=choices, default="all")
    return parser, parser.parse_args(argv)


def read_split(spec, split, config, args, class_names, limit=None):
    """`ImageData` of `split`, checked against the model's input shape, its
    labels renumbered to the model's classes by name."""
    data = read_images(spec, split, config.image_size, config.channels, args.tfds_data_dir)
    want = (config.image_size, config.image_size, config.channels)
    if data.images.shape[1:] != want:
        raise ValueError(f"{spec} has images of shape {data.images.shape[1:]}; the model "
                         f"takes {want}. Received: --data {spec}")  # fmt: skip
    labels = classification.align_labels(data.labels, data.class_names, class_names, spec)
    return type(data)(data.images[:limit], labels[:limit], tuple(class_names))


def model_config(args, data):
    config = vit_config.preset(args.preset)
    height, width, channels = data.images.shape[1:]
    if height != width:
        raise ValueError(f"{args.data} has {height}x{width} images; the ViT takes square ones")
    changes = {"image_size": height, "channels": channels, "num_classes": len(data.class_names),
               "plan": flags.plan_from_flags(args, config.plan),
               **flags.sharing_config(args), **flags.depth_config(args)}  # fmt: skip
    if args.pooling:
        changes["pooling"] = args.pooling
    return config.replace(**changes)


def training_datasets(args, data, batch_size):
    """Training batches of `--train-examples` images of `data` (shuffled,
    augmented by `--augment` or the set's default) and validation batches of
    `--valid-examples` held out (at most 10%); checks the images first.
    Returns `(train_ds, valid_ds or None, augmentations)`."""
    augment = default_augmentation(args.data) if args.augment is None else args.augment
    order = np.random.default_rng(args.seed).permutation(len(data.labels))
    held_out = min(args.valid_examples, len(order) // 10)
    train_ids, valid_ids = order[held_out:][: args.train_examples], order[:held_out]
    classification.check_training_classes(data.labels[train_ids], data.class_names, args.data)
    if len(train_ids) < batch_size:
        raise ValueError(f"{len(train_ids)} training images are fewer than one batch of "
                         f"{batch_size}. Received: --data {args.data}")  # fmt: skip
    train_ds = make_image_dataset(data.images[train_ids], data.labels[train_ids], batch_size,
                                  shuffle=True, seed=args.seed, augment=augment,
                                  drop_remainder=True)  # fmt: skip
    valid_ds = None
    if held_out:
        valid_ds = make_image_dataset(data.images[valid_ids], data.labels[valid_ids], batch_size)
    height, width, channels = data.images.shape[1:]
    log.info("Training on %d images (%d validation) of %dx%d with %d channel(s), %d epochs, "
             "global batch %d, augmentation: %s", len(train_ids), held_out, height, width,
             channels, args.epochs, batch_size, ", ".join(augment) or "none")  # fmt: skip
    return train_ds, valid_ds, augment


def train(args):
    run = app.TrainingRun(args)
    preset = vit_config.preset(args.preset)
    # Bad flags fail before the data is read.
    preset.replace(plan=flags.plan_from_flags(args, preset.plan), **flags.sharing_config(args),
                   **flags.depth_config(args))  # fmt: skip
    data = read_images(args.data, "train", preset.image_size, preset.channels, args.tfds_data_dir)
    config = model_config(args, data)
    train_ds, valid_ds, augment = training_datasets(args, data, run.global_batch_size)
    run.prepare()
    run.open(config, class_names=list(data.class_names), training={"augment": list(augment)})
    steps = int(train_ds.cardinality()) * args.epochs

    def build(jit_compile):
        return training.compile_classifier(ViTClassifier(config), steps, args.learning_rate,
                                           args.warmup_steps, args.weight_decay,
                                           jit_compile=jit_compile)  # fmt: skip

    run.finish(run.fit(build, train_ds, valid_ds), app.save_training_outputs)


def convert(args):
    def datasets(args, config, names, batch_size):
        data = read_split(args.data, "train", config, args, names)
        train_ds, valid_ds, augment = training_datasets(args, data, batch_size)
        return train_ds, valid_ds, {"augment": list(augment)}

    app.convert_classifier(args, load, datasets)


def load(args):
    model, saved = classification.load_classifier(args.model)
    return model, saved, vit_config.ViTConfig.coerce(saved["model"])


def evaluate_model(args):
    model, saved, config = load(args)
    spec = args.data or saved["run"]["data"]
    split = app.evaluation_split(args.split, spec, saved["run"]["data"])
    names = saved["class_names"]
    data = read_split(spec, split, config, args, names, args.num_examples)
    result = app.evaluate_depths(
        model, args.depth,
        lambda m, depth, out: classification.evaluate_classifier(
            m if depth is None else m.at_depth(depth), data.images, data.labels, names, out,
            title=f"{spec} {split}:"),
        ("accuracy", "seconds"), args.out or args.model,
    )  # fmt: skip
    if args.exit_thresholds:
        result["early_exit"] = app.evaluate_early_exit(model, data.images, data.labels,
                                                       args.exit_thresholds)  # fmt: skip
    app.print_evaluation(result)
    return result


def predict(args):
    model, saved, config = load(args)
    app.predict_files(
        model, args.images, lambda path: load_image(path, config.image_size, config.channels),
        saved["class_names"], args.top,
    )  # fmt: skip


def export(args):
    model, saved, config = load(args)
    spec, names = args.data or saved["run"]["data"], saved["class_names"]
    split = app.evaluation_split(args.split, spec, saved["run"]["data"])
    variants = CLASSIFIER_QUANTIZATIONS if args.tflite == "all" else (args.tflite,)
    representative = None
    if "int8" in variants:  # calibrate on a seeded sample of training images
        train_images = read_split(spec, "train" if split == "test" else "all", config, args,
                                  names).images  # fmt: skip
        sample = np.random.default_rng(0).permutation(len(train_images))[:256]
        representative = train_images[sample]
    test = read_split(spec, split, config, args, names, args.num_examples)
    summary = app.export_and_score(
        model, names, args.out, variants, representative, (test.images, test.labels, spec),
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
