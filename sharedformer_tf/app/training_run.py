"""The train skeleton every app shares: devices, a safe run directory,
chief-only writes, the parameter report, `model.fit` with resumable
callbacks, and the swap of a finished run into `--out`."""

import json
import logging
import os
import sys

import keras

from sharedformer_tf import distribute, training
from sharedformer_tf.app.flags import setup_devices
from sharedformer_tf.app.run_directory import RunDirectory, describe_run
from sharedformer_tf.report import parameter_report

logger = logging.getLogger("sharedformer_tf")


class TrainingRun:
    """One app's `train` command, in the order it must happen:

    1. `TrainingRun(args)`: the strategy from the flags, the seed;
    2. (the app validates its flags and reads its data: nothing is written)
    3. `prepare()`: decides the run directory (new, resumed, or aside for
       `--overwrite`; see `RunDirectory`), still writing nothing;
    4. `open(model_config, **sections)`: the chief creates the directory and
       writes `config.json` and any `files`;
    5. `fit(build, train_ds, valid_ds)`: builds and compiles in the
       strategy's scope, writes `parameter_report.json`, trains;
    6. `finish(model, save)`: the chief saves the model and the history and
       swaps the run into `--out`.

    Only the chief of a multi-worker cluster writes; every worker runs the
    same steps.

    Args:
        args: the parsed `train` flags (`out`, `overwrite`, `seed`,
            `batch_size`, `epochs`, `no_jit` and the distribution flags of
            `flags.add_distribution_flags`).
    """

    def __init__(self, args):
        self.args = args
        self.strategy = setup_devices(args)
        self.chief = distribute.is_chief(self.strategy)
        self.global_batch_size = args.batch_size * self.strategy.num_replicas_in_sync
        self.directory = None
        keras.utils.set_random_seed(args.seed)

    def prepare(self):
        """Decides where the run writes (nothing is written yet).

        Returns:
            The `RunDirectory` (`.work`, `.resuming`).
        """
        self.directory = RunDirectory(self.args.out, describe_run(self.args), self.args.overwrite)
        return self.directory

    @property
    def work(self):
        """The directory the run writes into."""
        return self.directory.work

    def open(self, model_config, files=None, **sections):
        """Everything is validated: the chief creates the run directory and
        writes `config.json` (`run`, `model`, `devices` and `sections`) and
        `files` (name -> bytes)."""
        if not self.chief:
            return
        self.directory.create()
        for name, data in (files or {}).items():
            with open(os.path.join(self.work, name), "wb") as f:
                f.write(data)
        devices = {"strategy": self.args.strategy, "precision": self.args.precision,
                   "replicas": self.strategy.num_replicas_in_sync}  # fmt: skip
        training.write_run_config(self.work, self.directory.run, model=model_config.to_dict(),
                                  devices=devices, **sections)  # fmt: skip

    def fit(self, build, train_ds, valid_ds=None):
        """Builds and compiles `build(jit_compile)` in the strategy's scope,
        prints (and the chief writes) the parameter report, and trains for
        `--epochs` with the run's callbacks (an interrupted run resumes).

        Returns:
            The trained model.
        """
        jit_compile, reason = distribute.whole_step_jit(self.strategy, not self.args.no_jit)
        if reason:
            logger.info("Whole-step XLA off: %s", reason)
        with self.strategy.scope():
            model = build(jit_compile)
        report = parameter_report(getattr(model, "student", model))  # a Distiller's student
        print(report, flush=True)
        if self.chief:
            with open(os.path.join(self.work, "parameter_report.json"), "w") as f:
                json.dump(report, f, indent=2)
        model.fit(train_ds, validation_data=valid_ds, epochs=self.args.epochs, shuffle=False,
                  callbacks=training.training_callbacks(self.work, chief=self.chief),
                  verbose=1 if sys.stdout.isatty() else 2)  # fmt: skip
        return model

    def finish(self, model, save):
        """The chief calls `save(model, directory)`, writes `history.json` and
        swaps the run into `--out`; every worker prints the weights' digest
        (equal across the workers of a synchronous strategy)."""
        if self.chief:
            save(model, self.work)
            with open(os.path.join(self.work, "history.json"), "w") as f:
                json.dump(training.read_history(self.work), f, indent=2)
            self.directory.commit()
        digest = distribute.weights_digest(model)
        print(json.dumps({"chief": self.chief, "weights_sha256": digest}))
