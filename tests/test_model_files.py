"""Loading a saved model, from a `.keras` file or a run directory."""

import keras
import pytest

from one_keras.methods import saved_models
from one_keras.methods.one import build_one_resnet
from one_keras.runs import RunDirectory


def test_truncated_keras_file_is_named_truncated(tmp_path):
    path = tmp_path / "model.keras"
    build_one_resnet(depth=8, width=4, num_classes=4,
                     input_shape=(8, 8, 3)).save(path)
    path.write_bytes(path.read_bytes()[:2000])
    with pytest.raises(ValueError, match="truncated or corrupt") as error:
        saved_models.load_model(str(path))
    assert "not found" not in str(error.value).lower()
    assert keras.__version__  # Keras itself calls this "File not found".


def test_a_run_directory_gives_its_training_model_else_its_target(
        tmp_path):
    keras.Sequential([keras.Input((2,)), keras.layers.Dense(3)]).save(
        tmp_path / "target.keras")
    assert saved_models.load_model(tmp_path).count_params() == 9
    keras.Sequential([keras.Input((2,)), keras.layers.Dense(4)]).save(
        tmp_path / "model.keras")
    assert saved_models.load_model(tmp_path).count_params() == 12
    # Export loads the training model only.
    (tmp_path / "model.keras").unlink()
    with pytest.raises(ValueError, match=r"directory holding `model\.keras`"
                       r"\. Received: .* \(none found; train one"):
        saved_models.load_model(tmp_path, training_only=True)
    # The run directory says which file it is.
    assert RunDirectory(tmp_path).saved_model_path() == str(
        tmp_path / "target.keras")


@pytest.mark.parametrize("training_only, holding", [
    (False, "`model.keras` or `target.keras`"),
    (True, "`model.keras`")])
def test_a_missing_model_names_what_would_do(tmp_path, training_only,
                                             holding):
    with pytest.raises(ValueError, match="none found") as error:
        saved_models.load_model(tmp_path, training_only=training_only)
    assert f"holding {holding}." in str(error.value)
    with pytest.raises(ValueError, match=r"\(not found\)") as error:
        saved_models.load_model(tmp_path / "no.keras")
    assert "holding `model.keras` or `target.keras`." in str(error.value)


def test_a_file_keras_cannot_read_is_one_error_naming_it(tmp_path):
    path = tmp_path / "model.h5"
    path.write_bytes(b"not a model")
    with pytest.raises(ValueError, match=r"could not be read as a Keras "
                       r"model; pass a `\.keras` file or the run directory "
                       r"a training run wrote\. Received: model=.*model\.h5"):
        saved_models.load_model(path)


def test_a_class_no_module_registers_is_named_with_the_fix():
    from one_keras.runs import keras_files
    error = TypeError("Could not locate class 'ONEModel'. Make sure custom "
                      "classes are registered. Full object config: "
                      + "{'layers': [...]}" * 1000)
    message = keras_files._unreadable_model("run/model.keras", error)
    assert message == (
        "`model` holds the class 'ONEModel', which no imported module "
        "registers: load a training model with "
        "`one_keras.methods.saved_models.load_model` (it imports "
        "`one_keras.methods`, which registers the methods' classes). "
        "Received: model='run/model.keras'")
    long = keras_files._unreadable_model("m.keras", ValueError("x" * 5000))
    assert len(long) < 500 and long.endswith("...)")


@pytest.mark.slow  # A fresh Python process importing Keras.
@pytest.mark.parametrize("imports", [
    "import keras\nimport one_keras\n",
    "import one_keras\nimport keras\n",
    # Keras imported by a one_keras module, not through one_keras.methods.
    "import one_keras.models.layers\nimport keras\n",
])
def test_import_one_keras_lets_keras_load_a_training_model(tmp_path,
                                                           imports):
    """Issue 37, finding 17: `import one_keras` then
    `keras.saving.load_model("runs/x/model.keras")` failed with Keras'
    message holding the model's whole config (tens of kB), in either order
    of the two imports."""
    import os
    import pathlib
    import subprocess
    import sys

    from one_keras import methods

    methods.build_method_model("one", num_classes=3, input_shape=(8, 8, 3),
                               depth=8, width=4).save(tmp_path / "m.keras")
    code = (f"import sys\n{imports}"
            "print(type(keras.saving.load_model(sys.argv[1])).__name__)")
    root = pathlib.Path(__file__).resolve().parents[1]
    result = subprocess.run(
        [sys.executable, "-c", code, str(tmp_path / "m.keras")],
        capture_output=True, text=True, timeout=300,
        env=dict(os.environ, PYTHONPATH=str(root)))
    assert result.stdout.strip().splitlines()[-1:] == ["ONEModel"], \
        result.stderr[-2000:]
