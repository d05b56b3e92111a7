"""Bad input to every public name of tfescape.hessian: a clear ValueError, never NaN curvature.

NaN anywhere (the operator, the data, the weights) must end in a ValueError that says the Hessian or
the loss is not finite, not in a LinAlgError from Lanczos or a NaN eigenvalue/trace/diagonal.
"""

import functools

import keras
import numpy as np
import pytest
import tensorflow as tf

from tests.bad_input import (
    INF,
    NAN,
    assert_clear_value_error,
    assert_every_name_covered,
    flatten_cases,
)
from tfescape import hessian as hs

_A = np.diag([3.0, 2.0, 1.0])


def _good(v):
    return _A @ v


def _nan(v):
    return _A @ v * NAN


def _one_inf(v):
    return np.r_[(_A @ v)[:2], INF]


@functools.cache
def _problem():
    rng = np.random.default_rng(0)
    x = rng.normal(size=(8, 3)).astype("float32")
    y = rng.normal(size=(8, 1)).astype("float32")
    bad_x = x.copy()
    bad_x[0, 0] = NAN
    model = keras.Sequential([keras.Input((3,)), keras.layers.Dense(1)])
    data = tf.data.Dataset.from_tensor_slices((x, y)).batch(4)
    bad_data = tf.data.Dataset.from_tensor_slices((bad_x, y)).batch(4)
    return model, keras.losses.MeanSquaredError(), data, bad_data


def _on_bad_data(fn, **options):
    model, loss, _, bad_data = _problem()
    return fn(model, loss, bad_data, **options)


def _on_data(fn, **options):
    model, loss, data, _ = _problem()
    return fn(model, loss, data, **options)


NOT_FINITE = "non-finite"

