"""Registers one_keras' classes with Keras on `import one_keras` where
Keras is already imported (`import keras` sorts before `import one_keras`),
so that `keras.saving.load_model("runs/x/model.keras")` reads a run's
training model. Without Keras loaded nothing is imported: `--help` of the
tools stays quick (`one_keras.methods.saved_models.load_model` registers them).
"""

import importlib
import sys


if "keras" in sys.modules:  # Keras is loaded: registering costs little.
    importlib.import_module("one_keras.methods")
