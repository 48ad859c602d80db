"""Export of the ONE target or ONE-E ensemble: SavedModel, TFLite, ONNX."""

from one_keras.export.export_model import RUN_DATASET
from one_keras.export.export_model import default_output_path
from one_keras.export.export_model import export_model
from one_keras.export.formats import runner_for
from one_keras.export.serving import build_serving_model
from one_keras.export.verify import failure_reason
from one_keras.export.verify import format_table

__all__ = ["RUN_DATASET", "build_serving_model", "default_output_path",
           "export_model", "failure_reason", "format_table", "runner_for"]
