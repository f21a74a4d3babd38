"""Scoring a trained classifier and its exported TFLite models."""

import json
import os
import time

import numpy as np

from sharedformer_tf.classification.classification_metrics import classification_metrics
from sharedformer_tf.classification.plots import plot_confusion_matrix


def evaluate_classifier(model, inputs, labels, class_names, out_dir, title="", batch_size=256):
    """Scores `model` (inputs -> logits) on `(inputs, labels)` and writes
    `confusion_matrix.png` and `evaluation.json` (all metrics, with the
    matrix) into `out_dir`.

    Returns:
        dict with `accuracy`, `per_class_accuracy`, `per_class_count`, `num_examples`,
        `seconds` (prediction time) and `confusion_matrix_png`.
    """
    start = time.perf_counter()
    logits = model.predict(inputs, batch_size=batch_size, verbose=0)
    seconds = time.perf_counter() - start
    metrics = classification_metrics(labels, logits.argmax(-1), class_names)
    os.makedirs(out_dir, exist_ok=True)
    png = os.path.join(out_dir, "confusion_matrix.png")
    plot_confusion_matrix(metrics["confusion_matrix"], class_names, png,
                          title=f"{title} accuracy {metrics['accuracy']:.2%}".strip())  # fmt: skip
    with open(os.path.join(out_dir, "evaluation.json"), "w") as f:
        json.dump({"title": title, **metrics}, f, indent=2)
    keys = ("accuracy", "per_class_accuracy", "per_class_count", "num_examples")
    result = {key: metrics[key] for key in keys}
    result.update(seconds=round(seconds, 2), confusion_matrix_png=png)
    return result


def score_tflite_models(model, export_dir, variants, inputs, labels, batch_size=256):
    """Accuracy of the Keras model and of each `classifier_<variant>.tflite`
    in `export_dir` on `(inputs, labels)`, and how often each TFLite model
    predicts the Keras model's class.

    Returns:
        `(accuracy, agreement)`: dicts keyed by `"keras"` and the variants,
        and by the variants.
    """
    from sharedformer_tf.export.tflite_classifier import TFLiteClassifier

    labels = np.asarray(labels)
    keras_predictions = model.predict(inputs, batch_size=batch_size, verbose=0).argmax(-1)
    accuracy = {"keras": float(np.mean(keras_predictions == labels))}
    agreement = {}
    for variant in variants:
        path = os.path.join(export_dir, f"classifier_{variant}.tflite")
        predictions = TFLiteClassifier(path, batch_size).predict(inputs).argmax(-1)
        accuracy[variant] = float(np.mean(predictions == labels))
        agreement[variant] = float(np.mean(predictions == keras_predictions))
    return accuracy, agreement


def score_elastic_tflite(path, inputs, labels, depths, thresholds):
    """Scores a `classifier_elastic_*.tflite` on `(inputs, labels)` one
    input at a time (as a device classifies), at each of `depths` (no early
    exit) and at its deepest depth with each confidence exit threshold:
    accuracy, the mean depth the inputs left at, and LiteRT seconds per
    input. The settings take turns input by input, so a noisy machine
    slows them alike.

    Returns:
        dict with `per_depth` (rows of `depth`, `accuracy`,
        `seconds_per_input`) and `early_exit` (rows of `threshold`,
        `accuracy`, `mean_depth`, `exits`: the fraction leaving at each
        depth, and `seconds_per_input`).
    """
    from sharedformer_tf.export.tflite_classifier import TFLiteClassifier

    settings = [{"depth": int(d)} for d in depths]
    settings += [{"threshold": float(t)} for t in thresholds]
    runners = [TFLiteClassifier(path, batch_size=1, **setting) for setting in settings]
    predictions = np.zeros((len(settings), len(inputs)), "int64")
    used = np.zeros((len(settings), len(inputs)), "int64")
    seconds = np.zeros(len(settings))
    for i in range(len(inputs)):
        for j, runner in enumerate(runners):
            start = time.perf_counter()
            p, depth = runner.predict_exits(inputs[i : i + 1])
            seconds[j] += time.perf_counter() - start
            predictions[j, i], used[j, i] = p[0].argmax(), depth[0]
    labels = np.asarray(labels)
    rows = []
    for j, setting in enumerate(settings):
        row = {**setting, "accuracy": float(np.mean(predictions[j] == labels))}
        if "threshold" in setting:
            row["mean_depth"] = float(used[j].mean())
            row["exits"] = {int(d): float(np.mean(used[j] == d)) for d in depths}
        row["seconds_per_input"] = round(seconds[j] / max(len(inputs), 1), 7)
        rows.append(row)
    return {"per_depth": [r for r in rows if "depth" in r],
            "early_exit": [r for r in rows if "threshold" in r]}  # fmt: skip


def describe_top(probabilities, class_names, top=3):
    """`"name 0.912, other 0.050, ..."` for the `top` classes of one row."""
    probabilities = np.asarray(probabilities)
    best = np.argsort(-probabilities)[:top]
    return ", ".join(f"{class_names[i]} {probabilities[i]:.3f}" for i in best)
