"""Preparing the output directory of a training run."""

import json
import logging
import os
import shutil

from sharedformer_tf.training.callbacks import has_backup

RUN_FILE = "config.json"
logger = logging.getLogger("sharedformer_tf")


def prepare_run_directory(directory, run, overwrite=False):
    """Makes `directory` ready for a run described by the JSON-able `run`.

    - If it holds the backup of an interrupted run with the same `run`
      description, keeps everything so training resumes (returns `True`).
    - If it holds a finished model (`model.keras`) or another run's backup,
      refuses unless `overwrite`, which empties it first.

    Returns:
        `True` when an interrupted run will resume, else `False`.
    """
    path = os.path.join(directory, RUN_FILE)
    saved = None
    if os.path.isfile(path):
        with open(path) as f:
            saved = json.load(f).get("run")
    if has_backup(directory) and not overwrite:
        if saved != json.loads(json.dumps(run)):
            raise ValueError(
                f"{directory} holds an interrupted run with another configuration "
                f"({saved}); use a new output directory, or --overwrite to start over"
            )
        logger.info("Resuming the interrupted run in %s", directory)
        return True
    if os.path.exists(os.path.join(directory, "model.keras")) and not overwrite:
        raise ValueError(
            f"{directory} already holds a trained model; pass --overwrite to replace it"
        )
    if overwrite and os.path.isdir(directory):
        shutil.rmtree(directory)
    os.makedirs(directory, exist_ok=True)
    return False


def write_run_config(directory, run, **sections):
    """Writes `{"run": run, **sections}` to `directory/config.json`."""
    with open(os.path.join(directory, RUN_FILE), "w") as f:
        json.dump({"run": run, **sections}, f, indent=2)
