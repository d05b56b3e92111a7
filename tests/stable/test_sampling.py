"""Chambers-Mallows-Stuck samplers: distribution (DKW bounds against scipy's cdf), reproducibility, shapes."""

import numpy as np
import pytest
import tensorflow as tf
from scipy.stats import levy_stable

from tfescape.stable.distribution import Stable, SymmetricStable
from tfescape.stable.sampling import (
    _stable_from_inputs,
    _symmetric_from_inputs,
    stable_sample,
    symmetric_stable_sample,
)

N = 20000
# DKW: P(sup_x |F_n(x) - F(x)| > eps) <= 2 exp(-2 n eps^2). With eps below this is 1e-6 per check, so the
# false-failure rate of each test is below 1e-5.
EPS = np.sqrt(np.log(2 / 1e-6) / (2 * N))


@pytest.fixture(autouse=True)
def _restore_scipy_settings():
    saved = levy_stable.parameterization
    yield
    levy_stable.parameterization = saved


def _max_cdf_gap(draws, alpha, beta, scale, loc, parameterization):
    levy_stable.parameterization = parameterization
    draws = np.sort(np.asarray(draws, np.float64))
    grid = np.quantile(draws, np.linspace(0.03, 0.97, 25))
    ref = levy_stable.cdf(grid, alpha, beta, loc=loc, scale=scale)
    emp = np.searchsorted(draws, grid, side="right") / draws.size
    return np.max(np.abs(emp - ref))


@pytest.mark.parametrize("alpha", [0.7, 1.0, 1.5, 2.0])
def test_symmetric_sampler_dkw(alpha):
    x = symmetric_stable_sample([N], alpha, scale=1.5, seed=11, dtype=tf.float64)
    assert _max_cdf_gap(x, alpha, 0.0, 1.5, 0.0, "S0") < EPS


@pytest.mark.parametrize("parameterization", ["S0", "S1"])
@pytest.mark.parametrize("alpha,beta", [(1.0, 0.8), (1.0, -1.0), (1.5, -0.6), (0.6, 1.0), (1.9, 0.5)])
def test_skewed_sampler_dkw(alpha, beta, parameterization):
    x = stable_sample([N], alpha, beta, scale=2.0, loc=-0.5, parameterization=parameterization, seed=7)
    assert _max_cdf_gap(x, alpha, beta, 2.0, -0.5, parameterization) < EPS


def test_scale_log_shift_at_alpha_one_in_s1():
    # In S1 at alpha = 1, X = loc + scale Z1 + (2/pi) beta scale log(scale): check the median moves so.
    seed = 3
    a = stable_sample([N], 1.0, 0.9, scale=5.0, parameterization="S1", seed=seed, dtype=tf.float64).numpy()
    b = stable_sample([N], 1.0, 0.9, scale=1.0, parameterization="S1", seed=seed, dtype=tf.float64).numpy()
    np.testing.assert_allclose(a, 5.0 * b + 2 / np.pi * 0.9 * 5.0 * np.log(5.0), rtol=1e-10, atol=1e-10)


def test_seeds_reproducible_and_distinct():
    a = stable_sample([100], 1.3, 0.2, seed=5)
    b = stable_sample([100], 1.3, 0.2, seed=5)
    c = stable_sample([100], 1.3, 0.2, seed=6)
    np.testing.assert_array_equal(a, b)
    assert not np.array_equal(a, c)
    d = SymmetricStable(1.7, scale=0.3)
    np.testing.assert_array_equal(d.sample(10, seed=(1, 2)), d.sample(10, seed=(1, 2)))


def test_symmetric_sampler_keeps_its_signature():
    x = symmetric_stable_sample([3, 4], [1.2, 1.5, 1.8, 2.0], scale=2.0, seed=1)
    assert x.shape == [3, 4] and x.dtype == tf.float32
    assert np.all(np.isfinite(x))


