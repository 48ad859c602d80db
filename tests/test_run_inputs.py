"""The data of a training run: its dataset and the batches `fit` reads."""

import numpy as np

from one_keras import data
from one_keras.training import distribution
from one_keras.training import train_inputs
from one_keras.training.train_config import TrainConfig


CONFIG = TrainConfig(dataset="digits", epochs=3, batch_size=16,
                     eval_batch_size=32, steps_per_epoch=2, eval_steps=1)


def _batches(inputs):
    return [np.asarray(images) for images, *_ in inputs]


def test_a_tensorflow_run_reads_its_dataset_through_tf_data():
    dataset = train_inputs.load_train_dataset(CONFIG)
    assert isinstance(dataset, data.Dataset)
    assert dataset.name == "digits" and dataset.num_classes == 10


def test_a_resumed_run_reads_the_batches_of_its_remaining_epochs():
    dataset = train_inputs.load_train_dataset(CONFIG)
    strategy = distribution.make_strategy("auto")
    train, test = train_inputs.fit_inputs(CONFIG, dataset, strategy,
                                        start_epoch=0, steps=2)
    straight = _batches(train)
    assert [b.shape for b in straight] == [(16, 8, 8, 1)] * 6
    assert [b.shape for b in _batches(test)] == [(32, 8, 8, 1)]

    resumed, _ = train_inputs.fit_inputs(CONFIG, dataset, strategy,
                                       start_epoch=1, steps=2)
    for want, got in zip(straight[2:], _batches(resumed), strict=True):
        np.testing.assert_array_equal(got, want)
    # Killed while saving the last epoch: one epoch to read, not none.
    past_the_end, _ = train_inputs.fit_inputs(CONFIG, dataset, strategy,
                                            start_epoch=3, steps=2)
    assert len(_batches(past_the_end)) == 2
