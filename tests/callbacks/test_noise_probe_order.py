"""GradientNoiseProbe draws its minibatches as a pure function of (data seed, step)."""

import keras
import numpy as np

from tfescape.callbacks import GradientNoiseProbe
from tfescape.callbacks.noise_probe import noise_data_epoch
from tfescape.data import get_data_epoch, load_dataset


def _probe_and_pipeline():
    train, _, info = load_dataset("digits", batch_size=16, seed=3, max_train=160, flatten=True)
    model = keras.Sequential([keras.Input(info.input_shape), keras.layers.Dense(info.num_classes)])
    loss = keras.losses.SparseCategoricalCrossentropy(from_logits=True)
    model.compile(keras.optimizers.SGD(0.1), loss)
    probe = GradientNoiseProbe(
        train, every_n_steps=None, at_steps=(0,), num_batches=12, loss=loss, seed=0, max_coordinates=64
    )
    probe.set_model(model)
    return probe, train


def test_measurement_at_a_step_does_not_depend_on_earlier_measurements():
    probe, train = _probe_and_pipeline()
    fresh = probe.measure(5)
    probe.measure(7)
    probe.measure(9)
    again = probe.measure(5)
    assert get_data_epoch(train) == 0  # the training order is left where it was
    assert fresh.global_noise.alpha == again.global_noise.alpha
    np.testing.assert_array_equal(fresh.histogram_counts, again.histogram_counts)
    # A new probe on a new pipeline (as in a restarted process) measures the same batches.
    other, _ = _probe_and_pipeline()
    other.model.set_weights(probe.model.get_weights())
    assert other.measure(5).global_noise.alpha == fresh.global_noise.alpha
    # Another step draws other minibatches.
    assert probe.measure(6).global_noise.alpha != fresh.global_noise.alpha


def test_noise_data_epochs_never_meet_training_epochs():
    assert noise_data_epoch(0) < 0 and noise_data_epoch(1) - noise_data_epoch(0) == -(2**20)