def test_distribution_sample_shapes_dtypes_and_finiteness():
    d = Stable([0.6, 1.0, 1.7], [1.0, -0.5, 0.0], scale=[[1.0], [1e-3]], loc=2.0, parameterization="S1")
    x = d.sample([6, 5], seed=2)
    assert x.shape == [6, 5, 2, 3] and x.dtype == tf.float32
    assert np.all(np.isfinite(x))
    x64 = Stable(np.float64(1.0001), np.float64(0.7)).sample(1000, seed=4)
    assert x64.dtype == tf.float64 and np.all(np.isfinite(x64))


def test_sample_in_graph_and_xla():
    d = Stable(1.4, 0.3)
    eager = d.sample(50, seed=(3, 4)).numpy()
    graph = tf.function(lambda: d.sample(50, seed=(3, 4)))().numpy()
    np.testing.assert_allclose(graph, eager, rtol=1e-6)
    # Under XLA the seed-splitting kernels draw another (still deterministic) stream.
    xla_fn = tf.function(lambda: d.sample(N, seed=(3, 4)), jit_compile=True)
    xla = xla_fn().numpy()
    np.testing.assert_array_equal(xla, xla_fn().numpy())
    assert _max_cdf_gap(xla, 1.4, 0.3, 1.0, 0.0, "S0") < EPS


# --- The Chambers-Mallows-Stuck map on given (V, W), against scipy's own map -------------------------------


def _scipy_inputs_and_s1_draws(alpha, beta, n, seed):
    """scipy's S1 draws and the V ~ U(-pi/2, pi/2), W ~ Exp(1) it drew them from (same Generator stream)."""
    levy_stable.parameterization = "S1"
    draws = levy_stable.rvs(alpha, beta, size=n, random_state=np.random.default_rng(seed))
    rng = np.random.default_rng(seed)
    v = -np.pi / 2 + np.pi * rng.uniform(0.0, 1.0, n)
    w = rng.standard_exponential(n)
    return v, w, draws


def _scaled_error(x, ref):
    return np.abs(np.asarray(x, np.float64) - ref) / (1.0 + np.abs(ref))


MAP_CASES = [
    (1.3, 0.5),
    (1.5, 0.0),
    (0.6, 1.0),
    (0.5, -1.0),
    (1.9, -0.5),
    (1.0, 0.8),
    (1.0, 0.0),
    (1.001, 0.5),
    (0.999, -0.7),
    (2.0, 0.3),
]


@pytest.mark.parametrize("alpha,beta", MAP_CASES)
def test_skewed_map_matches_scipy_on_the_same_inputs(alpha, beta):
    # scipy.stats.levy_stable.rvs uses Nolan's form of the map; ours is the exp-of-logs form (Weron's).
    v, w, ref = _scipy_inputs_and_s1_draws(alpha, beta, 20000, seed=5)
    params = [tf.constant(p, tf.float64) for p in (alpha, beta, 1.0, 0.0)]
    x = _stable_from_inputs(tf.constant(v), tf.constant(np.log(w)), *params, "S1")
    assert np.max(_scaled_error(x, ref)) < 1e-9


@pytest.mark.parametrize("alpha", [0.5, 1.0, 1.5, 2.0])
def test_symmetric_map_matches_scipy_on_the_same_inputs(alpha):
    v, w, ref = _scipy_inputs_and_s1_draws(alpha, 0.0, 20000, seed=6)
    x = _symmetric_from_inputs(
        tf.constant(v), tf.constant(np.log(w)), tf.constant(alpha, tf.float64), tf.constant(1.0, tf.float64)
    )
    assert np.max(_scaled_error(x, ref)) < 1e-9


