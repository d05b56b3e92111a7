"""Monte Carlo first exit times of Levy-driven processes from basins, with bounded memory.

``first_exit_times`` runs the Euler-Maruyama scheme of a process (tfescape.sde.processes or
tfescape.sde.discrete) for ``num_paths`` independent paths from ``x0`` until each leaves ``basin`` or
reaches ``max_time``:

* a pool of ``batch_size`` slots advances together; when a path leaves (or times out) its exit step and
  location are recorded and its slot restarts a fresh path from x0 at the next step, so the work is about
  num_paths x (mean exit time) path-steps, not num_paths x (longest exit time), and memory is
  O(batch_size x d x chunk_steps + num_paths x d) whatever the number of steps; when no paths are left
  to start, finished slots go idle (never recorded again), and once at most a quarter of the pool still
  runs, the pool shrinks to a quarter (down to 256 slots; each new size is compiled once), so the last,
  longest paths do not drag a full pool of idle slots;
* steps are taken in chunks of ``chunk_steps``: the increments of a whole chunk are drawn in one call
  (tfescape.sde.increments.levy_increment_grid: Philox bits and Chambers-Mallows-Stuck, fused XLA
  loops, two halves of the pool in parallel, one chunk ahead of the stepping), then the pool advances
  through the chunk in one XLA-compiled loop (process step, basin test, exit bookkeeping; a few fused
  kernels per step), and the chunk's exits are written to the result in TensorFlow graph ops;
* the increment of slot s at global step k is a pure function of (seed, k, s): the same seed and
  batch_size reproduce the result exactly, for any ``chunk_steps``, compiled or not, with or without
  shrinking the pool (up to float rounding, which can only matter for a path that lands within an ulp of
  the boundary);
* paths are numbered in the order they start (path i is the i-th started), so ``times[:m]`` is a
  sample of m iid exit times;
* process and basin functions must use TensorFlow control flow (tf.where, tf.cond), not Python ``if``
  on tensors. If they cannot be compiled with XLA (e.g. a tf.py_function), the loop falls back to a
  plain TensorFlow graph with a warning (much slower per step).

The exit time of a path is k dt for the first step k >= 1 with X_k outside the basin (the path is
monitored at the grid times only, which slightly overestimates exit times of continuous-time processes;
keep dt small against the time scale of the basin).

References:
    Imkeller & Pavlyukevich (2006), First exit times of SDEs driven by stable Levy processes.
        Stochastic Processes and their Applications 116.
    Kaplan & Meier (1958), Nonparametric estimation from incomplete observations. JASA 53.
"""

from __future__ import annotations

import collections
import dataclasses
import logging
import math

import numpy as np
import tensorflow as tf
from scipy import stats

from tfescape.sde.increments import _flat_increment_grid, stateless_seed, validate_alpha, validate_dt

__all__ = ["ExitTimes", "MeanEstimate", "first_exit_times"]

_LOG = logging.getLogger(__name__)
_MAX_STEPS = 2**31 - 2
# Default chunk: about this many increments per draw (a few MiB), between these numbers of steps.
_CHUNK_ELEMENTS = 2**20
_CHUNK_MIN, _CHUNK_MAX = 16, 1024
# When every path has started and at most 1/_SHRINK_FACTOR of the pool still runs, the pool shrinks by
# that factor (down to _MIN_POOL slots), so the longest paths do not drag a full pool of idle slots.
# Each new pool size is compiled once (about a second), which is why the steps are coarse.
_SHRINK_FACTOR, _MIN_POOL = 4, 256
# Pools of at least this many slots draw their noise in two halves, one per core.
_SPLIT_MIN = 64
# The last few compiled loops, by (process, basin, configuration): repeated calls (new seeds, new x0)
# reuse the graph instead of tracing it again. Entries hold the process and basin, so ids stay valid.
_COMPILED: collections.OrderedDict = collections.OrderedDict()
_COMPILED_MAX = 8


@dataclasses.dataclass(frozen=True)
class MeanEstimate:
    """A mean exit time with a confidence interval.

    Attributes:
        value: the estimate (inf when no path left the basin).
        low, high: confidence interval bounds.
        level: confidence level of [low, high], e.g. 0.95.
        method: "sample-mean" (no censoring; normal interval from the sample standard deviation) or
            "tail-exponential" (some paths censored: see ExitTimes.mean_estimate).
    """

    value: float
    low: float
    high: float
    level: float
    method: str

    def contains(self, x: float) -> bool:
        """Whether x lies in [low, high]."""
        return self.low <= x <= self.high


