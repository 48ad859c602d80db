"""`sync_bn`: synchronized BatchNorm in every builder, saved and loaded.

That it normalises over the global batch of several replicas is measured in
`tests/test_multi_worker.py` (2 logical CPUs and two localhost workers).
"""

import keras
import numpy as np
import pytest

from one_keras.methods import build_method_model
from one_keras.methods.one import build_one_model
from one_keras.methods.one import build_one_resnet
from one_keras.models import layers
from one_keras.models.common import batch_norm
from one_keras.models.common import synchronized_batch_norm


BUILDERS = {
    "one_resnet": lambda sync_bn: build_one_resnet(
        depth=8, width=4, num_classes=4, input_shape=(16, 16, 3),
        sync_bn=sync_bn).network,
    "zoo_densenet": lambda sync_bn: build_one_model(
        "densenet_bc_190_40", num_classes=4, depth=10, growth_rate=4,
        input_shape=(16, 16, 3), sync_bn=sync_bn).network,
    "method_dml": lambda sync_bn: build_method_model(
        "dml", num_classes=4, input_shape=(16, 16, 3), depth=8, width=4,
        sync_bn=sync_bn).network,
}


def _batch_norms(model):
    found = [layer for layer in model._flatten_layers()
             if isinstance(layer, keras.layers.BatchNormalization)]
    assert found
    return found


@pytest.mark.parametrize("builder", sorted(BUILDERS))
@pytest.mark.parametrize("sync_bn", [False, True])
def test_sync_bn_reaches_every_batch_norm(builder, sync_bn):
    network = BUILDERS[builder](sync_bn)
    norms = _batch_norms(network)
    assert {layer.synchronized for layer in norms} == {sync_bn}
    if builder != "method_dml":  # ONE networks: the gate's BN too.
        assert network.get_layer("gate_bn").synchronized is sync_bn


def test_context_is_restored_after_the_block():
    with synchronized_batch_norm():
        assert batch_norm("inside").synchronized
        with synchronized_batch_norm(False):
            assert not batch_norm("nested").synchronized
        assert batch_norm("inside_again").synchronized
    assert not batch_norm("outside").synchronized


def test_fused_kernel_kept_on_one_replica():
    images = np.random.default_rng(0).normal(size=(4, 6, 6, 3))
    images = images.astype("float32")
    fused = layers.FusedBatchNormalization(synchronized=True)
    plain = keras.layers.BatchNormalization(synchronized=True)
    assert fused._fusable(images, True, None)
    np.testing.assert_allclose(
        keras.ops.convert_to_numpy(fused(images, training=True)),
        keras.ops.convert_to_numpy(plain(images, training=True)),
        atol=1e-5)
    np.testing.assert_allclose(fused.moving_variance.numpy(),
                               plain.moving_variance.numpy(), atol=1e-6)


def test_sync_bn_keras_round_trip_and_same_weights(tmp_path):
    rng = np.random.default_rng(0)
    images = rng.random((4, 16, 16, 3), "float32")
    labels = np.arange(4) % 4
    model = build_one_resnet(depth=8, width=4, num_classes=4,
                             input_shape=(16, 16, 3), sync_bn=True)
    model.compile(optimizer=keras.optimizers.SGD(0.1))
    model.fit(images, labels, batch_size=4, epochs=1, verbose=0)
    path = tmp_path / "sync_bn.keras"
    model.save(path)
    loaded = keras.models.load_model(path)
    assert {n.synchronized for n in _batch_norms(loaded.network)} == {True}
    want = model.predict(images, verbose=0)["teacher_logits"]
    np.testing.assert_allclose(
        loaded.predict(images, verbose=0)["teacher_logits"], want,
        atol=1e-6)
    # The same weights, by name: a sync_bn checkpoint serves a per-replica
    # model and the other way round.
    plain = build_one_resnet(depth=8, width=4, num_classes=4,
                             input_shape=(16, 16, 3))
    assert [w.path for w in plain.network.weights] == \
        [w.path for w in model.network.weights]
    weights_path = tmp_path / "sync_bn.weights.h5"
    model.save_weights(weights_path)
    plain.load_weights(weights_path)
    np.testing.assert_allclose(
        plain.predict(images, verbose=0)["teacher_logits"], want, atol=1e-6)
