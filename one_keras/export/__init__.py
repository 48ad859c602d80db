"""Export of a method's deployables in any registered format, verified.

The names below are imported on first use, so that the export command's
`--help` (and `one_keras.export.formats`) imports neither Keras nor
TensorFlow.
"""

from one_keras.utils import lazy_names


# Public name -> the module that defines it.
_LAZY = {
    "ExportOptions": "one_keras.export.options",
    "RUN_DATASET": "one_keras.export.options",
    "build_serving_model": "one_keras.export.serving",
    "default_output_path": "one_keras.export.exporting",
    "export_model": "one_keras.export.exporting",
    "failure_reason": "one_keras.export.verify",
    "format_table": "one_keras.export.verify",
    "runner_for": "one_keras.export.formats",
}

__all__ = sorted(_LAZY)

__getattr__, __dir__ = lazy_names.attach(__name__, _LAZY)
