"""Runs an exported artifact with its own runtime and checks it.

Each format's runtime comes from its exporter in `formats`: SavedModel runs
under `tf.saved_model.load`, TFLite under the LiteRT interpreter
(`ai_edge_litert`) and ONNX under onnxruntime. Float exports must
reproduce the Keras probabilities within `FLOAT32_TOLERANCE`; float16 weights
round to about 3 significant digits, so they get the looser
`FLOAT16_TOLERANCE`; int8 must agree with the Keras top-1 class on at least
`INT8_MIN_AGREEMENT` of real evaluation images. These are the defaults: the
user sets either bar (`min_agreement`, `max_abs_diff`) for any format.
"""

import time

import numpy as np

from one_keras.export import formats
from one_keras.export import serving
from one_keras.utils import validation


FORMATS = formats.names()
FLOAT32_TOLERANCE = 1e-4
FLOAT16_TOLERANCE = 1e-2
INT8_MIN_AGREEMENT = 0.97


def load_runner(format, path):
    """Loads an artifact and returns a function running it on a batch
    (`formats.get(format).runner(path)`; `formats.runner_for(path)` tells
    the format from the artifact itself).

    Args:
        format: str. A name `formats.get` knows (`"savedmodel"`,
            `"tflite"`, `"onnx"`, ...).
        path: str. The artifact.

    Returns:
        `run(images) -> {"probabilities": array, "logits": array}`, taking a
        float32 NHWC batch of any size.
    """
    return formats.get(format).runner(path)


def run_batched(run, images, batch_size=64):
    """Runs `run` over `images` in batches and concatenates the outputs."""
    parts = [run(images[i:i + batch_size])
             for i in range(0, len(images), batch_size)]
    return {k: np.concatenate([p[k] for p in parts])
            for k in serving.OUTPUT_NAMES}


def default_bars(quantize):
    """The verification bars of a quantisation when the user sets none.

    Args:
        quantize: str. `"none"`, `"float16"` or `"int8"`.

    Returns:
        `(min_agreement, max_abs_diff)`: int8 is held to a top-1 agreement
        (`INT8_MIN_AGREEMENT`), float exports to a largest probability
        difference (`FLOAT16_TOLERANCE`, `FLOAT32_TOLERANCE`); `None` is no
        bar.
    """
    if quantize == "int8":
        return INT8_MIN_AGREEMENT, None
    return None, (FLOAT16_TOLERANCE if quantize == "float16"
                  else FLOAT32_TOLERANCE)


def check_bars(min_agreement, max_abs_diff):
    """Raises a `ValueError` unless both bars are `None` or in range.

    Args:
        min_agreement: float or `None`. A top-1 agreement in [0, 1].
        max_abs_diff: float or `None`. A probability difference >= 0.
    """
    if min_agreement is not None and (
            isinstance(min_agreement, bool) or not isinstance(
                min_agreement, (int, float, np.number))
            or not 0 <= min_agreement <= 1):
        raise ValueError(
            "`min_agreement` must be a top-1 agreement from 0 to 1 (e.g. "
            f"{INT8_MIN_AGREEMENT}). Received: min_agreement={min_agreement!r}")
    if max_abs_diff is not None:
        validation.check_non_negative("max_abs_diff", max_abs_diff)


