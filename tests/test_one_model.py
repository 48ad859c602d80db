"""ONEModel: fit, metrics, deployment models, serialisation and errors."""

import re

import keras
import numpy as np
import pytest
import tensorflow as tf

from one_keras import ONEModel
from one_keras.methods.one import build_one_resnet
from one_keras.methods.one import loss as losses
from one_keras.reports.parameters import count_trainable
from one_keras.training import callbacks


def tiny_model(num_branches=3, num_classes=4, gate="learned", **kwargs):
    return build_one_resnet(depth=8, num_classes=num_classes,
                            num_branches=num_branches,
                            input_shape=(8, 8, 3), width=4, gate=gate,
                            **kwargs)


def tiny_data(count=16, num_classes=4):
    rng = np.random.default_rng(0)
    images = rng.normal(size=(count, 8, 8, 3)).astype("float32")
    return images, np.arange(count) % num_classes


def test_target_model_equals_branch_zero():
    model = tiny_model()
    images, _ = tiny_data()
    branch_zero = model(images, training=False)["branch_logits"][:, 0]
    np.testing.assert_allclose(model.target_model()(images), branch_zero,
                               atol=1e-6)


def test_target_has_plain_network_size():
    model = tiny_model(num_branches=3)
    plain = tiny_model(num_branches=1)
    assert count_trainable(model.target_model()) == count_trainable(plain)


def test_ensemble_model_gives_teacher_probabilities():
    model = tiny_model()
    images, _ = tiny_data()
    teacher = model(images, training=False)["teacher_logits"]
    np.testing.assert_allclose(model.ensemble_model()(images),
                               tf.nn.softmax(teacher), atol=1e-6)


def test_teacher_is_gate_weighted_sum_of_branches():
    model = tiny_model()
    outputs = model(tiny_data()[0], training=False)
    want = np.einsum("bm,bmc->bc", outputs["gate"], outputs["branch_logits"])
    np.testing.assert_allclose(outputs["teacher_logits"], want, atol=1e-5)


def test_average_gate_weighs_branches_equally():
    model = tiny_model(gate="average")
    outputs = model(tiny_data()[0], training=False)
    np.testing.assert_allclose(outputs["gate"], 1.0 / 3.0, atol=1e-7)
    assert not any(layer.name == "gate_dense"
                   for layer in model.network.layers)


def test_kl_gradients_do_not_reach_the_gate():
    model = tiny_model()
    images, labels = tiny_data()
    gate_variables = [v for layer in model.network.layers
                      if layer.name.startswith("gate")
                      for v in layer.trainable_variables]
    assert gate_variables
    with tf.GradientTape() as tape:
        outputs = model(images, training=True)
        _, kl = losses.one_loss_terms(labels, outputs["branch_logits"],
                                      outputs["teacher_logits"])
    gradients = tape.gradient(kl, gate_variables + model.trainable_variables)
    assert all(g is None for g in gradients[:len(gate_variables)])
    assert any(g is not None for g in gradients[len(gate_variables):])


def test_short_fit_lowers_loss_and_reports_metrics():
    model = tiny_model()
    images, labels = tiny_data()
    model.compile(optimizer=keras.optimizers.SGD(0.05, momentum=0.9),
                  metrics=["accuracy"])
    history = model.fit(images, labels, batch_size=8, epochs=3, verbose=0,
                        validation_data=(images, labels)).history
    assert {"loss", "ce", "kl", "branch_0_accuracy", "branch_2_accuracy",
            "teacher_accuracy", "accuracy", "val_loss",
            "val_teacher_accuracy"} <= set(history)
    assert history["loss"][-1] < history["loss"][0]
    assert np.all(np.isfinite(history["kl"]))


@pytest.mark.graph
def test_fit_traces_the_training_step_once(monkeypatch):
    # The optimizer's variables exist before the first trace, so TensorFlow
    # need not trace the step again (the cost of a big model's start-up).
    traces = []
    train_step = ONEModel.train_step

    def counted(self, data):
        traces.append(1)
        return train_step(self, data)

    monkeypatch.setattr(ONEModel, "train_step", counted)
    model = tiny_model()
    model.compile(optimizer=keras.optimizers.SGD(0.05, momentum=0.9))
    images, labels = tiny_data()
    model.fit(images, labels, batch_size=8, epochs=2, verbose=0)
    assert model.optimizer.iterations.numpy() == 4
    assert len(traces) == 1


