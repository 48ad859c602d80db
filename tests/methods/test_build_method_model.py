"""Every method and ablation trains, reports its metrics and round-trips."""

import keras
import numpy as np
import pytest

from one_keras import ONEModel
from one_keras import methods


ARCH = {"num_classes": 4, "input_shape": (8, 8, 3), "depth": 8, "width": 4}


def tiny_data(count=8):
    rng = np.random.default_rng(0)
    images = rng.normal(size=(count, 8, 8, 3)).astype("float32")
    return images, np.arange(count) % 4


def tiny_teacher():
    return methods.build_method_model("vanilla", **ARCH).deployed_model()


CASES = {
    "one": ({"method": "one"}, ["kl", "branch_2_accuracy",
                                "teacher_accuracy"]),
    "vanilla": ({"method": "vanilla"}, ["branch_0_accuracy"]),
    "kd": ({"method": "kd"}, ["kl", "student_accuracy", "teacher_accuracy"]),
    "dml": ({"method": "dml", "num_peers": 2},
            ["kl", "member_1_accuracy", "ensemble_accuracy"]),
    "ensemble3": ({"method": "ensemble", "num_peers": 3},
                  ["member_2_accuracy", "ensemble_accuracy"]),
    # One epoch holds one snapshot (test_snapshot.py trains several).
    "snapshot": ({"method": "snapshot", "num_snapshots": 1}, ["accuracy"]),
    "no_distillation": ({"method": "one", "no_distillation": True},
                        ["kl", "teacher_accuracy"]),
    "no_sharing": ({"method": "one", "no_sharing": True},
                   ["kl", "branch_2_accuracy"]),
    "average_gate": ({"method": "one", "gate": "average"},
                     ["teacher_accuracy"]),
    "branches2": ({"method": "one", "num_branches": 2},
                  ["branch_1_accuracy"]),
    "branches5": ({"method": "one", "num_branches": 5},
                  ["branch_4_accuracy"]),
    "pcl": ({"method": "pcl", "num_branches": 2},
            ["pe", "pm", "branch_1_accuracy", "mean_branch_0_accuracy"]),
}


@pytest.mark.parametrize("case", sorted(CASES))
def test_trains_one_step_and_round_trips(tmp_path, case):
    arguments, expected = CASES[case]
    arguments = dict(arguments)
    if arguments["method"] == "kd":
        arguments["teacher"] = tiny_teacher()
    model = methods.build_method_model(**arguments, **ARCH)
    model.compile(optimizer=keras.optimizers.SGD(0.05))
    images, labels = tiny_data()
    logs = model.fit(images, labels, batch_size=8, epochs=1,
                     verbose=0).history
    assert {"loss", "ce", *expected} <= set(logs)
    assert all(np.isfinite(logs["loss"]))
    deployed = model.deployed_model()
    assert deployed.output.shape[-1] == 4
    path = tmp_path / f"{case}.keras"
    model.save(path)
    restored = keras.models.load_model(path)
    assert type(restored) is type(model)
    np.testing.assert_allclose(
        restored.deployed_model().predict(images, verbose=0),
        deployed.predict(images, verbose=0), atol=1e-5)


def test_dml_deploys_peer_zero_and_ensemble_averages_probabilities():
    model = methods.build_method_model("ensemble", num_peers=3, **ARCH)
    images, _ = tiny_data()
    members = np.stack([model.member_model(i).predict(images, verbose=0)
                        for i in range(3)], axis=1)
    probabilities = keras.ops.convert_to_numpy(
        keras.ops.softmax(members, axis=-1)).mean(axis=1)
    ensemble = model.deployed_model().predict(images, verbose=0)
    np.testing.assert_allclose(np.exp(ensemble), probabilities, atol=1e-5)
    dml = methods.build_method_model("dml", num_peers=2, **ARCH)
    np.testing.assert_allclose(
        dml.deployed_model().predict(images, verbose=0),
        dml(images, training=False)["member_logits"][:, 0], atol=1e-5)


def test_peers_that_agree_train_as_vanilla():
    # Peers that start as copies of one vanilla network stay copies, and
    # DML's KL between them is zero in value and gradient: peer 0 must take
    # vanilla's steps, so that the DML and ensemble rows of a study measure
    # the method, not the peers' plumbing.
    keras.utils.set_random_seed(1)
    vanilla = methods.build_method_model("vanilla", **ARCH)
    peers = methods.build_method_model("dml", num_peers=2, **ARCH)
    network = vanilla.deployed_model()
    for index in range(2):
        for source, copy in zip(network.weights,
                                peers.member_model(index).weights):
            copy.assign(source)
    start = [np.array(weight) for weight in network.weights]
    images, labels = tiny_data()
    for model in (vanilla, peers):
        model.compile(optimizer=keras.optimizers.SGD(
            0.1, momentum=0.9, nesterov=True))
        model.fit(images, labels, batch_size=4, epochs=1, shuffle=False,
                  verbose=0)
    moved = max(np.abs(np.array(weight) - before).max()
                for weight, before in zip(network.weights, start))
    assert moved > 1e-2
    for weight, peer_weight in zip(network.weights,
                                   peers.member_model(0).weights):
        np.testing.assert_allclose(np.array(peer_weight), np.array(weight),
                                   atol=1e-6)


