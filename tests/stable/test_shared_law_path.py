"""The shared-law path of Stable / SymmetricStable pdf and cdf (tfescape.stable._interpolate): used from 1000
points per law on; checked against the exact quadrature at every point, against scipy, against the 40-digit
tail series, and for shapes, dtypes, graph/eager equality, gradients and the absence of NaN."""

import numpy as np
import pytest
import tensorflow as tf
from scipy.stats import levy_stable

from tfescape.stable import _interpolate, stable_math
from tfescape.stable.distribution import Stable, SymmetricStable

N_FAST = 2000  # above stable_math._MIN_POINTS_PER_LAW


@pytest.fixture(autouse=True)
def _restore_scipy_settings():
    saved = levy_stable.parameterization
    yield
    levy_stable.parameterization = saved


def _exact(x0, alpha, beta):
    """The exact quadrature at every point (the reference path)."""
    n = len(x0)
    outs = stable_math._chunked_log_values(
        tf.constant(x0, tf.float64),
        tf.fill([n], tf.constant(alpha, tf.float64)),
        tf.fill([n], tf.constant(beta, tf.float64)),
    )
    return [v.numpy() for v in outs]


def _points(alpha, beta, n_sample, seed):
    """Draws from the law, a grid through the body, both tails out to 1e5 and the mode region."""
    rng = np.random.default_rng(seed)
    sample = Stable(np.float64(alpha), np.float64(beta)).sample(n_sample, seed=(seed, 1)).numpy()
    zeta = -beta * np.tan(np.pi * alpha / 2) if alpha != 1 else 0.0
    logs = np.logspace(-9, 5, 120)
    return np.concatenate(
        [
            sample,
            np.linspace(-25, 25, 301),
            logs,
            -logs,
            zeta + logs[:60] * rng.choice([-1, 1], 60),
            rng.standard_cauchy(200) * 20,
        ]
    )


def test_dispatch_threshold():
    x = tf.zeros([stable_math._MIN_POINTS_PER_LAW])
    assert stable_math._use_shared_law_path(x, tf.constant(1.5), tf.constant(0.0)) is True
    assert stable_math._use_shared_law_path(x[:-1], tf.constant(1.5), tf.constant(0.0)) is False
    assert stable_math._use_shared_law_path(tf.zeros([999, 1]), tf.zeros([4]), tf.zeros([])) is False
    assert stable_math._use_shared_law_path(tf.zeros([1000, 1]), tf.zeros([4]), tf.zeros([])) is True
    spec = tf.TensorSpec([None], tf.float64)
    graph = tf.function(lambda v: stable_math._use_shared_law_path(v, tf.constant(1.5), tf.constant(0.0)))
    assert bool(graph.get_concrete_function(spec)(tf.zeros([3000], tf.float64)))
    assert not bool(graph.get_concrete_function(spec)(tf.zeros([30], tf.float64)))


LAWS = [
    (0.5, 0.0),
    (0.5, 1.0),
    (0.7, -1.0),
    (0.8, -0.3),
    (0.95, 0.5),
    (1.0, 0.0),
    (1.0, 0.5),
    (1.0, -1.0),
    (1.0 + 5e-5, 0.3),
    (1.05, -0.5),
    (1.3, 0.5),
    (1.5, 0.0),
    (1.5, 1.0),
    (1.7, -0.7),
    (1.9, 0.0),
    (1.9, -1.0),
    (1.99, 0.2),
    (2.0, 0.0),
]


@pytest.mark.parametrize("alpha,beta", LAWS)
def test_matches_the_exact_quadrature_everywhere(alpha, beta):
    x = _points(alpha, beta, 1200, seed=int(100 * alpha + 10 * beta) % 97)
    fast = [v.numpy() for v in stable_math.standard_log_prob_cdf_sf(x, alpha, beta)]
    exact = _exact(x, alpha, beta)
    for ours, ref in zip(fast, exact, strict=True):
        assert not np.any(np.isnan(ours))
        np.testing.assert_array_equal(np.isfinite(ours), np.isfinite(ref))
        both = np.isfinite(ref)
        # Absolute error of a log value = relative error of the value.
        assert np.max(np.abs(ours[both] - ref[both])) < 1e-8


def _law(alpha, beta):
    return _interpolate.LawInterpolant(
        tf.constant([alpha], tf.float64),
        tf.constant([beta], tf.float64),
        exact=stable_math._chunked_log_values,
        law_constants=stable_math._law_series_constants,
    )


def test_benchmark_laws_need_no_refinement():
    # Every first-level panel of the benchmark's laws passes both checks.
    for alpha, beta in [(1.5, 0.0), (1.3, 0.5), (0.8, -0.3), (0.6, 0.2)]:
        law = _law(alpha, beta)
        assert bool(tf.reduce_all(law.valid)), (alpha, beta, law.error_estimate.numpy())
        assert float(tf.reduce_max(law.error_estimate)) < 1e-9


