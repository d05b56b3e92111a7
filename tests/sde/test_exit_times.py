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
    a = first_exit_times(_ou(), seed=3, batch_size=64, **SMALL)
    b = first_exit_times(_ou(), seed=3, batch_size=64, **SMALL)
    c = first_exit_times(_ou(), seed=4, batch_size=64, **SMALL)
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
    ],
)
def test_bad_input_raises(override, match):
    kw = dict(SMALL, **override)
    with pytest.raises(ValueError, match=match):
        first_exit_times(_ou(), **kw)


def test_bad_alpha_raises():
    with pytest.raises(ValueError, match="alpha"):
        first_exit_times(SGDSDE(None, alpha=2.5, eps=1.0), **SMALL)
