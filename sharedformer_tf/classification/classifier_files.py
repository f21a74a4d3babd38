"""The model directory of a trained classifier."""

import json
import os

import keras

from sharedformer_tf.training.run_directory import RUN_FILE

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
    """
    directory = os.fspath(directory)
    paths = [os.path.join(directory, name) for name in (MODEL_FILE, RUN_FILE)]
    missing = [p for p in paths if not os.path.isfile(p)]
    if missing:
        raise FileNotFoundError(
            f"{directory} is not a trained classifier directory (missing {missing[0]}); "
            "train one first"
        )
    with open(paths[1]) as f:
        run_config = json.load(f)
    if not run_config.get("class_names"):
        raise ValueError(f"{paths[1]} has no class_names")
    model = keras.saving.load_model(paths[0])
    num_classes = model.outputs[0].shape[-1]
    if len(run_config["class_names"]) != num_classes:
        raise ValueError(
            f"{paths[1]} names {len(run_config['class_names'])} classes but the model has "
            f"{num_classes}"
        )
    return model, run_config
