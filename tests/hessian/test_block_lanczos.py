"""Block Lanczos against numpy.linalg.eigh, direct residuals and the dense Hessian of a tiny model."""

import importlib
import math

import numpy as np
import pytest
import tensorflow as tf

from tests.hessian.hessian_cases import symmetric, tiny_mlp
from tfescape.hessian import (
    BlockLanczosResult,
    HessianOperator,
    block_lanczos_eigenvalues,
    top_eigenvalues,
    top_eigenvalues_of,
)


class Counting:
    """A symmetric matrix as matmat_fn, counting calls and products."""

    def __init__(self, matrix):
        self.matrix, self.calls, self.products, self.widths = matrix, 0, 0, []

    def __call__(self, vectors):
        self.calls += 1
        self.products += vectors.shape[1]
        self.widths.append(vectors.shape[1])
        return self.matrix @ vectors


SPECTRA = {
    "separated": np.concatenate([[30.0, 20.0, 14.0, 10.0, 8.0], np.linspace(-3.0, 5.0, 55)]),
    # A tight cluster at the top: single-vector Lanczos separates it slowly, a block of >= 3 at once.
    "clustered": np.concatenate([[10.0, 9.999, 9.998, 9.997], np.linspace(0.5, 8.0, 56)]),
    "indefinite": np.concatenate(
        [[25.0, 12.0, 12.0, 7.0], np.linspace(-4.0, 3.0, 52), [-9.0, -9.5, -11, -30]]
    ),
}


@pytest.mark.parametrize("name", sorted(SPECTRA))
@pytest.mark.parametrize("smallest", [False, True])
@pytest.mark.parametrize("k, block_size", [(4, 2), (4, 4), (2, 5), (1, None), (3, None)])
def test_eigenvalues_match_eigh(name, smallest, k, block_size):
    eigenvalues = SPECTRA[name]
    a = symmetric(eigenvalues, seed=len(name))
    matmat = Counting(a)
    result = block_lanczos_eigenvalues(
        matmat, dim=60, k=k, block_size=block_size, smallest=smallest, tol=1e-9, seed=1
    )
    ordered = np.sort(eigenvalues)
    expected = ordered[:k] if smallest else ordered[::-1][:k]
    np.testing.assert_allclose(result.eigenvalues, expected, rtol=1e-8)
    assert result.method == "block_lanczos" and result.converged.all()
    assert result.num_mvps == matmat.products <= 60
    width = block_size or max(k, 2)
    assert matmat.calls == math.ceil(result.num_mvps / width) and max(matmat.widths) == width
    v = result.eigenvectors
    np.testing.assert_allclose(v.T @ v, np.eye(k), atol=1e-10)
    direct = np.linalg.norm(a @ v - v * result.eigenvalues, axis=0)
    np.testing.assert_allclose(result.residuals, direct, rtol=1e-6, atol=1e-11)
    assert np.all(result.residuals <= 1e-9 * np.abs(result.eigenvalues))


