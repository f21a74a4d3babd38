"""The `--out` directory of a training run, made so that nothing is lost.

A directory that `train` writes into carries a marker file
(`.sharedformer_tf-run`). The rules, all checked before anything is written:

- a new or empty directory is used as it is;
- a directory without the marker that holds anything is never written into
  nor deleted, `--overwrite` or not (it was not made by `train`: a home
  directory, another tool's output);
- a marked directory holding the backup of an interrupted run with the same
  run description resumes in place;
- a marked directory holding a finished model (or another run's backup) is
  replaced only with `--overwrite`, and only once the new run has finished:
  the new run trains in the sibling `DIR.partial` and is swapped in at the
  end, so a bad flag, bad data or an interruption leaves the old model
  loadable and byte-identical (the same command resumes in `DIR.partial`).

Under a multi-worker strategy every worker builds the same `RunDirectory`
(the decision depends only on the files before the chief writes) and only
the chief calls `create` and `commit`.
"""

import json
import logging
import os
import shutil
import tempfile

from sharedformer_tf.training.callbacks import has_backup
from sharedformer_tf.training.model_directory import RUN_FILE, read_run_config

MARKER = ".sharedformer_tf-run"
PARTIAL_SUFFIX = ".partial"
MODEL_FILE = "model.keras"
logger = logging.getLogger("sharedformer_tf")


class RunDirectory:
    """Where a training run writes, decided from `path`'s contents.

    Args:
        path: the `--out` directory.
        run: JSON-able description of the run (data, flags that shape the
            model and the training schedule); an interrupted run resumes only
            under the same description.
        overwrite: replace a finished model in `path` (once this run is done).

    Attributes:
        path: the final directory.
        work: the directory this run writes into (`path` or `path.partial`).
        resuming: whether `work` holds an interrupted run that resumes.

    Raises:
        ValueError: `path` is a file, holds files `train` did not write, holds
            a finished model and `overwrite` is off, or holds an interrupted
            run described otherwise (the message names the differences).
    """

    def __init__(self, path, run, overwrite=False):
        self.path = os.path.normpath(os.fspath(path))
        self.run = json.loads(json.dumps(run))
        self.overwrite = overwrite
        self.partial = self.path + PARTIAL_SUFFIX
        self.work, self.resuming = self._decide()

    def _decide(self):
        state = _state(self.path)
        if state == "empty":
            return self.path, False
        if state == "aborted":  # ours, stopped before its first epoch ended
            return self.path, False
        if state == "interrupted" and (not self.overwrite or self._same_run(self.path)):
            self._check_same_run(self.path)
            return self.path, True
        if state == "finished" and not self.overwrite:
            hint = ""
            if has_backup(self.partial):
                hint = f" (an interrupted --overwrite run waits in {self.partial})"
            raise ValueError(f"{self.path} already holds a trained model{hint}; pass "
                             "--overwrite to replace it once the new run has finished, "
                             "or choose another --out")  # fmt: skip
        # --overwrite of a finished or differently described run: train aside.
        partial = _state(self.partial)
        if partial == "interrupted" and self._same_run(self.partial):
            return self.partial, True
        return self.partial, False

    def _same_run(self, directory):
        return _saved_run(directory) == self.run

    def _check_same_run(self, directory):
        saved = _saved_run(directory)
        if saved != self.run:
            keys = sorted(set(saved or {}) | set(self.run))
            changed = [f"{key}: {(saved or {}).get(key)!r} -> {self.run.get(key)!r}"
                       for key in keys if (saved or {}).get(key) != self.run.get(key)]  # fmt: skip
            raise ValueError(f"{directory} holds an interrupted run with another "
                             f"configuration ({'; '.join(changed)}); run the same command "
                             "to resume it, or pass --overwrite to start over")  # fmt: skip

    def create(self):
        """Makes `work` ready (chief only): creates it with the marker, or
        clears a stale `path.partial` of an earlier, abandoned run."""
        if self.resuming:
            logger.info("Resuming the interrupted run in %s", self.work)
            return
        if self.work == self.partial and os.path.exists(self.partial):
            shutil.rmtree(self.partial)  # ours: _state checked the marker
        if self.work == self.path and _state(self.path) == "aborted":
            _remove_run_files(self.path)
        os.makedirs(self.work, exist_ok=True)
        with open(os.path.join(self.work, MARKER), "w") as f:
            json.dump({"written_by": "sharedformer_tf train"}, f)
        if self.work == self.partial:
            logger.info("Training in %s; it replaces %s when the run has finished",
                        self.partial, self.path)  # fmt: skip

    def commit(self):
        """Swaps a finished `path.partial` in for `path` (chief only; a no-op
        when the run trained in `path`)."""
        if self.work != self.partial:
            return
        # A fresh, empty sibling of our own to move the old run into: only
        # what this run moved there is deleted.
        parent, name = os.path.split(self.path)
        old = tempfile.mkdtemp(prefix=f"{name}.replaced-", dir=parent or ".")
        os.replace(self.path, old)
        os.replace(self.partial, self.path)
        shutil.rmtree(old)
        self.work = self.path


def _state(directory):
    """`"empty"`, `"aborted"`, `"interrupted"` or `"finished"` (the last three
    marked as written by train).

    Raises:
        ValueError: `directory` is a file or holds files without the marker.
    """
    if not os.path.exists(directory):
        return "empty"
    if not os.path.isdir(directory):
        raise ValueError(f"--out {directory} is a file, not a directory; choose another --out")
    entries = os.listdir(directory)
    if not entries:
        return "empty"
    if MARKER not in entries:
        raise ValueError(f"{directory} holds files that train did not write (no {MARKER} "
                         "marker); nothing was changed. Choose a new or empty --out "
                         "directory")  # fmt: skip
    if has_backup(directory):
        return "interrupted"
    if MODEL_FILE in entries:
        return "finished"
    return "aborted"


def _saved_run(directory):
    if not os.path.isfile(os.path.join(directory, RUN_FILE)):
        return None
    return read_run_config(directory).get("run")


def _remove_run_files(directory):
    """Clears the per-epoch logs of an aborted run so a fresh one starts clean."""
    for name in ("history.csv", "history.json"):
        path = os.path.join(directory, name)
        if os.path.isfile(path):
            os.remove(path)


# Flags that change where or how fast a run computes, not what it learns: a
# run may resume with other values of these.
NOT_IN_RUN = ("command", "out", "overwrite", "strategy", "precision", "xla_attention", "no_jit",
              "tfds_data_dir", "cache_dir")  # fmt: skip


def describe_run(args):
    """The run description of parsed `train` flags: every flag except those
    in `NOT_IN_RUN`, so resuming with another `--epochs` or learning rate
    (another schedule) is refused instead of silently changing it."""
    return {key: value for key, value in sorted(vars(args).items()) if key not in NOT_IN_RUN}
