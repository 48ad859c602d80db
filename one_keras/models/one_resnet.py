"""`build_one_resnet`: a CIFAR ResNet trained with ONE, ready to compile."""

import keras

from one_keras.models import resnet_cifar
from one_keras.models.common import synchronized_batch_norm
from one_keras.one_model import ONEModel
from one_keras.one_network import build_one_network
from one_keras.one_network import build_trunks


def build_one_resnet(depth=32, num_classes=10, num_branches=3,
                     input_shape=(32, 32, 3), block="basic", gate="learned",
                     width=16, temperature=3.0, kl_weight=1.0,
                     kl_rampup_epochs=0, weight_decay=1e-4,
                     normalization=None, share_trunk=True, sync_bn=False,
                     name="one_resnet"):
    """Builds a CIFAR ResNet whose last stage is split into ONE branches.

    Args:
        depth: int. Network depth, of the form `6 * n + 2` (32, 110, ...).
            Defaults to `32`.
        num_classes: int. Number of classes. Defaults to `10`.
        num_branches: int. Branches `m + 1`, >= 1 (1 is the plain network).
            Defaults to `3`.
        input_shape: tuple. Image shape `(height, width, channels)`.
            Defaults to `(32, 32, 3)`.
        block: str. `"basic"` (He et al.) or `"bottleneck"` (the authors'
            code for depth >= 44). Defaults to `"basic"`.
        gate: str. `"learned"` or `"average"`. Defaults to `"learned"`.
        width: int. Stem width (16 in the paper). Defaults to `16`.
        temperature, kl_weight, kl_rampup_epochs, weight_decay,
            normalization: passed to `one_keras.ONEModel`.
        share_trunk: bool. `False` gives every branch its own trunk (the
            paper's "without sharing" ablation). Defaults to `True`.
        sync_bn: bool. `True` synchronizes every BatchNorm (the gate's too)
            across the replicas of a `tf.distribute` strategy, so that
            training on several devices normalises over the global batch as
            one device does. `False` normalises each replica's slice (the
            authors' DataParallel code). Defaults to `False`.
        name: str. Name of the inner network. Defaults to `"one_resnet"`.

    Returns:
        A `one_keras.ONEModel`. Compile it with an optimizer and call `fit`.

    Example:
    ```python
    model = one_keras.models.build_one_resnet(depth=32, num_classes=100)
    model.compile(optimizer=keras.optimizers.SGD(0.1, momentum=0.9))
    model.fit(images, labels, epochs=300)
    target = model.target_model()  # branch 0 only: a plain ResNet-32
    ```
    """
    build_branch = resnet_cifar.resnet_branch_builder(
        num_classes, depth=depth, block=block, width=width)
    with synchronized_batch_norm(sync_bn):
        inputs = keras.Input(shape=input_shape, name="images")
        trunk_output = build_trunks(
            inputs, lambda x: resnet_cifar.build_resnet_trunk(
                x, depth=depth, block=block, width=width),
            num_branches=num_branches, share=share_trunk)
        network = build_one_network(inputs, trunk_output, build_branch,
                                    num_branches=num_branches, gate=gate,
                                    name=name)
    return ONEModel(network, temperature=temperature, kl_weight=kl_weight,
                    kl_rampup_epochs=kl_rampup_epochs,
                    weight_decay=weight_decay, normalization=normalization)
