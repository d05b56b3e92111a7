import numpy as np
import pytest
import tensorflow as tf

from tfescape.sde import (
    SGDSDE,
    Ball,
    Box,
    Ellipsoid,
    ExitTimes,
    NoisySGD,
    Predicate,
    SublevelSet,
    first_exit_times,
)


def _ou(alpha=1.5, eps=0.6):
    return SGDSDE(lambda x: x, alpha=alpha, eps=eps)


SMALL = dict(x0=[0.0], basin=Box(-1.0, 1.0), dt=0.05, num_paths=100, max_time=200.0)


def test_fixed_seed_reproduces_and_other_seed_differs():
    process = _ou()
    a = first_exit_times(process, seed=3, batch_size=64, **SMALL)
    b = first_exit_times(_ou(), seed=3, batch_size=64, **SMALL)  # a second process, compiled anew
    c = first_exit_times(process, seed=4, batch_size=64, **SMALL)  # a's compiled loop, another seed
    np.testing.assert_array_equal(a.times, b.times)
    np.testing.assert_array_equal(a.exit_locations, b.exit_locations)
    assert not np.array_equal(a.times, c.times)


def test_eager_equals_graph():
    kw = dict(x0=[0.0, 0.0], basin=Ball([0.0, 0.0], 1.0), dt=0.05, num_paths=24, max_time=5.0, seed=1)
    sde = SGDSDE(lambda x: x, alpha=1.4, eps=0.6, sigma=[1.0, 0.5])
    graph = first_exit_times(sde, batch_size=8, **kw)
    tf.config.run_functions_eagerly(True)
    try:
        eager = first_exit_times(sde, batch_size=8, **kw)
    finally:
        tf.config.run_functions_eagerly(False)
    np.testing.assert_array_equal(graph.times, eager.times)
    np.testing.assert_array_equal(graph.escaped, eager.escaped)
    np.testing.assert_allclose(graph.exit_locations, eager.exit_locations, rtol=1e-5)


def test_result_fields_are_consistent():
    res = first_exit_times(_ou(), seed=0, **SMALL)
    assert isinstance(res, ExitTimes) and res.num_paths == 100
    assert res.times.shape == (100,) and res.exit_locations.shape == (100, 1)
    assert res.censored == 100 - res.escaped.sum()
    # Exit locations lie outside the basin, exit times are positive multiples of dt.
    loc = res.exit_locations[res.escaped, 0]
    assert np.all(np.abs(loc) >= 1.0)
    steps = res.times / res.dt
    np.testing.assert_allclose(steps, np.round(steps), atol=1e-6)
    assert res.times.min() >= res.dt
    with pytest.raises(ValueError):
        res.times[0] = 1.0  # results are read-only


def test_all_censored_paths_report_horizon_and_a_lower_bound():
    res = first_exit_times(
        _ou(eps=1e-3), x0=[0.0], basin=Box(-10.0, 10.0), dt=0.1, num_paths=50, max_time=3.0, seed=0
    )
    assert res.censored == 50 and res.num_escaped == 0
    np.testing.assert_allclose(res.times, res.horizon)
    assert np.isnan(res.exit_locations).all()
    assert res.mean.value == np.inf and res.mean.method == "tail-exponential"
    assert res.restricted_mean.value == pytest.approx(res.horizon)


@pytest.mark.slow  # about 20 s on a busy 2-core machine
def test_pool_refill_does_not_bias_exit_times():
    # A small pool (paths restart in freed slots) and one slot per path must give the same law.
    # 1/nu ~ 5 (100 steps). Two independent means with ~2.9% standard error each: |difference| < 12% is
    # > 2.9 combined standard errors of the difference (false-failure rate about 0.4%).
    kw = dict(x0=[0.0], basin=Box(-1.0, 1.0), dt=0.05, num_paths=1200, max_time=1e4)
    pooled = first_exit_times(_ou(), seed=1, batch_size=64, **kw).mean.value
    unpooled = first_exit_times(_ou(), seed=2, batch_size=1200, **kw).mean.value
    assert abs(pooled / unpooled - 1) < 0.12