def test_residual_formula_equals_the_direct_residual_for_every_ritz_pair():
    # Stopped early (12 products, 4 blocks of 3): all 12 Ritz pairs, far from converged, are returned.
    a = symmetric(SPECTRA["indefinite"], seed=3)
    states = []
    result = block_lanczos_eigenvalues(
        lambda v: a @ v, dim=60, k=12, block_size=3, max_iters=12, tol=1e-12, seed=2, callback=states.append
    )
    assert result.num_mvps == 12 and not result.converged.all()
    y, theta = result.eigenvectors, result.eigenvalues
    np.testing.assert_allclose(y.T @ y, np.eye(12), atol=1e-12)
    np.testing.assert_allclose(y.T @ a @ y, np.diag(theta), atol=1e-10)
    direct = np.linalg.norm(a @ y - y * theta, axis=0)
    assert direct.min() > 1e-3  # the formula is tested on residuals far from rounding
    np.testing.assert_allclose(result.residuals, direct, rtol=1e-10, atol=1e-12)
    # The callback's state: T = Q^T A Q is block tridiagonal (bandwidth = block size) with the same
    # Ritz values and residuals.
    last = states[-1]
    assert isinstance(last, BlockLanczosResult) and last.num_passes == 4
    np.testing.assert_array_equal(last.block_sizes, [3, 3, 3, 3])
    rows, cols = np.indices(last.block_tridiagonal.shape)
    assert not last.block_tridiagonal[np.abs(rows // 3 - cols // 3) > 1].any()
    np.testing.assert_allclose(last.block_tridiagonal, last.block_tridiagonal.T)
    np.testing.assert_allclose(last.ritz_values, theta, atol=1e-12)
    np.testing.assert_allclose(last.residuals, result.residuals, atol=1e-12)


@pytest.mark.parametrize("block_size", [1, 2, 3])
def test_eigenvalues_repeated_more_often_than_the_block_size_are_found(block_size):
    # The block Krylov space holds min(block_size, multiplicity) copies of each eigenvalue; the rest
    # come from the random vectors that replace the deflated columns once it is invariant.
    eigenvalues = np.array([10.0] * 7 + [3.0] * 5 + [1.0] * 4)
    a = symmetric(eigenvalues, seed=4)
    matmat = Counting(a)
    result = block_lanczos_eigenvalues(matmat, dim=16, k=9, block_size=block_size, tol=1e-10, seed=0)
    np.testing.assert_allclose(result.eigenvalues, [10.0] * 7 + [3.0] * 2, rtol=1e-10)
    assert result.converged.all() and result.num_mvps <= 16
    v = result.eigenvectors
    np.testing.assert_allclose(v.T @ v, np.eye(9), atol=1e-10)  # 7 independent eigenvectors of 10


def test_the_run_ends_when_the_whole_space_is_spanned():
    # dim 7, blocks of 3: the last block is narrowed to the one dimension left.
    eigenvalues = np.array([4.0, 3.0, 2.0, 1.0, 0.0, -1.0, -2.0])
    a = symmetric(eigenvalues, seed=5)
    matmat = Counting(a)
    result = block_lanczos_eigenvalues(matmat, dim=7, k=7, block_size=3, tol=1e-14, seed=0)
    assert matmat.widths == [3, 3, 1] and result.num_mvps == 7
    np.testing.assert_allclose(result.eigenvalues, eigenvalues, atol=1e-12)
    assert result.converged[:4].all()  # 0 has no relative tolerance to meet; its residual is ~1e-15
    assert np.all(result.residuals < 1e-12)


def test_zero_and_low_rank_operators():
    # Invariant subspaces from the first step on: every column is deflated and replaced.
    zero = block_lanczos_eigenvalues(lambda v: 0.0 * v, dim=5, k=2, block_size=2, seed=0)
    np.testing.assert_array_equal(zero.eigenvalues, [0.0, 0.0])
    assert zero.num_mvps == 5
    low_rank = symmetric(np.r_[5.0, -2.0, np.zeros(18)], seed=6)
    result = block_lanczos_eigenvalues(lambda v: low_rank @ v, dim=20, k=1, smallest=True, tol=1e-10, seed=0)
    assert result.eigenvalues[0] == pytest.approx(-2.0, rel=1e-12)


def test_max_iters_counts_products_and_stops_before_exceeding_them(caplog):
    a = symmetric(SPECTRA["clustered"], seed=7)
    matmat = Counting(a)
    result = block_lanczos_eigenvalues(matmat, dim=60, k=3, block_size=4, max_iters=10, tol=1e-12, seed=0)
    assert result.num_mvps == 8 == matmat.products and matmat.calls == 2  # a third block would make 12
    assert not result.converged.all() and "not converged" in caplog.text


def test_same_seed_same_numbers():
    a = symmetric(SPECTRA["separated"], seed=8)
    runs = [
        block_lanczos_eigenvalues(lambda v: a @ v, dim=60, k=3, block_size=2, tol=1e-4, seed=s)
        for s in (5, 5, 6)
    ]
    np.testing.assert_array_equal(runs[0].eigenvalues, runs[1].eigenvalues)
    np.testing.assert_array_equal(runs[0].eigenvectors, runs[1].eigenvectors)
    assert runs[0].num_mvps == runs[1].num_mvps
    assert not np.array_equal(runs[0].residuals, runs[2].residuals)
    # Repeated eigenvalues use the replacement vectors, which also come from the seed.
    b = np.diag([2.0, 2.0, 2.0, 2.0, 1.0])
    first, again = (
        block_lanczos_eigenvalues(lambda v: b @ v, dim=5, k=4, block_size=2, seed=9) for _ in range(2)
    )
    np.testing.assert_array_equal(first.eigenvectors, again.eigenvectors)


_A = np.diag([3.0, 2.0, 1.0])


@pytest.mark.parametrize(
    "options, match",
    [
        ({"k": 0}, "k must"),
        ({"k": 4}, "exceeds the dimension"),
        ({"dim": 0}, "dim"),
        ({"tol": 0.0}, "tol"),
        ({"tol": float("nan")}, "tol"),
        ({"block_size": 0}, "block_size"),
        ({"block_size": 2.0}, "block_size"),
        ({"block_size": True}, "block_size"),
        ({"block_size": 4}, "block_size=4 exceeds"),
        ({"max_iters": 0}, "max_iters"),
        ({"max_iters": 2.5}, "max_iters"),
        ({"k": 2, "block_size": 3, "max_iters": 2}, "max_iters"),
    ],
)
def test_bad_input_is_a_clear_value_error(options, match):
    options = {"dim": 3, "seed": 0, **options}
    with pytest.raises(ValueError, match=match):
        block_lanczos_eigenvalues(lambda v: _A @ v, **options)


@pytest.mark.parametrize(
    "matmat, match",
    [
        (lambda v: _A @ v * np.nan, "non-finite"),
        (lambda v: np.r_[(_A @ v)[:2], np.full((1, v.shape[1]), np.inf)], "non-finite"),
        (lambda v: (_A @ v)[:, :1], "shape"),
    ],
)
def test_bad_products_are_a_clear_value_error(matmat, match):
    with pytest.raises(ValueError, match=match):
        block_lanczos_eigenvalues(matmat, dim=3, k=2, seed=0)


def test_top_eigenvalues_of_uses_the_block_method_only_when_asked():
    a = symmetric(SPECTRA["separated"], seed=9)
    single = top_eigenvalues_of(lambda v: a @ v, dim=60, k=3, tol=1e-10, seed=0)
    assert single.method == "lanczos"
    assert top_eigenvalues_of(lambda v: a @ v, dim=60, k=3, block_size=1, seed=0).method == "lanczos"
    matmat = Counting(a)
    block = top_eigenvalues_of(
        lambda v: a @ v, dim=60, k=3, tol=1e-10, seed=0, block_size=3, matmat_fn=matmat
    )
    assert block.method == "block_lanczos" and matmat.calls == block.num_mvps // 3
    np.testing.assert_allclose(block.eigenvalues, single.eigenvalues, rtol=1e-10)
    # Without matmat_fn the blocks are stacked products of mvp_fn: the same numbers.
    stacked = top_eigenvalues_of(lambda v: a @ v, dim=60, k=3, tol=1e-10, seed=0, block_size=3)
    assert stacked.num_mvps == block.num_mvps
    np.testing.assert_allclose(stacked.eigenvalues, block.eigenvalues, rtol=1e-13)
    with pytest.raises(ValueError, match="block_size needs method='lanczos'"):
        top_eigenvalues_of(lambda v: a @ v, dim=60, method="power", block_size=2)
    with pytest.raises(ValueError, match="block_size"):
        top_eigenvalues_of(lambda v: a @ v, dim=60, block_size=61)


@pytest.fixture(scope="module")
def mlp_case():
    return tiny_mlp(n=40)


@pytest.mark.parametrize("k, block_size", [(3, 3), (4, 2)])
def test_on_a_hessian_operator_matches_the_dense_hessian_in_shared_passes(mlp_case, k, block_size):
    case = mlp_case
    op = HessianOperator(case.model, case.loss, (case.x, case.y))
    calls = []

    def matmat(vectors):
        calls.append(vectors.shape[1])
        return op.matmat(vectors)

    result = block_lanczos_eigenvalues(matmat, dim=op.dim, k=k, block_size=block_size, tol=1e-10, seed=0)
    expected = np.linalg.eigvalsh(case.hessian)[::-1][:k]
    np.testing.assert_allclose(result.eigenvalues, expected, rtol=1e-8)
    assert result.converged.all()
    assert op.num_hvps == result.num_mvps and len(calls) == math.ceil(result.num_mvps / block_size)
    assert set(calls) == {block_size}


def test_top_eigenvalues_of_a_model_with_block_size(mlp_case):
    case = mlp_case
    data = tf.data.Dataset.from_tensor_slices((case.x, case.y)).batch(16)
    result = top_eigenvalues(case.model, case.loss, data, k=2, block_size=2, tol=1e-10, seed=1)
    assert result.method == "block_lanczos"
    np.testing.assert_allclose(result.eigenvalues, np.linalg.eigvalsh(case.hessian)[::-1][:2], rtol=1e-8)
    smallest = top_eigenvalues(
        case.model, case.loss, data, k=1, block_size=2, smallest=True, tol=1e-8, seed=1
    )
    assert smallest.eigenvalues[0] == pytest.approx(np.linalg.eigvalsh(case.hessian)[0], abs=1e-8)


def test_the_default_block_is_at_least_2_at_least_k_and_at_most_one_shared_pass():
    hvp = importlib.import_module("tfescape.hessian.hvp")
    lanczos_module = importlib.import_module("tfescape.hessian.lanczos")
    assert lanczos_module.DEFAULT_MAX_BLOCK == hvp.MATMAT_BLOCK
    a = symmetric(SPECTRA["separated"], seed=10)
    for k, width in [(1, 2), (5, 5), (20, 16)]:
        matmat = Counting(a)
        block_lanczos_eigenvalues(matmat, dim=60, k=k, tol=1e-2, seed=0)
        assert matmat.widths[0] == width
    example = block_lanczos_eigenvalues(lambda v: np.diag([4.0, 3.0, 2.0, 1.0]) @ v, dim=4, k=2, seed=0)
    np.testing.assert_allclose(example.eigenvalues, [4.0, 3.0], rtol=1e-12)