def test_vanilla_is_the_one_branch_one_model():
    model = methods.build_method_model("vanilla", **ARCH)
    assert isinstance(model, ONEModel) and model.num_branches == 1


@pytest.mark.parametrize("arguments, message", [
    ({"method": "distill"}, "`method` must be one of"),
    ({"method": "kd"}, "`teacher` must be given"),
    ({"method": "dml", "num_peers": 1}, "`num_peers` must be an integer"),
    ({"method": "dml", "gate": "average"}, "is used by method 'one' only"),
    ({"method": "vanilla", "no_sharing": True},
     "is used by method 'one' only"),
    ({"method": "one", "kl_weight": 0.0},
     "Unknown arguments for model 'resnet': kl_weight.*or the options of "
     "method 'one': num_branches"),
    ({"method": "ensemble", "teacher": "t.keras"},
     "`teacher` is used by method 'kd' only"),
])
def test_errors(arguments, message):
    with pytest.raises(ValueError, match=message):
        methods.build_method_model(**arguments, **ARCH)


def test_kd_rejects_a_teacher_with_other_classes():
    teacher = methods.build_method_model(
        "vanilla", **{**ARCH, "num_classes": 5}).deployed_model()
    with pytest.raises(ValueError, match="as many classes as `student`"):
        methods.build_method_model("kd", teacher=teacher, **ARCH)


def test_kd_takes_a_saved_method_model_as_teacher(tmp_path):
    teacher = methods.build_method_model("one", **ARCH)
    teacher.save(tmp_path / "one.keras")
    model = methods.build_method_model("kd", teacher=str(tmp_path /
                                                         "one.keras"), **ARCH)
    images, _ = tiny_data()
    np.testing.assert_allclose(
        model(images)["teacher_logits"],
        teacher.target_model()(images), atol=1e-5)
    assert not model.teacher.trainable_weights


# The student's inputs: pixels normalised as a dataset's are.
STUDENT_NORMALIZATION = {"mean": [0.5, 0.4, 0.3], "std": [0.25, 0.2, 0.3]}


def _raw_and_normalised(count=4):
    raw = np.random.default_rng(0).uniform(
        0, 255, (count, 8, 8, 3)).astype("float32")
    mean = np.array(STUDENT_NORMALIZATION["mean"], "float32")
    std = np.array(STUDENT_NORMALIZATION["std"], "float32")
    return raw, (raw / 255.0 - mean) / std


def test_kd_feeds_a_deployable_teacher_the_raw_pixels_it_expects(tmp_path):
    """Issue 37, finding 5: a teacher that normalises raw pixels with its
    own mean and std was fed the student's normalised pixels, so KD
    distilled from another function than the file given."""
    from one_keras.models import deployment

    core = tiny_teacher()
    # The finding's teacher: it normalises with mean 0 and std 1.
    deployment.with_preprocessing(
        core, {"mean": [0.0] * 3, "std": [1.0] * 3}).save(
        tmp_path / "teacher.keras")
    model = methods.build_method_model(
        "kd", teacher=str(tmp_path / "teacher.keras"),
        normalization=STUDENT_NORMALIZATION, **ARCH)
    raw, normalised = _raw_and_normalised()
    expected = keras.saving.load_model(tmp_path / "teacher.keras")(raw)
    np.testing.assert_allclose(model(normalised)["teacher_logits"],
                               expected, rtol=1e-4, atol=1e-4)
    assert model.teacher_input == {
        "path": str(tmp_path / "teacher.keras"), "input": "raw",
        "normalization": {"mean": [0.0] * 3, "std": [1.0] * 3}}
    restored = type(model).from_config(model.get_config())
    assert restored.teacher_input == model.teacher_input


def test_kd_normalises_for_a_training_model_teacher_its_own_way(tmp_path):
    """A training model teacher gets its own normalisation; a teacher
    whose input is unknown is refused."""
    teacher = methods.build_method_model(
        "vanilla", normalization={"mean": [0.0] * 3, "std": [1.0] * 3},
        **ARCH)
    teacher.save(tmp_path / "model.keras")
    model = methods.build_method_model(
        "kd", teacher=str(tmp_path / "model.keras"),
        normalization=STUDENT_NORMALIZATION, **ARCH)
    raw, normalised = _raw_and_normalised()
    np.testing.assert_allclose(model(normalised)["teacher_logits"],
                               teacher.deployed_model()(raw / 255.0),
                               rtol=1e-4, atol=1e-4)
    # A plain model records no input normalisation: refused.
    tiny_teacher().save(tmp_path / "plain.keras")  # No `normalize` layer.
    with pytest.raises(ValueError, match="does not say what input it takes"):
        methods.build_method_model(
            "kd", teacher=str(tmp_path / "plain.keras"),
            normalization=STUDENT_NORMALIZATION, **ARCH)
