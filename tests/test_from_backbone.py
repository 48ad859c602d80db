"""`one_keras.from_backbone` on keras.applications and hand-made models."""

import re

import keras
import numpy as np
import pytest

import one_keras

layers = keras.layers


def trainable_count(model):
    return int(sum(np.prod(w.shape) for w in model.trainable_weights))


def residual_model(head="dense_softmax", classes=5):
    """8x8 images -> stem -> residual block -> conv -> pool -> classifier.

    `head`: `"dense_softmax"` (Dense with a softmax activation),
    `"softmax_layer"` (linear Dense, then a Softmax layer) or `"none"` (ends
    at the pooled features).
    """
    inputs = keras.Input((8, 8, 3), name="images")
    x = layers.Conv2D(4, 3, padding="same", name="stem_conv")(inputs)
    x = layers.BatchNormalization(name="stem_bn")(x)
    x = layers.ReLU(name="stem_relu")(x)
    y = layers.Conv2D(4, 3, padding="same", name="res_conv")(x)
    x = layers.Add(name="res_add")([x, y])
    x = layers.Conv2D(8, 3, strides=2, padding="same", name="head_conv")(x)
    x = keras.ops.multiply(x, 0.5)  # a bare op, shared by the branches
    x = layers.GlobalAveragePooling2D(name="pool")(x)
    if head == "dense_softmax":
        x = layers.Dense(classes, activation="softmax", name="predictions")(x)
    elif head == "softmax_layer":
        x = layers.Dense(classes, name="dense")(x)
        x = layers.Softmax(name="probabilities")(x)
    return keras.Model(inputs, x, name="residual")


def check_outputs_and_target(one, images, num_classes, num_branches=3):
    outputs = one(images, training=False)
    assert tuple(outputs["branch_logits"].shape) == (
        len(images), num_branches, num_classes)
    assert tuple(outputs["teacher_logits"].shape) == (len(images),
                                                      num_classes)
    target = one.target_model()(images, training=False)
    np.testing.assert_allclose(
        keras.ops.convert_to_numpy(target),
        keras.ops.convert_to_numpy(outputs["branch_logits"][:, 0]),
        rtol=1e-5, atol=1e-5)


def check_fit_step(one, images, num_classes):
    one.compile(optimizer=keras.optimizers.SGD(0.01))
    labels = np.arange(len(images)) % num_classes
    logs = one.fit(images, labels, batch_size=len(images), verbose=0).history
    for key in ("loss", "ce", "kl"):
        assert np.isfinite(logs[key][0]), (key, logs[key])


def images(shape, batch=2):
    return np.random.default_rng(0).random((batch, *shape), "float32")


def test_hand_made_model_keeps_trunk_and_rebuilds_branches():
    original = residual_model()
    one = one_keras.from_backbone(original, "res_add")
    network = one.network

    target = one.target_model()
    assert trainable_count(target) == trainable_count(original)
    assert target.count_params() == original.count_params()
    assert network.get_layer("stem_conv") is original.get_layer("stem_conv")
    for i in range(3):
        assert network.get_layer(f"branch{i}_head_conv") is not \
            original.get_layer("head_conv")
    assert not np.allclose(network.get_layer("branch0_head_conv").kernel,
                           network.get_layer("branch1_head_conv").kernel)
    logits = network.get_layer("branch0_logits")
    assert logits.get_config()["activation"] == "linear"
    assert original.get_layer("predictions").get_config()[
        "activation"] == "softmax"
    check_outputs_and_target(one, images((8, 8, 3)), 5)
    check_fit_step(one, images((8, 8, 3), batch=4), 5)


def test_separate_softmax_layer_is_dropped():
    original = residual_model(head="softmax_layer")
    one = one_keras.from_backbone(original, "head_conv", num_branches=2)
    names = [layer.name for layer in one.network.layers]
    assert "branch0_pool" in names and "branch0_logits" in names
    assert not any("probabilities" in name for name in names)
    assert trainable_count(one.target_model()) == trainable_count(original)
    check_outputs_and_target(one, images((8, 8, 3)), 5, num_branches=2)


def test_num_classes_replaces_or_appends_the_classifier():
    original = residual_model()
    one = one_keras.from_backbone(original, "res_add", num_classes=3)
    # The 8 -> 5 classifier becomes 8 -> 3: 2 * (8 + 1) fewer parameters.
    assert trainable_count(one.target_model()) == \
        trainable_count(original) - 18
    check_outputs_and_target(one, images((8, 8, 3)), 3)

    headless = residual_model(head="none")
    one = one_keras.from_backbone(headless, "res_add", num_classes=3)
    assert trainable_count(one.target_model()) == \
        trainable_count(headless) + 8 * 3 + 3
    check_outputs_and_target(one, images((8, 8, 3)), 3)


