"""Benchmark: path-steps per second of tfescape.sde.first_exit_times vs a vectorized NumPy implementation.

Both sides run the same Euler-Maruyama scheme X_{k+1} = X_k - grad F(X_k) dt + eps dt^(1/alpha) S_k with
SaS(1) draws by Chambers-Mallows-Stuck (NumPy: numpy.random.Generator; a second reference draws with
scipy.stats.levy_stable.rvs), freeze paths that have left the basin and record exit steps and locations.
The NumPy side compacts the active set every step (boolean indexing), so it never works on exited paths.

Rate = simulated path-steps (sum over paths of the steps each path ran) / wall time, median of repeats.
Repeats reuse the compiled loop (first_exit_times caches it per process, basin and sizes; new seeds do not
retrace); the one-time cost of building it is reported separately.
Also runs 10^5 paths x 10^4 steps through first_exit_times and reports the peak resident memory
(skipped with --quick, which runs small sizes only).

Run:  python benchmarks/bench_sde.py [--quick]
"""

from __future__ import annotations

import argparse
import logging
import os
import platform
import resource
import statistics
import time

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

import numpy as np  # noqa: E402
import tensorflow as tf  # noqa: E402
from scipy import stats  # noqa: E402

from tfescape.sde import SGDSDE, Box, first_exit_times  # noqa: E402

ALPHA, EPS, DT = 1.5, 0.3, 0.05


def numpy_cms(rng, shape, alpha):
    v = rng.uniform(-np.pi / 2, np.pi / 2, size=shape)
    w = rng.exponential(size=shape)
    return (
        np.sin(alpha * v) / np.cos(v) ** (1 / alpha) * (np.cos((1 - alpha) * v) / w) ** ((1 - alpha) / alpha)
    )


def scipy_cms(rng, shape, alpha):
    return stats.levy_stable.rvs(alpha, 0.0, size=shape, random_state=rng)


def numpy_exit_times(*, num_paths, dim, low, high, num_steps, seed, sampler=numpy_cms):
    """Reference: same scheme, vectorized over the active paths. Returns (exit steps, path-steps)."""
    rng = np.random.default_rng(seed)
    x = np.zeros((num_paths, dim))
    alive = np.arange(num_paths)
    steps = np.full(num_paths, num_steps)
    loc = np.full((num_paths, dim), np.nan)
    work = 0
    noise = EPS * DT ** (1 / ALPHA)
    for k in range(1, num_steps + 1):
        if alive.size == 0:
            break
        work += alive.size
        x = x - x * DT + noise * sampler(rng, x.shape, ALPHA)
        out = np.any((x <= low) | (x >= high), axis=1)
        if out.any():
            steps[alive[out]] = k
            loc[alive[out]] = x[out]
            alive, x = alive[~out], x[~out]
    return steps, work


def tf_exit_times(*, num_paths, dim, low, high, num_steps, seed, batch_size):
    sde = SGDSDE(lambda x: x, alpha=ALPHA, eps=EPS)
    res = first_exit_times(
        sde,
        x0=np.zeros(dim),
        basin=Box(np.full(dim, low), np.full(dim, high)),
        dt=DT,
        num_paths=num_paths,
        max_time=num_steps * DT,
        seed=seed,
        batch_size=batch_size,
        chunk_steps=16,
    )
    return res, int(np.round(res.times / DT).sum())


def _median_rate(fn, repeats):
    rates, walls = [], []
    for r in range(repeats):
        start = time.perf_counter()
        work = fn(r)
        wall = time.perf_counter() - start
        rates.append(work / wall)
        walls.append(wall)
    return statistics.median(rates), statistics.median(walls)


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="small sizes, no 1e5 x 1e4 memory run")
    parser.add_argument("--repeats", type=int, default=3)
    args = parser.parse_args()
    logging.basicConfig(level=logging.WARNING)

    scenarios = [
        # name, paths, dim, basin half-width, steps: no exits (pure stepping) and with exits (mean ~250 steps)
        ("stepping, no exits", 4096 if args.quick else 16384, 2, 1e30, 200 if args.quick else 1000),
        ("1-D exits (mean ~250 steps)", 2000 if args.quick else 8000, 1, 1.0, 5000),
    ]
    rows, builds = [], []
    for name, n, dim, half, steps in scenarios:
        kw = dict(num_paths=n, dim=dim, low=-half, high=half, num_steps=steps)
        batch = min(n, 8192) if half > 1e3 else min(n, 1024)  # with exits: a pool smaller than the paths
        start = time.perf_counter()
        tf_exit_times(seed=99, batch_size=batch, **kw)  # build (trace) once
        builds.append(time.perf_counter() - start)
        ours, wall_ours = _median_rate(
            lambda r, kw=kw, batch=batch: tf_exit_times(seed=r, batch_size=batch, **kw)[1], args.repeats
        )
        ref, wall_ref = _median_rate(lambda r, kw=kw: numpy_exit_times(seed=r, **kw)[1], args.repeats)
        rows.append((name, f"{n} x {dim}-D", ours, ref, wall_ours, wall_ref))
    # scipy's levy_stable.rvs as the sampler (much slower): small size.
    small = dict(num_paths=2000, dim=1, low=-1.0, high=1.0, num_steps=200 if args.quick else 1000)
    ours_s, w_ours_s = _median_rate(
        lambda r: tf_exit_times(seed=r, batch_size=2000, **small)[1], args.repeats
    )
    ref_s, w_ref_s = _median_rate(
        lambda r: numpy_exit_times(seed=r, sampler=scipy_cms, **small)[1], max(1, args.repeats // 2)
    )
    rows.append(("vs scipy levy_stable.rvs draws", "2000 x 1-D", ours_s, ref_s, w_ours_s, w_ref_s))

    print(
        f"\nmachine: {platform.machine()}, {os.cpu_count()} CPUs, TF {tf.__version__}, numpy {np.__version__}"
    )
    print(
        f"alpha={ALPHA}, eps={EPS}, dt={DT}; medians of {args.repeats} repeats; rates in million path-steps/s"
    )
    print("| scenario | paths | tfescape | NumPy ref | ratio | wall tfescape (s) | wall ref (s) |")
    print("| --- | --- | --- | --- | --- | --- | --- |")
    for name, size, ours, ref, w1, w2 in rows:
        rates = f"{ours / 1e6:.2f} | {ref / 1e6:.2f} | {ours / ref:.2f}x"
        print(f"| {name} | {size} | {rates} | {w1:.2f} | {w2:.2f} |")
    print(f"\none-time graph building + first run per scenario (s): {', '.join(f'{b:.1f}' for b in builds)}")

    if not args.quick:
        rss0 = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
        start = time.perf_counter()
        res, work = tf_exit_times(
            num_paths=100_000, dim=1, low=-1e30, high=1e30, num_steps=10_000, seed=0, batch_size=16384
        )
        wall = time.perf_counter() - start
        rss1 = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
        print(
            f"\n1e5 paths x 1e4 steps (all run the full horizon): {work:.3g} path-steps in {wall:.1f} s "
            f"({work / wall / 1e6:.2f} M/s); peak RSS {rss0:.0f} MiB before, {rss1:.0f} MiB after; "
            f"censored {res.censored}"
        )


if __name__ == "__main__":
    main()
