r"""Is the input pipeline fast enough? Its images/s against a training step's.

  python benchmarks/input_pipeline.py [--dataset cifar10 --data_dir DIR]

Times, in one process, the training input pipeline alone (CIFAR
augmentation: pad, random crop, flip, normalise; batches of 128) and the
3-branch ONE ResNet-32 training step fed from it. Without the dataset on
disk it uses `tfds.testing.mock_data` (random images of the real shape), so
the augmentation work is the real one. A ratio above 1 means the pipeline
produces batches faster than the model consumes them; with `prefetch` it
then runs off the critical path.
"""

import contextlib
import json
import os
import time

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

import keras  # noqa: E402
import tensorflow_datasets as tfds  # noqa: E402
from absl import app  # noqa: E402
from absl import flags  # noqa: E402

from one_keras import data as data_lib  # noqa: E402
from one_keras.methods.one import build_one_model  # noqa: E402

_DATASET = flags.DEFINE_string("dataset", "cifar10", "A tfds dataset name.")
_DATA_DIR = flags.DEFINE_string("data_dir", "", "tfds data directory; "
                                "empty uses mock data.")
_BATCH = flags.DEFINE_integer("batch_size", 128, "Batch size.")
_STEPS = flags.DEFINE_integer("steps", 20, "Timed batches.")


def _images_per_second(iterator, steps, batch_size, consume):
    consume(next(iterator))  # warm up (tracing, first cache fill)
    start = time.perf_counter()
    for _ in range(steps):
        consume(next(iterator))
    return steps * batch_size / (time.perf_counter() - start)


def main(argv):
    del argv
    mock = (contextlib.nullcontext() if _DATA_DIR.value
            else tfds.testing.mock_data(num_examples=8 * _BATCH.value))
    with mock:
        dataset = data_lib.load_dataset(_DATASET.value,
                                        data_dir=_DATA_DIR.value or None)
        train = data_lib.train_pipeline(dataset, _BATCH.value, epochs=1000,
                                        steps=4 * _STEPS.value)
        pipeline = _images_per_second(
            iter(train), _STEPS.value, _BATCH.value, lambda b: b[0].numpy())
        model = build_one_model("resnet", dataset.num_classes,
                                input_shape=dataset.input_shape, depth=32)
        model.compile(optimizer=keras.optimizers.SGD(0.1, momentum=0.9))
        model.make_train_function()
        batches = iter(train)
        training = _images_per_second(
            batches, _STEPS.value, _BATCH.value,
            lambda b: model.train_function(iter([b]))["loss"].numpy())
    result = {"dataset": dataset.name, "mock_data": not _DATA_DIR.value,
              "pipeline_images_per_second": round(pipeline, 1),
              "training_images_per_second": round(training, 1),
              "pipeline_over_training": round(pipeline / training, 2)}
    print(json.dumps(result, indent=2))


if __name__ == "__main__":
    app.run(main)
