import numpy as np
import pytest
import tensorflow as tf
from scipy import stats

from tfescape.sde import levy_increments


@pytest.mark.parametrize("alpha", [1.2, 1.5, 1.8])
def test_characteristic_function_is_exp_minus_dt_u_alpha(alpha):
    # E cos(u dL) = exp(-dt |u|^alpha). With n = 2e5 the standard error of the mean of cos is <= 0.0016;
    # the tolerance 0.01 is > 6 standard errors (false-failure rate < 1e-8 per point).
    dt = 0.01
    x = levy_increments([200_000], alpha, dt, seed=3, dtype=tf.float64).numpy()
    for k in (0.3, 1.0, 2.0):
        u = (k / dt) ** (1.0 / alpha)
        assert abs(np.cos(u * x).mean() - np.exp(-k)) < 0.01


def test_matches_scipy_levy_stable_cdf():
    # Empirical CDF at fixed points vs scipy.stats.levy_stable(alpha, 0, scale=dt^(1/alpha)).
    # Binomial standard error <= 0.0011 at n = 2e5; tolerance 0.006 is > 5 standard errors.
    alpha, dt = 1.5, 0.1
    scale = dt ** (1 / alpha)
    x = levy_increments([200_000], alpha, dt, seed=11, dtype=tf.float64).numpy()
    points = np.array([-3.0, -1.0, -0.2, 0.5, 2.0]) * scale
    reference = stats.levy_stable.cdf(points, alpha, 0.0, scale=scale)
    empirical = (x[None, :] <= points[:, None]).mean(axis=1)
    np.testing.assert_allclose(empirical, reference, atol=0.006)


def test_fixed_seed_reproduces_and_seeds_differ():
    a = levy_increments([4, 3], 1.3, 0.5, seed=7)
    b = levy_increments([4, 3], 1.3, 0.5, seed=7)
    c = levy_increments([4, 3], 1.3, 0.5, seed=8)
    np.testing.assert_array_equal(a.numpy(), b.numpy())
    assert not np.allclose(a.numpy(), c.numpy())


def test_eager_equals_graph():
    eager = levy_increments([64, 2], 1.7, 0.01, seed=5)
    graph = tf.function(lambda: levy_increments([64, 2], 1.7, 0.01, seed=5))()
    np.testing.assert_allclose(eager.numpy(), graph.numpy(), rtol=1e-6)


def test_scaling_with_dt_is_dt_to_one_over_alpha():
    # Same seed: the increment at dt is exactly dt^(1/alpha) times the increment at dt = 1.
    one = levy_increments([100], 1.4, 1.0, seed=2, dtype=tf.float64).numpy()
    small = levy_increments([100], 1.4, 0.003, seed=2, dtype=tf.float64).numpy()
    np.testing.assert_allclose(small, 0.003 ** (1 / 1.4) * one, rtol=1e-12)


@pytest.mark.parametrize("alpha", [0.0, -1.0, 2.01, float("nan"), "a"])
def test_bad_alpha_raises(alpha):
    with pytest.raises(ValueError, match="alpha"):
        levy_increments([3], alpha, 0.1)


@pytest.mark.parametrize("dt", [0.0, -0.1, float("inf")])
def test_bad_dt_raises(dt):
    with pytest.raises(ValueError, match="dt"):
        levy_increments([3], 1.5, dt)
