"""Flatness of a solution: loss along random weight directions (Fig. 3).

The paper perturbs a trained solution as `theta + d * v`, `v` a random
direction of unit length over all the weights together and `d` in
[0, 5], samples 5 directions per magnitude, and plots the training
cross-entropy and the test error against `d` for vanilla, DML and ONE: a
flatter curve is a wider optimum.

This module perturbs the weights of the deployed model (for ONE the trunk
and branch 0; BatchNorm moving statistics are left alone, as they are not
parameters), evaluates it, and restores the weights. Each direction is
drawn once and scaled by every magnitude, so a curve is one line through
weight space.

    python -m one_keras.cli.flatness --model vanilla.keras \
        --model one.keras --dataset digits --output_dir runs/flatness
"""

import importlib.util
import json
import os

import keras
import numpy as np

from one_keras import methods
from one_keras.utils import validation


def model_names(paths, names=None):
    """Distinct names for the models at `paths` (the legend's and the
    report's keys): each file's name without `.keras`, with as many of its
    folders as tell it from another model's of the same name
    (`a/target.keras` and `b/target.keras` are `a/target` and `b/target`).

    Args:
        paths: list of str. The models' files (or run directories).
        names: list of str or `None`. Names given instead, one per path.

    Returns:
        A list of str, one per path, all distinct.

    Raises:
        ValueError: `names` of another length or with a name twice, or
            a file given twice.
    """
    paths = [os.fspath(path) for path in paths]
    if names:
        if len(names) != len(paths):
            raise ValueError(f"give one --name per --model: {len(names)} "
                             f"names for {len(paths)} models.")
        twice = sorted({name for name in names if names.count(name) > 1})
        if twice:
            raise ValueError(
                "`name` must tell the models apart; give each --model its "
                f"own --name. Received: {', '.join(map(repr, twice))} more "
                "than once")
        return list(names)
    real = [os.path.realpath(path) for path in paths]
    twice = sorted({paths[i] for i, r in enumerate(real)
                    if real.count(r) > 1})
    if twice:
        raise ValueError(
            "`model` must name each model once. Received: "
            f"{', '.join(map(repr, twice))} more than once")
    parts = [os.path.splitext(r)[0].split(os.sep)[1:] for r in real]

    def suffix(index, depth):
        return "/".join(parts[index][-depth:])

    result = []
    for index in range(len(paths)):
        depth = 1
        while any(suffix(other, depth) == suffix(index, depth)
                  for other in range(len(paths)) if other != index):
            depth += 1
        result.append(suffix(index, depth))
    return result


def perturbable_weights(model):
    """The weights a perturbation moves: all but BN moving statistics.

    Args:
        model: `keras.Model`. The deployed model.

    Returns:
        A list of `keras.Variable`.
    """
    return [w for w in model.weights if "moving_" not in w.path]


def random_directions(weights, num_directions, seed=0):
    """Random unit directions over all `weights` together.

    Each direction is a standard normal draw normalised so that the sum of
    squares over every weight is 1: uniform on the unit sphere.

    Args:
        weights: list of `keras.Variable`.
        num_directions: int. Number of directions, >= 1.
        seed: int. NumPy seed. Defaults to `0`.

    Returns:
        A list of `num_directions` lists of float32 arrays shaped as
        `weights`.
    """
    validation.check_int_at_least("num_directions", num_directions, 1)
    rng = np.random.default_rng(seed)
    directions = []
    for _ in range(num_directions):
        parts = [rng.standard_normal(tuple(w.shape)) for w in weights]
        norm = np.sqrt(sum(float(np.sum(p ** 2)) for p in parts))
        directions.append([(p / norm).astype("float32") for p in parts])
    return directions


def evaluate_point(model, train, test, batch_size=512):
    """Training cross-entropy and test error (%) of a logits model.

    Args:
        model: `keras.Model`. Images -> logits (or log-probabilities).
        train: `(images, labels)` NumPy arrays.
        test: `(images, labels)` NumPy arrays.
        batch_size: int. Prediction batch size. Defaults to `512`.

    Returns:
        `(train_ce, test_error)`, floats.
    """
    logits = model.predict(train[0], batch_size=batch_size, verbose=0)
    ce = keras.losses.sparse_categorical_crossentropy(
        train[1], logits, from_logits=True)
    test_logits = model.predict(test[0], batch_size=batch_size, verbose=0)
    error = 100.0 * float(np.mean(np.argmax(test_logits, -1) != test[1]))
    return float(np.mean(keras.ops.convert_to_numpy(ce))), error


