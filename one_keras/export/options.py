"""`ExportOptions`: what an export writes and how it is verified.

One frozen dataclass instead of a long argument list (Keras'
`ExportArchive` builds an export up step by step; `export_model` takes a
model, a path and these). An instance checks its values when made, in one
line naming the fix; what depends on the model (its modes, its input) is
checked by `export_model`.

Example:
```python
from one_keras import export

options = export.ExportOptions(format="onnx", mode="ensemble")
report = export.export_model("runs/digits", options=options)
```
"""

import dataclasses
from typing import Any
from typing import Optional

from one_keras.export import formats
from one_keras.utils import validation


RUN_DATASET = "run"  # `dataset=`: the one in the run's config.json.


@dataclasses.dataclass(frozen=True)
class ExportOptions:
    """How `export_model` exports a deployable and verifies the artifact.

    Attributes:
        mode: str. `"single"` (the method's `target` deployable: ONE's
            branch 0, the KD student...; a deployed `<name>.keras` is its
            deployable `name`) or `"ensemble"` (its `ensemble`: ONE-E, the
            peers' or snapshots' average). Defaults to `"single"`.
        format: str. A name `formats.get` knows: `"savedmodel"` (also
            `"tf_saved_model"`, as Keras spells it, or `"saved_model"`),
            `"tflite"` (or `"litert"`), `"onnx"`, or any registered format.
            Defaults to `"tflite"`.
        quantize: str. `"none"`, `"float16"` or `"int8"` (TFLite only).
            Defaults to `"none"`.
        include_preprocessing: bool. The artifact takes raw 0-255 pixels
            and applies the training normalisation itself. Defaults to
            `True`.
        opset: int. ONNX opset, 7 to 18. Defaults to `17`.
        dataset: str, `one_keras.data.Dataset` or `None`. Calibration (up
            to `MAX_CALIBRATION_IMAGES` training images) and verification
            (test split) data, loaded through `one_keras.data`: `"run"`
            (default) is the dataset in the `config.json` of the run the
            model (a path) belongs to; a dataset name overrides it; `None`
            verifies on random pixels (not for int8).
        data_dir: str or `None`. Overrides the run's `data_dir`.
        image_size: int or `None`. Overrides the run's `image_size`.
        num_samples: int. At most this many test images verify the
            artifact. Defaults to `1000`.
        qat_epochs: int. Quantisation-aware fine-tuning epochs before int8
            conversion (single mode only); 0 is post-training quantisation.
            Defaults to `0`.
        latency_repeats: int. Timed runs for the batch-1 latency. Defaults
            to `30`.
        min_agreement: float or `None`. The artifact passes only if its
            top-1 class agrees with the Keras model's on at least this
            share of the images, 0 to 1. `None` (default): 0.97 for int8
            (`verify.INT8_MIN_AGREEMENT`), no such bar for float exports.
        max_abs_diff: float or `None`. The artifact passes only if its
            probabilities differ from the Keras model's by at most this,
            >= 0. `None` (default): `verify.FLOAT32_TOLERANCE` (1e-4), or
            `verify.FLOAT16_TOLERANCE` (1e-2) for float16; no such bar for
            int8.
        skip_bad_images: bool. An image folder's undecodable files are left
            out (with a warning) instead of refusing the folder; a run
            trained with it verifies on its folder with it. Defaults to
            `False`.
    """

    mode: str = "single"
    format: str = "tflite"
    quantize: str = "none"
    include_preprocessing: bool = True
    opset: int = 17
    dataset: Any = RUN_DATASET
    data_dir: Optional[str] = None
    image_size: Optional[int] = None
    num_samples: int = 1000
    qat_epochs: int = 0
    latency_repeats: int = 30
    min_agreement: Optional[float] = None
    max_abs_diff: Optional[float] = None
    skip_bad_images: bool = False

    def __post_init__(self):
        from one_keras import data as data_lib
        from one_keras.export import verify

        exporter = formats.get(self.format)
        validation.check_choice("quantize", self.quantize,
                                formats.QUANTIZATIONS)
        exporter.check(self.quantize, self.opset)
        if isinstance(self.dataset, str) and self.dataset != RUN_DATASET:
            validation.check_choice(
                "dataset", self.dataset,
                (RUN_DATASET,) + data_lib.dataset_names())
        if self.quantize == "int8" and self.dataset is None:
            raise ValueError(
                "`dataset` must name calibration data for int8 quantisation "
                "(the run's own by default; --dataset none verifies on "
                "random pixels and cannot calibrate). Received: "
                "dataset=None")
        validation.check_int_at_least("num_samples", self.num_samples, 1)
        validation.check_int_at_least("qat_epochs", self.qat_epochs, 0)
        verify.check_bars(self.min_agreement, self.max_abs_diff)
        if self.qat_epochs and (self.quantize != "int8"
                                or self.mode != "single"):
            raise ValueError(
                "`qat_epochs` > 0 needs format='tflite', quantize='int8' "
                "and mode='single' (quantisation-aware training of the "
                f"target). Received: qat_epochs={self.qat_epochs}, "
                f"quantize={self.quantize!r}, mode={self.mode!r}")

    @property
    def exporter(self):
        """The `formats.ExportFormat` that `format` names."""
        return formats.get(self.format)

    def replace(self, **changes):
        """A copy with `changes` (field names) applied and checked.

        Raises:
            ValueError: a name that is no field.
        """
        fields = [field.name for field in dataclasses.fields(self)]
        unknown = sorted(set(changes) - set(fields))
        if unknown:
            raise ValueError(
                f"Unknown export options: {', '.join(unknown)}. "
                f"`ExportOptions` has: {', '.join(fields)}. Received: "
                + ", ".join(f"{k}={changes[k]!r}" for k in unknown))
        return dataclasses.replace(self, **changes)
