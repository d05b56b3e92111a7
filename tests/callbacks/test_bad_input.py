"""Bad input to every public name of tfescape.callbacks: options checked at construction.

A probe measuring NaN gradients raises a clear ValueError from ``measure`` (during fit the probe logs it
and training continues, with no record appended): never a record with a NaN-derived tail index.
"""

import functools

import keras
import numpy as np
import pytest
import tensorflow as tf

from tests.bad_input import NAN, assert_clear_value_error, assert_every_name_covered, flatten_cases
from tfescape import callbacks


@functools.cache
def _data():
    x = np.random.default_rng(0).normal(size=(16, 3)).astype("float32")
    return tf.data.Dataset.from_tensor_slices((x, np.zeros((16, 1), "float32"))).batch(4)


def _probe(**options):
    return callbacks.GradientNoiseProbe(_data(), **options)


CASES = {
    "GradientNoiseProbe": [
        (lambda: _probe(method="bogus"), "method"),
        (lambda: _probe(confidence=2.0), "confidence"),
        (lambda: _probe(confidence=NAN), "confidence"),
        (lambda: _probe(confidence=0.0), "confidence"),
        (lambda: _probe(interval="wide"), "interval"),
        (lambda: _probe(every_n_steps=0), "every_n_steps"),
        (lambda: _probe(every_n_steps=NAN), "every_n_steps"),
        (lambda: _probe(every_n_steps=None), "at_steps"),
        (lambda: _probe(at_steps=(-1,)), "at_steps"),
        (lambda: _probe(num_batches=1), "num_batches"),
        (lambda: _probe(num_batches=NAN), "num_batches"),
        (lambda: _probe(max_coordinates=0), "max_coordinates"),
        (lambda: _probe(smoothed_beta_1=1.0), "smoothed_beta_1"),
        (lambda: _probe(smoothed_beta_1=NAN), "smoothed_beta_1"),
        (lambda: _probe(histogram_bins=0), "histogram_bins"),
        (lambda: _probe(noise_dataset=[1, 2]), "noise_dataset"),
        (lambda: callbacks.GradientNoiseProbe(np.zeros(3)), "dataset"),
    ],
    "OptimizerStateLogger": [
        (lambda: callbacks.OptimizerStateLogger(""), "log_dir"),
        (lambda: callbacks.OptimizerStateLogger(3), "log_dir"),
        (lambda: callbacks.OptimizerStateLogger("logs", every_n_steps=0), "every_n_steps"),
        (lambda: callbacks.OptimizerStateLogger("logs", every_n_steps=NAN), "every_n_steps"),
    ],
}

RESULT_TYPES = {"LayerNoise", "NoiseProbeRecord"}


def test_every_public_name_has_bad_input_cases():
    assert_every_name_covered(callbacks, CASES, RESULT_TYPES)


@pytest.mark.parametrize("name, call, match", flatten_cases(CASES))
def test_bad_input_gives_a_clear_value_error(name, call, match):
    assert_clear_value_error(call, match)


def test_measuring_nan_gradients_raises_instead_of_recording_nan():
    x = np.random.default_rng(1).normal(size=(16, 3)).astype("float32")
    x[3, 1] = NAN
    data = tf.data.Dataset.from_tensor_slices((x, np.zeros((16, 1), "float32"))).batch(4)
    model = keras.Sequential([keras.Input((3,)), keras.layers.Dense(1)])
    model.compile(keras.optimizers.SGD(0.1), "mse")
    probe = callbacks.GradientNoiseProbe(data, every_n_steps=None, at_steps=(0,), num_batches=4, seed=0)
    probe.set_model(model)
    with pytest.raises(ValueError, match="NaN"):
        probe.measure(0)
    assert probe.history == []