def perturbation_curves(model, train, test, magnitudes, num_directions=5,
                        seed=0):
    """Training CE and test error of `theta + d * v` for each `d` and `v`.

    Args:
        model: `keras.Model`. A trained method model (its
            `deployed_model()` is perturbed) or a model mapping images to
            logits. Its weights are restored before returning, even on
            error.
        train: `(images, labels)` NumPy arrays: the training split.
        test: `(images, labels)` NumPy arrays: the test split.
        magnitudes: sequence of float >= 0. The values of `d`.
        num_directions: int. Random directions `v`. Defaults to `5`.
        seed: int. Seed of the directions. Defaults to `0`.

    Returns:
        A dict: `magnitudes`, `num_weights`, `weight_norm` (of the
        unperturbed weights) and `directions`, a list with one dict per
        direction holding `train_ce` and `test_error` (one value per
        magnitude).
    """
    magnitudes = [float(d) for d in magnitudes]
    if not magnitudes or min(magnitudes) < 0:
        raise ValueError("`magnitudes` must be a non-empty list of numbers "
                         f">= 0. Received: magnitudes={magnitudes!r}")
    deployed = methods.deployed_model(model)
    weights = perturbable_weights(deployed)
    originals = [w.numpy() for w in weights]
    directions = random_directions(weights, num_directions, seed)
    curves = []
    try:
        unperturbed = evaluate_point(deployed, train, test)
        for direction in directions:
            train_ce, test_error = [], []
            for d in magnitudes:
                if d == 0:
                    point = unperturbed
                else:
                    for w, w0, v in zip(weights, originals, direction):
                        w.assign(w0 + d * v)
                    point = evaluate_point(deployed, train, test)
                train_ce.append(point[0])
                test_error.append(point[1])
            curves.append({"train_ce": train_ce, "test_error": test_error})
    finally:
        for w, w0 in zip(weights, originals):
            w.assign(w0)
    return {
        "magnitudes": magnitudes,
        "num_weights": int(sum(w0.size for w0 in originals)),
        "weight_norm": float(np.sqrt(sum(float(np.sum(w0 ** 2))
                                         for w0 in originals))),
        "directions": curves,
    }


def can_plot():
    """Whether matplotlib is installed (the TensorFlow-free install, from
    requirements-jax.txt, has none), so that `plot_curves` draws."""
    return importlib.util.find_spec("matplotlib") is not None


def plot_curves(results, path):
    """Writes the Fig. 3 plot: train CE and test error against `d`.

    Args:
        results: dict. Model name -> a `perturbation_curves` result.
        path: str. The PNG file to write.

    Returns:
        `True`, or `False` (nothing written) where matplotlib is not
        installed (`can_plot`).
    """
    if not can_plot():
        return False
    import matplotlib

    matplotlib.use("Agg")
    from matplotlib import pyplot

    figure, axes = pyplot.subplots(1, 2, figsize=(10, 4))
    colors = pyplot.rcParams["axes.prop_cycle"].by_key()["color"]
    for index, (name, result) in enumerate(results.items()):
        color = colors[index % len(colors)]
        for k, curve in enumerate(result["directions"]):
            label = name if k == 0 else None
            axes[0].plot(result["magnitudes"], curve["train_ce"],
                         color=color, alpha=0.7, label=label)
            axes[1].plot(result["magnitudes"], curve["test_error"],
                         color=color, alpha=0.7, label=label)
    axes[0].set(xlabel="perturbation magnitude d",
                ylabel="training cross-entropy")
    axes[1].set(xlabel="perturbation magnitude d", ylabel="test error (%)")
    for axis in axes:
        axis.grid(alpha=0.3)
        axis.legend()
    figure.suptitle("Robustness to weight perturbation "
                    "(one line per model and direction)")
    figure.tight_layout()
    figure.savefig(path, dpi=120)
    pyplot.close(figure)
    return True


def run_flatness(models, train, test, output_dir, magnitudes,
                 num_directions=5, seed=0):
    """Runs `perturbation_curves` on each model; writes JSON and PNG.

    Every model gets the same seed, hence directions drawn the same way
    (they differ as the models' weights do).

    Args:
        models: dict. Name -> `keras.Model`.
        train: `(images, labels)` NumPy arrays.
        test: `(images, labels)` NumPy arrays.
        output_dir: str. Where `flatness.json` and `flatness.png` go.
        magnitudes: sequence of float. The values of `d`.
        num_directions: int. Directions per model. Defaults to `5`.
        seed: int. Seed of the directions. Defaults to `0`.

    Returns:
        The dict written to `flatness.json`: `magnitudes`,
        `num_directions`, `seed` and `models` (name -> curves). The PNG is
        left out where matplotlib is not installed (`can_plot`).
    """
    results = {name: perturbation_curves(model, train, test, magnitudes,
                                         num_directions, seed)
               for name, model in models.items()}
    os.makedirs(output_dir, exist_ok=True)
    report = {"magnitudes": [float(d) for d in magnitudes],
              "num_directions": num_directions, "seed": seed,
              "models": results}
    with open(os.path.join(output_dir, "flatness.json"), "w") as handle:
        json.dump(report, handle, indent=2)
    plot_curves(results, os.path.join(output_dir, "flatness.png"))
    return report


if __name__ == "__main__":
    # The command line sits above this module (`one_keras.cli.flatness`
    # imports it).
    raise SystemExit("The flatness command is now "
                     "`python -m one_keras.cli.flatness`.")
