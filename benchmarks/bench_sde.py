"""Benchmark: path-steps per second of tfescape.sde.first_exit_times vs a vectorized NumPy implementation.

Both sides run the same Euler-Maruyama scheme X_{k+1} = X_k - grad F(X_k) dt + eps dt^(1/alpha) S_k
(OU drift grad F(x) = x) with SaS(1) draws by Chambers-Mallows-Stuck, freeze paths that have left the
basin and record exit steps and locations. The NumPy reference is written for speed: numpy.random.Generator
draws, in-place updates, the CMS power written as one exp of a sum of logs (faster than ** here), and the
active set compacted (boolean indexing) only on steps where some path left, so it never works on exited
paths. It runs in float64 (NumPy's default) and in float32, the precision of the tfescape side (SGDSDE's
default dtype); float32 is the fair, faster reference, and the ratios against it are the ones that count.
A third reference draws with scipy.stats.levy_stable.rvs.

Rate = simulated path-steps (sum over paths of the steps each path ran) / wall time. The sides run
interleaved (ours, NumPy float64, NumPy float32, ours, ...) and each rate is the median of the repeats.
Repeats reuse the compiled loop (first_exit_times caches it per process, basin and sizes; new seeds do not
retrace); the one-time cost of tracing and compiling it is reported separately.
Also runs 10^5 paths x 10^4 steps through first_exit_times and reports the peak resident memory
(skipped with --quick, which runs small sizes only).

Run:  python benchmarks/bench_sde.py [--quick] [--repeats 5]
"""

from __future__ import annotations

import argparse
import functools
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


def numpy_cms(rng, shape, alpha, dtype=np.float64):
    """SaS(alpha, 1) by Chambers-Mallows-Stuck: sin(aV) exp(((1-a) log(cos((1-a)V)/W) - log cos V)/a)."""
    f = np.dtype(dtype).type
    v = rng.random(shape, dtype=dtype)
    v -= f(0.5)
    v *= f(np.pi)
    np.maximum(v, -np.nextafter(f(np.pi / 2), f(0)), out=v)  # v = -pi/2 would make cos(v) <= 0
    w = rng.standard_exponential(shape, dtype=dtype)
    np.log(w, out=w)
    out = np.multiply(v, f(1 - alpha))
    np.cos(out, out=out)
    np.log(out, out=out)
    out -= w
    out *= f(1 - alpha)
    np.cos(v, out=w)
    np.log(w, out=w)
    out -= w
    out *= f(1 / alpha)
    np.exp(out, out=out)
    v *= f(alpha)
    np.sin(v, out=v)
    out *= v
    return out


def scipy_cms(rng, shape, alpha, dtype=np.float64):
    return stats.levy_stable.rvs(alpha, 0.0, size=shape, random_state=rng).astype(dtype, copy=False)


def numpy_exit_times(*, num_paths, dim, low, high, num_steps, seed, sampler=numpy_cms, dtype=np.float64):
    """Reference: same scheme, vectorized over the active paths. Returns (exit steps, path-steps)."""
    f = np.dtype(dtype).type
    rng = np.random.default_rng(seed)
    x = np.zeros((num_paths, dim), dtype=dtype)
    alive = np.arange(num_paths)
    steps = np.full(num_paths, num_steps)
    loc = np.full((num_paths, dim), np.nan, dtype=dtype)
    work = 0
    noise, keep_factor, low, high = f(EPS * DT ** (1 / ALPHA)), f(1 - DT), f(low), f(high)
    for k in range(1, num_steps + 1):
        if alive.size == 0:
            break
        work += alive.size
        with np.errstate(divide="ignore"):  # W = 0 (float32 draws): log W = -inf, X = 0 for alpha > 1
            dl = sampler(rng, x.shape, ALPHA, dtype)
        dl *= noise
        x *= keep_factor  # x - grad F(x) dt with grad F(x) = x
        x += dl
        out = (x <= low) | (x >= high)
        out = out[:, 0] if dim == 1 else out.any(axis=1)
        if out.any():
            steps[alive[out]] = k
            loc[alive[out]] = x[out]
            inside = ~out
            alive, x = alive[inside], x[inside]
    return steps, work


@functools.cache
def _problem(dim, low, high):
    """One process and basin per scenario: first_exit_times reuses its compiled loop for them."""
    return SGDSDE(lambda x: x, alpha=ALPHA, eps=EPS), Box(np.full(dim, low), np.full(dim, high))


def tf_exit_times(*, num_paths, dim, low, high, num_steps, seed, batch_size):
    sde, basin = _problem(dim, low, high)
    res = first_exit_times(
        sde,
        x0=np.zeros(dim),
        basin=basin,
        dt=DT,
        num_paths=num_paths,
        max_time=num_steps * DT,
        seed=seed,
        batch_size=batch_size,
    )
    return res, int(np.round(res.times / DT).sum())


