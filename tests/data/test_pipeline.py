"""`eval_pipeline` batches for devices that split every batch evenly."""

import numpy as np

from one_keras import data


def test_last_test_batch_is_padded_with_copies_weighted_zero():
    dataset = data.load_dataset("digits")  # 360 test images
    batches = list(data.eval_pipeline(dataset, 7, batch_multiple=4))
    images, labels, weights = (np.asarray(t) for t in batches[-1])
    real = dataset.num_test % 7  # 3 images, padded to 4
    assert images.shape[0] == labels.shape[0] == 4 and real == 3
    np.testing.assert_array_equal(weights, [1, 1, 1, 0])
    np.testing.assert_array_equal(images[3], images[2])
    total = sum(float(np.sum(b[2])) for b in batches)
    assert total == dataset.num_test
    plain = list(data.eval_pipeline(dataset, 7))
    assert len(plain[-1]) == 2 and len(plain[-1][1]) == real