def test_tail_exponential_mean_under_censoring_recovers_an_exponential_mean():
    # Synthetic censored exponential data (numpy oracle): true mean 10, horizon 15 (~22% censored).
    rng = np.random.default_rng(0)
    tau = rng.exponential(10.0, size=20_000)
    escaped = tau < 15.0
    res = ExitTimes(
        times=np.where(escaped, tau, 15.0),
        escaped=escaped,
        exit_locations=np.zeros((20_000, 1)),
        dt=0.01,
        horizon=15.0,
    )
    est = res.mean
    assert est.method == "tail-exponential"
    assert est.contains(10.0) and abs(est.value - 10.0) < 0.3
    assert res.restricted_mean.value < 10.0  # a lower bound, as documented


@pytest.mark.parametrize(
    "basin, x0",
    [
        (Ellipsoid([0.0, 0.0], [4.0, 1.0], 0.5), [0.0, 0.0]),
        (SublevelSet(lambda x: tf.reduce_sum(x * x, axis=-1), 1.0), [0.0, 0.0]),
        (Predicate(lambda x: tf.reduce_max(tf.abs(x), axis=-1) < 1.0), [0.0, 0.0]),
    ],
)
def test_other_basins_run(basin, x0):
    res = first_exit_times(
        SGDSDE(lambda x: x, alpha=1.5, eps=0.5),
        x0=x0,
        basin=basin,
        dt=0.05,
        num_paths=64,
        max_time=500.0,
        seed=0,
    )
    assert res.num_escaped == 64
    assert not np.any(basin.contains(tf.constant(res.exit_locations, tf.float32)).numpy())


def test_discrete_algorithm_uses_its_learning_rate_as_dt():
    alg = NoisySGD(lambda x: x, learning_rate=0.05, alpha=1.5, sigma=1.0)
    res = first_exit_times(alg, x0=[0.0], basin=Box(-0.5, 0.5), num_paths=32, max_time=100.0, seed=0)
    assert res.dt == 0.05
    with pytest.raises(ValueError, match="learning_rate"):
        first_exit_times(alg, x0=[0.0], basin=Box(-0.5, 0.5), dt=0.01, num_paths=4, max_time=1.0)


@pytest.mark.parametrize(
    "override, match",
    [
        (dict(dt=0.0), "dt"),
        (dict(dt=-1.0), "dt"),
        (dict(x0=[2.0]), "not inside the basin"),
        (dict(x0=[0.0, 0.0]), "dimension"),
        (dict(num_paths=0), "num_paths"),
        (dict(max_time=0.0), "max_time"),
        (dict(basin=object()), "contains"),
        (dict(max_time=5e7, num_paths=10**4), "batch_size"),  # 3 pool rounds of up to 1e9 steps > 2^31
    ],
)
def test_bad_input_raises(override, match):
    kw = dict(SMALL, **override)
    with pytest.raises(ValueError, match=match):
        first_exit_times(_ou(), **kw)


def test_bad_alpha_raises():
    with pytest.raises(ValueError, match="alpha"):
        first_exit_times(SGDSDE(None, alpha=2.5, eps=1.0), **SMALL)


# The pool, written out step by step in NumPy from the specification (an independent check of the
# compiled loop's bookkeeping): slot s takes the increment dL[k, s] at global step k; a path that leaves
# the basin or reaches the horizon is recorded under its start number, and its slot restarts from x0 at
# the next step with the next unstarted path, finished slots taken in slot order; then it goes idle.
def _numpy_pool(noise, *, num_paths, batch, num_steps, dt, eps, low, high):
    x = np.zeros(batch)
    path = np.arange(batch)
    start = np.zeros(batch, int)
    running = np.ones(batch, bool)
    next_path = batch
    steps = np.full(num_paths, -1)
    location = np.full(num_paths, np.nan)
    k = 0
    while running.any():
        x = x + (-x) * dt + eps * noise[k]
        for s in range(batch):
            if not running[s]:
                continue
            exited = not (low < x[s] < high)
            if exited or k + 1 - start[s] >= num_steps:
                steps[path[s]] = k + 1 - start[s]
                location[path[s]] = x[s] if exited else np.nan
                x[s], start[s] = 0.0, k + 1
                path[s], running[s] = next_path, next_path < num_paths
                next_path += 1
        k += 1
    return steps, location