def compare(reference, exported, quantize, labels=None, min_agreement=None,
            max_abs_diff=None):
    """Compares exported outputs with the Keras model's.

    Args:
        reference: dict. Keras outputs `probabilities` and `logits`.
        exported: dict. The artifact's outputs on the same images.
        quantize: str. `"none"`, `"float16"` or `"int8"`; picks the
            default bars (`default_bars`).
        labels: array or `None`. True labels, to report both accuracies.
        min_agreement: float or `None`. Smallest top-1 agreement to pass;
            `None` is the default of `quantize`.
        max_abs_diff: float or `None`. Largest difference of probabilities
            to pass; `None` is the default of `quantize`.

    Returns:
        A dict: `check` (what was checked: the failed check, else the
        format's own), `value`, `threshold`, `passed`, the bars applied
        (`min_agreement`, `max_abs_diff`; `None` when not applied),
        `max_abs_diff_probabilities`, `max_abs_diff_logits`,
        `top1_agreement` and, with labels, `keras_accuracy` and
        `export_accuracy`.
    """
    default_agreement, default_diff = default_bars(quantize)
    min_agreement = default_agreement if min_agreement is None \
        else float(min_agreement)
    max_abs_diff = default_diff if max_abs_diff is None \
        else float(max_abs_diff)
    diff_p = float(np.max(np.abs(reference["probabilities"]
                                 - exported["probabilities"])))
    diff_z = float(np.max(np.abs(reference["logits"] - exported["logits"])))
    keras_top1 = np.argmax(reference["probabilities"], axis=-1)
    export_top1 = np.argmax(exported["probabilities"], axis=-1)
    agreement = float(np.mean(keras_top1 == export_top1))
    checks = []  # (check, value, threshold, passed); the format's first.
    if min_agreement is not None:
        checks.append(("top1_agreement", agreement, min_agreement,
                       agreement >= min_agreement))
    if max_abs_diff is not None:
        checks.append(("max_abs_diff_probabilities", diff_p, max_abs_diff,
                       bool(np.isfinite(diff_p)) and diff_p <= max_abs_diff))
    if quantize != "int8":
        checks.reverse()
    check, value, threshold, _ = next(
        (c for c in checks if not c[3]), checks[0])
    result = {"check": check, "value": value, "threshold": threshold,
              "passed": all(c[3] for c in checks),
              "min_agreement": min_agreement, "max_abs_diff": max_abs_diff,
              "max_abs_diff_probabilities": diff_p,
              "max_abs_diff_logits": diff_z, "top1_agreement": agreement}
    if labels is not None:
        result["keras_accuracy"] = float(np.mean(keras_top1 == labels))
        result["export_accuracy"] = float(np.mean(export_top1 == labels))
    return result


def failure_reason(entry):
    """Why a compared export failed, naming the flag that sets the bar.

    Args:
        entry: dict. As `compare` (or `export_model`) returns, not passed.

    Returns:
        One line, e.g. "top-1 agreement 0.958 < --min_agreement=0.97; lower
        --min_agreement to accept it".
    """
    if entry["check"] == "top1_agreement":
        return (f"top-1 agreement {entry['value']:.4g} < --min_agreement="
                f"{entry['threshold']:g}; lower --min_agreement to accept it")
    return (f"largest probability difference {entry['value']:.3g} > "
            f"--max_abs_diff={entry['threshold']:g}; raise --max_abs_diff "
            "to accept it")


def latency_ms(run, images, repeats=30, warmup=3):
    """Median wall time of `run(images)` in milliseconds.

    Args:
        run: callable. Runs one batch.
        images: array. The batch.
        repeats: int. Timed calls. Defaults to `30`.
        warmup: int. Untimed calls first. Defaults to `3`.

    Returns:
        The median latency in ms, as a float.
    """
    for _ in range(warmup):
        run(images)
    times = []
    for _ in range(repeats):
        start = time.perf_counter()
        run(images)
        times.append(time.perf_counter() - start)
    return 1000.0 * float(np.median(times))


def format_table(entries):
    """Formats export reports as a Markdown table.

    Args:
        entries: list of dicts, as `export_model` returns.

    Returns:
        The table as a string.
    """
    header = ("| format | mode | quantize | file size | params | check | "
              "value | bar | passed | top-1 agreement | test accuracy "
              "(export / keras) | ms @ batch 1 (export / keras) |")
    lines = [header, "|" + "---|" * 12]
    for e in entries:
        bar = ("<= " if e["check"].startswith("max") else ">= ") + \
            f"{e['threshold']:g}"
        accuracy = "- (no labels)"
        if e.get("export_accuracy") is not None:
            accuracy = (f"{e['export_accuracy']:.4f} / "
                        f"{e['keras_accuracy']:.4f}")
        lines.append(
            f"| {e['format']} | {e['mode']} | {e['quantize']} | "
            f"{e['file_size_bytes'] / 1024:.1f} KiB | {e['params']:,} | "
            f"{e['check']} | {e['value']:.3g} | {bar} | "
            f"{'yes' if e['passed'] else 'NO'} | "
            f"{e['top1_agreement']:.4f} | {accuracy} | "
            f"{e['latency_ms_batch1']['export']:.3f} / "
            f"{e['latency_ms_batch1']['keras']:.3f} |")
    return "\n".join(lines)
