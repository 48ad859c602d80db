"""Evaluates a saved model: `python -m one_keras.evaluate --model runs/digits`.

Prints the test accuracy of every model the run's method deploys (`target`,
`ensemble`, ... as the method names them; each branch for ONE), or of the
model alone (for a deployed `<name>.keras`, fed raw pixels), and writes them
as JSON with `--output`. The test split is the one of the
dataset the run trained on, read from its `config.json` (`--dataset`,
`--data_dir` and `--image_size` override it).
"""

from absl import flags

from one_keras.cli import console


_MODEL = flags.DEFINE_string(
    "model", "runs/digits", "A `.keras` file or a training output directory.")
_DATASET = flags.DEFINE_string(
    "dataset", None, "Dataset to evaluate on (default: the one in the run's "
    "config.json, with its data_dir and image_size).")
_DATA_DIR = flags.DEFINE_string("data_dir", "", "tfds data directory or "
                                "image folder (default: the run's).")
_IMAGE_SIZE = flags.DEFINE_integer("image_size", 0, "Input side for "
                                   "imagenet2012/image_folder (0: the "
                                   "run's).", lower_bound=0)
_SKIP_BAD_IMAGES = flags.DEFINE_bool(
    "skip_bad_images", False, "--dataset=image_folder: leave out files that "
    "cannot be decoded (named in a warning) instead of refusing the folder "
    "(a run trained with it evaluates on its folder with it).")
_BATCH = flags.DEFINE_integer("eval_batch_size", 256, "Test batch size.",
                              lower_bound=1)
_STEPS = flags.DEFINE_integer("eval_steps", 0, "Test batches (0: all).",
                              lower_bound=0)
_OUTPUT = flags.DEFINE_string(
    "output", None, "Write the report here (JSON): a new file, or a report "
    "this tool wrote; never a model or another file of a training run.")


def main(argv):
    del argv  # console.parse_flags refuses positional arguments.
    from one_keras.runs import saved_run
    from one_keras.methods import saved_models
    from one_keras.reports import model_evaluation
    from one_keras.reports import run_report
    if _OUTPUT.value:
        model_evaluation.check_report_path(_OUTPUT.value)
    model = saved_models.load_model(_MODEL.value)
    dataset = saved_run.load_run_dataset(
        _MODEL.value, _DATASET.value or None,
        data_dir=_DATA_DIR.value or None,
        image_size=_IMAGE_SIZE.value or None,
        skip_bad_images=_SKIP_BAD_IMAGES.value)
    report = model_evaluation.evaluate_model(model, dataset, _BATCH.value,
                                         steps=_STEPS.value or None)
    report["dataset"] = dataset.name
    if report.get("input") == "normalised":
        print(f"note: {_MODEL.value} does not normalise raw pixels itself "
              "(a target.keras of an earlier version, or a model of your "
              "own): it was fed normalised pixels; rerun the training to "
              "write deployables that take raw pixels.")
    print(run_report.format_report(report))
    if _OUTPUT.value:
        model_evaluation.write_report(_OUTPUT.value, report, _MODEL.value)


def console_main():
    """The `one-evaluate` console script."""
    console.run(main)


if __name__ == "__main__":
    console_main()
