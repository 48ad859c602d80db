"""Evaluates a saved ONE model, or a deployed target, on a test split."""

import os

import keras

from one_keras import data as data_lib
from one_keras import validation
from one_keras.one_model import ONEModel
from one_keras.training import count_trainable
from one_keras.training import deployed_accuracy
from one_keras.training import report_from_results

MODEL_FILES = ("model.keras", "target.keras")


def load_model(path):
    """Loads a `.keras` file a training run wrote.

    Args:
        path: str. A `.keras` file (a `ONEModel` or a deployed target), or a
            training output directory (its `model.keras`, else its
            `target.keras`).

    Returns:
        The loaded `keras.Model`.
    """
    import one_keras  # noqa: F401  (registers the one_keras classes)

    path = os.fspath(path)
    if os.path.isdir(path):
        found = [os.path.join(path, name) for name in MODEL_FILES
                 if os.path.isfile(os.path.join(path, name))]
        if not found:
            raise ValueError(
                "`model` must be a `.keras` file or a training output "
                f"directory holding one of {list(MODEL_FILES)}. Received: "
                f"model={path!r} (none found; train one with `python -m "
                "one_keras.train`)")
        path = found[0]
    if not os.path.isfile(path):
        raise ValueError("`model` must be a `.keras` file or a training output "
                         f"directory. Received: model={path!r} (not found)")
    validation.check_keras_file(path)
    try:
        return keras.saving.load_model(path, compile=False)
    except Exception as error:  # Keras raises many kinds on a bad file.
        raise ValueError(
            "`model` could not be read as a Keras model. Received: "
            f"model={path!r} ({type(error).__name__}: "
            f"{str(error).splitlines()[0]})") from error


def evaluate_model(model, dataset, batch_size=256, steps=None):
    """Test accuracy of a `ONEModel` (every branch, ONE-E) or a plain model.

    Args:
        model: `keras.Model`. A `ONEModel`, or a model mapping images to
            class logits (a deployed target).
        dataset: `one_keras.data.Dataset`.
        batch_size: int. Test batch size. Defaults to `256`.
        steps: int or `None`. Evaluate only the first `steps` batches.

    Returns:
        A report dict: `target_accuracy` (and for a `ONEModel` each branch
        and `ensemble_accuracy`; top-5 values beyond 10 classes) and
        `params_target`.
    """
    want = tuple(dataset.input_shape)
    network = getattr(model, "network", model)
    got = tuple(network.input_shape[1:])
    if got != want:
        raise ValueError(
            f"The model takes inputs of shape {got} but the dataset "
            f"`{dataset.name}` gives {want}; evaluate on the dataset the "
            "model was trained on (or pass --image_size). Received: "
            f"input_shape={got}")
    test = data_lib.eval_pipeline(dataset, batch_size, steps=steps)
    if isinstance(model, ONEModel):
        model.compile()
        report = report_from_results(
            model, model.evaluate(test, verbose=0, return_dict=True))
        report["params_target"] = count_trainable(model.target_model())
        return report
    report = deployed_accuracy(model, test, dataset.num_classes)
    report["params_target"] = count_trainable(model)
    return report
