"""epsilon-sharpness and filter-normalized loss landscapes against closed forms."""

import keras
import numpy as np
import pytest

from tests.hessian.hessian_cases import dense_model, half_mse, linear_regression
from tfescape.hessian import (
    HessianOperator,
    epsilon_sharpness,
    filter_normalized_direction,
    loss_landscape_1d,
    loss_landscape_2d,
)

EIGENVALUES = np.array([3.0, 1.0, 0.5, 0.1])


@pytest.fixture(scope="module")
def separable_minimum():
    """Least squares with X^T X / n = diag(EIGENVALUES), at its minimum w*.

    f(w* + y) = f* + 0.5 sum_i lambda_i y_i^2, so the maximum over |y_i| <= b_i is at any vertex:
    f* + 0.5 sum_i lambda_i b_i^2 with b_i = eps (|w*_i| + 1).
    """
    rng = np.random.default_rng(0)
    n, d = 30, len(EIGENVALUES)
    u, _ = np.linalg.qr(rng.standard_normal((n, d)))
    x = np.sqrt(n) * u * np.sqrt(EIGENVALUES)
    y = x @ np.array([[1.0], [-2.0], [0.5], [3.0]]) + rng.standard_normal((n, 1))
    w_star = np.linalg.lstsq(x, y, rcond=None)[0]
    model = dense_model(d, 1)
    model.set_weights([w_star])
    f_star = 0.5 * np.mean((x @ w_star - y) ** 2)
    return model, x, y, w_star.ravel(), f_star


@pytest.mark.parametrize("method", ["projected_gradient", "lbfgs-b"])
def test_epsilon_sharpness_of_a_separable_quadratic(separable_minimum, method):
    model, x, y, w_star, f_star = separable_minimum
    eps = 1e-2
    bound = eps * (np.abs(w_star) + 1.0)
    f_max = f_star + 0.5 * np.sum(EIGENVALUES * bound**2)
    result = epsilon_sharpness(model, half_mse, (x, y), epsilon=eps, method=method, seed=0)
    assert result.base_loss == pytest.approx(f_star, rel=1e-12)
    assert result.max_loss == pytest.approx(f_max, rel=1e-9)
    assert result.sharpness == pytest.approx(100 * (f_max - f_star) / (1 + f_star), rel=1e-6)
    assert np.all(np.abs(result.perturbation) <= bound * (1 + 1e-12))
    np.testing.assert_array_equal(model.get_weights()[0].ravel(), w_star)  # weights restored
    assert result.method == method and result.num_evaluations >= 2


def test_sharper_minimum_has_larger_sharpness(separable_minimum):
    # Same minimizer and residuals (same f*), Hessian x 100: the sharpness grows exactly 100-fold.
    model, x, y, w_star, _ = separable_minimum
    residual = y - x @ w_star[:, None]
    flat = epsilon_sharpness(model, half_mse, (x, y), epsilon=1e-2, seed=0)
    sharp = epsilon_sharpness(
        model, half_mse, (10 * x, 10 * x @ w_star[:, None] + residual), epsilon=1e-2, seed=0
    )
    assert sharp.base_loss == pytest.approx(flat.base_loss, rel=1e-10)
    assert sharp.sharpness == pytest.approx(100 * flat.sharpness, rel=1e-6)


def test_landscapes_follow_the_quadratic_closed_form():
    case = linear_regression(n=40, d=5, use_bias=True)
    data = (case.x, case.y)
    op = HessianOperator(case.model, case.loss, data)
    f0, g = op.loss_and_gradient()
    alphas = np.linspace(-1.0, 1.0, 5)
    line = loss_landscape_1d(case.model, case.loss, data, alphas=alphas, seed=0)
    d = line.directions[0]
    expected = f0 + alphas * (g @ d) + 0.5 * alphas**2 * (d @ case.hessian @ d)
    np.testing.assert_allclose(line.losses, expected, rtol=1e-10)
    assert line.base_loss == pytest.approx(f0) and line.betas is None
    assert d[-1] == 0.0  # the bias (a one-axis tensor) is not perturbed by default
    plane = loss_landscape_2d(case.model, case.loss, data, alphas=alphas, betas=alphas[:3], seed=1)
    d1, d2 = plane.directions
    a, b = np.meshgrid(alphas, alphas[:3], indexing="ij")
    step = a[..., None] * d1 + b[..., None] * d2
    quadratic = 0.5 * np.einsum("abi,ij,abj->ab", step, case.hessian, step)
    np.testing.assert_allclose(plane.losses, f0 + step @ g + quadratic, rtol=1e-10)
    assert plane.losses.shape == (5, 3)
    np.testing.assert_array_equal(
        op.get_flat_weights(), HessianOperator(case.model, case.loss, data).get_flat_weights()
    )


def test_filter_normalization_with_batchnorm():
    inputs = keras.Input((6, 6, 2))
    h = keras.layers.Conv2D(4, 3, use_bias=False, name="conv")(inputs)
    h = keras.layers.BatchNormalization(name="bn")(h)
    h = keras.layers.GlobalAveragePooling2D()(h)
    model = keras.Model(inputs, keras.layers.Dense(3, name="head")(h))
    rng = np.random.default_rng(0)
    x = rng.standard_normal((8, 6, 6, 2)).astype(np.float32)
    y = rng.integers(0, 3, 8)
    loss = keras.losses.SparseCategoricalCrossentropy(from_logits=True)
    op = HessianOperator(model, loss, (x, y))
    direction = op.unflatten(filter_normalized_direction(op, seed=0))
    weights = op.unflatten(op.get_flat_weights())
    for var, d, w in zip(op.variables, direction, weights, strict=True):
        if w.ndim >= 2:  # conv kernel (3, 3, 2, 4): 4 filters; dense kernel (4, 3): 3 units
            axes = tuple(range(w.ndim - 1))
            np.testing.assert_allclose(
                np.linalg.norm(d, axis=axes) if w.ndim == 2 else np.sqrt((d**2).sum(axis=axes)),
                np.sqrt((w**2).sum(axis=axes)),
                rtol=1e-6,
            )
        else:  # BatchNorm gamma/beta and the head's bias: zero direction
            assert not d.any(), var.path
    kept = op.unflatten(filter_normalized_direction(op, seed=0, ignore_bias_and_bn=False))
    gamma = [i for i, v in enumerate(op.variables) if v.path.endswith("gamma")][0]
    np.testing.assert_allclose(kept[gamma], weights[gamma])
    stats_before = [v.numpy().copy() for v in model.non_trainable_variables]
    result = loss_landscape_1d(model, loss, (x, y), alphas=[-0.5, 0.0, 0.5], seed=0)
    assert result.losses[1] == pytest.approx(result.base_loss, rel=1e-6)
    for before, var in zip(stats_before, model.non_trainable_variables, strict=True):
        np.testing.assert_array_equal(before, var.numpy())  # moving statistics untouched


def test_bad_inputs(separable_minimum):
    model, x, y, _, _ = separable_minimum
    with pytest.raises(ValueError, match="Unknown method"):
        epsilon_sharpness(model, half_mse, (x, y), method="adam")
    with pytest.raises(ValueError, match="epsilon"):
        epsilon_sharpness(model, half_mse, (x, y), epsilon=0.0)
    with pytest.raises(ValueError, match="alphas"):
        loss_landscape_1d(model, half_mse, (x, y), alphas=[])
    with pytest.raises(ValueError, match="direction"):
        loss_landscape_1d(model, half_mse, (x, y), direction=np.ones(3))
