"""Steps shared by the classification apps (`apps/classify_images.py`,
`apps/keyword_spotting.py`) after their data and model are in hand."""

import json
import os
import sys

import keras
import numpy as np

from sharedformer_tf.classification.classifier_evaluation import (
    describe_top,
    score_elastic_tflite,
    score_tflite_models,
)
from sharedformer_tf.classification.classifier_files import save_classifier
from sharedformer_tf.classification.plots import plot_learning_curves
from sharedformer_tf.training.callbacks import read_history


def save_training_outputs(model, directory):
    """Writes `model.keras` and `learning_curve.png` (from the run's CSV
    log) into `directory`."""
    save_classifier(model, directory)
    plot_learning_curves(read_history(directory), os.path.join(directory, "learning_curve.png"))


def predict_files(model, paths, load_input, class_names, top=3):
    """Prints `path: class probability, ...` for every file `load_input`
    can read; a file it cannot read is reported on stderr by name and the
    rest are still predicted.

    Raises:
        ValueError: afterwards, naming the files that could not be read.
    """
    inputs, readable, failed = [], [], []
    for path in paths:
        try:
            inputs.append(load_input(path))
            readable.append(path)
        except (ValueError, FileNotFoundError) as error:
            print(f"error: {error}", file=sys.stderr)
            failed.append(path)
    if inputs:
        probabilities = keras.ops.softmax(model.predict(np.stack(inputs), verbose=0)).numpy()
        for path, p in zip(readable, probabilities, strict=True):
            print(f"{path}: {describe_top(p, class_names, top)}")
    if failed:
        raise ValueError(f"{len(failed)} of {len(paths)} files could not be read: "
                         + ", ".join(failed))  # fmt: skip


def evaluate_early_exit(model, inputs, labels, thresholds, batch_size=256):
    """Accuracy and mean depth of early exit at each threshold, from one
    pass through every depth of `model` (a multi-depth classifier whose
    shallower runs start its deeper ones): by confidence, or by the
    cumulative halting probability of a model with learned halting.

    Returns:
        list of rows from `classification.confidence_exit` (or
        `halting_exit`), each with its `rule` (`"confidence"` or
        `"halting"`).
    """
    from sharedformer_tf.classification.early_exit import confidence_exit, halting_exit

    if len(model.depths) < 2:
        raise ValueError(
            "Early exit needs a model trained at several depths (train --depths). "
            f"Received: a model of depths {list(model.depths)}"
        )
    logits = model.exit_logits(inputs, batch_size=batch_size)
    probabilities = [keras.ops.softmax(x).numpy() for x in logits]
    if model.halting:
        halting = model.exit_halting(inputs, batch_size=batch_size)
        rows = halting_exit(probabilities, halting, model.depths, labels, thresholds)
        return [{"rule": "halting", **row} for row in rows]
    rows = confidence_exit(probabilities, model.depths, labels, thresholds)
    return [{"rule": "confidence", **row} for row in rows]


def export_and_score(model, class_names, directory, variants, representative, test,
                     exit_thresholds=None, **kwargs):  # fmt: skip
    """`export_classifier`, then the accuracy of the Keras model and of each
    TFLite variant on `test` (`(inputs, labels, name)`) and their agreement,
    added to `export.json`; with `exit_thresholds`, also the elastic TFLite
    file (fp32, else fp16) scored one input at a time at each depth and
    each threshold (`score_elastic_tflite`: accuracy, mean depth, LiteRT
    seconds per input) as `elastic_tflite`.

    Returns:
        The `export.json` contents as a dict.
    """
    from sharedformer_tf.export.classifier_export import export_classifier

    elastic = [v for v in ("fp32", "fp16") if v in variants]
    if exit_thresholds and (len(model.depths) < 2 or not elastic):
        raise ValueError(
            "Exit thresholds need a model trained at several depths (train --depths) "
            f"exported as fp32 or fp16. Received: depths {list(model.depths)}, "
            f"--tflite {'/'.join(variants)}"
        )
    summary = export_classifier(model, class_names, directory, variants, representative, **kwargs)
    inputs, labels, name = test
    accuracy, agreement = score_tflite_models(model, directory, variants, inputs, labels)
    summary.update(accuracy=accuracy, agreement_with_keras=agreement, test_data=name,
                   num_test_examples=len(labels))  # fmt: skip
    if exit_thresholds:
        path = os.path.join(directory, f"classifier_elastic_{elastic[0]}.tflite")
        summary["elastic_tflite"] = {
            "file": os.path.basename(path),
            **score_elastic_tflite(path, inputs, labels, model.depths, exit_thresholds),
        }
    with open(os.path.join(directory, "export.json"), "w") as f:
        json.dump(summary, f, indent=2)
    return summary


def print_evaluation(result):
    """Per-class accuracy and example count lines (and the accuracy at each
    depth of a multi-depth result), then the evaluation as one JSON line."""
    width = max(len(name) for name in result["per_class_accuracy"])
    for name, accuracy in result["per_class_accuracy"].items():
        count = result["per_class_count"][name]
        shown = "-" if accuracy is None else f"{accuracy:.1%}"
        print(f"  {name:>{width}}: {shown:>6} of {count} examples")
    for row in result.get("per_depth", ()):
        print(f"  depth {row['depth']}: accuracy {row['accuracy']:.2%} ({row['seconds']} s)")
    for row in result.get("early_exit", ()):
        print(f"  exit at p >= {row['threshold']}: accuracy {row['accuracy']:.2%}, mean depth "
              f"{row['mean_depth']:.2f}")  # fmt: skip
    print(json.dumps(result))


def print_demo_summary(model_dir, metrics, summary, seconds):
    """The end of a classification demo: sizes, accuracies and one JSON line."""
    print("\nExported:", ", ".join(f"{k} {v / 2**20:.2f} MiB" for k, v in summary["bytes"].items()))
    print("Test accuracy:", ", ".join(f"{k} {v:.2%}" for k, v in summary["accuracy"].items()))
    with open(os.path.join(model_dir, "parameter_report.json")) as f:
        report = json.load(f)
    print(json.dumps({"accuracy": metrics["accuracy"], "tflite_accuracy": summary["accuracy"],
                      "unique_params": report["unique_params"],
                      "effective_params": report["effective_params"],
                      "seconds": round(seconds, 1)}))  # fmt: skip
