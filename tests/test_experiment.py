"""Resume, NaN handling and run-level errors of `experiment.run`."""

import keras
import numpy as np
import pytest

from one_keras.training import experiment


TINY = dict(depth=8, width=4, epochs=2, steps_per_epoch=2, eval_steps=1,
            batch_size=16, verbose=0, deterministic=True, seed=3)


class Interrupt(Exception):
    pass


class KillMidEpoch(keras.callbacks.Callback):
    """Raises inside epoch `epoch`, after `batch` batches (a killed job)."""

    def __init__(self, epoch, batch):
        super().__init__()
        self.epoch, self.batch, self.current = epoch, batch, 0

    def on_epoch_begin(self, epoch, logs=None):
        self.current = epoch

    def on_train_batch_end(self, batch, logs=None):
        if self.current == self.epoch and batch == self.batch:
            raise Interrupt()


def _weights(path):
    return keras.models.load_model(path).get_weights()


def _teacher(path):
    """An (untrained) digits teacher `.keras` file for method 'kd': a
    deployable that normalises raw pixels itself, as a run writes (KD
    refuses a file whose input it cannot know)."""
    from one_keras import methods
    from one_keras.models import deployment
    network = methods.build_method_model(
        "vanilla", num_classes=10, input_shape=(8, 8, 1), depth=8, width=4)
    deployment.with_preprocessing(
        network.deployed_model(), {"mean": [0.0], "std": [1.0]}).save(path)
    return str(path)


@pytest.mark.slow  # Three runs; test_training_faults resumes in seconds.
@pytest.mark.parametrize("method", ["one", "vanilla", "kd", "dml",
                                    "ensemble", "snapshot"])
def test_killed_run_resumes_to_the_same_weights(tmp_path, method):
    # Every method's state (peers, frozen teacher, snapshots, optimizer
    # slots) survives the kill: the resumed run ends where a straight one
    # does.
    options = {"method": method, **TINY}
    if method == "kd":
        options["teacher"] = _teacher(tmp_path / "teacher.keras")
    if method == "snapshot":
        options["num_snapshots"] = 2
    straight = experiment.TrainConfig.from_settings(
        **options, output_dir=str(tmp_path / "a"))
    experiment.run(straight)

    resumed = experiment.TrainConfig.from_settings(
        **options, output_dir=str(tmp_path / "b"))
    with pytest.raises(Interrupt):
        experiment.run(resumed, callbacks=[KillMidEpoch(epoch=1, batch=0)])
    assert (tmp_path / "b" / "checkpoint.keras").exists()
    report = experiment.run(resumed)
    assert report["resumed_at_epoch"] == 1
    for want, got in zip(_weights(tmp_path / "a" / "model.keras"),
                         _weights(tmp_path / "b" / "model.keras")):
        np.testing.assert_allclose(got, want, atol=1e-6)
    lines = (tmp_path / "b" / "log.csv").read_text().strip().splitlines()
    assert [line.split(",")[0] for line in lines[1:]] == ["0", "1"]


def test_resuming_with_other_settings_is_refused(tmp_path):
    config = experiment.TrainConfig(**TINY, output_dir=str(tmp_path))
    with pytest.raises(Interrupt):
        experiment.run(config, callbacks=[KillMidEpoch(epoch=1, batch=0)])
    other = experiment.TrainConfig(**{**TINY, "momentum": 0.5},
                                   output_dir=str(tmp_path))
    with pytest.raises(ValueError, match=r"unfinished run with other "
                                         r"settings \(momentum\)"):
        experiment.run(other)


def test_nan_loss_stops_with_advice(tmp_path):
    config = experiment.TrainConfig(**{**TINY, "epochs": 1, "lr": 1e30},
                                    output_dir=str(tmp_path))
    with pytest.raises(FloatingPointError, match="Try a lower --lr"):
        experiment.run(config)