@dataclasses.dataclass(frozen=True, eq=False)
class ExitTimes:
    """First exit times of num_paths simulated paths.

    Attributes:
        times: [num_paths] float64 exit times k dt; for censored paths the horizon.
        escaped: [num_paths] bool, True where the path left the basin before the horizon.
        exit_locations: [num_paths, d] float64, the first position outside the basin; NaN where censored.
        dt: the time step.
        horizon: the simulated time per path, ceil(max_time / dt) dt.
    """

    times: np.ndarray
    escaped: np.ndarray
    exit_locations: np.ndarray
    dt: float
    horizon: float

    @property
    def num_paths(self) -> int:
        return int(self.times.shape[0])

    @property
    def num_escaped(self) -> int:
        return int(np.count_nonzero(self.escaped))

    @property
    def censored(self) -> int:
        """Number of paths still inside the basin at the horizon."""
        return self.num_paths - self.num_escaped

    @property
    def mean(self) -> MeanEstimate:
        """Mean exit time with a 95% confidence interval (see ``mean_estimate``)."""
        return self.mean_estimate()

    def mean_estimate(self, level: float = 0.95, *, num_bootstrap: int = 200) -> MeanEstimate:
        """Mean exit time E tau with a confidence interval at ``level``.

        Without censoring: the sample mean and the normal interval mean +- z s / sqrt(n).
        With censoring (all at the horizon H): E tau = E min(tau, H) + P(tau > H) E[tau - H | tau > H].
        The first two terms are estimated without any model (restricted mean, survival at H); the residual
        mean uses memorylessness in the tail only (the exit law is asymptotically exponential):
        the exponential rate fitted on [H/2, H] (exits there / time spent there). The interval is a
        percentile bootstrap over paths (fixed resampling seed). Heavy censoring makes this an
        extrapolation; prefer a longer max_time.
        """
        if not 0 < level < 1:
            raise ValueError(f"level must be in (0, 1), got {level}.")
        t = self.times
        n = self.num_paths
        if self.censored == 0:
            mean = float(t.mean())
            half = stats.norm.ppf(0.5 + level / 2) * (
                float(t.std(ddof=1)) / math.sqrt(n) if n > 1 else math.inf
            )
            return MeanEstimate(mean, mean - half, mean + half, level, "sample-mean")
        value = _tail_exponential_mean(t, self.escaped, self.horizon)
        if not math.isfinite(value):  # no exits late enough to fit the tail: only a lower bound is known
            return MeanEstimate(value, self.restricted_mean.value, math.inf, level, "tail-exponential")
        rng = np.random.default_rng(12345)
        boot = np.empty(num_bootstrap)
        for b in range(num_bootstrap):
            idx = rng.integers(0, n, n)
            boot[b] = _tail_exponential_mean(t[idx], self.escaped[idx], self.horizon)
        with np.errstate(invalid="ignore"):
            low, high = np.quantile(boot, [0.5 - level / 2, 0.5 + level / 2])
        return MeanEstimate(value, float(low), float(high), level, "tail-exponential")

    @property
    def restricted_mean(self) -> MeanEstimate:
        """E min(tau, horizon) with a 95% normal interval: model-free, and a lower bound for E tau."""
        t = np.minimum(self.times, self.horizon)
        mean = float(t.mean())
        half = 1.959963984540054 * float(t.std(ddof=1)) / math.sqrt(max(self.num_paths - 1, 1))
        return MeanEstimate(mean, mean - half, mean + half, 0.95, "restricted-mean")

    def survival(self, t) -> np.ndarray:
        """Empirical P(tau > t) for times t <= horizon (array in, array out)."""
        t = np.asarray(t, dtype=np.float64)
        return (self.times[None, :] > t.reshape(-1, 1)).mean(axis=1).reshape(t.shape)


def _tail_exponential_mean(times, escaped, horizon) -> float:
    restricted = float(np.minimum(times, horizon).mean())
    alive_at_end = float(np.mean(~escaped))
    if alive_at_end == 0.0:
        return restricted
    half = horizon / 2
    exits_late = np.count_nonzero(escaped & (times > half))
    exposure = float(np.clip(times - half, 0.0, half).sum())
    if exits_late == 0:
        return math.inf
    return restricted + alive_at_end * exposure / exits_late