@pytest.mark.parametrize("min_pool", [2, None])
def test_pool_refill_and_censoring_match_a_step_by_step_numpy_pool(min_pool, monkeypatch):
    from tfescape._seeds import sanitize_seed
    from tfescape.sde import exit_times
    from tfescape.sde.increments import levy_increment_grid

    if min_pool is not None:  # let the pool shrink at the end (8 -> 2 slots): same paths, same numbers
        monkeypatch.setattr(exit_times, "_MIN_POOL", min_pool)
        monkeypatch.setattr(exit_times, "_COMPILED", type(exit_times._COMPILED)())

    num_paths, batch, dt, eps, num_steps = 40, 8, 0.05, 0.6, 50  # mean exit ~55 steps: ~40% censored
    sde = SGDSDE(lambda x: x, alpha=1.5, eps=eps, dtype=tf.float64)
    res = first_exit_times(
        sde,
        x0=[0.0],
        basin=Box(-1.0, 1.0),
        dt=dt,
        num_paths=num_paths,
        max_time=num_steps * dt,
        seed=5,
        batch_size=batch,
        chunk_steps=16,
    )
    seed = sanitize_seed(5, salt="first_exit_times")
    noise = levy_increment_grid(
        seed, first_step=0, num_steps=600, num_slots=batch, dim=1, alpha=1.5, dt=dt, dtype=tf.float64
    ).numpy()[:, :, 0]
    steps, location = _numpy_pool(
        noise, num_paths=num_paths, batch=batch, num_steps=num_steps, dt=dt, eps=eps, low=-1.0, high=1.0
    )
    assert 5 <= res.censored <= 35  # both exits and censoring happen
    np.testing.assert_array_equal(np.round(res.times / dt).astype(int), steps)
    np.testing.assert_array_equal(res.escaped, ~np.isnan(location))
    np.testing.assert_allclose(res.exit_locations[:, 0], location, rtol=1e-12)


def _small_run(jit_compile, chunk_steps=None, basin=None):
    return first_exit_times(
        SGDSDE(lambda x: x, alpha=1.3, eps=0.5, sigma=[1.0, 0.7]),
        x0=[0.0, 0.0],
        basin=basin or Ball([0.0, 0.0], 1.0),
        dt=0.05,
        num_paths=60,
        max_time=3.0,  # some paths censored
        seed=11,
        batch_size=16,  # refills
        chunk_steps=chunk_steps,
        jit_compile=jit_compile,
    )


def _assert_same_paths(a, b):
    np.testing.assert_array_equal(a.times, b.times)
    np.testing.assert_array_equal(a.escaped, b.escaped)
    np.testing.assert_allclose(a.exit_locations, b.exit_locations, rtol=1e-5)


def test_compiled_and_graph_step_loops_give_the_same_paths():
    compiled = _small_run(jit_compile=True)
    assert 0 < compiled.censored < 60
    _assert_same_paths(compiled, _small_run(jit_compile=False))


def test_results_do_not_depend_on_chunk_steps():
    _assert_same_paths(
        _small_run(jit_compile=None, chunk_steps=64), _small_run(jit_compile=None, chunk_steps=7)
    )


def _numpy_ball(x):
    return np.sum(np.square(x), axis=-1) < 1.0


# A basin XLA cannot compile (it calls back into Python).
NOT_COMPILABLE = Predicate(
    lambda x: tf.ensure_shape(tf.numpy_function(_numpy_ball, [x], tf.bool), x.shape[:-1])
)


def test_uncompilable_basin_falls_back_to_the_graph_with_a_warning(caplog):
    with caplog.at_level("WARNING", logger="tfescape.sde.exit_times"):
        fallback = _small_run(jit_compile=None, basin=NOT_COMPILABLE)
    assert "XLA cannot compile" in caplog.text
    _assert_same_paths(fallback, _small_run(jit_compile=True))
    with pytest.raises(ValueError, match="jit_compile=True"):
        _small_run(jit_compile=True, basin=Predicate(NOT_COMPILABLE.fn))


def test_bad_jit_compile_raises():
    with pytest.raises(ValueError, match="jit_compile"):
        first_exit_times(_ou(), jit_compile="yes", **SMALL)
