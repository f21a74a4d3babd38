"""What the apps share: the train skeleton (`TrainingRun`), safe run
directories and evaluation splits. Model, layer and data code never import
this package."""

from sharedformer_tf.app.evaluation_split import add_split_flag, evaluation_split
from sharedformer_tf.app.run_directory import RunDirectory, describe_run
from sharedformer_tf.app.training_run import TrainingRun

__all__ = ["RunDirectory", "TrainingRun", "add_split_flag", "describe_run", "evaluation_split"]
