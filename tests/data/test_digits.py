"""The embedded digits dataset: split, pixel range and normalisation."""

import numpy as np
import pytest

from one_keras import data
from one_keras.data.digits import load_digits_arrays


def test_split_is_fixed_and_stratified():
    (x_train, y_train), (x_test, y_test) = load_digits_arrays()
    (x_again, _), _ = load_digits_arrays()
    assert x_train.shape == (1437, 8, 8, 1) and x_test.shape == (360, 8, 8, 1)
    assert 0.0 <= x_train.min() and x_train.max() <= 255.0
    np.testing.assert_array_equal(x_train, x_again)
    assert set(np.bincount(y_test)) <= {35, 36, 37}


def test_dataset_is_normalised():
    dataset = data.load_dataset("digits")
    images = np.stack([x for x, _ in dataset.train.as_numpy_iterator()])
    assert dataset.num_train == len(images) == 1437
    assert dataset.input_shape == (8, 8, 1) and dataset.num_classes == 10
    assert abs(images.mean()) < 1e-4 and abs(images.std() - 1.0) < 1e-3


def test_unknown_dataset_names_the_choices():
    with pytest.raises(ValueError, match="`dataset` must be one of 'digits'"):
        data.load_dataset("mnist")