def test_keras_round_trip(tmp_path):
    one = one_keras.from_backbone(residual_model(), "stem_relu",
                                  temperature=2.0)
    one.save(tmp_path / "one.keras")
    restored = keras.models.load_model(tmp_path / "one.keras")
    assert isinstance(restored, one_keras.ONEModel)
    assert restored.temperature == 2.0
    batch = images((8, 8, 3))
    np.testing.assert_allclose(
        one.predict(batch, verbose=0)["teacher_logits"],
        restored.predict(batch, verbose=0)["teacher_logits"], atol=1e-6)


def test_split_inside_residual_block_says_why_and_lists_valid_layers():
    with pytest.raises(ValueError) as error:
        one_keras.from_backbone(residual_model(), "res_conv")
    message = str(error.value)
    assert "layer 'stem_relu' (in the trunk) also feeds layer 'res_add'" in \
        message
    # Bare ops are named `multiply`, `multiply_1`, ... in creation order.
    assert re.search(r"\['stem_conv', 'stem_bn', 'stem_relu', 'res_add', "
                     r"'head_conv', 'multiply(_\d+)?', 'pool'\]", message)
    assert message.endswith("Received: split_layer='res_conv'")


@pytest.mark.parametrize("split_layer,reason", [
    ("missing", "no layer of the model has this name"),
    ("predictions", "no layer would be left for the branches"),
    ("images", "the shared trunk would be empty"),
])
def test_invalid_split_layers(split_layer, reason):
    with pytest.raises(ValueError, match=reason):
        one_keras.from_backbone(residual_model(), split_layer)


def test_split_just_before_a_final_softmax_layer_is_refused():
    with pytest.raises(ValueError, match="last layer before the final"):
        one_keras.from_backbone(residual_model(head="softmax_layer"), "dense")


def test_layer_shared_across_the_split_is_refused():
    inputs = keras.Input((4,))
    shared = layers.Dense(4, name="shared")
    x = shared(inputs)
    x = layers.ReLU(name="relu")(x)
    x = shared(x)
    model = keras.Model(inputs, layers.Dense(2, name="out")(x))
    with pytest.raises(ValueError, match="'shared' is used both in the trunk"):
        one_keras.from_backbone(model, "relu")


def test_sequential_model_and_nested_layer_names():
    inner = keras.Sequential([layers.Dense(6, name="inner_dense"),
                              layers.ReLU(name="inner_relu")], name="inner")
    model = keras.Sequential([keras.Input((5,)),
                              layers.Dense(6, name="first"), inner,
                              layers.Dense(3, name="last")], name="seq")
    one = one_keras.from_backbone(model, "first")
    assert trainable_count(one.target_model()) == trainable_count(model)
    check_outputs_and_target(one, images((5,)), 3)
    with pytest.raises(ValueError, match="inside the nested model 'inner'"):
        one_keras.from_backbone(model, "inner_relu")


def test_models_without_a_single_graph_are_refused():
    class Subclassed(keras.Model):
        def __init__(self):
            super().__init__()
            self.dense = layers.Dense(3)

        def call(self, x):
            return self.dense(x)

    subclassed = Subclassed()
    subclassed(np.zeros((1, 4), "float32"))
    with pytest.raises(ValueError, match="subclassed model has no layer"):
        one_keras.from_backbone(subclassed, "dense")

    inputs = keras.Input((4,))
    hidden = layers.Dense(4, name="hidden")(inputs)
    two_outputs = keras.Model(inputs, [layers.Dense(2)(hidden),
                                       layers.Dense(3)(hidden)])
    with pytest.raises(ValueError, match="1 inputs and 2 outputs"):
        one_keras.from_backbone(two_outputs, "hidden")


def test_mobilenet_v2():
    original = keras.applications.MobileNetV2(
        weights=None, input_shape=(32, 32, 3), classes=10)
    one = one_keras.from_backbone(original, "block_15_add")
    target = one.target_model()
    assert trainable_count(target) == trainable_count(original) == 2_236_682
    assert target.count_params() == original.count_params()
    assert one.network.get_layer("Conv1") is original.get_layer("Conv1")
    assert one.network.get_layer("branch2_block_16_project").kernel.shape \
        == original.get_layer("block_16_project").kernel.shape
    check_outputs_and_target(one, images((32, 32, 3)), 10)
    check_fit_step(one, images((32, 32, 3)), 10)


@pytest.mark.slow
def test_resnet50():
    original = keras.applications.ResNet50(
        weights=None, input_shape=(32, 32, 3), classes=10)
    one = one_keras.from_backbone(original, "conv4_block6_out")
    target = one.target_model()
    assert trainable_count(target) == trainable_count(original)
    assert target.count_params() == original.count_params()
    check_outputs_and_target(one, images((32, 32, 3)), 10)
    check_fit_step(one, images((32, 32, 3)), 10)
    with pytest.raises(ValueError) as error:
        one_keras.from_backbone(original, "conv5_block1_1_relu")
    message = str(error.value)
    assert "layer 'conv4_block6_out' (in the trunk) also feeds layer " \
        "'conv5_block1_0_conv'" in message
    assert "'conv4_block6_out', 'conv5_block1_add', 'conv5_block1_out'" \
        in message


