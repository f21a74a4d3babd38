from sharedformer_tf.report.parameter_report import ParameterReport, parameter_report

__all__ = ["ParameterReport", "parameter_report"]