@pytest.mark.parametrize("alpha,beta", [(1.05, 0.5), (0.95, 0.5), (1.7, -0.7), (1.9, 0.0), (0.5, 1.0)])
def test_samples_need_no_exact_fallback(alpha, beta):
    # Every draw is served by an accepted (possibly refined) panel or by the tail series.
    law = _law(alpha, beta)
    x = tf.constant(Stable(np.float64(alpha), np.float64(beta)).sample(3000, seed=(3, 4)))
    index = tf.zeros([3000], tf.int32)
    served = law.evaluate(x, index)[3] | law.series.evaluate(x, law.zeta, index)[3]
    assert bool(tf.reduce_all(served))


def test_rejected_panels_are_refined():
    # alpha near 2: the Gaussian-to-power-law crossover defeats the first-level panels around |x| ~ 2-12.
    law = _interpolate.LawInterpolant(
        tf.constant([1.9, 1.5], tf.float64),
        tf.constant([0.0, 0.0], tf.float64),
        exact=stable_math._chunked_log_values,
        law_constants=stable_math._law_series_constants,
    )  # two laws at once
    assert not bool(tf.reduce_all(law.valid[0])) and bool(tf.reduce_all(law.valid[1]))
    assert int(tf.reduce_sum(tf.cast(law.refined_slot >= 0, tf.int32))) == int(
        tf.reduce_sum(tf.cast(~law.valid, tf.int32))
    )
    assert bool(tf.reduce_all(law.refined_valid))
    x = tf.constant(np.linspace(-20, 20, 4001))  # within s_hi >= 3 (beyond: the tail series)
    ok = law.evaluate(x, tf.zeros([4001], tf.int32))[3]
    assert bool(tf.reduce_all(ok))


@pytest.mark.parametrize("alpha,beta", [(1.5, 0.0), (0.8, 0.0), (1.3, 0.5), (0.7, -0.6), (1.8, 1.0)])
def test_matches_scipy_on_a_sample(alpha, beta):
    d = Stable(np.float64(alpha), np.float64(beta), np.float64(1.5), np.float64(0.4))
    x = d.sample(N_FAST, seed=(7, 8)).numpy()
    pdf, cdf, sf = (v.numpy() for v in (d.prob(x), d.cdf(x), d.survival_function(x)))
    sub = x[:150]
    levy_stable.parameterization = "S0"
    ref_pdf = levy_stable.pdf(sub, alpha, beta, loc=0.4, scale=1.5)
    ref_cdf = levy_stable.cdf(sub, alpha, beta, loc=0.4, scale=1.5)
    # Where scipy is itself reliable (see benchmarks/bench_stable_distribution.py).
    zeta = 0.4 - 1.5 * beta * np.tan(np.pi * alpha / 2)
    clear = np.abs(sub - zeta) >= 1.5 * 0.005 * alpha ** (1 / alpha)
    ok = clear & (ref_pdf > 1e-12)
    tol = 1e-8 if beta == 0 else 1e-7
    assert np.max(np.abs(pdf[:150][ok] / ref_pdf[ok] - 1)) < tol
    low = clear & (ref_cdf < 0.5) & (ref_cdf > 1e-4)
    high = clear & (ref_cdf >= 0.5) & (1 - ref_cdf > 1e-4)
    assert np.max(np.abs(cdf[:150][low] / ref_cdf[low] - 1), initial=0.0) < tol
    assert np.max(np.abs(sf[:150][high] / (1 - ref_cdf[high]) - 1), initial=0.0) < 1e-6


@pytest.mark.parametrize("alpha,beta", [(0.6, 0.0), (1.5, 0.0), (1.3, 0.7), (0.8, -0.5)])
def test_tails_match_the_series_in_high_precision(alpha, beta, tail_series):
    d = Stable(np.float64(alpha), np.float64(beta), parameterization="S1")
    far = np.array([60.0, 150.0, 400.0, 3e3, 1e6])
    x = np.concatenate([np.linspace(-5, 5, N_FAST), far])
    pdf, sf = d.prob(x).numpy()[-5:], d.survival_function(x).numpy()[-5:]
    ref_pdf = np.array([tail_series(v, alpha, beta, "pdf") for v in far])
    ref_sf = np.array([tail_series(v, alpha, beta, "sf") for v in far])
    assert np.max(np.abs(pdf / ref_pdf - 1)) < 1e-9
    assert np.max(np.abs(sf / ref_sf - 1)) < 1e-9
    cdf_left = d.cdf(-x).numpy()[-5:]
    ref_left = np.array([tail_series(v, alpha, -beta, "sf") for v in far])
    assert np.max(np.abs(cdf_left / ref_left - 1)) < 1e-9