def _interleaved_rates(fns, repeats):
    """Median rate and wall time of each fn(r) -> work, the fns run in turn for r = 0 .. repeats - 1."""
    rates = [[] for _ in fns]
    walls = [[] for _ in fns]
    for r in range(repeats):
        for i, fn in enumerate(fns):
            start = time.perf_counter()
            work = fn(r)
            wall = time.perf_counter() - start
            rates[i].append(work / wall)
            walls[i].append(wall)
    return [(statistics.median(rs), statistics.median(ws)) for rs, ws in zip(rates, walls, strict=True)]


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="small sizes, no 1e5 x 1e4 memory run")
    parser.add_argument("--repeats", type=int, default=5)
    args = parser.parse_args()
    logging.basicConfig(level=logging.WARNING)

    scenarios = [
        # name, paths, dim, basin half-width, steps: no exits (pure stepping) and with exits (mean ~300 steps)
        ("stepping, no exits", 4096 if args.quick else 16384, 2, 1e30, 200 if args.quick else 1000),
        ("1-D exits (mean ~300 steps)", 4000 if args.quick else 32000, 1, 1.0, 5000),
    ]
    rows, builds = [], []
    for name, n, dim, half, steps in scenarios:
        kw = dict(num_paths=n, dim=dim, low=-half, high=half, num_steps=steps)
        batch = min(n, 8192) if half > 1e3 else None  # with exits: the default pool (4096 slots)
        start = time.perf_counter()
        tf_exit_times(seed=99, batch_size=batch, **kw)  # trace and compile once
        builds.append(time.perf_counter() - start)
        (ours, w_ours), (ref64, w64), (ref32, w32) = _interleaved_rates(
            [
                lambda r, kw=kw, batch=batch: tf_exit_times(seed=r, batch_size=batch, **kw)[1],
                lambda r, kw=kw: numpy_exit_times(seed=r, dtype=np.float64, **kw)[1],
                lambda r, kw=kw: numpy_exit_times(seed=r, dtype=np.float32, **kw)[1],
            ],
            args.repeats,
        )
        rows.append((name, f"{n} x {dim}-D", ours, ref64, ref32, w_ours, w64, w32))
    # scipy's levy_stable.rvs as the sampler (much slower): small size.
    small = dict(num_paths=2000, dim=1, low=-1.0, high=1.0, num_steps=200 if args.quick else 1000)
    tf_exit_times(seed=99, batch_size=2000, **small)
    (ours_s, w_ours_s), (ref_s, w_ref_s) = _interleaved_rates(
        [
            lambda r: tf_exit_times(seed=r, batch_size=2000, **small)[1],
            lambda r: numpy_exit_times(seed=r, sampler=scipy_cms, **small)[1],
        ],
        max(1, args.repeats // 2),
    )

    print(
        f"\nmachine: {platform.machine()}, {os.cpu_count()} CPUs, TF {tf.__version__}, "
        f"numpy {np.__version__}, load average {os.getloadavg()[0]:.1f}"
    )
    print(
        f"alpha={ALPHA}, eps={EPS}, dt={DT}; medians of {args.repeats} interleaved repeats; "
        "rates in million path-steps/s"
    )
    print(
        "| scenario | paths | tfescape (float32) | NumPy float64 | NumPy float32 | ratio vs float64 | "
        "ratio vs float32 | wall tfescape / f64 / f32 (s) |"
    )
    print("| --- | --- | --- | --- | --- | --- | --- | --- |")
    for name, size, ours, r64, r32, w1, w2, w3 in rows:
        rates = (
            f"{ours / 1e6:.2f} | {r64 / 1e6:.2f} | {r32 / 1e6:.2f} | {ours / r64:.2f}x | {ours / r32:.2f}x"
        )
        print(f"| {name} | {size} | {rates} | {w1:.2f} / {w2:.2f} / {w3:.2f} |")
    print(
        f"| NumPy side drawing with scipy levy_stable.rvs | 2000 x 1-D | {ours_s / 1e6:.2f} | "
        f"{ref_s / 1e6:.2f} | - | {ours_s / ref_s:.2f}x | - | {w_ours_s:.2f} / {w_ref_s:.2f} / - |"
    )
    build_times = ", ".join(f"{b:.1f}" for b in builds)
    print(f"\none-time trace + XLA compile + first run per scenario (s): {build_times}")

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
            f"({work / wall / 1e6:.2f} M/s, including its compile); peak RSS {rss0:.0f} MiB before, "
            f"{rss1:.0f} MiB after; censored {res.censored}"
        )


if __name__ == "__main__":
    main()
