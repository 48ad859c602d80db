"""ONNX export settings; the conversion is Keras' own (`convert`)."""

MIN_OPSET = 7
MAX_OPSET = 18  # tf2onnx 1.17 supports opsets up to 18.


def check_opset(opset):
    """Raises a `ValueError` unless tf2onnx can target `opset`.

    Args:
        opset: int. The ONNX opset.
    """
    if isinstance(opset, bool) or not isinstance(opset, int) or \
            not MIN_OPSET <= opset <= MAX_OPSET:
        raise ValueError(
            f"`opset` must be an integer from {MIN_OPSET} to {MAX_OPSET} "
            "(tf2onnx 1.17's range; 17 is the default). Received: "
            f"opset={opset!r}")


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

    check_opset(opset)
    return convert.export_with_keras(serving_model, path, "onnx",
                                     opset=opset, work=work)
