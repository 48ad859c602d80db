r"""The export command: a trained run's target or ensemble, verified.

  one-export --model runs/digits --mode single --format tflite
  one-export --model runs/digits --mode single --format tflite \
      --quantize int8
  one-export --model runs/digits --mode ensemble --format onnx

(`python export/export.py ...` and `python -m one_keras.cli.export ...` are
the same command.) The model is verified on (and int8 calibrated with) the
data it was trained on: the dataset, data directory and image size in the
run's `config.json` (`--dataset`, `--data_dir` and `--image_size` override
them). The artifact (default: next to the model, e.g.
`runs/digits/target.tflite`) takes raw 0-255 pixels as `images` and returns
`probabilities` and `logits`; its default name says which deployable it
holds (`target.tflite`, `ensemble.onnx`, `peer_1.tflite` for a deployed
`peer_1.keras`), and an existing artifact is replaced only by an export of
the same deployable. It is run with its own runtime and compared with the
Keras model; the table is printed and added to `export_report.json` beside
it (with the model it came from; a failed attempt under `failed_attempts`,
leaving the artifact there and its entry as they were). The bars are the
user's: `--min_agreement` (top-1 agreement; default 0.97 for int8) and
`--max_abs_diff` (probabilities; default 1e-4, 1e-2 for float16). The exit
status is non-zero when an argument is unusable or a check fails, and then
`--output` is left as it was. Exporting needs TensorFlow (`--help` does
not).
"""

from absl import flags
from absl import logging

from one_keras.cli import console
from one_keras.export import formats


RUN_DATASET = "run"  # As `export.RUN_DATASET`, without importing Keras.

_MODEL = flags.DEFINE_string(
    "model", "runs/digits", "A `.keras` file, or a training output "
    "directory that holds `model.keras` (default: the demo's output).")
_MODE = flags.DEFINE_enum(
    "mode", "single", ["single", "ensemble"],
    "`single`: trunk + branch 0 (the deployed target). `ensemble`: ONE-E, "
    "all branches and the gate.")
_FORMAT = flags.DEFINE_enum(
    "format", "tflite", list(formats.spellings()),
    "Format: " + "; ".join(
        " = ".join(f.spellings) + f" (run by {f.runtime})"
        for f in formats.REGISTRY.values()) + ".")
_QUANTIZE = flags.DEFINE_enum(
    "quantize", "none", list(formats.QUANTIZATIONS),
    "TFLite quantisation; int8 is full-integer, calibrated on --dataset.")
_OUTPUT = flags.DEFINE_string(
    "output", None, "Artifact path. Default: next to the model, named after "
    "the deployable exported, quantisation and format (e.g. "
    "target_int8.tflite; ensemble.onnx for --mode ensemble or a deployed "
    "ensemble.keras). An existing artifact is replaced only by an export "
    "of the same deployable.")
_OPSET = flags.DEFINE_integer("opset", 17, "ONNX opset, 7 to 18.")
_PREPROCESSING = flags.DEFINE_boolean(
    "include_preprocessing", True, "The artifact takes raw 0-255 pixels and "
    "applies the training normalisation itself.")
_QAT_EPOCHS = flags.DEFINE_integer(
    "qat_epochs", 0, "Quantisation-aware fine-tuning epochs before int8 "
    "conversion (single mode); 0 is post-training quantisation.")
_NUM_SAMPLES = flags.DEFINE_integer(
    "num_samples", 1000, "At most this many test images verify the artifact.")
_DATASET = flags.DEFINE_string(
    "dataset", None, "Calibration and verification data, a one_keras.data "
    "dataset name (default: the one in the run's config.json), or `none` to "
    "verify on random pixels (not with --quantize int8).")
_DATA_DIR = flags.DEFINE_string(
    "data_dir", None, "tfds data directory or image folder (default: the "
    "run's).")
_IMAGE_SIZE = flags.DEFINE_integer(
    "image_size", None, "Input side for imagenet2012/image_folder (default: "
    "the run's).")
_SKIP_BAD_IMAGES = flags.DEFINE_bool(
    "skip_bad_images", False, "An image folder's undecodable files are "
    "left out (named in a warning) instead of refusing the folder (a run "
    "trained with it verifies on its folder with it).")
_MIN_AGREEMENT = flags.DEFINE_float(
    "min_agreement", None, "Verification bar: the artifact's top-1 class "
    "must agree with the Keras model's on at least this share of the "
    "images, 0 to 1 (default: 0.97 with --quantize int8, else not checked).",
    lower_bound=0.0, upper_bound=1.0)
_MAX_ABS_DIFF = flags.DEFINE_float(
    "max_abs_diff", None, "Verification bar: the artifact's probabilities "
    "may differ from the Keras model's by at most this, >= 0 (default: "
    "1e-4, 1e-2 with --quantize float16; not checked with int8).",
    lower_bound=0.0)


def main(argv):
    """Exports and verifies `--model` as the flags say; exits 1 on failure.

    Args:
        argv: list of str. The program name (`console.parse_flags` refuses
            positional arguments).
    """
    del argv
    logging.set_verbosity(logging.WARNING)  # TensorFlow's INFO lines.
    if not _MODEL.value:
        console.fail("--model is empty: pass a `.keras` file or a training "
                 "output directory that holds `model.keras`.")
    from one_keras import export  # Keras and the exporters: after --help.

    dataset = _DATASET.value or RUN_DATASET
    if dataset.lower() == "none":
        dataset = None
    options = export.ExportOptions(
        mode=_MODE.value, format=_FORMAT.value, quantize=_QUANTIZE.value,
        include_preprocessing=_PREPROCESSING.value, opset=_OPSET.value,
        dataset=dataset, data_dir=_DATA_DIR.value,
        image_size=_IMAGE_SIZE.value, num_samples=_NUM_SAMPLES.value,
        qat_epochs=_QAT_EPOCHS.value, min_agreement=_MIN_AGREEMENT.value,
        max_abs_diff=_MAX_ABS_DIFF.value,
        skip_bad_images=_SKIP_BAD_IMAGES.value)
    report = export.export_model(_MODEL.value, _OUTPUT.value, options)
    output = _OUTPUT.value or export.default_output_path(
        _MODEL.value, _MODE.value, _FORMAT.value, _QUANTIZE.value,
        _QAT_EPOCHS.value, report["model"]["deployable"])
    print(export.format_table([report]))
    print(f"Verified on {report['data']}.")
    if not report["passed"]:
        console.fail(f"verification failed: {export.failure_reason(report)}; "
                 f"{output} was left as it was. See failed_attempts in "
                 "export_report.json.")
    print(f"Wrote {output}")


def console_main():
    """The `one-export` console script."""
    console.run(main)


if __name__ == "__main__":
    console_main()
