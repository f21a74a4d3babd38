"""The image app with its defaults on a `folder:` tree, side by side with a
classical baseline on the same split.

    python benchmarks/image_folder_baseline.py [--data fashion_mnist] [--per-class N]
                                               [--out DIR] [-- TRAIN_FLAGS]

Writes an image set (default: Debian's Fashion-MNIST, training and test
images together) as PNG files, one sub-folder per class, as a user would
bring it. Then, on the folder's own hash split (90% train, 10% test):

- `apps/classify_images.py train --data folder:DIR` with its defaults (plus
  TRAIN_FLAGS), then `evaluate --split test`;
- a multinomial logistic regression (scikit-learn) on the pixels scaled to
  [0, 1], trained on every image of the same train split (the app holds
  2,000 of them out for validation) and scored on the same test split.

Needs scikit-learn (`pip install -e '.[bench]'`). The last stdout line is
one JSON object.
"""

import argparse
import json
import os
import sys
import tempfile
import time

import numpy as np

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

import app_sharing_comparison  # noqa: E402

APP = os.path.join(ROOT, "apps", "classify_images.py")


def write_folder(spec, directory, per_class=None):
    """Writes `spec`'s images as `directory/<class>/<n>.png`; returns the count."""
    from PIL import Image

    from sharedformer_tf.data.image_data import read_images

    data = read_images(spec, "all")
    written = 0
    for label, name in enumerate(data.class_names):
        folder = os.path.join(directory, name.replace("/", "_"))
        os.makedirs(folder)
        indices = np.flatnonzero(data.labels == label)[:per_class]
        for i in indices:
            image = data.images[i]
            Image.fromarray(image[..., 0] if image.shape[-1] == 1 else image).save(
                os.path.join(folder, f"{i:05d}.png")
            )
        written += len(indices)
    return written


def logistic_regression(directory, image_size, channels):
    from sklearn.linear_model import LogisticRegression

    from sharedformer_tf.data.image_data import read_images

    start = time.perf_counter()
    train, test = (read_images(f"folder:{directory}", split, image_size, channels)
                   for split in ("train", "test"))  # fmt: skip
    flat = [d.images.reshape(len(d.labels), -1).astype("float32") / 255 for d in (train, test)]
    model = LogisticRegression(max_iter=300)
    model.fit(flat[0], train.labels)
    accuracy = float(np.mean(model.predict(flat[1]) == test.labels))
    params = int(model.coef_.size + model.intercept_.size)
    return {"model": "logistic_regression", "accuracy": accuracy, "params": params,
            "num_train": len(train.labels), "num_test": len(test.labels),
            "seconds": round(time.perf_counter() - start, 1)}  # fmt: skip


def main():
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--data", default="fashion_mnist", help="image SPEC to write out")
    parser.add_argument("--per-class", type=int, help="at most N images per class")
    parser.add_argument("--out", help="where the folder and model go (default: a temporary one)")
    parser.add_argument("train_flags", nargs="*", help="more `train` flags, after --")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as scratch:
        directory = args.out or scratch
        images = os.path.join(directory, "images")
        count = write_folder(args.data, images, args.per_class)
        model_dir = os.path.join(directory, "model")
        spec = f"folder:{images}"
        _, train_seconds = app_sharing_comparison.run_app(
            APP, "train", "--data", spec, "--out", model_dir, *args.train_flags
        )
        metrics, _ = app_sharing_comparison.run_app(
            APP, "evaluate", "--model", model_dir, "--split", "test"
        )
        with open(os.path.join(model_dir, "config.json")) as f:
            config = json.load(f)
        with open(os.path.join(model_dir, "parameter_report.json")) as f:
            report = json.load(f)
        size, channels = config["model"]["image_size"], config["model"]["channels"]
        baseline = logistic_regression(images, size, channels)
    shared = {"model": f"sharedformer_tf {config['run']['preset']}",
              "accuracy": metrics["accuracy"], "num_test": metrics["num_examples"],
              "unique_params": report["unique_params"],
              "train_seconds": round(train_seconds, 1)}  # fmt: skip
    difference = round(shared["accuracy"] - baseline["accuracy"], 4)
    print(json.dumps({"data": args.data, "images": count, "train_flags": args.train_flags,
                      "augment": config["training"]["augment"], "rows": [shared, baseline],
                      "accuracy_difference": difference}))  # fmt: skip


if __name__ == "__main__":
    main()
