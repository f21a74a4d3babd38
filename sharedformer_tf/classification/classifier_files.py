"""The model directory of a trained classifier."""

import os

from sharedformer_tf.training.model_directory import RUN_FILE, load_keras_model, read_run_config

MODEL_FILE = "model.keras"


def save_classifier(model, directory):
    """Writes `directory/model.keras` through a temporary file, so an
    interruption never leaves a torn model file."""
    os.makedirs(directory, exist_ok=True)
    path = os.path.join(directory, MODEL_FILE)
    model.save(path + ".tmp.keras")
    os.replace(path + ".tmp.keras", path)


def load_classifier(directory):
    """Loads a classifier saved by `save_classifier` into a directory whose
    `config.json` (from `training.write_run_config`) has `class_names`.

    Returns:
        `(model, run_config)`: the Keras model and the parsed `config.json`.

    Raises:
        FileNotFoundError: a file is missing.
        ValueError: a file is damaged or they disagree (the message names it).
    """
    directory = os.fspath(directory)
    model_path = os.path.join(directory, MODEL_FILE)
    if not os.path.isfile(model_path):
        raise FileNotFoundError(
            f"{directory} is not a trained classifier directory (missing {model_path}); "
            "train one first"
        )
    run_config = read_run_config(directory, required=("run", "model", "class_names"))
    names = run_config["class_names"]
    path = os.path.join(directory, RUN_FILE)
    if not isinstance(names, list) or not names or not all(isinstance(n, str) for n in names):
        raise ValueError(f"{path}: class_names must be a list of names. Received: {names!r}")
    model = load_keras_model(model_path)
    num_classes = model.outputs[0].shape[-1]
    if len(names) != num_classes:
        raise ValueError(f"{path} names {len(names)} classes but the model has {num_classes}")
    return model, run_config
