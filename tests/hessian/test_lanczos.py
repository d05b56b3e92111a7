"""Lanczos, power iteration and the mvp-level probes on explicit symmetric matrices (numpy oracles)."""

import numpy as np
import pytest

from tests.hessian.hessian_cases import symmetric
from tfescape.hessian import (
    diagonal_of,
    lanczos,
    lanczos_eigenvalues,
    power_iteration,
    spectral_density_of,
    top_eigenvalues_of,
    trace_of,
)


@pytest.fixture(scope="module")
def indefinite():
    """A 60 x 60 quadratic form with a well separated top, a negative bottom and a repeated eigenvalue."""
    eigenvalues = np.concatenate([[25.0, 12.0, 12.0, 7.0], np.linspace(-4.0, 3.0, 56)])
    return symmetric(eigenvalues), np.sort(eigenvalues)[::-1]


def test_full_lanczos_recovers_the_tridiagonal_decomposition(indefinite):
    a, eigenvalues = indefinite
    result = lanczos(lambda v: a @ v, dim=60, num_iters=30, seed=0)
    assert result.num_mvps == 30 and result.ritz_vectors.shape == (60, 30)
    # Ritz vectors are orthonormal, their Rayleigh quotients are the Ritz values and the residual
    # formula |beta_m s_m| matches the directly computed residual norms.
    y = result.ritz_vectors
    np.testing.assert_allclose(y.T @ y, np.eye(30), atol=1e-10)
    np.testing.assert_allclose(np.diag(y.T @ a @ y), result.ritz_values, atol=1e-9)
    direct = np.linalg.norm(a @ y - y * result.ritz_values, axis=0)
    np.testing.assert_allclose(result.residuals, direct, atol=1e-9)
    np.testing.assert_allclose(result.quadrature_weights.sum(), 1.0)
    assert result.tridiagonal.shape == (30, 30)
    # Cauchy interlacing: Ritz values lie inside the spectrum; the top one has converged.
    assert result.ritz_values[0] == pytest.approx(25.0, rel=1e-10)
    assert eigenvalues[-1] - 1e-9 <= result.ritz_values.min()


def test_lanczos_stops_on_an_invariant_subspace():
    a = np.diag([3.0, 3.0, 1.0, 1.0])
    result = lanczos(lambda v: a @ v, dim=4, num_iters=4, seed=1)
    assert result.num_mvps == 2 and result.last_beta == 0.0
    np.testing.assert_allclose(result.ritz_values, [3.0, 1.0], atol=1e-12)


@pytest.mark.parametrize("smallest", [False, True])
def test_lanczos_eigenvalues_match_eigh_to_1e6_relative(indefinite, smallest):
    a, eigenvalues = indefinite
    result = lanczos_eigenvalues(lambda v: a @ v, dim=60, k=4, smallest=smallest, tol=1e-8, seed=3)
    expected = eigenvalues[::-1][:4] if smallest else eigenvalues[:4]
    np.testing.assert_allclose(result.eigenvalues, expected, rtol=1e-6)
    assert result.converged.all() and result.num_mvps < 60
    v = result.eigenvectors
    np.testing.assert_allclose(
        np.linalg.norm(a @ v - v * result.eigenvalues, axis=0), result.residuals, atol=1e-8
    )


def test_repeated_eigenvalues_are_found_by_restarting():
    a = np.diag([5.0, 5.0, 5.0, 1.0, 0.5])
    result = lanczos_eigenvalues(lambda v: a @ v, dim=5, k=3, tol=1e-10, seed=0)
    np.testing.assert_allclose(result.eigenvalues, [5.0, 5.0, 5.0], rtol=1e-10)


def test_power_iteration_with_deflation(indefinite):
    a, _ = indefinite
    result = power_iteration(lambda v: a @ v, dim=60, k=1, max_iters=500, tol=1e-10, seed=0)
    assert result.eigenvalues[0] == pytest.approx(25.0, rel=1e-6) and result.converged.all()
    spd = symmetric([9.0, 4.0, 1.0, 0.5, 0.1], seed=1)
    two = top_eigenvalues_of(lambda v: spd @ v, dim=5, k=2, method="power", tol=1e-12, max_iters=2000, seed=0)
    np.testing.assert_allclose(two.eigenvalues, [9.0, 4.0], rtol=1e-6)
    assert two.method == "power" and two.num_mvps <= 4000


def test_lanczos_without_reorthogonalization_keeps_the_extremes(indefinite):
    a, _ = indefinite
    result = lanczos(lambda v: a @ v, dim=60, num_iters=40, seed=0, reorthogonalize=False)
    assert result.ritz_vectors is None
    assert result.ritz_values[0] == pytest.approx(25.0, rel=1e-8)
    assert result.ritz_values[-1] == pytest.approx(-4.0, rel=1e-3)


def test_hutchinson_and_hutch_plus_plus_within_stated_errors():
    a = symmetric(np.linspace(0.1, 10.0, 40) ** 2, seed=2)
    exact = np.trace(a)
    for method in ("hutchinson", "hutch++"):
        result = trace_of(lambda v: a @ v, dim=40, num_probes=30, method=method, seed=7)
        # |error| <= 4 standard errors: false-failure rate ~6e-5 under the normal approximation.
        assert abs(result.estimate - exact) <= 4 * result.stderr, method
        assert result.num_probes == 30 and result.method == method
    # Low rank: the sketch captures the range and Hutch++ is exact.
    low_rank = symmetric(np.concatenate([[5.0, 3.0, 1.0], np.zeros(37)]), seed=3)
    result = trace_of(lambda v: low_rank @ v, dim=40, num_probes=12, seed=0)
    assert result.estimate == pytest.approx(9.0, rel=1e-10) and result.stderr < 1e-10


