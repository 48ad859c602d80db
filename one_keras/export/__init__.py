"""Export of the ONE target or ONE-E ensemble: SavedModel, TFLite, ONNX."""

from one_keras.export.data import DATASETS
from one_keras.export.data import load_dataset
from one_keras.export.export_model import default_output_path
from one_keras.export.export_model import export_model
from one_keras.export.export_model import load_one_model
from one_keras.export.serving import build_serving_model
from one_keras.export.verify import format_table

__all__ = ["DATASETS", "build_serving_model", "default_output_path",
           "export_model",
           "format_table", "load_dataset", "load_one_model"]
