r"""Where a ONE training step's time goes: trunk, branches, and the rest.

  python benchmarks/profile_step.py --depth 32 [--trace_dir /tmp/trace]

Times, in one process and alternating, the forward+backward pass of the
shared trunk alone, of one branch alone (stage 3 + classifier), and the full
`fit` step of vanilla and 3-branch ONE ResNets (batch 128, 32x32 input). The
full step minus trunk and branches is what ONE adds around them (gate, loss,
metrics, weight decay, optimizer). `--trace_dir` also records a TensorFlow
profiler trace of a few ONE steps, to open in TensorBoard's Profile tab.
"""

import json
import os
import statistics
import time

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

import keras  # noqa: E402
import tensorflow as tf  # noqa: E402
from absl import app  # noqa: E402
from absl import flags  # noqa: E402

from one_keras.methods.one import build_one_resnet  # noqa: E402
from one_keras.models import resnet_cifar  # noqa: E402

_DEPTH = flags.DEFINE_integer("depth", 32, "ResNet depth.")
_CLASSES = flags.DEFINE_integer("num_classes", 100, "Classes.")
_BATCH = flags.DEFINE_integer("batch_size", 128, "Batch size.")
_REPEATS = flags.DEFINE_integer("repeats", 5, "Alternating rounds.")
_STEPS = flags.DEFINE_integer("steps", 5, "Timed steps per round.")
_TRACE = flags.DEFINE_string("trace_dir", None, "TF profiler trace dir.")


def _gradient_step(model, inputs):
    """A compiled forward+backward pass of `model` in training mode."""
    weights = tf.random.normal(model.output.shape[1:])

    @tf.function
    def step():
        with tf.GradientTape() as tape:
            loss = tf.reduce_sum(model(inputs, training=True) * weights)
        return tape.gradient(loss, model.trainable_variables)
    return step


def _fit_step(num_branches, images, labels):
    keras.utils.set_random_seed(0)
    model = build_one_resnet(depth=_DEPTH.value, num_classes=_CLASSES.value,
                             num_branches=num_branches)
    model.compile(optimizer=keras.optimizers.SGD(0.1, momentum=0.9,
                                                 nesterov=True))
    model.make_train_function()
    data = iter(tf.data.Dataset.from_tensors((images, labels)).repeat())
    return model, lambda: model.train_function(data)


def main(argv):
    del argv
    images = tf.random.normal((_BATCH.value, 32, 32, 3))
    labels = tf.random.uniform((_BATCH.value,), 0, _CLASSES.value, tf.int32)
    inputs = keras.Input((32, 32, 3))
    trunk = keras.Model(inputs, resnet_cifar.build_resnet_trunk(
        inputs, depth=_DEPTH.value))
    features = keras.Input(trunk.output.shape[1:])
    branch = keras.Model(features, resnet_cifar.resnet_branch_builder(
        _CLASSES.value, depth=_DEPTH.value)(features, "branch0_"))
    trunk_features = trunk(images, training=False)
    one_model, one_step = _fit_step(3, images, labels)
    parts = {
        "trunk fwd+bwd": _gradient_step(trunk, images),
        "one branch fwd+bwd": _gradient_step(branch, trunk_features),
        "vanilla fit step": _fit_step(1, images, labels)[1],
        "ONE-3 fit step": one_step,
    }
    for run in parts.values():
        run()  # trace and warm up
        run()
    samples = {name: [] for name in parts}
    for _ in range(_REPEATS.value):
        for name, run in parts.items():
            start = time.perf_counter()
            for _ in range(_STEPS.value):
                result = run()
            tf.nest.map_structure(
                lambda t: t.numpy() if hasattr(t, "numpy") else t, result)
            samples[name].append(1e3 * (time.perf_counter() - start)
                                 / _STEPS.value)
    ms = {name: statistics.median(values) for name, values in samples.items()}
    ms["ONE-3 minus trunk and 3 branches"] = (
        ms["ONE-3 fit step"] - ms["trunk fwd+bwd"]
        - 3 * ms["one branch fwd+bwd"])
    ms["vanilla minus trunk and 1 branch"] = (
        ms["vanilla fit step"] - ms["trunk fwd+bwd"]
        - ms["one branch fwd+bwd"])
    ms["ONE-3 / vanilla step"] = ms["ONE-3 fit step"] / ms["vanilla fit step"]
    for name, value in ms.items():
        print(f"{name:<36}{value:10.2f}")
    print(json.dumps(ms))
    if _TRACE.value:
        tf.profiler.experimental.start(_TRACE.value)
        for _ in range(3):
            one_step()
        tf.profiler.experimental.stop()
        print(f"profiler trace written to {_TRACE.value}")
    del one_model


if __name__ == "__main__":
    app.run(main)
