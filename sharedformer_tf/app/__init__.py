"""What the apps share: flags and error reporting (`flags`), the train
skeleton (`TrainingRun`), safe run directories, evaluation splits and the
classification apps' common steps. Model, layer and data code never import
this package."""

from sharedformer_tf.app.classifier_steps import (
    evaluate_early_exit,
    export_and_score,
    predict_files,
    print_demo_summary,
    print_evaluation,
    save_training_outputs,
)
from sharedformer_tf.app.depth_evaluation import evaluate_depths
from sharedformer_tf.app.evaluation_split import add_split_flag, evaluation_split
from sharedformer_tf.app.model_conversion import (
    add_conversion_flags,
    conversion_distiller,
    conversion_options,
    conversion_record,
    convert_classifier,
)
from sharedformer_tf.app.run_directory import RunDirectory, describe_run
from sharedformer_tf.app.training_run import TrainingRun

__all__ = [
    "RunDirectory",
    "TrainingRun",
    "add_conversion_flags",
    "add_split_flag",
    "conversion_distiller",
    "conversion_options",
    "conversion_record",
    "convert_classifier",
    "describe_run",
    "evaluate_depths",
    "evaluate_early_exit",
    "evaluation_split",
    "export_and_score",
    "predict_files",
    "print_demo_summary",
    "print_evaluation",
    "save_training_outputs",
]
