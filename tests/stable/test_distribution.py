"""Stable / SymmetricStable: densities and distribution functions against scipy, closed forms and an
independent characteristic-function quadrature; statistics, shapes, graph/XLA equality, argument checks."""

import numpy as np
import pytest
import scipy.stats as st
import tensorflow as tf
from scipy import integrate
from scipy.stats import levy_stable

from tfescape.stable.distribution import Stable, SymmetricStable
from tfescape.stable.stable_math import levy_measure_constant


@pytest.fixture(autouse=True)
def _restore_scipy_settings():
    saved = levy_stable.parameterization
    yield
    levy_stable.parameterization = saved


def _scipy(kind, x, alpha, beta, scale, loc, parameterization):
    levy_stable.parameterization = parameterization
    return getattr(levy_stable, kind)(x, alpha, beta, loc=loc, scale=scale)


def _cf_quadrature_pdf(x0, alpha, beta):
    """Standardized S0 density by quadrature of the inverse Fourier transform (independent of Nolan)."""
    upper = 45.0 ** (1.0 / alpha)  # exp(-t^alpha) < 3e-20 beyond

    def phase(t):  # imaginary part of log E exp(itZ0), t > 0
        if alpha == 1.0:
            return -beta * (2 / np.pi) * t * np.log(t) if t > 0 else 0.0
        return -beta * np.tan(np.pi * alpha / 2) * (t - t**alpha)

    kw = dict(epsabs=1e-16, epsrel=1e-13, limit=2000)
    f_cos = lambda t: np.exp(-(t**alpha)) * np.cos(phase(t))  # noqa: E731
    f_sin = lambda t: np.exp(-(t**alpha)) * np.sin(phase(t))  # noqa: E731
    if x0 == 0:
        return integrate.quad(f_cos, 0, upper, **kw)[0] / np.pi
    i1 = integrate.quad(f_cos, 0, upper, weight="cos", wvar=x0, **kw)[0]
    i2 = integrate.quad(f_sin, 0, upper, weight="sin", wvar=x0, **kw)[0]
    return (i1 + i2) / np.pi


def _rel(a, b):
    a, b = np.asarray(a, np.float64), np.asarray(b, np.float64)
    return np.abs(a - b) / np.abs(b)


# Points that stay clear of scipy's own rounding (it sets x = zeta within 0.005 and alpha = 1 within 0.005).
X_SYM = np.array([-3e3, -40.0, -6.0, -1.7, -0.4, 0.2, 0.9, 2.5, 11.0, 150.0, 1e4])


@pytest.mark.parametrize("alpha", [0.5, 0.8, 1.3, 1.5, 1.9])
def test_symmetric_pdf_cdf_sf_match_scipy(alpha):
    d = SymmetricStable(np.float64(alpha), scale=np.float64(1.7), loc=np.float64(-0.5))
    x = X_SYM * 1.7 - 0.5
    ref_pdf = _scipy("pdf", x, alpha, 0.0, 1.7, -0.5, "S0")
    ref_cdf = _scipy("cdf", x, alpha, 0.0, 1.7, -0.5, "S0")
    assert np.max(_rel(d.prob(x), ref_pdf)) < 1e-8
    # Relative error of the smaller of F and 1 - F, computed without cancellation on our side; scipy's
    # piecewise cdf returns exactly 0 or 1 in the far tails (kept out) and 1 - F has ~1e-16 absolute error.
    lower = (x < -0.5) & (ref_cdf > 0)
    upper = (x > -0.5) & (ref_cdf < 1 - 1e-4)
    assert np.max(_rel(d.cdf(x)[lower], ref_cdf[lower])) < 1e-8
    assert np.max(_rel(d.survival_function(x)[upper], 1 - ref_cdf[upper])) < 1e-6


SKEWED = [(1.5, 0.5), (0.7, -0.7), (1.2, 1.0), (0.6, 1.0), (1.0, 0.5), (1.0, -1.0), (1.9, -0.3), (0.9, 0.2)]