def test_top5_metrics_beyond_ten_classes():
    model = tiny_model(num_classes=12)
    images, labels = tiny_data(num_classes=12)
    model.compile(optimizer="sgd")
    results = model.evaluate(images, labels, verbose=0, return_dict=True)
    assert {"branch_0_top5_accuracy", "teacher_top5_accuracy"} <= set(results)


def test_fit_and_evaluate_accept_tf_data():
    model = tiny_model()
    images, labels = tiny_data()
    data = tf.data.Dataset.from_tensor_slices((images, labels)).batch(4)
    model.compile(optimizer="sgd")
    model.fit(data, epochs=1, verbose=0, validation_data=data,
              shuffle=False)
    results = model.evaluate(data, verbose=0, return_dict=True)
    assert np.isfinite(results["loss"])


def test_weight_decay_is_coupled_l2_on_all_weights():
    model = tiny_model(weight_decay=1e-2)
    want = 0.5 * 1e-2 * sum(float(np.sum(np.square(v.numpy())))
                            for v in model.trainable_variables)
    np.testing.assert_allclose(float(model.weight_decay_loss()), want,
                               rtol=1e-5)


def test_rampup_callback_sets_kl_weight():
    model = tiny_model(kl_rampup_epochs=4)
    images, labels = tiny_data()
    model.compile(optimizer="sgd")
    assert float(model.kl_ramp) == pytest.approx(np.exp(-5.0))
    model.fit(images, labels, batch_size=8, epochs=3, verbose=0)
    assert float(model.kl_ramp) == pytest.approx(
        losses.kl_rampup_weight(2, 4))


def test_mixed_float16_step_is_finite():
    keras.mixed_precision.set_global_policy("mixed_float16")
    model = tiny_model()
    images, labels = tiny_data()
    model.compile(optimizer="sgd")
    assert isinstance(model.optimizer, keras.optimizers.LossScaleOptimizer)
    history = model.fit(images, labels, batch_size=8, epochs=1,
                        verbose=0).history
    assert np.isfinite(history["loss"][0])


@pytest.mark.parametrize("which", ["model", "target", "ensemble"])
def test_keras_round_trip(tmp_path, which):
    model = tiny_model(normalization={"mean": [0.5], "std": [0.25]},
                       kl_rampup_epochs=3)
    images, labels = tiny_data()
    model.compile(optimizer="sgd")
    model.fit(images, labels, batch_size=8, epochs=1, verbose=0)
    saved = {"model": model, "target": model.target_model(),
             "ensemble": model.ensemble_model()}[which]
    path = tmp_path / f"{which}.keras"
    saved.save(path)
    restored = keras.models.load_model(path, safe_mode=True)
    want, got = saved.predict(images, verbose=0), restored.predict(
        images, verbose=0)
    for key in (want if isinstance(want, dict) else [None]):
        a = want[key] if key else want
        b = got[key] if key else got
        np.testing.assert_allclose(a, b, atol=1e-6)
    if which == "model":
        assert isinstance(restored, ONEModel)
        config, restored_config = model.get_config(), restored.get_config()
        config.pop("network"), restored_config.pop("network")
        assert restored_config == config
        assert float(restored.kl_ramp) == float(model.kl_ramp)


def test_fit_rejects_labels_out_of_range():
    model = tiny_model(num_classes=4)
    images, _ = tiny_data()
    model.compile(optimizer="sgd")
    with pytest.raises(ValueError, match=r"`y` must hold class labels in "
                                         r"\[0, 3\]"):
        model.fit(images, np.full(16, 4), verbose=0)


