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


def test_nested_models_are_inlined_so_the_split_may_fall_inside():
    # As a keras-hub ImageClassifier nests its backbone as one layer.
    inner = keras.Sequential([layers.Dense(6, name="inner_dense"),
                              layers.ReLU(name="inner_relu")], name="inner")
    model = keras.Sequential([keras.Input((5,)),
                              layers.Dense(6, name="first"), inner,
                              layers.Dense(3, name="last")], name="seq")
    for split_layer in ("first", "inner_relu"):
        one = one_keras.from_backbone(model, split_layer)
        assert trainable_count(one.target_model()) == trainable_count(model)
        check_outputs_and_target(one, images((5,)), 3)
    # The nested model's own name, as `model.summary()` shows it: the split
    # falls after its last layer (keras.applications' ConvNeXt blocks).
    by_name = one_keras.from_backbone(model, "inner")
    assert sorted(layer.name for layer in by_name.network.layers) == \
        sorted(layer.name for layer in one.network.layers)
    assert one.network.get_layer("inner_dense") is \
        inner.get_layer("inner_dense")
    assert one.network.get_layer("branch0_logits").units == 3

    # A nested model with two outputs stays one layer: no split inside it.
    pair_input = keras.Input((5,))
    hidden = layers.Dense(6, name="pair_dense")(pair_input)
    pair = keras.Model(pair_input, [layers.ReLU(name="pair_a")(hidden),
                                    layers.ReLU(name="pair_b")(hidden)],
                       name="pair")
    inputs = keras.Input((5,))
    joined = layers.Add(name="join")(pair(inputs))
    outer = keras.Model(inputs, layers.Dense(3, name="last")(joined))
    with pytest.raises(ValueError, match="inside the nested model 'pair'"):
        one_keras.from_backbone(outer, "pair_dense")


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


# keras-hub image backbones, built from a small config with random weights
# (no preset, no download), with the split layer docs/zoo.md gives: the
# start of the last stage. A backbone ends in feature maps, so
# `num_classes` appends pooling and a classifier; an `ImageClassifier`
# nests its backbone as one layer, whose layers `from_backbone` inlines.
def _hub_resnet(keras_hub):
    return keras_hub.models.ResNetBackbone(
        input_conv_filters=[64], input_conv_kernel_sizes=[3],
        stackwise_num_filters=[64, 16], stackwise_num_blocks=[1, 1],
        stackwise_num_strides=[1, 2], block_type="basic_block",
        image_shape=(32, 32, 3))


def _hub_mobilenet(keras_hub):
    return keras_hub.models.MobileNetBackbone(
        stackwise_expansion=[[4], [4, 4]], stackwise_num_blocks=[1, 2],
        stackwise_num_filters=[[8], [16, 16]],
        stackwise_kernel_size=[[3], [3, 3]],
        stackwise_num_strides=[[2], [2, 1]],
        stackwise_se_ratio=[[None], [0.25, 0.25]],
        stackwise_activation=[["relu"], ["hard_swish", "hard_swish"]],
        stackwise_padding=[[1], [1, 1]], output_num_filters=32,
        depthwise_filters=8, depthwise_stride=1, depthwise_residual=False,
        last_layer_filter=32, input_num_filters=8, image_shape=(32, 32, 3))


KERAS_HUB = {
    "ResNetBackbone": (_hub_resnet, "stack0_block0_out", 5),
    "ResNetImageClassifier": (
        lambda hub: hub.models.ResNetImageClassifier(
            backbone=_hub_resnet(hub), num_classes=5),
        "stack0_block0_out", None),
    "MobileNetBackbone": (_hub_mobilenet, "block_1_0", 5),
}


@pytest.fixture
def keras_hub():
    return pytest.importorskip(
        "keras_hub", reason="keras-hub is not installed (it is a test "
        "dependency: pip install -r requirements-dev.txt)")


@pytest.mark.parametrize("name", [
    # MobileNet's depthwise Conv2D(groups=...) has no eager CPU gradient
    # (as ResNeXt, docs/zoo.md), and traced it takes a minute on 2 cores:
    # `slow`, converted in a fresh process as exports are by default.
    pytest.param(name, marks=pytest.mark.slow if "MobileNet" in name
                 else ()) for name in sorted(KERAS_HUB)])
def test_keras_hub_train_and_export_to_tflite(keras_hub, name, tmp_path,
                                              monkeypatch, request):
    from one_keras.export import formats
    from one_keras.export.exporting import export_model

    if request.node.get_closest_marker("slow") is None:
        # Converted in this process: a fresh one costs seconds to start.
        monkeypatch.setattr(formats.REGISTRY["tflite"], "separate_process",
                            False)
    keras.utils.set_random_seed(0)
    build, split_layer, num_classes = KERAS_HUB[name]
    original = build(keras_hub)
    one = one_keras.from_backbone(original, split_layer, num_branches=2,
                                  num_classes=num_classes)
    assert one.network.get_layer(split_layer) is \
        _hub_layer(original, split_layer)
    added = 0 if num_classes is None else (
        original.output.shape[-1] * num_classes + num_classes)
    assert one.target_model().count_params() == \
        original.count_params() + added
    check_outputs_and_target(one, images((32, 32, 3)), 5, num_branches=2)
    check_fit_step(one, images((32, 32, 3), batch=4), 5)
    entry = export_model(one, tmp_path / "target.tflite", format="tflite",
                         dataset=None, num_samples=4, latency_repeats=1)
    assert entry["passed"], entry


def _hub_layer(model, name):
    """The layer `name` of `model` or of the backbone it nests."""
    backbone = getattr(model, "backbone", model)
    return backbone.get_layer(name)


def test_keras_hub_bad_split_layer_lists_candidates(keras_hub):
    with pytest.raises(ValueError) as error:
        one_keras.from_backbone(_hub_resnet(keras_hub), "stack1_block0_1_conv",
                                num_classes=5)
    message = str(error.value)
    assert "\n" not in message
    assert "'stack0_block0_out'" in message
    assert message.endswith("Received: split_layer='stack1_block0_1_conv'")


def test_keras_hub_image_converter_becomes_the_normalization(keras_hub):
    # A task's preprocessor runs outside its graph (x * scale + offset on
    # 0-255 pixels); the ONE model records it as `normalization` for export.
    from one_keras.data.numpy_pipeline import normalize

    scale = [1 / (255 * 0.229), 1 / (255 * 0.224), 1 / (255 * 0.225)]
    offset = [-0.485 / 0.229, -0.456 / 0.224, -0.406 / 0.225]
    converter = keras_hub.layers.ResNetImageConverter(
        image_size=(32, 32), scale=scale, offset=offset)
    classifier = keras_hub.models.ResNetImageClassifier(
        backbone=_hub_resnet(keras_hub), num_classes=5,
        preprocessor=keras_hub.models.ResNetImageClassifierPreprocessor(
            image_converter=converter))
    one = one_keras.from_backbone(classifier, "stack0_block0_out")
    raw = images((32, 32, 3)) * 255
    np.testing.assert_allclose(
        normalize(raw, one.normalization),
        keras.ops.convert_to_numpy(converter(raw)), rtol=1e-5, atol=1e-4)
    assert one_keras.from_backbone(
        classifier, "stack0_block0_out",
        normalization=None).normalization is None