def _select(mask, a, b):
    """Per-path where(mask, a, b) over matching nests whose tensors have the path axis first."""

    def pick(x, y):
        m = tf.reshape(mask, [-1] + [1] * (x.shape.rank - 1))
        return tf.where(m, x, y)

    return tf.nest.map_structure(pick, a, b)


def _check_process(process):
    for name in ("init", "step", "position", "alpha"):
        if not hasattr(process, name):
            raise ValueError(
                f"process must provide init/step/position/alpha (e.g. SGDSDE, AdamSDE, NoisySGD); "
                f"{type(process).__name__} has no {name!r}."
            )


def _resolve_dt(process, dt) -> float:
    natural = getattr(process, "time_step", None)
    if natural is None:
        if dt is None:
            raise ValueError("dt is required for an SDE (e.g. dt=1e-3).")
        return validate_dt(dt)
    if dt is None:
        return float(natural)
    dt = validate_dt(dt)
    if not math.isclose(dt, natural, rel_tol=1e-9):
        raise ValueError(
            f"{type(process).__name__} is a discrete algorithm with time step dt = learning_rate = "
            f"{natural}; "
            f"got dt={dt}. Leave dt out."
        )
    return dt


def _positive_int(name, value) -> int:
    if isinstance(value, bool) or int(value) != value or int(value) < 1:
        raise ValueError(f"{name} must be a positive integer, got {value!r}.")
    return int(value)