@pytest.mark.parametrize("parameterization", ["S0", "S1"])
@pytest.mark.parametrize("alpha,beta", SKEWED)
def test_skewed_pdf_cdf_match_scipy(alpha, beta, parameterization):
    scale, loc = 2.0, 0.3
    d = Stable(np.float64(alpha), np.float64(beta), np.float64(scale), np.float64(loc), parameterization)
    x = loc + scale * np.array([-200.0, -7.0, -1.9, -0.6, 0.45, 1.3, 3.1, 12.0, 90.0, 5e3])
    pdf = _scipy("pdf", x, alpha, beta, scale, loc, parameterization)
    cdf = _scipy("cdf", x, alpha, beta, scale, loc, parameterization)
    zeta_x = loc - beta * scale * np.tan(np.pi * alpha / 2) if alpha != 1 else loc
    if parameterization == "S1" and alpha != 1:
        zeta_x = loc
    if parameterization == "S1" and alpha == 1:
        zeta_x = loc + 2 / np.pi * beta * scale * np.log(scale)
    # scipy's piecewise values carry ~1e-16 absolute error (far light tails are noise), its 1 - F cancels,
    # and at alpha = 1 it is wrong beyond |x0| ~ 100; those points are checked against other oracles below.
    keep = (np.abs(x - zeta_x) > 0.05 * scale) & (pdf > 1e-12) & (np.abs(x - loc) < 100 * scale)
    assert np.max(_rel(d.prob(x)[keep], pdf[keep])) < 1e-6
    lower = keep & (cdf < 0.5) & (cdf > 1e-4)
    upper = keep & (cdf >= 0.5) & (1 - cdf > 1e-4)
    assert np.max(_rel(d.cdf(x)[lower], cdf[lower]), initial=0) < 1e-6
    assert np.max(_rel(d.survival_function(x)[upper], 1 - cdf[upper]), initial=0) < 1e-5


@pytest.mark.parametrize(
    "alpha,beta", [(1.0 + 3e-5, 0.5), (1.0 - 2e-3, -0.8), (1.0 + 4e-3, 0.3), (1.0 - 5e-6, 0.0)]
)
def test_near_alpha_one_matches_cf_quadrature(alpha, beta):
    # scipy rounds alpha to 1 within 0.005, so the oracle here is the Fourier inversion itself.
    x = np.array([-30.0, -2.0, -0.3, 0.0, 0.7, 4.0, 25.0])
    ours = Stable(np.float64(alpha), np.float64(beta)).prob(x).numpy()
    ref = np.array([_cf_quadrature_pdf(v, alpha, beta) for v in x])
    tol = 1e-6 if beta == 0 else 1e-5
    assert np.max(_rel(ours, ref)) < tol


def test_mode_region_matches_cf_quadrature():
    # Nolan's integral is singular at x0 = zeta; values there come from the exact f(zeta) and interpolation.
    for alpha, beta in [(1.5, 0.0), (1.3, 0.7), (0.8, -0.4)]:
        zeta = -beta * np.tan(np.pi * alpha / 2)
        x = zeta + np.array([-1e-3, -1e-9, 0.0, 1e-10, 2e-6, 1e-3])
        ours = Stable(np.float64(alpha), np.float64(beta)).prob(x).numpy()
        ref = np.array([_cf_quadrature_pdf(v, alpha, beta) for v in x])
        assert np.max(_rel(ours, ref)) < 1e-8


def test_closed_forms_cauchy_gauss_levy():
    x = np.array([-1e5, -30.0, -2.0, 0.0, 0.5, 3.0, 80.0, 1e6])
    cauchy = SymmetricStable(np.float64(1.0), scale=np.float64(2.0), loc=np.float64(1.0))
    np.testing.assert_allclose(cauchy.prob(x), st.cauchy.pdf(x, 1.0, 2.0), rtol=1e-12)
    np.testing.assert_allclose(cauchy.cdf(x), st.cauchy.cdf(x, 1.0, 2.0), rtol=1e-12)
    gauss = SymmetricStable(np.float64(2.0), scale=np.float64(0.5))  # N(0, 2 * 0.5^2)
    xg = np.array([-6.0, -1.0, 0.0, 0.3, 2.0, 9.0])
    np.testing.assert_allclose(gauss.log_prob(xg), st.norm.logpdf(xg, scale=np.sqrt(0.5)), rtol=1e-12)
    np.testing.assert_allclose(gauss.log_cdf(xg), st.norm.logcdf(xg, scale=np.sqrt(0.5)), rtol=1e-12)
    # Levy: S1(1/2, 1, c, mu) = Levy(mu, c); in S0 the location is mu + c.
    c, mu = 1.5, -0.2
    xl = mu + np.array([0.05, 0.3, 1.0, 4.0, 60.0, 1e4])
    levy1 = Stable(np.float64(0.5), np.float64(1.0), np.float64(c), np.float64(mu), parameterization="S1")
    levy0 = Stable(np.float64(0.5), np.float64(1.0), np.float64(c), np.float64(mu + c))
    for d in (levy1, levy0):
        np.testing.assert_allclose(d.prob(xl), st.levy.pdf(xl, mu, c), rtol=1e-9)
        np.testing.assert_allclose(d.cdf(xl), st.levy.cdf(xl, mu, c), rtol=1e-9)
        assert float(d.prob(mu - 0.5)) == 0.0  # no mass left of the support


