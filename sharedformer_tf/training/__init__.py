from sharedformer_tf.training.callbacks import has_backup, read_history, training_callbacks
from sharedformer_tf.training.classifier_compile import compile_classifier
from sharedformer_tf.training.label_smoothed_crossentropy import LabelSmoothedCrossentropy
from sharedformer_tf.training.masked_accuracy import MaskedAccuracy
from sharedformer_tf.training.model_directory import (
    RUN_FILE,
    load_keras_model,
    read_run_config,
    write_run_config,
)
from sharedformer_tf.training.optimizers import warmup_cosine_adamw
from sharedformer_tf.training.seq2seq_compile import compile_seq2seq

__all__ = [
    "LabelSmoothedCrossentropy",
    "MaskedAccuracy",
    "compile_classifier",
    "compile_seq2seq",
    "has_backup",
    "load_keras_model",
    "RUN_FILE",
    "read_run_config",
    "read_history",
    "training_callbacks",
    "warmup_cosine_adamw",
    "write_run_config",
]
