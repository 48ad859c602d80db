"""The parameter counts of a report: trainable, shipped and stored."""

import keras

from one_keras.reports.parameters import count_shipped
from one_keras.reports.parameters import count_trainable


def test_trainable_shipped_and_stored_counts_differ_as_documented():
    inputs = keras.Input((4,))
    features = keras.layers.Dense(3)(inputs)  # 15 weights
    features = keras.layers.BatchNormalization()(features)  # 6 + 6 moving
    frozen = keras.layers.Dense(2)  # 8 weights, e.g. a KD teacher's
    frozen.trainable = False
    model = keras.Model(inputs, frozen(features))

    assert count_trainable(model) == 15 + 6
    assert count_shipped(model) == 15 + 6 + 8
    assert model.count_params() == 15 + 6 + 8 + 6