@pytest.mark.parametrize("parameterization", ["S0", "S1"])
@pytest.mark.parametrize(
    "alpha,beta",
    [
        (1.3, 0.5),
        (1.5, 0.0),
        (0.6, 1.0),
        (0.5, -1.0),
        (1.9, -0.5),
        (1.11, 0.8),
        (0.89, 0.8),
        (0.3, 0.5),
        (2.0, 0.3),
    ],
)
def test_float32_map_agrees_with_float64_on_the_same_inputs(alpha, beta, parameterization):
    # float32 output is computed in float32 when alpha is not within 0.1 of 1. On inputs that are exact in
    # both dtypes the two agree to float32 rounding except where the map itself is ill conditioned
    # (cos(V - alpha (V + B)) near 0 for beta = +-1), which the tail quantiles leave out.
    v, w, _ = _scipy_inputs_and_s1_draws(alpha, beta, 20000, seed=8)
    v32, log_w32 = tf.constant(v, tf.float32), tf.constant(np.log(w), tf.float32)
    params = (alpha, beta, 2.0, -0.5)
    x32 = _stable_from_inputs(v32, log_w32, *(tf.constant(p, tf.float32) for p in params), parameterization)
    x64 = _stable_from_inputs(
        tf.cast(v32, tf.float64),
        tf.cast(log_w32, tf.float64),
        *(tf.constant(p, tf.float64) for p in params),
        parameterization,
    )
    assert x32.dtype == tf.float32
    err = _scaled_error(x32, x64.numpy())
    assert np.median(err) < 1e-6
    assert np.quantile(err, 0.999) < 5e-5
    assert np.max(err) < 2e-2


@pytest.mark.parametrize("alpha", [0.7, 1.0, 1.5, 2.0])
def test_symmetric_sampler_float32_dkw(alpha):
    x = symmetric_stable_sample([N], alpha, scale=1.5, seed=12)
    assert x.dtype == tf.float32
    assert _max_cdf_gap(x, alpha, 0.0, 1.5, 0.0, "S0") < EPS


@pytest.mark.parametrize("parameterization", ["S0", "S1"])
@pytest.mark.parametrize("alpha,beta", [(0.999, 0.5), (1.001, -0.5), (1.12, 0.9), (0.88, -0.9)])
def test_skewed_sampler_near_alpha_one_dkw(alpha, beta, parameterization):
    # Near alpha = 1 the S0 shift beta tan(pi alpha / 2) is large (about 318 at 0.999): a wrong sign or a
    # cancelled shift moves the whole law. 1.12 and 0.88 are drawn in float32, the others in float64.
    x = stable_sample([N], alpha, beta, scale=2.0, loc=-0.5, parameterization=parameterization, seed=9)
    assert _max_cdf_gap(x, alpha, beta, 2.0, -0.5, parameterization) < EPS


@pytest.mark.parametrize("alpha", [1.05, 0.95, 1.0])
def test_float32_draws_near_alpha_one_are_the_float64_draws_rounded(alpha):
    x32 = stable_sample([1000], alpha, 0.7, scale=3.0, seed=4, dtype=tf.float32)
    x64 = stable_sample([1000], alpha, 0.7, scale=3.0, seed=4, dtype=tf.float64)
    np.testing.assert_array_equal(x32, tf.cast(x64, tf.float32))


@pytest.mark.parametrize("dtype", [tf.float32, tf.float64])
@pytest.mark.parametrize(
    "alpha,beta", [(1.3, 0.5), (1.0, -0.4), (1.05, 0.9), ([0.8, 1.0, 1.6], [0.2, 0.5, -1.0])]
)
def test_same_seed_same_draws_eager_and_tf_function(alpha, beta, dtype):
    def skewed():
        return stable_sample([500, 3], alpha, beta, scale=1.5, seed=(4, 5), dtype=dtype)

    def symmetric():
        return symmetric_stable_sample([500, 3], alpha, scale=1.5, seed=(4, 5), dtype=dtype)

    for draw in (skewed, symmetric):
        np.testing.assert_array_equal(draw(), tf.function(draw)())