def test_hutch_plus_plus_beats_hutchinson_on_a_decaying_spectrum():
    a = symmetric(1.0 / np.arange(1, 61) ** 2, seed=4)
    hutch = trace_of(lambda v: a @ v, dim=60, num_probes=30, method="hutchinson", seed=1)
    plus = trace_of(lambda v: a @ v, dim=60, num_probes=30, method="hutch++", seed=1)
    assert plus.stderr < hutch.stderr / 3


def test_diagonal_estimates():
    a = symmetric(np.linspace(-2.0, 6.0, 12), seed=5)
    exact = diagonal_of(lambda v: a @ v, dim=12, exact=True)
    np.testing.assert_array_equal(exact.diagonal, np.diag(a))
    assert exact.num_probes == 12 and not exact.stderr.any()
    probe = diagonal_of(lambda v: a @ v, dim=12, num_probes=400, seed=0)
    # 5 standard errors per entry: false-failure rate ~12 x 6e-7.
    assert np.all(np.abs(probe.diagonal - np.diag(a)) <= 5 * probe.stderr)
    assert probe.stderr.max() < 0.2


def test_spectral_density_puts_mass_on_the_eigenvalues():
    eigenvalues = np.array([1.0] * 5 + [10.0] * 3)
    a = symmetric(eigenvalues, seed=6)
    result = spectral_density_of(lambda v: a @ v, dim=8, num_random_starts=20, num_iters=8, sigma=0.1, seed=0)
    assert result.mass(0.9, 1.1) + result.mass(9.9, 10.1) == pytest.approx(1.0, abs=1e-10)
    # Per start the weight of the 10-cluster is Beta(3/2, 5/2) (mean 3/8, sd 0.217); the mean of 20
    # has sd 0.049: 4 sd gives a false-failure rate ~6e-5.
    assert abs(result.mass(9.0, 11.0) - 3 / 8) < 4 * 0.049
    integral = np.trapezoid(result.density, result.grid)
    assert integral == pytest.approx(1.0, abs=1e-3)
    peak = result.grid[np.argmax(result.density)]
    assert abs(peak - 1.0) < 0.05  # the larger cluster is the higher peak
    assert result.num_mvps <= 20 * 8 and result.nodes.shape == (20, 8)


def test_bad_inputs():
    a = np.eye(3)
    with pytest.raises(ValueError, match="exceeds the dimension"):
        lanczos_eigenvalues(lambda v: a @ v, dim=3, k=4)
    with pytest.raises(ValueError, match="exceeds the dimension"):
        power_iteration(lambda v: a @ v, dim=3, k=5)
    with pytest.raises(ValueError, match="num_iters"):
        lanczos(lambda v: a @ v, dim=3, num_iters=0)
    with pytest.raises(ValueError, match="shape"):
        lanczos(lambda v: np.ones(4), dim=3, num_iters=2)
    with pytest.raises(ValueError, match="num_probes"):
        trace_of(lambda v: a @ v, dim=3, num_probes=3)
    with pytest.raises(ValueError, match="Unknown trace method"):
        trace_of(lambda v: a @ v, dim=3, method="exact")
    with pytest.raises(ValueError, match="smallest"):
        top_eigenvalues_of(lambda v: a @ v, dim=3, smallest=True, method="power")
    with pytest.raises(ValueError, match="dim"):
        trace_of(lambda v: a @ v, dim=0)
    with pytest.raises(ValueError, match="sigma"):
        spectral_density_of(lambda v: a @ v, dim=3, sigma=0.0)


def test_same_seed_same_result(indefinite):
    a, _ = indefinite
    first = trace_of(lambda v: a @ v, dim=60, num_probes=9, seed=11)
    again = trace_of(lambda v: a @ v, dim=60, num_probes=9, seed=11)
    other = trace_of(lambda v: a @ v, dim=60, num_probes=9, seed=12)
    assert first == again and first.estimate != other.estimate


def test_adaptive_trace_error_is_calibrated_and_budgeted():
    # Stopping at 5% relative standard error: over 200 seeds the true error is within 2 reported
    # standard errors about 95% of the time (sequential stopping lowers it slightly). Binomial(200,
    # 0.95): P(fewer than 176 covered) ~ 1e-4 even at a true coverage of 0.93.
    a = symmetric(np.linspace(1.0, 3.0, 30), seed=6)
    exact = np.trace(a)
    results = [trace_of(lambda v: a @ v, dim=30, method="hutchinson", rtol=0.05, seed=s) for s in range(200)]
    assert all(r.converged and r.relative_stderr <= 0.05 for r in results)
    covered = sum(abs(r.estimate - exact) <= 2 * r.stderr for r in results)
    assert covered >= 176
    capped = trace_of(lambda v: a @ v, dim=30, method="hutchinson", rtol=1e-4, max_probes=20, seed=0)
    assert capped.num_probes == 20 and not capped.converged and capped.relative_stderr > 1e-4
    fixed = trace_of(lambda v: a @ v, dim=30, method="hutchinson", num_probes=20, seed=0)
    assert fixed.converged and fixed.relative_stderr == pytest.approx(fixed.stderr / fixed.estimate)
    diag = diagonal_of(lambda v: a @ v, dim=30, rtol=1e-4, max_probes=15, seed=0)
    assert diag.num_probes == 15 and not diag.converged
    for bad in (0.0, -0.1, float("nan")):
        with pytest.raises(ValueError, match="rtol"):
            trace_of(lambda v: a @ v, dim=30, rtol=bad)
    with pytest.raises(ValueError, match="max_probes"):
        diagonal_of(lambda v: a @ v, dim=30, rtol=0.1, num_probes=50, max_probes=10)
