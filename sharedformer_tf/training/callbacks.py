"""Callbacks that make a training run resumable and observable."""

import os

import keras

BACKUP_DIR = "backup"
LOG_DIR = "logs"
HISTORY_CSV = "history.csv"


def training_callbacks(directory, tensorboard=True, chief=True):
    """Callbacks for a run writing into `directory`.

    - `CSVLogger` appends every epoch to `directory/history.csv`, so the
      history of a resumed run is whole. It runs before the backup, so an
      epoch is logged before it counts as done.
    - `BackupAndRestore` (`directory/backup`, with a second copy so a run
      killed while writing can still resume) restores an interrupted run at
      its last completed epoch.
    - `TensorBoard` logs to `directory/logs`.

    With `chief=False` (a non-chief worker of a multi-worker cluster) the
    only callback restores the chief's backup in `directory` (a shared
    filesystem) and writes nothing, so the workers never race on files.
    """
    backup_dir = os.path.join(directory, BACKUP_DIR)
    if not chief:
        return [_RestoreOnlyBackupAndRestore(backup_dir, double_checkpoint=True)]
    callbacks = [
        keras.callbacks.CSVLogger(os.path.join(directory, HISTORY_CSV), append=True),
        keras.callbacks.BackupAndRestore(backup_dir, double_checkpoint=True),
    ]
    if tensorboard:
        callbacks.append(
            keras.callbacks.TensorBoard(os.path.join(directory, LOG_DIR), write_graph=False)
        )
    return callbacks


class _RestoreOnlyBackupAndRestore(keras.callbacks.BackupAndRestore):
    """Restores a backup at the start of training; never saves or deletes."""

    def _save_model(self):
        pass

    def on_train_end(self, logs=None):
        pass


def has_backup(directory):
    """Whether `directory` holds the backup of an interrupted run."""
    return os.path.isdir(os.path.join(directory, BACKUP_DIR))


def read_history(directory):
    """The per-epoch metrics logged in `directory/history.csv` as a dict of
    lists (`{"epoch": [...], "loss": [...], ...}`). An epoch logged twice (a
    run killed after logging it but before backing it up, then resumed)
    keeps its last row."""
    import csv

    path = os.path.join(directory, HISTORY_CSV)
    if not os.path.isfile(path):
        return {}
    with open(path, newline="") as f:
        rows = {int(r["epoch"]): r for r in csv.DictReader(f) if r["epoch"].isdigit()}
    history = {}
    for epoch in sorted(rows):
        for key, value in rows[epoch].items():
            history.setdefault(key, []).append(int(value) if key == "epoch" else float(value))
    return history