CASES = {
    "HessianOperator": [
        (lambda: _on_data(hs.HessianOperator, method="bogus"), "method"),
        (lambda: hs.HessianOperator(_problem()[0], _problem()[1], 3), "data"),
    ],
    "hessian_vector_product": [
        (lambda: _on_data(hs.hessian_vector_product, vector=np.r_[NAN, 0.0, 0.0, 0.0]), "vector"),
        (lambda: _on_data(hs.hessian_vector_product, vector=np.ones(3)), "shape"),
        (lambda: _on_bad_data(hs.hessian_vector_product, vector=np.ones(4)), NOT_FINITE),
    ],
    "lanczos": [
        (lambda: hs.lanczos(_nan, dim=3, num_iters=3, seed=0), NOT_FINITE),
        (lambda: hs.lanczos(_one_inf, dim=3, num_iters=3, seed=0), NOT_FINITE),
        (lambda: hs.lanczos(_good, dim=0, num_iters=3, seed=0), "dim"),
        (lambda: hs.lanczos(_good, dim=3, num_iters=0, seed=0), "num_iters"),
        (lambda: hs.lanczos(_good, dim=3, num_iters=2, initial_vector=[NAN, 1.0, 1.0]), "initial_vector"),
        (lambda: hs.lanczos(_good, dim=3, num_iters=2, initial_vector=[0.0, 0.0, 0.0]), "initial_vector"),
        (lambda: hs.lanczos(lambda v: np.ones(2), dim=3, num_iters=2, seed=0), "shape"),
    ],
    "lanczos_eigenvalues": [
        (lambda: hs.lanczos_eigenvalues(_nan, dim=3, seed=0), NOT_FINITE),
        (lambda: hs.lanczos_eigenvalues(_good, dim=3, k=0, seed=0), "k must"),
        (lambda: hs.lanczos_eigenvalues(_good, dim=3, k=4, seed=0), "k=4"),
        (lambda: hs.lanczos_eigenvalues(_good, dim=3, tol=NAN, seed=0), "tol"),
        (lambda: hs.lanczos_eigenvalues(_good, dim=3, tol=-1.0, seed=0), "tol"),
    ],
    "block_lanczos_eigenvalues": [
        (lambda: hs.block_lanczos_eigenvalues(lambda v: _A @ v * NAN, dim=3, seed=0), NOT_FINITE),
        (lambda: hs.block_lanczos_eigenvalues(lambda v: _A @ v, dim=3, k=0, seed=0), "k must"),
        (lambda: hs.block_lanczos_eigenvalues(lambda v: _A @ v, dim=3, block_size=4, seed=0), "block_size"),
        (lambda: hs.block_lanczos_eigenvalues(lambda v: _A @ v, dim=3, tol=NAN, seed=0), "tol"),
        (lambda: hs.block_lanczos_eigenvalues(lambda v: _A @ v, dim=3, max_iters=0, seed=0), "max_iters"),
    ],
    "power_iteration": [
        (lambda: hs.power_iteration(_nan, dim=3, seed=0), NOT_FINITE),
        (lambda: hs.power_iteration(_good, dim=3, tol=-1.0, seed=0), "tol"),
        (lambda: hs.power_iteration(_good, dim=3, max_iters=0, seed=0), "max_iters"),
    ],
    "top_eigenvalues_of": [
        (lambda: hs.top_eigenvalues_of(_nan, dim=3, seed=0), NOT_FINITE),
        (lambda: hs.top_eigenvalues_of(_nan, dim=3, method="power", seed=0), NOT_FINITE),
        (lambda: hs.top_eigenvalues_of(_good, dim=3, method="bogus", seed=0), "method"),
    ],
    "trace_of": [
        (lambda: hs.trace_of(_nan, dim=3, seed=0), NOT_FINITE),
        (lambda: hs.trace_of(_nan, dim=3, method="hutchinson", seed=0), NOT_FINITE),
        (lambda: hs.trace_of(_good, dim=3, num_probes=0, seed=0), "num_probes"),
        (lambda: hs.trace_of(_good, dim=3, method="bogus", seed=0), "method"),
    ],
    "diagonal_of": [
        (lambda: hs.diagonal_of(_nan, dim=3, seed=0), NOT_FINITE),
        (lambda: hs.diagonal_of(_nan, dim=3, exact=True), NOT_FINITE),
        (lambda: hs.diagonal_of(_good, dim=3, num_probes=0, seed=0), "num_probes"),
    ],
    "spectral_density_of": [
        (lambda: hs.spectral_density_of(_nan, dim=3, num_iters=3, seed=0), NOT_FINITE),
        (lambda: hs.spectral_density_of(_good, dim=3, num_iters=3, sigma=-1.0, seed=0), "sigma"),
        (lambda: hs.spectral_density_of(_good, dim=3, num_iters=3, sigma=INF, seed=0), "sigma"),
        (lambda: hs.spectral_density_of(_good, dim=3, num_iters=3, grid=[0.0, NAN], seed=0), "grid"),
        (lambda: hs.spectral_density_of(_good, dim=3, num_iters=3, num_grid=0, seed=0), "num_grid"),
        (lambda: hs.spectral_density_of(_good, dim=3, num_iters=0, seed=0), "num_iters"),
    ],
    "top_eigenvalues": [
        (lambda: _on_bad_data(hs.top_eigenvalues, seed=0), NOT_FINITE),
        (lambda: _on_bad_data(hs.top_eigenvalues, method="power", seed=0), NOT_FINITE),
        (lambda: _on_data(hs.top_eigenvalues, k=0, seed=0), "k must"),
    ],
    "trace": [
        (lambda: _on_bad_data(hs.trace, num_probes=4, seed=0), NOT_FINITE),
        (lambda: _on_data(hs.trace, method="bogus", seed=0), "method"),
    ],
    "diagonal": [
        (lambda: _on_bad_data(hs.diagonal, num_probes=2, seed=0), NOT_FINITE),
        (lambda: _on_data(hs.diagonal, num_probes=1, seed=0), "num_probes"),
    ],
    "spectral_density": [
        (lambda: _on_bad_data(hs.spectral_density, num_iters=2, num_random_starts=1, seed=0), NOT_FINITE),
        (lambda: _on_data(hs.spectral_density, num_random_starts=0, seed=0), "num_random_starts"),
    ],
    "epsilon_sharpness": [
        (lambda: _on_bad_data(hs.epsilon_sharpness, max_steps=1, seed=0), "loss"),
        (lambda: _on_data(hs.epsilon_sharpness, epsilon=-1.0, seed=0), "epsilon"),
        (lambda: _on_data(hs.epsilon_sharpness, epsilon=INF, seed=0), "epsilon"),
        (lambda: _on_data(hs.epsilon_sharpness, step_size=NAN, seed=0), "step_size"),
        (lambda: _on_data(hs.epsilon_sharpness, method="bogus", seed=0), "method"),
    ],
    "filter_normalized_direction": [
        (lambda: hs.filter_normalized_direction(3, seed=0), "HessianOperator"),
    ],
    "loss_landscape_1d": [
        (lambda: _on_bad_data(hs.loss_landscape_1d, alphas=[0.0, 1.0], seed=0), "loss"),
        (lambda: _on_data(hs.loss_landscape_1d, alphas=[0.0, NAN], seed=0), "alphas"),
        (lambda: _on_data(hs.loss_landscape_1d, alphas=[], seed=0), "alphas"),
        (lambda: _on_data(hs.loss_landscape_1d, direction=np.r_[NAN, 0.0, 0.0, 0.0]), "direction"),
        (lambda: _on_data(hs.loss_landscape_1d, direction=np.ones(3)), "direction"),
    ],
    "loss_landscape_2d": [
        (lambda: _on_bad_data(hs.loss_landscape_2d, alphas=[0.0], betas=[0.0], seed=0), "loss"),
        (lambda: _on_data(hs.loss_landscape_2d, alphas=[0.0], betas=[INF], seed=0), "betas"),
        (
            lambda: _on_data(hs.loss_landscape_2d, alphas=[0.0], betas=[0.0], directions=np.ones((3, 4))),
            "directions",
        ),
    ],
    "probe_sharpness": [
        (lambda: _on_data(hs.probe_sharpness, trace_samples=2), "trace_samples"),
        (lambda: _on_bad_data(hs.probe_sharpness, k=1, lanczos_iters=3, trace_samples=4), NOT_FINITE),
    ],
}

RESULT_TYPES = {
    "BlockLanczosResult",
    "SharpnessProbe",
    "DensityResult",
    "DiagonalResult",
    "EigenResult",
    "LandscapeResult",
    "LanczosResult",
    "SharpnessResult",
    "TraceResult",
}


def test_every_public_name_has_bad_input_cases():
    assert_every_name_covered(hs, CASES, RESULT_TYPES)


@pytest.mark.parametrize("name, call, match", flatten_cases(CASES))
def test_bad_input_gives_a_clear_value_error(name, call, match):
    assert_clear_value_error(call, match)


def test_the_weights_are_restored_after_a_nan_loss_error():
    model, loss, _, bad_data = _problem()
    before = [w.copy() for w in model.get_weights()]
    with pytest.raises(ValueError):
        hs.epsilon_sharpness(model, loss, bad_data, max_steps=1, seed=0)
    for a, b in zip(before, model.get_weights(), strict=True):
        np.testing.assert_array_equal(a, b)
