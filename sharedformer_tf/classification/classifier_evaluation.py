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


def describe_top(probabilities, class_names, top=3):
    """`"name 0.912, other 0.050, ..."` for the `top` classes of one row."""
    probabilities = np.asarray(probabilities)
    best = np.argsort(-probabilities)[:top]
    return ", ".join(f"{class_names[i]} {probabilities[i]:.3f}" for i in best)