def test_batch_of_laws_and_broadcasting():
    alpha = np.array([[1.2], [0.7]])
    beta = np.array([0.3, -0.9, 1.0])
    d = Stable(alpha, beta)
    x = np.linspace(-12, 12, N_FAST)[:, None, None]
    lp = d.log_prob(x).numpy()
    lc = d.log_cdf(x).numpy()
    assert lp.shape == (N_FAST, 2, 3)
    for i in range(2):
        for j in range(3):
            ref_lp, ref_lc, _ = _exact(x[:, 0, 0], alpha[i, 0], beta[j])
            np.testing.assert_allclose(lp[:, i, j], ref_lp, rtol=0, atol=1e-8)
            np.testing.assert_allclose(lc[:, i, j], ref_lc, rtol=0, atol=1e-8)


def test_symmetric_law_is_mirrored_exactly():
    d = SymmetricStable(np.float64(1.4), scale=np.float64(2.0))
    x = np.linspace(-50, 50, N_FAST + 1)
    lp = d.log_prob(x).numpy()
    np.testing.assert_allclose(lp, lp[::-1], rtol=0, atol=1e-12)
    np.testing.assert_allclose(d.cdf(x).numpy(), d.survival_function(-x).numpy(), rtol=1e-12)


@pytest.mark.slow  # tracing the quadrature path takes about 50 s here; test_distribution.py keeps one
def test_eager_and_graph_agree():
    d = Stable(np.float64(1.3), np.float64(-0.4), np.float64(1.2), np.float64(0.1))
    x = tf.constant(np.linspace(-20, 20, N_FAST))
    graph_lp, graph_cdf = tf.function(lambda v: (d.log_prob(v), d.cdf(v)))(x)
    np.testing.assert_array_equal(d.log_prob(x), graph_lp)
    np.testing.assert_array_equal(d.cdf(x), graph_cdf)


@pytest.mark.slow
def test_unknown_length_chooses_the_path_in_the_graph():
    # Slow: both paths are traced into one graph (about 10-30 s here).
    d = Stable(np.float64(1.3), np.float64(-0.4), np.float64(1.2), np.float64(0.1))
    x = tf.constant(np.linspace(-20, 20, N_FAST))
    dynamic = tf.function(lambda v: d.log_prob(v), input_signature=[tf.TensorSpec([None], tf.float64)])
    np.testing.assert_array_equal(dynamic(x), d.log_prob(x))
    np.testing.assert_array_equal(dynamic(x[:50]), d.log_prob(x[:50]))


def test_float32():
    x = np.linspace(-30, 30, N_FAST)
    d32, d64 = Stable(1.6, 0.4), Stable(np.float64(1.6), np.float64(0.4))
    p32 = d32.prob(x.astype(np.float32))
    assert p32.dtype == tf.float32
    np.testing.assert_allclose(p32, d64.prob(x), rtol=2e-5)
    np.testing.assert_allclose(d32.cdf(x.astype(np.float32)), d64.cdf(x), rtol=2e-5)


@pytest.mark.slow
def test_gradients_flow_and_match_finite_differences():
    # Slow: the first gradient through the quadrature builds its backward graph (about 2-4 minutes here).
    x = tf.constant(np.linspace(-8, 8, N_FAST))
    alpha, beta = tf.Variable(np.float64(1.4)), tf.Variable(np.float64(0.3))
    with tf.GradientTape() as tape:
        lp = Stable(alpha, beta).log_prob(x)
        total = tf.reduce_sum(lp)
    d_alpha, d_beta = tape.gradient(total, [alpha, beta])
    with tf.GradientTape() as tape:
        tape.watch(x)
        lp_x = Stable(alpha, beta).log_prob(x)
    d_x = tape.gradient(lp_x, x).numpy()
    assert np.all(np.isfinite(d_x)) and np.isfinite(float(d_alpha)) and np.isfinite(float(d_beta))
    h = 1e-5
    xs = x.numpy()
    fd_x = (_exact(xs + h, 1.4, 0.3)[0] - _exact(xs - h, 1.4, 0.3)[0]) / (2 * h)
    np.testing.assert_allclose(d_x, fd_x, rtol=0, atol=1e-5)
    for grad, shift in ((d_alpha, (h, 0.0)), (d_beta, (0.0, h))):
        up = _exact(xs, 1.4 + shift[0], 0.3 + shift[1])[0].sum()
        down = _exact(xs, 1.4 - shift[0], 0.3 - shift[1])[0].sum()
        assert float(grad) == pytest.approx((up - down) / (2 * h), rel=1e-4)