@pytest.mark.parametrize("alpha,beta", [(0.6, 0.0), (0.8, -0.5), (1.5, 0.0), (1.9, 0.0), (1.3, 0.7)])
def test_tails_match_the_series_in_high_precision(alpha, beta, tail_series):
    # scipy's cdf loses the upper tail (1 - F) and its pdf is noise below ~1e-16; the series is exact here.
    d = Stable(np.float64(alpha), np.float64(beta), parameterization="S1")
    x = np.array([150.0, 400.0, 3e3, 1e6])
    pdf = np.array([tail_series(v, alpha, beta, "pdf") for v in x])
    sf = np.array([tail_series(v, alpha, beta, "sf") for v in x])
    assert np.max(_rel(d.prob(x), pdf)) < 1e-9
    assert np.max(_rel(d.survival_function(x), sf)) < 1e-9
    # lower tail: reflect beta
    assert np.max(_rel(d.cdf(-x), [tail_series(v, alpha, -beta, "sf") for v in x])) < 1e-9


def test_alpha_one_skewed_far_tails_match_cf_quadrature():
    for beta in [0.5, -1.0]:
        x = np.array([-5e3, -200.0, 200.0, 5e3])
        ours = Stable(np.float64(1.0), np.float64(beta)).prob(x).numpy()
        ref = np.array([_cf_quadrature_pdf(v, 1.0, beta) for v in x])
        ok = ref > 1e-13  # the quadrature's absolute accuracy
        assert np.max(_rel(ours[ok], ref[ok])) < 1e-5


def test_no_nan_in_the_light_tail_near_alpha_one():
    # At alpha ~ 1, |beta| = 1 both ends of the alpha-interpolation can be -inf (log S below the float range
    # far out on the light side); the blend must keep -inf, not produce NaN.
    x = np.array([-30.0, -5.0, 0.0, 6.0, 13.0, 30.0, 1e3, 1e5])
    for alpha, beta in [(1.0, -1.0), (1.0, 1.0), (1.00005, -1.0)]:
        d = Stable(np.float64(alpha), np.float64(beta))
        for values in (d.log_prob(x), d.log_cdf(x), d.log_survival_function(x), d.log_cdf(-x)):
            assert not np.any(np.isnan(values.numpy())), (alpha, beta)


def test_far_tails_follow_the_levy_measure():
    # f(x) ~ c_alpha s^alpha x^(-alpha-1) (1 + O(x^-alpha)); P(X > x) ~ c_alpha s^alpha x^-alpha / alpha.
    # Compared in logs: the density is below the float64 range at 1e200 for alpha > 0.5.
    for alpha in [0.5, 1.3, 1.8]:
        log_c = np.log(float(levy_measure_constant(np.float64(alpha))))
        d = SymmetricStable(np.float64(alpha), scale=np.float64(3.0))
        for x in [1e8, 1e30, 1e200]:
            log_lead_pdf = log_c + alpha * np.log(3.0) - (alpha + 1) * np.log(x)
            log_lead_sf = log_c + alpha * np.log(3.0) - alpha * np.log(x) - np.log(alpha)
            tol = 10 * (3.0 / x) ** alpha + 1e-14 * abs(log_lead_pdf)
            assert abs(float(d.log_prob(-x)) - log_lead_pdf) < tol
            assert abs(float(d.log_survival_function(x)) - log_lead_sf) < tol
            assert abs(float(d.log_cdf(-x)) - log_lead_sf) < tol


def test_levy_measure_constant_closed_form():
    from math import gamma, pi, sin

    for alpha in [0.3, 1.0, 1.5, 1.99]:
        ref = gamma(1 + alpha) * sin(pi * alpha / 2) / pi
        assert abs(float(levy_measure_constant(np.float64(alpha))) - ref) < 1e-14
    assert float(SymmetricStable(1.0).levy_measure_constant) == pytest.approx(1 / np.pi, rel=1e-6)


def test_small_alpha_is_finite_and_close():
    # Below alpha = 0.5 accuracy is not guaranteed, but values stay finite and near scipy.
    x = np.array([-50.0, -2.0, 0.3, 3.0, 1e3])
    for alpha, beta in [(0.3, 0.0), (0.4, 0.6)]:
        ours = Stable(np.float64(alpha), np.float64(beta)).prob(x).numpy()
        assert np.all(np.isfinite(ours))
        assert np.max(_rel(ours, _scipy("pdf", x, alpha, beta, 1.0, 0.0, "S0"))) < 1e-4


