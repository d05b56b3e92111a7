"""Model-level probes against closed-form Hessians (linear and softmax regression, float64)."""

import keras
import numpy as np
import pytest

from tests.hessian.hessian_cases import linear_regression, softmax_regression
from tfescape.hessian import diagonal, spectral_density, top_eigenvalues, trace


@pytest.fixture(scope="module")
def softmax_case():
    return softmax_regression(n=40, d=4, num_classes=3)


@pytest.fixture(scope="module")
def regression_case():
    # X^T X / n has eigenvalues {4 (x2), 1 (x3), 0.25}: clusters for the density test.
    return linear_regression(n=50, d=6, eigenvalues=[4.0, 4.0, 1.0, 1.0, 1.0, 0.25])


def test_top_and_smallest_eigenvalues_of_softmax_regression(softmax_case):
    case = softmax_case
    expected = np.linalg.eigvalsh(case.hessian)[::-1]
    data = (case.x, case.y)
    top = top_eigenvalues(case.model, case.loss, data, k=3, seed=0, tol=1e-9)
    np.testing.assert_allclose(top.eigenvalues, expected[:3], rtol=1e-6)
    assert top.converged.all() and top.eigenvectors.shape == (12, 3)
    # softmax regression without bias is singular (the logits are invariant to a shared shift):
    # the smallest eigenvalues are 0, checked in absolute terms.
    low = top_eigenvalues(case.model, case.loss, data, k=2, seed=0, smallest=True, tol=1e-9)
    np.testing.assert_allclose(low.eigenvalues, expected[::-1][:2], atol=1e-10)


def test_top_eigenvalues_of_linear_regression(regression_case):
    case = regression_case
    data = (case.x, case.y)
    top = top_eigenvalues(case.model, case.loss, data, k=2, seed=1, tol=1e-10)
    np.testing.assert_allclose(top.eigenvalues, [4.0, 4.0], rtol=1e-6)
    smallest = top_eigenvalues(case.model, case.loss, data, k=1, seed=1, smallest=True, tol=1e-10)
    assert smallest.eigenvalues[0] == pytest.approx(0.25, rel=1e-6)
    power = top_eigenvalues(
        case.model,
        case.loss,
        data,
        k=1,
        seed=1,
        method="power",
        tol=1e-10,
        max_iters=300,
        hvp_method="reverse_over_reverse",
        layers=["dense"],
    )
    assert power.eigenvalues[0] == pytest.approx(4.0, rel=1e-6)


def test_trace_within_its_standard_error(softmax_case):
    case = softmax_case
    exact = np.trace(case.hessian)
    for method in ("hutchinson", "hutch++"):
        result = trace(case.model, case.loss, (case.x, case.y), seed=3, method=method, num_probes=24)
        # 4 standard errors: false-failure rate ~6e-5 (normal approximation). Here Hutch++'s sketch
        # (8 vectors) spans the rank-8 Hessian, so it is exact up to rounding.
        assert abs(result.estimate - exact) <= 4 * result.stderr + 1e-12 * exact, method
        assert result.stderr < 0.3 * exact


def test_diagonal_exact_and_estimated(softmax_case):
    case = softmax_case
    data = (case.x, case.y)
    exact = diagonal(case.model, case.loss, data, exact=True)
    np.testing.assert_allclose(exact.diagonal, np.diag(case.hessian), rtol=1e-12, atol=1e-15)
    probe = diagonal(case.model, case.loss, data, seed=0, num_probes=60)
    # 5 standard errors per entry: false-failure rate ~12 x 6e-7.
    assert np.all(np.abs(probe.diagonal - np.diag(case.hessian)) <= 5 * probe.stderr + 1e-12)


def test_density_mass_sits_on_the_eigenvalues(regression_case):
    case = regression_case
    result = spectral_density(
        case.model, case.loss, (case.x, case.y), num_random_starts=6, num_iters=6, sigma=0.05, seed=0
    )
    clusters = [(0.25, 1 / 6), (1.0, 3 / 6), (4.0, 2 / 6)]
    total = sum(result.mass(value - 1e-6, value + 1e-6) for value, _ in clusters)
    assert total == pytest.approx(1.0, abs=1e-8)  # every node is an eigenvalue
    for value, share in clusters:
        # Per start the cluster weight is Beta(m/2, (6-m)/2), sd <= 0.19; mean of 6 starts: sd <= 0.08;
        # 4 sd -> false-failure rate ~6e-5 per cluster.
        assert abs(result.mass(value - 0.1, value + 0.1) - share) < 4 * 0.08
    assert np.trapezoid(result.density, result.grid) == pytest.approx(1.0, abs=1e-3)


def test_probes_reject_bad_input(regression_case):
    case = regression_case
    data = (case.x, case.y)
    with pytest.raises(ValueError, match="exceeds the dimension"):
        top_eigenvalues(case.model, case.loss, data, k=7)
    with pytest.raises(ValueError, match="mean over the batch"):
        trace(case.model, keras.losses.MeanSquaredError(reduction=None), data)
    with pytest.raises(ValueError, match="Unknown option"):
        diagonal(case.model, case.loss, data, batch_size=3)


@pytest.fixture(scope="module")
def spread_case():
    # X^T X / n with eigenvalues 1..3 in 12 dimensions: Hutchinson needs tens of probes for 5%.
    return linear_regression(n=40, d=12, seed=4, eigenvalues=np.linspace(1.0, 3.0, 12))


@pytest.mark.parametrize("method", ["hutchinson", "hutch++"])
def test_trace_stops_at_the_requested_relative_error(spread_case, method):
    case = spread_case
    exact = np.trace(case.hessian)
    result = trace(case.model, case.loss, (case.x, case.y), seed=5, method=method, rtol=0.05)
    assert result.converged and result.relative_stderr <= 0.05
    assert result.relative_stderr == pytest.approx(result.stderr / abs(result.estimate))
    # 4 standard errors: false-failure rate ~6e-5 (normal approximation).
    assert abs(result.estimate - exact) <= 4 * result.stderr
    assert result.num_probes < 1000  # stopped, not exhausted
    tighter = trace(case.model, case.loss, (case.x, case.y), seed=5, method=method, rtol=0.02)
    assert tighter.relative_stderr <= 0.02 and tighter.num_probes > result.num_probes


def test_diagonal_stops_at_the_requested_relative_error(spread_case):
    case = spread_case
    result = diagonal(case.model, case.loss, (case.x, case.y), seed=1, rtol=0.1)
    assert result.converged and result.relative_stderr <= 0.1 and result.num_probes < 1000
    stderr_norm = np.linalg.norm(result.stderr) / np.linalg.norm(result.diagonal)
    assert result.relative_stderr == pytest.approx(stderr_norm)
    # 5 standard errors per entry: false-failure rate ~12 x 6e-7.
    assert np.all(np.abs(result.diagonal - np.diag(case.hessian)) <= 5 * result.stderr)