@pytest.mark.parametrize("bad_label", [4, -1])
def test_tf_data_labels_out_of_range_give_one_clear_error(bad_label):
    model = tiny_model(num_classes=4)
    images, labels = tiny_data(count=8)
    labels[5] = bad_label
    data = tf.data.Dataset.from_tensor_slices((images, labels)).batch(4)
    model.compile(optimizer="sgd")
    for run in (lambda: model.fit(data, verbose=0),
                lambda: model.evaluate(data, verbose=0)):
        with pytest.raises(ValueError) as error:
            run()
        message = str(error.value)
        assert message.startswith("`y` must hold class labels in [0, "
                                  "num_classes - 1] for a model with 4 "
                                  "classes")
        assert "\n" not in message
        # TensorFlow's assert text (the tensors' names) is cut off.
        assert message.endswith("a batch holds a label outside that range.")


def test_nan_loss_stops_fit_with_the_cli_advice():
    images, labels = tiny_data()
    images[6] = np.nan
    advice = r"epoch 1, batch 2; .*lower --lr \(now 0.05\)"
    model = tiny_model()
    model.compile(optimizer=keras.optimizers.SGD(0.05))
    with pytest.raises(FloatingPointError, match=advice):
        model.fit(images, labels, batch_size=4, epochs=2, verbose=0,
                  shuffle=False, callbacks=[
                      callbacks.TerminateOnNaNWithAdvice(raise_error=True)])
    # Without raise_error it stops as Keras' TerminateOnNaN does, and says
    # where and what to try.
    guard = callbacks.TerminateOnNaNWithAdvice()
    model = tiny_model()
    model.compile(optimizer=keras.optimizers.SGD(0.05))
    history = model.fit(images, labels, batch_size=4, epochs=2, verbose=0,
                        shuffle=False, callbacks=[guard])
    assert guard.triggered and len(history.history["loss"]) == 1
    assert re.search(advice, guard.advice(0.05))


def test_network_must_be_a_one_network():
    plain = keras.Sequential([keras.Input((4,)), keras.layers.Dense(2)])
    with pytest.raises(ValueError, match="`network` must be a functional"):
        ONEModel(plain)


@pytest.mark.parametrize("kwargs,match", [
    ({"weight_decay": -1.0}, "`weight_decay` must be a number >= 0"),
    ({"kl_rampup_epochs": -2}, "`kl_rampup_epochs` must be an integer"),
    ({"normalization": {"mean": [0.1, 0.2]}}, "`normalization` must be"),
    ({"normalization": {"mean": [0.1, 0.2], "std": [1.0, 1.0]}},
     "must have 1 or 3 values"),
])
def test_bad_model_arguments(kwargs, match):
    with pytest.raises(ValueError, match=match):
        tiny_model(**kwargs)


def test_one_hot_labels_are_refused_in_one_line():
    # They passed the label check, then failed on shapes (32, 3) vs (8, 3, 4).
    model = tiny_model(num_classes=4)
    images, labels = tiny_data()
    one_hot = np.eye(4, dtype="float32")[labels % 4]
    model.compile(optimizer="sgd")
    data = tf.data.Dataset.from_tensor_slices((images, one_hot)).batch(4)
    for run in (lambda: model.fit(images, one_hot, verbose=0),
                lambda: model.fit(data, verbose=0)):
        with pytest.raises(ValueError, match=r"`y` must hold one integer "
                           r"class label per sample, of shape \(batch,\) "
                           r".*np\.argmax.* of shape \((16|4|None), 4\)$"):
            run()
    # A column of labels is one per sample.
    model.fit(images, (labels % 4)[:, None], verbose=0)


def test_a_loss_given_to_compile_is_refused():
    model = tiny_model(num_classes=4)
    for arguments in ({"loss": "mse"}, {"loss_weights": [1.0]}):
        with pytest.raises(ValueError, match=r"must not be given to "
                           r"ONEModel\.compile: the method defines its own "
                           r"loss"):
            model.compile(optimizer="sgd", **arguments)
    with pytest.raises(ValueError, match=r"Received: loss='mse'"):
        model.compile("sgd", "mse")


def test_a_loaded_model_is_compiled_as_saved(tmp_path):
    model = tiny_model(num_classes=4)
    model.compile(optimizer=keras.optimizers.SGD(0.05, momentum=0.5))
    model.save(tmp_path / "one.keras")
    restored = keras.models.load_model(tmp_path / "one.keras")
    assert restored.compiled
    assert float(restored.optimizer.momentum) == 0.5