def test_characteristic_function():
    t = np.array([-3.0, -0.5, 0.0, 0.2, 1.0, 4.0])
    d = SymmetricStable(np.float64(1.4), scale=np.float64(0.7), loc=np.float64(0.0))
    np.testing.assert_allclose(d.characteristic_function(t), np.exp(-(np.abs(0.7 * t) ** 1.4)), rtol=1e-12)
    # Skewed: the S0 and S1 forms describe the same law once the location is converted.
    alpha, beta, scale = 1.3, -0.6, 1.5
    loc1 = 0.4
    loc0 = loc1 + beta * scale * np.tan(np.pi * alpha / 2)
    s0 = Stable(np.float64(alpha), np.float64(beta), np.float64(scale), np.float64(loc0), "S0")
    s1 = Stable(np.float64(alpha), np.float64(beta), np.float64(scale), np.float64(loc1), "S1")
    np.testing.assert_allclose(s0.characteristic_function(t), s1.characteristic_function(t), atol=1e-12)
    # ... and is the Fourier transform of the density (trapezoid on a grid; tails beyond 300 hold < 2e-3).
    xs = np.linspace(-300, 300, 30001)
    pdf = s1.prob(xs).numpy()
    for tv in [0.3, 1.0]:
        emp = np.trapezoid(pdf * np.exp(1j * tv * xs), xs)
        assert abs(emp - complex(s1.characteristic_function(tv))) < 3e-3


def test_mean_variance_conventions():
    d = Stable([0.8, 1.5, 2.0], 0.5, scale=2.0, loc=1.0)
    mean = d.mean().numpy()
    assert np.isnan(mean[0])
    assert mean[1] == pytest.approx(1.0 - 0.5 * 2.0 * np.tan(0.75 * np.pi), rel=1e-6)
    assert mean[2] == pytest.approx(1.0, abs=1e-6)
    assert Stable(1.5, 0.5, 2.0, 1.0, parameterization="S1").mean().numpy() == pytest.approx(1.0)
    var = d.variance().numpy()
    assert np.isinf(var[0]) and np.isinf(var[1]) and var[2] == pytest.approx(8.0)
    with pytest.raises(tf.errors.InvalidArgumentError):
        Stable(0.8, 0.0, allow_nan_stats=False).mean()
    assert float(SymmetricStable(1.2, loc=3.0).mode()) == 3.0


def test_batch_shapes_and_broadcasting():
    d = Stable([[1.2], [0.7]], [0.3, -0.9, 1.0])
    assert d.batch_shape == [2, 3]
    assert d.log_prob(tf.zeros([5, 1, 1])).shape == [5, 2, 3]
    assert d.sample(4, seed=1).shape == [4, 2, 3]
    s = SymmetricStable([1.1, 1.9], scale=[[1.0], [2.0]])
    assert s.cdf(0.0).shape == [2, 2]
    np.testing.assert_allclose(s.cdf(0.0), 0.5, atol=1e-7)


def test_float32_and_float64():
    x64 = np.array([-4.0, 0.1, 2.0, 1e3])
    d32, d64 = Stable(1.6, 0.4), Stable(np.float64(1.6), np.float64(0.4))
    assert d32.log_prob(x64.astype(np.float32)).dtype == tf.float32
    assert d64.log_prob(x64).dtype == tf.float64
    np.testing.assert_allclose(d32.prob(x64.astype(np.float32)), d64.prob(x64), rtol=1e-5)


def test_eager_and_graph_agree():
    d = Stable(np.float64(1.3), np.float64(-0.4), np.float64(1.2), np.float64(0.1))
    x = tf.constant(np.linspace(-20, 20, 41))
    graph_lp, graph_cdf = tf.function(lambda v: (d.log_prob(v), d.cdf(v)))(x)
    np.testing.assert_array_equal(d.log_prob(x), graph_lp)
    np.testing.assert_array_equal(d.cdf(x), graph_cdf)


@pytest.mark.slow
def test_xla_agrees_with_eager():
    # XLA compiles the whole quadrature (about a minute on 2 CPU cores), hence slow.
    d = Stable(np.float64(1.3), np.float64(-0.4), np.float64(1.2), np.float64(0.1))
    x = tf.constant(np.linspace(-20, 20, 41))
    xla = tf.function(lambda v: d.log_prob(v), jit_compile=True)(x).numpy()
    np.testing.assert_allclose(xla, d.log_prob(x).numpy(), rtol=1e-12)


def test_argument_checks():
    with pytest.raises(ValueError, match="alpha"):
        Stable(2.5, 0.0)
    with pytest.raises(ValueError, match="beta"):
        Stable(1.5, -1.2)
    with pytest.raises(ValueError, match="scale"):
        SymmetricStable(1.5, scale=0.0)
    with pytest.raises(ValueError, match="parameterization"):
        Stable(1.5, 0.0, parameterization="S2")
    with pytest.raises(tf.errors.InvalidArgumentError):
        Stable(tf.Variable(2.5), 0.0, validate_args=True).log_prob(0.0)
    with pytest.raises(tf.errors.InvalidArgumentError):
        Stable(1.5, tf.Variable(1.5), validate_args=True).log_prob(0.0)
    with pytest.raises(tf.errors.InvalidArgumentError):
        SymmetricStable(1.5, scale=tf.Variable(-1.0), validate_args=True).log_prob(0.0)
