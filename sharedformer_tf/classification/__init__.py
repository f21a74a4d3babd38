"""Scoring and plotting for the classification apps (images, audio)."""

from sharedformer_tf.classification.classification_metrics import classification_metrics
from sharedformer_tf.classification.classifier_files import load_classifier, save_classifier
from sharedformer_tf.classification.plots import plot_confusion_matrix, plot_learning_curves

__all__ = [
    "classification_metrics",
    "load_classifier",
    "plot_confusion_matrix",
    "plot_learning_curves",
    "save_classifier",
]
