"""Scoring and plotting for the classification apps (images, audio)."""

from sharedformer_tf.classification.class_labels import align_labels, check_training_classes
from sharedformer_tf.classification.classification_metrics import classification_metrics
from sharedformer_tf.classification.classifier_evaluation import (
    describe_top,
    evaluate_classifier,
    score_elastic_tflite,
    score_tflite_models,
)
from sharedformer_tf.classification.classifier_files import load_classifier, save_classifier
from sharedformer_tf.classification.early_exit import confidence_exit, halting_exit
from sharedformer_tf.classification.plots import plot_confusion_matrix, plot_learning_curves

__all__ = [
    "align_labels",
    "check_training_classes",
    "classification_metrics",
    "confidence_exit",
    "describe_top",
    "evaluate_classifier",
    "halting_exit",
    "load_classifier",
    "plot_confusion_matrix",
    "plot_learning_curves",
    "save_classifier",
    "score_elastic_tflite",
    "score_tflite_models",
]
