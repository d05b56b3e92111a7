import numpy as np
import pytest
import tensorflow as tf
from scipy import stats

from tfescape.sde import levy_increments
from tfescape.sde.increments import levy_increment_grid, philox4x32


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


def test_philox_matches_tensorflows_philox_kernel():
    # TensorFlow's own Philox-4x32-10 (the stateless random kernels' bit generator) as the oracle: key
    # (k0, k1) = low and high words of the uint64 key, counter words low first, one block per 4 outputs.
    key, counter = 0x1234567890ABCDEF, [0xFFFFFFF0, 7]  # the low counter word carries into c1
    expected = tf.raw_ops.StatelessRandomUniformFullIntV2(
        shape=[64],
        key=tf.constant([key], tf.uint64),
        counter=tf.constant(counter, tf.uint64),
        alg=1,
        dtype=tf.uint32,
    ).numpy()
    low = 0xFFFFFFF0 + np.arange(16)
    words = philox4x32(
        (
            tf.constant(low % 2**32, tf.uint32),
            tf.constant(low // 2**32, tf.uint32),
            tf.fill([16], tf.constant(7, tf.uint32)),
            tf.zeros([16], tf.uint32),
        ),
        (tf.constant(key % 2**32, tf.uint32), tf.constant(key // 2**32, tf.uint32)),
    )
    np.testing.assert_array_equal(np.stack([w.numpy() for w in words], axis=-1).ravel(), expected)


@pytest.mark.parametrize("dtype", [tf.float32, tf.float64])
@pytest.mark.parametrize("alpha", [0.7, 1.0, 1.5, 2.0])
def test_grid_matches_scipy_levy_stable_cdf(alpha, dtype):
    # 1.2e5 draws (steps x slots x coordinates): binomial standard error <= 0.0015; tolerance 0.008 is
    # > 5 standard errors (false-failure rate < 1e-6 per point).
    dt = 0.1
    scale = dt ** (1 / alpha)
    seed = tf.constant([7, 8], tf.int32)
    grid = levy_increment_grid(
        seed, first_step=3, num_steps=20, num_slots=2000, dim=3, alpha=alpha, dt=dt, dtype=dtype
    )
    assert grid.shape == (20, 2000, 3) and grid.dtype == dtype
    x = grid.numpy().ravel().astype(np.float64)
    assert np.all(np.isfinite(x))
    points = np.array([-4.0, -1.0, -0.3, 0.1, 0.8, 3.0]) * scale
    reference = stats.levy_stable.cdf(points, alpha, 0.0, scale=scale)
    empirical = (x[None, :] <= points[:, None]).mean(axis=1)
    np.testing.assert_allclose(empirical, reference, atol=0.008)


def test_grid_entries_depend_only_on_seed_step_slot_and_coordinate():
    seed = tf.constant([1, 2], tf.int32)
    kw = dict(dim=3, alpha=1.3, dt=0.1)
    full = levy_increment_grid(seed, first_step=5, num_steps=6, num_slots=9, **kw).numpy()
    part = levy_increment_grid(seed, first_step=7, num_steps=2, first_slot=3, num_slots=5, **kw).numpy()
    # Same bits; the float transform may round differently in vectorized and scalar loops.
    np.testing.assert_allclose(part, full[2:4, 3:8], rtol=1e-6)
    compiled = tf.function(
        lambda: levy_increment_grid(seed, first_step=5, num_steps=6, num_slots=9, **kw), jit_compile=True
    )()
    np.testing.assert_allclose(compiled.numpy(), full, rtol=1e-5)
    other = levy_increment_grid(tf.constant([1, 3], tf.int32), first_step=5, num_steps=6, num_slots=9, **kw)
    assert not np.allclose(other.numpy(), full)


def test_grid_neighbours_are_uncorrelated():
    # Spearman correlation of entries that share a Philox block (coordinates 0 and 1 of a slot), of
    # neighbouring slots and of consecutive steps: standard error 1/sqrt(n) = 0.0032 at n = 1e5;
    # tolerance 0.02 is > 6 standard errors.
    seed = tf.constant([4, 4], tf.int32)
    x = levy_increment_grid(seed, first_step=0, num_steps=50, num_slots=2000, dim=2, alpha=1.5, dt=1.0)
    x = x.numpy()
    pairs = [(x[:, :, 0], x[:, :, 1]), (x[:, :-1, 0], x[:, 1:, 0]), (x[:-1, :, 1], x[1:, :, 1])]
    for a, b in pairs:
        assert abs(stats.spearmanr(a.ravel(), b.ravel()).statistic) < 0.02


def test_grid_bad_sizes_raise():
    seed = tf.constant([1, 2], tf.int32)
    with pytest.raises(ValueError, match="num_slots"):
        levy_increment_grid(seed, first_step=0, num_steps=2, num_slots=0, dim=1, alpha=1.5, dt=0.1)
    with pytest.raises(ValueError, match="dtype"):
        levy_increment_grid(
            seed, first_step=0, num_steps=2, num_slots=2, dim=1, alpha=1.5, dt=0.1, dtype=tf.float16
        )
