"""ONNX export settings; the conversion is Keras' own (`convert`)."""

from one_keras.export.formats import MAX_OPSET  # noqa: F401
from one_keras.export.formats import MIN_OPSET  # noqa: F401
from one_keras.export.formats import check_opset  # noqa: F401


def export_onnx(serving_model, path, opset=17, work=None):
    """Writes `serving_model` as an ONNX file (`model.export(format="onnx")`).

    The graph has the input `images` (float32, dynamic batch) and the
    outputs `probabilities` and `logits`.

    Args:
        serving_model: `keras.Model`. From `build_serving_model`.
        path: str. The `.onnx` file to write.
        opset: int. ONNX opset, 7 to 18. Defaults to `17`.
        work: str or `None`. A scratch folder, needed on a backend other
            than TensorFlow (the conversion then runs in a TensorFlow
            process).

    Returns:
        `path`.
    """
    from one_keras.export import convert
    from one_keras.export import formats

    check_opset(opset)
    return convert.export_with_keras(serving_model, path,
                                     formats.get("onnx"), opset=opset,
                                     work=work)