def test_pooled_features_without_num_classes_are_refused():
    # include_top=False, pooling="avg": the 1280 pooled features would
    # have been taken for the logits of a 1280-class model.
    backbone = keras.applications.MobileNetV2(
        weights=None, input_shape=(32, 32, 3), include_top=False,
        pooling="avg")
    with pytest.raises(ValueError, match=r"`num_classes` must be given: "
                       r"model .* ends in layer .*GlobalAveragePooling2D.*"
                       r"its 1280 outputs are features") as error:
        one_keras.from_backbone(backbone, "block_15_add")
    assert "\n" not in str(error.value)
    one = one_keras.from_backbone(residual_model(head="none"), "res_add",
                                  num_classes=4)
    assert one.network.get_layer("branch0_logits").units == 4


def _softmax_then(tail):
    """The residual model with a softmax followed by `tail` layers."""
    inputs = keras.Input((8, 8, 3), name="images")
    x = layers.Conv2D(4, 3, padding="same", name="stem_conv")(inputs)
    x = layers.ReLU(name="stem_relu")(x)
    x = layers.GlobalAveragePooling2D(name="pool")(x)
    if tail == "layer":
        x = layers.Dense(5, name="dense")(x)
        x = layers.Softmax(name="probabilities")(x)
    else:
        x = layers.Dense(5, activation="softmax", name="dense")(x)
    x = layers.Reshape((5,), name="reshape")(x)
    x = layers.Identity(name="identity")(x)
    return keras.Model(inputs, x, name="softmax_inside")


@pytest.mark.parametrize("tail", ["layer", "activation"])
def test_a_softmax_followed_by_reshapes_is_removed(tail):
    # The branches emitted probabilities, which the loss took for logits.
    original = _softmax_then(tail)
    one = one_keras.from_backbone(original, "stem_relu", num_branches=2)
    names = [layer.name for layer in one.network.layers]
    assert not any("probabilities" in name for name in names)
    assert one.network.get_layer("branch0_dense").get_config()[
        "activation"] == "linear"
    batch = images((8, 8, 3), batch=4)
    logits = keras.ops.convert_to_numpy(
        one(batch, training=False)["branch_logits"])
    # Probabilities sum to 1; logits of a fresh layer do not.
    assert not np.allclose(logits.sum(-1), 1.0)
    assert (logits < 0).any()
    assert trainable_count(one.target_model()) == trainable_count(original)
    check_fit_step(one, batch, 5)


# The keras.applications families a phone user picks, each with the split
# layer docs/zoo.md gives for it: the start of the last stage (its last
# residual add, or the downsampling into it).
APPLICATIONS = {
    "MobileNetV2": "block_15_add",
    "MobileNetV3Small": "expanded_conv_10_add",
    "MobileNetV3Large": "expanded_conv_14_add",
    "EfficientNetB0": "block6d_add",
    "ResNet50": "conv4_block6_out",
    "ConvNeXtTiny": "convnext_tiny_downsampling_block_2",
}


def test_a_layer_named_logits_before_the_head_keeps_its_own_name():
    # MobileNetV3 ends in Conv2D(name="logits") -> Flatten -> softmax: the
    # Flatten becomes `branch{i}_logits`, the Conv2D must not take the name.
    original = keras.applications.MobileNetV3Small(
        weights=None, input_shape=(32, 32, 3), classes=5)
    one = one_keras.from_backbone(original, APPLICATIONS["MobileNetV3Small"],
                                  num_branches=2)
    for i in range(2):
        assert isinstance(one.network.get_layer(f"branch{i}_logits"),
                          layers.Flatten)
        assert one.network.get_layer(
            f"branch{i}_logits_conv2d").kernel.shape == \
            original.get_layer("logits").kernel.shape
    assert one.target_model().count_params() == original.count_params()


@pytest.mark.slow
@pytest.mark.parametrize("family", [
    # MobileNetV3Small (the case) in CI; the others, minutes each on
    # 2 cores, are `heavy` (python -m pytest -m heavy).
    pytest.param(family, marks=() if family == "MobileNetV3Small" else
                 pytest.mark.heavy) for family in sorted(APPLICATIONS)])
def test_keras_applications_train_and_export_to_tflite(family, tmp_path):
    from one_keras.export.exporting import export_model

    keras.utils.set_random_seed(0)
    original = getattr(keras.applications, family)(
        weights=None, input_shape=(32, 32, 3), classes=5)
    one = one_keras.from_backbone(original, APPLICATIONS[family],
                                  num_branches=2)
    assert one.target_model().count_params() == original.count_params()
    check_outputs_and_target(one, images((32, 32, 3)), 5, num_branches=2)
    # A batch of 8: on a batch of 2, EfficientNetB0's BatchNorm at 1x1
    # (32x32 inputs) blows the weights up in one step, also without ONE.
    check_fit_step(one, images((32, 32, 3), batch=8), 5)
    entry = export_model(one, tmp_path / "target.tflite", format="tflite",
                         dataset=None, num_samples=4, latency_repeats=1)
    assert entry["passed"], entry
    assert (tmp_path / "target.tflite").stat().st_size > 0
