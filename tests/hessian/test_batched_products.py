"""Estimators fed by matmat_fn (several products per call) equal the one-product-at-a-time results."""

import numpy as np
import pytest
import tensorflow as tf

from tests.hessian.hessian_cases import tiny_mlp
from tfescape.hessian import HessianOperator, diagonal, spectral_density, trace
from tfescape.hessian.estimators import diagonal_of, spectral_density_of, trace_of


class CountingMatrix:
    """A symmetric matrix as mvp_fn and matmat_fn, counting calls and products."""

    def __init__(self, dim=60, seed=0):
        rng = np.random.default_rng(seed)
        a = rng.standard_normal((dim, dim))
        self.matrix = a @ a.T / dim + np.diag(np.linspace(0.0, 3.0, dim))
        self.dim = dim
        self.calls = 0
        self.products = 0
        self.widths = set()

    def mvp(self, v):
        self.calls += 1
        self.products += 1
        return self.matrix @ v

    def matmat(self, vectors):
        assert vectors.ndim == 2
        self.calls += 1
        self.products += vectors.shape[1]
        self.widths.add(vectors.shape[1])
        return self.matrix @ vectors


@pytest.mark.parametrize(
    "options",
    [
        {"method": "hutchinson", "num_probes": 37},
        {"method": "hutch++", "num_probes": 60},
        {"method": "hutchinson", "rtol": 0.02},
        {"method": "hutch++", "rtol": 0.005},
    ],
)
def test_trace_with_matmat_equals_one_product_at_a_time(options):
    single, batched = CountingMatrix(), CountingMatrix()
    expected = trace_of(single.mvp, dim=single.dim, seed=3, **options)
    result = trace_of(batched.mvp, dim=batched.dim, seed=3, matmat_fn=batched.matmat, **options)
    assert result.num_probes == expected.num_probes and result.converged == expected.converged
    assert result.estimate == pytest.approx(expected.estimate, rel=1e-10, abs=1e-12)
    assert result.stderr == pytest.approx(expected.stderr, rel=1e-8, abs=1e-12)
    assert single.products == expected.num_probes  # one product per call, none wasted
    assert batched.calls < single.calls and batched.products >= expected.num_probes
    assert max(batched.widths) <= 16


@pytest.mark.parametrize("options", [{"num_probes": 23}, {"rtol": 0.05}, {"exact": True}])
def test_diagonal_with_matmat_equals_one_product_at_a_time(options):
    single, batched = CountingMatrix(), CountingMatrix()
    expected = diagonal_of(single.mvp, dim=single.dim, seed=4, **options)
    result = diagonal_of(batched.mvp, dim=batched.dim, seed=4, matmat_fn=batched.matmat, **options)
    assert result.num_probes == expected.num_probes
    np.testing.assert_allclose(result.diagonal, expected.diagonal, rtol=1e-10, atol=1e-12)
    np.testing.assert_allclose(result.stderr, expected.stderr, rtol=1e-8, atol=1e-12)
    assert batched.calls < single.calls
    if options.get("exact"):
        np.testing.assert_allclose(result.diagonal, np.diag(single.matrix), rtol=1e-12)


def test_spectral_density_with_matmat_runs_the_starts_in_lockstep():
    single, batched = CountingMatrix(), CountingMatrix()
    expected = spectral_density_of(single.mvp, dim=single.dim, num_random_starts=5, num_iters=20, seed=5)
    result = spectral_density_of(
        batched.mvp, dim=batched.dim, num_random_starts=5, num_iters=20, seed=5, matmat_fn=batched.matmat
    )
    np.testing.assert_allclose(result.nodes, expected.nodes, rtol=1e-10, atol=1e-12)
    np.testing.assert_allclose(result.weights, expected.weights, rtol=1e-8, atol=1e-12)
    np.testing.assert_allclose(result.density, expected.density, rtol=1e-8, atol=1e-12)
    assert result.num_mvps == expected.num_mvps == batched.products == 100
    assert batched.calls == 20  # one call per step for the 5 starts


def test_matmat_must_return_the_right_shape_and_finite_values():
    m = CountingMatrix()
    with pytest.raises(ValueError, match="matmat_fn must return"):
        trace_of(m.mvp, dim=m.dim, num_probes=30, seed=0, matmat_fn=lambda v: m.matrix @ v[:, :1])
    with pytest.raises(ValueError, match="non-finite"):
        trace_of(m.mvp, dim=m.dim, num_probes=30, seed=0, matmat_fn=lambda v: np.full(v.shape, np.nan))


@pytest.fixture(scope="module")
def mlp_case():
    return tiny_mlp(n=40)


@pytest.mark.slow
def test_probes_on_a_model_use_shared_passes_with_unchanged_results(mlp_case, widths):
    # float64 tiny MLP over uneven batches: the probes (matmat inside) against mvp-only estimators.
    case = mlp_case
    data = tf.data.Dataset.from_tensor_slices((case.x, case.y)).batch(9)
    op = HessianOperator(case.model, case.loss, data)
    got = trace(case.model, case.loss, data, num_probes=30, seed=1)
    want = trace_of(op.matvec, dim=op.dim, num_probes=30, seed=1)
    assert got.estimate == pytest.approx(want.estimate, rel=1e-10)
    assert got.estimate == pytest.approx(np.trace(case.hessian), rel=0.5)
    got = diagonal(case.model, case.loss, data, rtol=0.3, max_probes=40, seed=2)
    want = diagonal_of(op.matvec, dim=op.dim, rtol=0.3, max_probes=40, seed=2)
    assert got.num_probes == want.num_probes
    np.testing.assert_allclose(got.diagonal, want.diagonal, rtol=1e-10, atol=1e-13)
    got = spectral_density(case.model, case.loss, data, num_random_starts=3, num_iters=10, seed=3)
    want = spectral_density_of(op.matvec, dim=op.dim, num_random_starts=3, num_iters=10, seed=3)
    np.testing.assert_allclose(got.nodes, want.nodes, rtol=1e-10, atol=1e-12)
    assert widths[:3] == [10, 10, 10]  # Hutch++: sketch, exact part, first samples (10 each)
    assert widths[-10:] == [3] * 10  # density: 3 starts in lockstep, 10 steps


@pytest.fixture
def widths(monkeypatch):
    """Records the number of columns of every HessianOperator.matmat call."""
    seen = []
    original = HessianOperator.matmat

    def counting(self, vectors):
        seen.append(vectors.shape[1])
        return original(self, vectors)

    monkeypatch.setattr(HessianOperator, "matmat", counting)
    return seen
