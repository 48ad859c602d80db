"""Command line of the flatness test (paper Fig. 3).

    python -m one_keras.cli.flatness --model runs/vanilla.keras \
        --model runs/dml.keras --model runs/one.keras --dataset digits \
        --max_magnitude 5 --num_magnitudes 11 --output_dir runs/flatness
"""

import os

from absl import flags

from one_keras.cli import console


_MODELS = flags.DEFINE_multi_string(
    "model", None, "A saved .keras model (method model or deployed network); "
    "repeat for several.")
_NAMES = flags.DEFINE_multi_string(
    "name", None, "Legend names, one per --model, all distinct (default: "
    "file names, with their folders where two are alike: a/target, "
    "b/target).")
_DATASET = flags.DEFINE_string(
    "dataset", None, "Dataset name (default: the one in the config.json of "
    "the first --model's run).")
_DATA_DIR = flags.DEFINE_string("data_dir", None, "tfds data directory or "
                                "image folder (default: the run's).")
_IMAGE_SIZE = flags.DEFINE_integer("image_size", None, "Input side for "
                                   "imagenet2012/image_folder (default: the "
                                   "run's).")
_MAX_MAGNITUDE = flags.DEFINE_float("max_magnitude", 5.0,
                                    "Largest perturbation magnitude d.")
_NUM_MAGNITUDES = flags.DEFINE_integer(
    "num_magnitudes", 6, "Magnitudes from 0 to --max_magnitude.",
    lower_bound=2)
_DIRECTIONS = flags.DEFINE_integer("num_directions", 5,
                                   "Random directions per model.",
                                   lower_bound=1)
_SEED = flags.DEFINE_integer("seed", 0, "Seed of the directions.")
_MAX_TRAIN = flags.DEFINE_integer(
    "max_train_examples", None, "Evaluate the training CE on at most this "
    "many training images (default: all).")
_OUTPUT_DIR = flags.DEFINE_string("output_dir", "runs/flatness",
                                  "Where flatness.json and flatness.png go.")


def main(argv):
    del argv  # console.parse_flags refuses positional arguments.
    import numpy as np

    from one_keras.runs import saved_run
    from one_keras import data as data_lib
    from one_keras.analysis import flatness
    from one_keras.data import numpy_pipeline

    if not _MODELS.value:
        raise ValueError("give at least one --model (a saved .keras file).")
    names = flatness.model_names(_MODELS.value, _NAMES.value)
    dataset = saved_run.load_run_dataset(
        _MODELS.value[0], _DATASET.value, _DATA_DIR.value, _IMAGE_SIZE.value)

    def normalised(split, limit=None):
        images, labels = data_lib.split_arrays(dataset, split, limit)
        return numpy_pipeline.normalize(images, dataset.normalization), \
            labels

    train = normalised("train", _MAX_TRAIN.value)
    test = normalised("test")
    models = {name: _load_model(path)
              for name, path in zip(names, _MODELS.value)}
    magnitudes = np.linspace(0.0, _MAX_MAGNITUDE.value,
                             _NUM_MAGNITUDES.value)
    report = flatness.run_flatness(models, train, test, _OUTPUT_DIR.value,
                                   magnitudes, _DIRECTIONS.value,
                                   _SEED.value)
    for name, result in report["models"].items():
        ce = np.array([c["train_ce"] for c in result["directions"]])
        error = np.array([c["test_error"] for c in result["directions"]])
        print(f"{name}: train CE {ce[0, 0]:.4f} -> {ce[:, -1].mean():.4f}, "
              f"test error {error[0, 0]:.2f}% -> {error[:, -1].mean():.2f}% "
              f"at d={report['magnitudes'][-1]:g} (mean of "
              f"{len(result['directions'])} directions)")
    written = os.path.join(_OUTPUT_DIR.value, "flatness.json")
    print(f"wrote {written} and flatness.png" if flatness.can_plot() else
          f"wrote {written} (flatness.png needs matplotlib: pip install "
          "matplotlib)")


def _load_model(path):
    from one_keras.methods import saved_models
    return saved_models.load_model(path)


def console_main():
    """The `one-flatness` console script."""
    console.run(main)


if __name__ == "__main__":
    console_main()
