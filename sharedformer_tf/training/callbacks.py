"""Callbacks that make a training run resumable and observable."""

import os

import keras

BACKUP_DIR = "backup"
LOG_DIR = "logs"
HISTORY_CSV = "history.csv"


def training_callbacks(directory, tensorboard=True):
    """Callbacks for a run writing into `directory`.

    - `CSVLogger` appends every epoch to `directory/history.csv`, so the
      history of a resumed run is whole. It runs before the backup, so an
      epoch is logged before it counts as done.
    - `BackupAndRestore` (`directory/backup`, with a second copy so a run
      killed while writing can still resume) restores an interrupted run at
      its last completed epoch.
    - `TensorBoard` logs to `directory/logs`.
    """
    callbacks = [
        keras.callbacks.CSVLogger(os.path.join(directory, HISTORY_CSV), append=True),
        keras.callbacks.BackupAndRestore(
            os.path.join(directory, BACKUP_DIR), double_checkpoint=True
        ),
    ]
    if tensorboard:
        callbacks.append(
            keras.callbacks.TensorBoard(os.path.join(directory, LOG_DIR), write_graph=False)
        )
    return callbacks


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
