"""One escape prediction for any diagonal preconditioner, and the reduced basin of a trained minimum."""

import math

import numpy as np
import pytest
from scipy import special

from tfescape import sde
from tfescape.sde import theory


def _closed_form_rate(alpha, g_columns, hessian, height):
    c = special.gamma(1 + alpha) * math.sin(math.pi * alpha / 2) / math.pi
    return sum(2 * c / alpha * (g @ hessian @ g / (2 * height)) ** (alpha / 2) for g in g_columns.T)


def test_prediction_matches_the_closed_form_for_sgd_and_a_diagonal_preconditioner():
    alpha, eta, h = 1.4, 0.01, 0.3
    hess = np.diag([10.0, 1.0])
    s, q = np.array([1.0, 0.2]), np.array([2.0, 0.5])
    eps = eta ** ((alpha - 1) / alpha)
    sgd = theory.predict_optimizer_escape(
        alpha=alpha, noise_scale=s, hessian=[10.0, 1.0], height=h, learning_rate=eta
    )
    adam = theory.predict_optimizer_escape(
        alpha=alpha, noise_scale=s, hessian=[10.0, 1.0], height=h, learning_rate=eta, preconditioner=q
    )
    assert sgd.rate == pytest.approx(_closed_form_rate(alpha, eps * np.diag(s), hess, h), rel=1e-12)
    assert adam.rate == pytest.approx(_closed_form_rate(alpha, eps * np.diag(s / q), hess, h), rel=1e-12)
    assert sgd.iterations == pytest.approx(1 / sgd.rate / eta)
    assert sgd.theta * sgd.m_w == pytest.approx(sgd.rate)
    pair = theory.predict_escape(
        alpha=alpha, noise_scale=s, preconditioner=q, hessian=[10.0, 1.0], height=h, learning_rate=eta
    )
    assert pair.sgd_mean_exit_time == sgd.mean_exit_time and pair.adam_mean_exit_time == adam.mean_exit_time


def test_a_preconditioner_seen_through_a_basis_is_v_transpose_q_inverse_v():
    rng = np.random.default_rng(0)
    v, _ = np.linalg.qr(rng.standard_normal((7, 2)))
    q = rng.uniform(0.5, 2.0, 7)
    p = theory.preconditioner_projection(q, dim=2, basis=v)
    np.testing.assert_allclose(p, v.T @ np.diag(1 / q) @ v, rtol=1e-12)
    np.testing.assert_array_equal(theory.preconditioner_projection(None, dim=2, basis=v), np.eye(2))
    full = theory.predict_optimizer_escape(
        alpha=1.5, noise_scale=[0.3, 0.1], hessian=[4.0, 1.0], height=0.2, eps=0.1, preconditioner=q, basis=v
    )
    assert full.rate == pytest.approx(
        _closed_form_rate(1.5, 0.1 * p @ np.diag([0.3, 0.1]), np.diag([4.0, 1.0]), 0.2), rel=1e-12
    )
    with pytest.raises(ValueError, match="one value per parameter"):
        theory.preconditioner_projection(q[:3], dim=2, basis=v)
    with pytest.raises(ValueError, match="finite and > 0"):
        theory.preconditioner_projection(-q, dim=2, basis=v)


def test_discrete_correction_in_a_basis_equals_the_diagonal_one_when_the_basis_is_the_axes():
    kwargs = dict(
        alpha=1.5, noise_scale=[1.0, 0.1], hessian=[10.0, 1.0], height=0.5, learning_rate=0.01, beta_1=0.9
    )
    q = np.array([1.0, 0.1])
    axes = theory.predict_optimizer_escape(preconditioner=q, basis=np.eye(2), **kwargs)
    plain = theory.predict_optimizer_escape(preconditioner=q, **kwargs)
    assert axes.discrete_mean_exit_time == pytest.approx(plain.discrete_mean_exit_time, rel=1e-9)
    assert axes.discrete_mean_exit_time > axes.mean_exit_time  # momentum spreads the kicks: slower exits


def test_reduced_basin_keeps_positive_eigenpairs_and_scales_the_projected_noise():
    rng = np.random.default_rng(1)
    v, _ = np.linalg.qr(rng.standard_normal((5, 3)))
    w = rng.standard_normal((400, 5))
    basin = sde.reduce_basin([2.0, -1.0, 0.5], v, noise_vectors=w, alpha=2.0, height=0.1, seed=0)
    np.testing.assert_array_equal(basin.eigenvalues, [2.0, 0.5])
    # alpha = 2: SaS(2, s) is N(0, 2 s^2) and the projections are N(0, 1): s = 1/sqrt(2) up to sampling.
    np.testing.assert_allclose(basin.noise_scale, 1 / math.sqrt(2), rtol=0.12)
    with pytest.raises(ValueError, match="not a minimum"):
        sde.reduce_basin([-1.0, 0.0, np.nan], v, noise_vectors=w, alpha=1.5, height=0.1)
    with pytest.raises(ValueError, match="NaN or inf"):
        sde.reduce_basin([1.0, 1.0, 1.0], v, noise_vectors=np.full((3, 5), np.nan), alpha=1.5, height=0.1)
    with pytest.raises(ValueError, match="height"):
        sde.reduce_basin([1.0, 1.0, 1.0], v, noise_vectors=w, alpha=1.5, height=0.0)


def test_basin_escape_simulation_agrees_with_its_prediction_at_small_noise():
    basin = sde.ReducedBasin(np.array([4.0, 1.0]), np.eye(2), np.array([1.0, 0.3]), 0.5)
    escape = sde.basin_escape(basin, alpha=1.5, learning_rate=1e-3, num_paths=400, max_steps=8000, seed=0)
    assert escape.escaped_fraction > 0.9
    # 400 paths: the mean's standard error is ~5% (4 s.d. = 20%); the exit law is asymptotic, allow 25%.
    assert escape.simulated_time == pytest.approx(escape.predicted_time, rel=0.25)
    assert escape.simulated_iterations == pytest.approx(escape.simulated_time / 1e-3)
