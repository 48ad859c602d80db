"""Writes the serving model as a TensorFlow SavedModel."""

import keras

from one_keras.export import serving


def input_signature(serving_model):
    """The serving signature: one float32 `images` tensor, dynamic batch.

    Args:
        serving_model: `keras.Model`. From `build_serving_model`.

    Returns:
        A list with one `tf.TensorSpec` named `images`.
    """
    import tensorflow as tf

    shape = (None,) + tuple(serving_model.input.shape[1:])
    return [tf.TensorSpec(shape, tf.float32, name=serving.INPUT_NAME)]


def export_saved_model(serving_model, path):
    """Exports `serving_model` with the `serving_default` signature.

    The signature takes `images` and returns `probabilities` and `logits`
    (`keras.export.ExportArchive`, endpoint `serve`, which Keras also
    registers as `serving_default`).

    Args:
        serving_model: `keras.Model`. From `build_serving_model`.
        path: str. Directory to write; it must not exist yet.

    Returns:
        `path`.
    """
    archive = keras.export.ExportArchive()
    archive.track(serving_model)
    archive.add_endpoint(
        name="serve",
        fn=lambda images: serving_model(images, training=False),
        input_signature=input_signature(serving_model))
    archive.write_out(str(path), verbose=False)
    return path
