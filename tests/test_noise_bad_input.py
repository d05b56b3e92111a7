"""Bad input to every public name of tfescape.noise: a clear ValueError or a documented NaN result.

Documented results (not errors): NaN data give a FullGradient whose ``loss`` is NaN and noise vectors
with NaN entries (never a finite number); ``flatten`` keeps NaN. A loss callable that reduces over
the batch is rejected, and a per-example one gives the exact full gradient.
"""

import functools
import math

import keras
import numpy as np
import pytest
import tensorflow as tf

from tests.bad_input import NAN, assert_clear_value_error, assert_every_name_covered, flatten_cases
from tfescape import noise


@functools.cache
def _problem():
    rng = np.random.default_rng(0)
    x = rng.normal(size=(16, 3)).astype("float32")
    y = rng.normal(size=(16, 1)).astype("float32")
    bad_x = x.copy()
    bad_x[0, 0] = NAN
    model = keras.Sequential([keras.Input((3,)), keras.layers.Dense(1)])
    data = tf.data.Dataset.from_tensor_slices((x, y)).batch(4)
    bad_data = tf.data.Dataset.from_tensor_slices((bad_x, y)).batch(4)
    return model, data, bad_data, x, y


def _batch_mean_loss(y_true, y_pred):
    return tf.reduce_mean(tf.square(y_true - y_pred))


def _per_example_loss(y_true, y_pred):
    return tf.reduce_mean(tf.square(y_true - y_pred), axis=-1)


_MSE = keras.losses.MeanSquaredError()


def _first(iterator):
    return next(iter(iterator))


CASES = {
    "check_pooling": [(lambda: noise.check_pooling("paper"), "pooling")],
    "pool_columns": [
        (lambda: noise.pool_columns(np.ones(3)), "batches, coordinates"),
        (lambda: noise.pool_columns(np.ones((2, 2)), pooling="scaled"), "pooling"),
    ],
    "pool_noise": [
        (lambda: noise.pool_noise([], []), "non-empty"),
        (lambda: noise.pool_noise([np.ones((2, 2))], [4], pooling="none"), "pooling"),
    ],
    "load_noise_samples": [
        (lambda: noise.load_noise_samples("/nonexistent/noise_step00000001.npz"), "exist")
    ],
    "load_pool": [(lambda: noise.load_pool("/nonexistent/noise_step00000001.npz"), "exist")],
    "save_noise_samples": [
        (
            lambda: noise.save_noise_samples(
                noise.NoiseSamples(1, ("a",), (np.ones(3),), (np.arange(3),), (3,)), "/tmp/tfescape-bad-input"
            ),
            "noise must be",
        )
    ],
    "samples_path": [(lambda: noise.samples_path("folder", -1), "step")],
    "sample_steps": [(lambda: noise.sample_steps(3), "folder")],
    "NoiseStatistics": [
        (lambda: noise.NoiseStatistics().update([np.array([NAN, 1.0])]), "NaN"),
        (lambda: noise.NoiseStatistics().result(), "at least 2"),
        (lambda: [s := noise.NoiseStatistics(), s.update([np.ones(2)]), s.update([np.ones(3)])], "shapes"),
    ],
    "batch_gradient_fn": [
        (lambda: noise.batch_gradient_fn(keras.Sequential([keras.layers.Dense(1)]), loss=_MSE), "build"),
        (lambda: noise.batch_gradient_fn(_problem()[0], loss=object()), "loss"),
        (lambda: noise.batch_gradient_fn(_problem()[0]), "loss"),
    ],
    "full_gradient": [
        (lambda: noise.full_gradient(_problem()[0], _problem()[1], loss=_batch_mean_loss), "per-example"),
        (lambda: noise.full_gradient(_problem()[0], [1, 2], loss=_MSE), "dataset"),
        (lambda: noise.full_gradient(_problem()[0], _problem()[1].take(0), loss=_MSE), "no examples"),
        (lambda: noise.full_gradient(_problem()[0], _problem()[1], loss=_MSE, max_batches=0), "max_batches"),
        (lambda: noise.full_gradient(_problem()[0], _problem()[1], loss=3), "loss"),
        (lambda: noise.full_gradient(_problem()[0], _problem()[1].map(lambda a, b: a), loss=_MSE), "(x, y)"),
    ],
    "minibatch_gradients": [
        (
            lambda: _first(noise.minibatch_gradients(_problem()[0], _problem()[1], loss=_MSE, num_batches=0)),
            "num_batches",
        ),
        (
            lambda: _first(
                noise.minibatch_gradients(_problem()[0], _problem()[1], loss=_MSE, num_batches=1.5)
            ),
            "num_batches",
        ),
        (lambda: _first(noise.minibatch_gradients(_problem()[0], "data", loss=_MSE)), "dataset"),
        (
            lambda: _first(noise.minibatch_gradients(_problem()[0], _problem()[1], loss=_batch_mean_loss)),
            "per-example",
        ),
    ],
    "gradient_noise": [
        (
            lambda: _first(noise.gradient_noise(_problem()[0], _problem()[1], noise_dataset=3, loss=_MSE)),
            "noise_dataset",
        ),
        (lambda: _first(noise.gradient_noise(_problem()[0], None, loss=_MSE)), "dataset"),
        (
            lambda: _first(noise.gradient_noise(_problem()[0], _problem()[1], loss=_batch_mean_loss)),
            "per-example",
        ),
    ],
    "smoothed_gradient_noise": [
        (
            lambda: _first(
                noise.smoothed_gradient_noise(_problem()[0], _problem()[1], beta_1=1.0, loss=_MSE)
            ),
            "beta_1",
        ),
        (
            lambda: _first(
                noise.smoothed_gradient_noise(_problem()[0], _problem()[1], beta_1=NAN, loss=_MSE)
            ),
            "beta_1",
        ),
    ],
    "flatten": [
        (lambda: noise.flatten([]), "at least one"),
    ],
}

