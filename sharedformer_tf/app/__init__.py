"""What the apps share: safe run directories, run descriptions and
evaluation splits. Model, layer and data code never import this package."""

from sharedformer_tf.app.evaluation_split import add_split_flag, evaluation_split
from sharedformer_tf.app.run_directory import RunDirectory, describe_run

__all__ = ["RunDirectory", "add_split_flag", "describe_run", "evaluation_split"]
