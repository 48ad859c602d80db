"""Labels images: `python -m one_keras.predict --model runs/digits --input DIR`.

`--model` is any deployable: a run directory (its `target.keras`, or the
one `--deployable` names, e.g. `ensemble`), a `.keras` file, a SavedModel
directory, a `.tflite` or an `.onnx` file. `--input` is an image file or a
folder, searched recursively (hidden files and folders left out); repeat it
for several. Each image is resized to the model's input as the image-folder
pipeline resizes it (`one_keras.inference.images`), and one line per image
shows its top `--top_k` classes with their probabilities, named by
`--class_names`, else as the run named its classes when it trained (its
`inputs.json`; a warning where its image folder's classes changed since),
else by index. A file that is not an image is named in a
warning and skipped. `--output` also writes the predictions as CSV.
"""

from absl import flags

from one_keras.cli import console


_MODEL = flags.DEFINE_string(
    "model", "runs/digits", "A run directory, a .keras file, a SavedModel "
    "directory, a .tflite or an .onnx file.")
_INPUT = flags.DEFINE_multi_string(
    "input", None, "An image file or a folder of images (searched "
    "recursively); repeat for several.")
_DEPLOYABLE = flags.DEFINE_string(
    "deployable", None, "Which deployable of a run directory: target "
    "(default), ensemble, ... (its <name>.keras files).")
_TOP_K = flags.DEFINE_integer("top_k", 5, "Classes shown per image (at most "
                              "the model's).", lower_bound=1)
_CLASS_NAMES = flags.DEFINE_string(
    "class_names", None, "Class names in label order: comma-separated, or a "
    "text file with one a line (default: the run's, else indices).")
_BATCH = flags.DEFINE_integer("batch_size", 64, "Images per model call.",
                              lower_bound=1)
_OUTPUT = flags.DEFINE_string(
    "output", None, "Also write the predictions here as CSV (a new file, "
    "or a CSV this tool wrote).")


def main(argv):
    del argv  # console.parse_flags refuses positional arguments.
    import sys

    from one_keras.data import image_folder
    from one_keras.inference import class_names
    from one_keras.inference import images
    from one_keras.inference import prediction
    from one_keras.inference import predictions_csv
    from one_keras.inference.predictor import load_predictor

    if not _INPUT.value:
        raise ValueError("give at least one --input (an image file or a "
                         "folder of images).")
    if _OUTPUT.value:
        predictions_csv.check_csv_path(_OUTPUT.value)

    def skip(path, reason):
        print(f"{console.program_name()}: warning: skipping "
              f"{image_folder.shown(path)}: {reason}",
              file=sys.stderr)

    paths = images.list_images(
        _INPUT.value, exclude=[_OUTPUT.value] if _OUTPUT.value else [],
        on_skip=skip)
    predictor = load_predictor(
        _MODEL.value, deployable=_DEPLOYABLE.value,
        class_names=class_names.parse_class_names(_CLASS_NAMES.value))
    for note in predictor.notes:
        print(f"{console.program_name()}: warning: {note}", file=sys.stderr)

    results = []
    for result in prediction.predict_files(
            predictor, paths, top_k=_TOP_K.value, batch_size=_BATCH.value,
            on_skip=skip):
        print(prediction.format_prediction(result), flush=True)
        results.append(result)
    if _OUTPUT.value:
        predictions_csv.write_csv(_OUTPUT.value, results,
                             min(_TOP_K.value, predictor.num_classes))
        print(f"wrote {len(results)} predictions to {_OUTPUT.value}",
              file=sys.stderr)


def console_main():
    """The `one-predict` console script."""
    console.run(main)


if __name__ == "__main__":
    console_main()