def first_exit_times(
    process,
    *,
    x0,
    basin,
    dt=None,
    num_paths,
    max_time,
    seed=None,
    batch_size=None,
    chunk_steps=None,
    jit_compile=None,
    init_kwargs=None,
) -> ExitTimes:
    """Monte Carlo first exit times of ``process`` started at ``x0`` from ``basin``.

    Args:
        process: an object with init/step/position/alpha (SGDSDE, AdamSDE, NoisySGD, NoisyAdam, ...).
        x0: start point [d] (a scalar for 1-D); must lie inside the basin.
        basin: Box, Ball, Ellipsoid, SublevelSet, Predicate or any object with ``contains(x)``.
        dt: SDE time step > 0; for discrete algorithms leave it out (it is their learning rate).
        num_paths: number of independent paths.
        max_time: simulated time per path; paths still inside are censored at
            horizon = ceil(max_time / dt) dt.
        seed: int, shape-[2] int tensor or None; fixed seed + batch_size = identical results.
        batch_size: number of paths advanced together (default min(num_paths, 4096)).
        chunk_steps: steps per noise draw and per compiled loop (default: about 2^20 / (batch_size d),
            between 16 and 1024, at most the number of steps). Memory is
            O(chunk_steps batch_size d + num_paths d) for any number of steps. Results do not depend on it.
        jit_compile: None (default): compile the step loop with XLA, and fall back to a TensorFlow graph
            with a warning if the process or basin cannot be compiled. True: XLA or a ValueError.
            False: a TensorFlow graph (per-op overhead: many times slower per step on CPU). The noise is
            always drawn by an XLA-compiled sampler, so all three give the same draws.
        init_kwargs: extra keyword arguments for ``process.init`` (e.g. ``{"t0": 1e4}`` for AdamSDE).

    Returns:
        ExitTimes (times, escaped mask, censored count, exit locations, ``.mean`` with a CI).

    Raises:
        ValueError: dt <= 0, max_time <= 0, num_paths < 1, x0 not of the basin's dimension or not inside
            the basin, a process without the process interface, or jit_compile=True for a process or
            basin that XLA cannot compile; also when a path reaches a NaN or inf position (e.g. grad_fn
            returned NaN), which is a breakdown of the simulation, not an exit.

    Example:
        >>> sde = SGDSDE(lambda x: x, alpha=1.5, eps=0.1)
        >>> res = first_exit_times(sde, x0=[0.0], basin=Box(-1.0, 1.0), dt=1e-2, num_paths=1000,
        ...                        max_time=1e3, seed=0)
        >>> res.mean.value, res.mean.low, res.mean.high
    """
    _check_process(process)
    alpha = validate_alpha(process.alpha)
    dt = _resolve_dt(process, dt)
    max_time = float(max_time)
    if not (math.isfinite(max_time) and max_time > 0):
        raise ValueError(f"max_time must be finite and > 0, got {max_time}.")
    num_steps = max(1, math.ceil(max_time / dt - 1e-9))
    if num_steps > _MAX_STEPS:
        raise ValueError(
            f"max_time / dt = {num_steps} steps exceeds {_MAX_STEPS}; increase dt or lower max_time."
        )
    num_paths = _positive_int("num_paths", num_paths)
    batch = min(num_paths, _positive_int("batch_size", batch_size or 4096))
    dtype = tf.as_dtype(getattr(process, "dtype", tf.float32))
    x0 = np.atleast_1d(np.asarray(x0, dtype=np.float64))
    if x0.ndim != 1 or not np.all(np.isfinite(x0)):
        raise ValueError(f"x0 must be a finite point of shape [d], got shape {x0.shape}.")
    dim = x0.shape[0]
    if chunk_steps is None:
        chunk_steps = min(num_steps, max(_CHUNK_MIN, min(_CHUNK_MAX, _CHUNK_ELEMENTS // (batch * dim))))
    chunk_steps = _positive_int("chunk_steps", chunk_steps)
    # All slots are busy until the last path starts, so the pool runs at most this many global steps,
    # which index the noise (int32).
    if math.ceil(num_paths / batch) * num_steps + num_steps + 2 * chunk_steps > _MAX_STEPS:
        raise ValueError(
            f"{num_paths} paths of up to {num_steps} steps in a pool of {batch} may take more than "
            f"{_MAX_STEPS} steps in all; increase batch_size or dt, or lower max_time."
        )
    basin_dim = getattr(basin, "dim", None)
    if basin_dim is not None and basin_dim != dim:
        raise ValueError(f"x0 has dimension {dim} but the basin has dimension {basin_dim}.")
    if not hasattr(basin, "contains"):
        raise ValueError(
            "basin must provide contains(x) (use Box, Ball, Ellipsoid, SublevelSet or Predicate)."
        )
    if not bool(basin.contains(tf.constant(x0[None, :], dtype=dtype)).numpy()[0]):
        raise ValueError(
            f"x0={x0.tolist()} is not inside the basin; start the paths inside it (e.g. at its minimum)."
        )
    if jit_compile not in (None, True, False):
        raise ValueError(
            f"jit_compile must be None (XLA with a fallback), True or False, got {jit_compile!r}."
        )
    seed = stateless_seed(seed, salt="first_exit_times")
    config = _RunConfig(
        dim=dim,
        batch=batch,
        num_paths=num_paths,
        num_steps=num_steps,
        dt=dt,
        alpha=alpha,
        chunk_steps=chunk_steps,
        dtype=dtype,
        init_kwargs=tuple(sorted((init_kwargs or {}).items())),
    )
    run = _cached_runner(process, basin, config, jit_compile, tf.constant(x0, dtype=dtype))
    steps, escaped, loc = run(tf.constant(x0, dtype=dtype), seed)
    times = steps.numpy().astype(np.float64) * dt
    result = ExitTimes(
        times=times,
        escaped=escaped.numpy(),
        exit_locations=loc.numpy().astype(np.float64),
        dt=dt,
        horizon=num_steps * dt,
    )
    _check_exits_finite(result)
    for array in (result.times, result.escaped, result.exit_locations):
        array.setflags(write=False)
    return result


def _check_exits_finite(result: ExitTimes) -> None:
    """A path whose state became NaN or inf did not leave the basin: the simulation broke down."""
    broken = result.escaped & ~np.all(np.isfinite(result.exit_locations), axis=-1)
    if np.any(broken):
        first = float(np.min(result.times[broken]))
        raise ValueError(
            f"{int(np.sum(broken))} of {result.num_paths} paths reached a non-finite position (NaN or inf), "
            f"the first at time {first:g}; these are not exits from the basin. The process produced "
            "non-finite values: check that grad_fn is finite on and around the basin, and lower dt or "
            "the noise scale if the paths overflow."
        )


@dataclasses.dataclass(frozen=True)
class _RunConfig:
    """Everything the compiled loop is specialized on, besides the process and the basin."""

    dim: int
    batch: int
    num_paths: int
    num_steps: int
    dt: float
    alpha: float
    chunk_steps: int
    dtype: tf.DType
    init_kwargs: tuple

    @property
    def key(self) -> tuple:
        sizes = (self.dim, self.batch, self.num_paths, self.num_steps, self.dt, self.alpha, self.chunk_steps)
        return (*sizes, self.dtype.name, repr(self.init_kwargs))


def _cached_runner(process, basin, config: _RunConfig, jit_compile, x0):
    """The run(x0, seed) function for this process, basin and configuration (built once, then reused)."""
    key = (id(process), id(basin), config.key, jit_compile)
    if key not in _COMPILED:
        advance = _chunk_stepper(process, basin, config)
        compiled = tf.function(advance, jit_compile=True, autograph=False)
        if jit_compile is not False and _step_loop_compiles(compiled, process, config, jit_compile, x0):
            advance = compiled  # compiled at run time, once per pool size
        else:
            advance = tf.function(advance, autograph=False)
        run = tf.function(_build_runner(process, config, advance), autograph=False)
        _COMPILED[key] = (process, basin, run)
        while len(_COMPILED) > _COMPILED_MAX:
            _COMPILED.popitem(last=False)
    _COMPILED.move_to_end(key)
    return _COMPILED[key][2]


def _step_loop_compiles(advance, process, config: _RunConfig, jit_compile, x0) -> bool:
    """Whether XLA can compile ``advance``, the step loop of this process and basin (lowering only)."""
    if tf.config.functions_run_eagerly():
        return True  # nothing is compiled when tf.functions run eagerly
    try:
        advance.experimental_get_compiler_ir(*_stepper_example_inputs(process, config, x0))(stage="hlo")
    except (tf.errors.OpError, ValueError, TypeError, NotImplementedError) as error:
        if jit_compile:
            raise ValueError(
                "jit_compile=True but XLA cannot compile the process step or the basin test "
                f"({type(error).__name__}: {str(error).splitlines()[0]}). Use only XLA-compatible "
                "TensorFlow ops in grad_fn / contains, or pass jit_compile=None to fall back."
            ) from error
        _LOG.warning(
            "first_exit_times: XLA cannot compile the step of %s with this basin (%s); running the step "
            "loop as a TensorFlow graph instead (much slower per step). Pass jit_compile=False to skip "
            "this attempt.",
            type(process).__name__,
            str(error).splitlines()[0],
        )
        return False
    return True


def _stepper_example_inputs(process, config: _RunConfig, x0):
    fresh = process.init(tf.broadcast_to(x0, [config.batch, config.dim]), **dict(config.init_kwargs))
    return (
        fresh,
        tf.zeros([config.batch], tf.int32),
        tf.ones([config.batch], tf.bool),
        tf.constant(0, tf.int32),
        tf.constant(0, tf.int32),
        tf.zeros([config.chunk_steps, config.batch * config.dim], config.dtype),
        x0,
    )


def _chunk_stepper(process, basin, config: _RunConfig):
    """advance(state, slot_start, active, remaining, k0, noise, x0): the pool through one chunk.

    For j = 0 .. chunk_steps - 1 (global step k = k0 + j): step every running slot with the increment
    noise[j], test the basin, and record in row j of the ledger ``code`` [chunk_steps, batch]
    +age (the slot's path left the basin at this age), -age (censored at the horizon) or 0 (nothing), and
    the position in row j of ``where`` [chunk_steps, batch, d]. A finished slot restarts from x0 at the next
    step; it runs a new path while unstarted paths remain (``remaining``, given out in (step, slot) order),
    otherwise it becomes inactive: it keeps stepping (cheaper than masking every step) but is never
    recorded again.
    """
    dim, num_steps, dt = config.dim, config.num_steps, config.dt
    init_kwargs = dict(config.init_kwargs)

    def advance(state, slot_start, active, remaining, k0, noise, x0):
        batch = tf.shape(slot_start)[0]  # the pool shrinks at the end (see _shrink_pool)
        fresh = process.init(tf.broadcast_to(x0, [batch, dim]), **init_kwargs)
        codes = tf.TensorArray(tf.int32, size=config.chunk_steps, element_shape=[None])
        wheres = tf.TensorArray(config.dtype, size=config.chunk_steps, element_shape=[None, dim])

        def restart(k, finished, state, slot_start, active, remaining):
            count = tf.reduce_sum(tf.cast(finished, tf.int32))
            rank = tf.cumsum(tf.cast(finished, tf.int32), exclusive=True)
            restarted = tf.cond(count <= remaining, lambda: finished, lambda: finished & (rank < remaining))
            state = _select(finished, fresh, state)
            slot_start = tf.where(finished, k + 1, slot_start)
            active = (active & tf.logical_not(finished)) | restarted
            return state, slot_start, active, remaining - tf.minimum(count, remaining)

        def body(j, state, slot_start, active, remaining, codes, wheres):
            k = k0 + j
            moved = process.step(state, dt, tf.reshape(tf.gather(noise, j), [batch, dim]))
            x = process.position(moved)
            age = k + 1 - slot_start
            exited = active & tf.logical_not(basin.contains(x))
            finished = exited | (active & (age >= num_steps))
            codes = codes.write(j, tf.where(finished, tf.where(exited, age, -age), 0))
            wheres = wheres.write(j, x)
            state = moved
            state, slot_start, active, remaining = tf.cond(
                tf.reduce_any(finished),
                lambda: restart(k, finished, state, slot_start, active, remaining),
                lambda: (state, slot_start, active, remaining),
            )
            return j + 1, state, slot_start, active, remaining, codes, wheres

        loop_vars = (tf.constant(0), state, slot_start, active, remaining, codes, wheres)
        _, state, slot_start, active, remaining, codes, wheres = tf.while_loop(
            lambda j, *_: j < config.chunk_steps, body, loop_vars
        )
        return state, slot_start, active, remaining, codes.stack(), wheres.stack()

    return advance


def _record_chunk(codes, wheres, slot_path, next_path, outs, num_paths):
    """Write a chunk's finished paths to the outputs and renumber the slots that restarted.

    Events (nonzero ``codes``) in (step, slot) order are the restarts in the order the stepper made them:
    event r starts path next_path + r (none if >= num_paths). The path that finishes at an event is the
    one the slot held at the start of the chunk (its first event) or the one its previous event started.
    """
    events = tf.where(tf.not_equal(codes, 0))
    count = tf.shape(events)[0]
    slot = tf.cast(events[:, 1], tf.int32)
    code = tf.gather_nd(codes, events)
    where = tf.gather_nd(wheres, events)
    started = next_path + tf.range(tf.shape(events)[0], dtype=tf.int32)
    order = tf.argsort(slot, stable=True)  # group by slot, keeping step order
    slot, code, where, started = (tf.gather(t, order) for t in (slot, code, where, started))
    same_slot = tf.equal(slot[1:], slot[:-1])
    first = tf.concat([[True], tf.logical_not(same_slot)], axis=0)[:count]  # [:count]: no events
    last = tf.concat([tf.logical_not(same_slot), [True]], axis=0)[:count]
    previous = tf.concat([[0], started[:-1]], axis=0)[:count]
    finishing = tf.where(first, tf.gather(slot_path, slot), previous)[:, None]
    out_steps, out_escaped, out_loc = outs
    escaped = code > 0
    nan = tf.constant(np.nan, out_loc.dtype)
    outs = (
        tf.tensor_scatter_nd_update(out_steps, finishing, tf.abs(code)),
        tf.tensor_scatter_nd_update(out_escaped, finishing, escaped),
        tf.tensor_scatter_nd_update(out_loc, finishing, tf.where(escaped[:, None], where, nan)),
    )
    last_slot = tf.boolean_mask(slot, last)[:, None]
    slot_path = tf.tensor_scatter_nd_update(
        slot_path, last_slot, tf.minimum(tf.boolean_mask(started, last), num_paths)
    )
    return slot_path, tf.minimum(next_path + count, num_paths), count, outs


def _pool_should_shrink(active, remaining):
    """Shrink once every path has started and at most a quarter of the pool still runs one."""
    size = tf.shape(active)[0]
    running = tf.reduce_sum(tf.cast(active, tf.int32))
    return (remaining == 0) & (size // _SHRINK_FACTOR >= _MIN_POOL) & (running <= size // _SHRINK_FACTOR)


def _shrink_pool(pool, noise):
    """Keep a quarter of the slots, running ones first (each keeps its slot number, hence its noise).

    ``noise`` [chunk_steps, slots x d], the next chunk's increments already drawn, keeps their columns.
    """
    active = pool[2]
    size = tf.shape(active)[0] // _SHRINK_FACTOR
    keep = tf.argsort(tf.cast(tf.logical_not(active), tf.int32), stable=True)[:size]
    steps = tf.shape(noise)[0]
    columns = tf.reshape(
        tf.gather(tf.reshape(noise, [steps, tf.shape(active)[0], -1]), keep, axis=1), [steps, -1]
    )
    return tf.nest.map_structure(lambda t: tf.gather(t, keep), pool), columns


def _build_runner(process, config: _RunConfig, advance):
    """run(x0, seed): chunks of noise draws, ``advance`` (the step loop) and recording until all paths end."""
    batch, dim, n, chunk = config.batch, config.dim, config.num_paths, config.chunk_steps
    scale = config.dt ** (1.0 / config.alpha)

    def draw(seed, k0, slot_id):
        return _flat_increment_grid(
            seed,
            first_step=k0,
            num_steps=chunk,
            index=tf.reshape(slot_id[:, None] * dim + tf.range(dim)[None, :], [-1]),
            alpha=config.alpha,
            scale=scale,
            dtype=config.dtype,
        )

    draw = tf.function(draw, jit_compile=True, autograph=False)

    def draw_pool(seed, k0, slot_id):
        # Two halves of the pool are two XLA launches, which run in parallel on two cores (one fused
        # loop runs on one core); the draws are the same either way.
        size = tf.shape(slot_id)[0]

        def in_halves():
            half = (size + 1) // 2
            return tf.concat([draw(seed, k0, slot_id[:half]), draw(seed, k0, slot_id[half:])], axis=1)

        return tf.cond(size >= _SPLIT_MIN, in_halves, lambda: draw(seed, k0, slot_id))

    def run(x0, seed):
        fresh = process.init(tf.broadcast_to(x0, [batch, dim]), **dict(config.init_kwargs))
        carry = (
            tf.constant(0, tf.int32),  # global step k0 of the chunk
            draw_pool(seed, 0, tf.range(batch, dtype=tf.int32)),  # its increments [chunk, slots x d]
            fresh,
            tf.zeros([batch], tf.int32),  # step at which the slot's path started
            tf.ones([batch], tf.bool),  # slot holds a running path
            tf.constant(n - batch, tf.int32),  # paths not yet started
            tf.range(batch, dtype=tf.int32),  # path id of each slot
            tf.range(batch, dtype=tf.int32),  # slot number (keys the slot's noise)
            tf.constant(batch, tf.int32),  # next path id to start
            tf.constant(0, tf.int32),  # number of finished paths
            (
                tf.fill([n], tf.constant(config.num_steps, tf.int32)),
                tf.zeros([n], tf.bool),
                tf.fill([n, dim], tf.constant(np.nan, config.dtype)),
            ),
        )

        def body(k0, noise, state, slot_start, active, remaining, slot_path, slot_id, next_path, done, outs):
            # The next chunk's noise does not depend on this chunk's steps: the two run in parallel.
            next_noise = draw_pool(seed, k0 + chunk, slot_id)
            state, slot_start, active, remaining, codes, wheres = advance(
                state, slot_start, active, remaining, k0, noise, x0
            )
            slot_path, next_path, count, outs = _record_chunk(codes, wheres, slot_path, next_path, outs, n)
            pool = (state, slot_start, active, slot_path, slot_id)
            (state, slot_start, active, slot_path, slot_id), next_noise = tf.cond(
                _pool_should_shrink(active, remaining),
                lambda: _shrink_pool(pool, next_noise),
                lambda: (pool, next_noise),
            )
            return (
                k0 + chunk,
                next_noise,
                state,
                slot_start,
                active,
                remaining,
                slot_path,
                slot_id,
                next_path,
                done + count,
                outs,
            )

        def cond(k0, noise, state, slot_start, active, remaining, slot_path, slot_id, next_path, done, outs):
            return done < n

        pool_sized = (2, 3, 4, 6, 7)  # carry entries whose first axis is the pool (it shrinks)
        invariants = tuple(
            tf.nest.map_structure(
                lambda t, sized=i in pool_sized: tf.TensorShape([None] * sized).concatenate(t.shape[sized:]),
                part,
            )
            for i, part in enumerate(carry)
        )
        invariants = (invariants[0], tf.TensorShape([chunk, None]), *invariants[2:])
        outs = tf.while_loop(cond, body, carry, shape_invariants=invariants)[-1]
        return outs

    return run
