"""Checks shared by the zoo model tests."""

import keras
import numpy as np

# (model, classes) -> trainable parameters of the deployed target and of the
# 3-branch ONE model (with the gate), as built by `build_one_model`. The
# model tests check them against the built networks; tests/test_configs.py
# checks the flagfiles' comments against them. Paper / torchvision counts:
# ResNeXt-29 34.4M, DenseNet-BC-190 25.6M (10 classes), ResNet-18
# 11,689,512, ResNeXt-50 25,028,904.
PARAMETER_COUNTS = {
    ("resnext29_8x64d", 10): (34_426_698, 86_943_079),
    ("resnext29_8x64d", 100): (34_518_948, 87_219_829),
    ("densenet_bc_190_40", 10): (25_624_430, 44_839_109),
    ("densenet_bc_190_40", 100): (25_821_620, 45_430_679),
    ("resnet18", 1000): (11_689_512, 29_503_745),
    ("resnext50_32x4d", 1000): (25_028_904, 58_219_777),
}


def trainable_count(model):
    """Number of trainable parameters (BN moving statistics excluded)."""
    return int(sum(np.prod(w.shape) for w in model.trainable_weights))


def check_outputs_and_target(model, input_shape, num_classes, num_branches):
    """Output shapes on a batch of 2, and target == branch 0 of the model."""
    images = np.random.default_rng(0).random((2, *input_shape), "float32")
    outputs = model(images, training=False)
    assert tuple(outputs["branch_logits"].shape) == (2, num_branches,
                                                      num_classes)
    assert tuple(outputs["gate"].shape) == (2, num_branches)
    assert tuple(outputs["teacher_logits"].shape) == (2, num_classes)
    target_logits = model.target_model()(images, training=False)
    assert tuple(target_logits.shape) == (2, num_classes)
    np.testing.assert_allclose(keras.ops.convert_to_numpy(target_logits),
                               keras.ops.convert_to_numpy(
                                   outputs["branch_logits"][:, 0]),
                               rtol=1e-5, atol=1e-5)


def check_fit_step(model, input_shape, num_classes):
    """One `fit` step on 2 random images gives finite losses."""
    rng = np.random.default_rng(0)
    images = rng.random((2, *input_shape), "float32")
    labels = np.arange(2) % num_classes
    model.compile(optimizer=keras.optimizers.SGD(0.01))
    logs = model.fit(images, labels, batch_size=2, epochs=1,
                     verbose=0).history
    for key in ("loss", "ce", "kl"):
        assert np.isfinite(logs[key][0]), (key, logs[key])