RESULT_TYPES = {
    "FullGradient",
    "MinibatchGradient",
    "NoiseSample",
    "NoiseMoments",
    "NoiseSamples",
    "NoisePool",
    "POOLINGS",
}


def test_every_public_name_has_bad_input_cases():
    assert_every_name_covered(noise, CASES, RESULT_TYPES)


@pytest.mark.parametrize("name, call, match", flatten_cases(CASES))
def test_bad_input_gives_a_clear_value_error(name, call, match):
    assert_clear_value_error(call, match)


def test_nan_data_give_a_flagged_nan_result_never_a_finite_number():
    model, _, bad_data, _, _ = _problem()
    full = noise.full_gradient(model, bad_data, loss=_MSE)
    assert not math.isfinite(full.loss)
    assert not np.all(np.isfinite(noise.flatten(full.gradients)))
    sample = _first(noise.gradient_noise(model, bad_data, loss=_MSE, num_batches=1))
    assert not np.all(np.isfinite(noise.flatten(sample.noise)))
    assert np.isnan(noise.flatten([np.array([NAN])])).all()


def test_a_per_example_loss_callable_gives_the_exact_full_gradient():
    """Oracle: for a linear model and mean squared error, grad F = (2/N) X1^T (X1 w - y)."""
    model, data, _, x, y = _problem()
    kernel, bias = (v.numpy().astype(np.float64) for v in model.trainable_variables)
    residual = x.astype(np.float64) @ kernel + bias - y
    expected_kernel = 2.0 * x.T.astype(np.float64) @ residual / len(x)
    expected_bias = 2.0 * residual.mean(axis=0)
    full = noise.full_gradient(model, data, loss=_per_example_loss)
    np.testing.assert_allclose(full.gradients[0].numpy(), expected_kernel, rtol=1e-5, atol=1e-6)
    np.testing.assert_allclose(full.gradients[1].numpy(), expected_bias, rtol=1e-5, atol=1e-6)
