"""Stable laws: sampling and pdf/cdf speed and accuracy, tfescape vs scipy.stats.levy_stable.

Run: python benchmarks/bench_stable_distribution.py [--quick]

* Sampling 1e6 and 1e7 draws: ``SymmetricStable.sample`` / ``Stable.sample`` (as a tf.function, and under
  XLA) against ``levy_stable.rvs``. Goal >= 5x.
* pdf and cdf at 1e4 points drawn from the law itself: ``prob`` / ``cdf`` (tf.function) against
  ``levy_stable.pdf`` / ``cdf`` (scipy's default, Nolan's piecewise quadrature, per point). Goal >= 50x, with
  the maximum relative error against scipy. scipy's own values carry about 1e-16 absolute error, and its 1 - F
  cancels, so the error columns use points with pdf > 1e-12 and compare the smaller of F, 1 - F when it is
  above 1e-4 (elsewhere see the tests, which use high-precision series and Fourier-inversion oracles);
  points within scipy's x = zeta rounding band (|x - zeta| < 0.005 alpha^(1/alpha)) are left out too.
  With --quick, scipy runs on 1,000 of the points and its time is scaled to 1e4 (it is a per-point loop).
  At 1e4 points of one law ``prob`` / ``cdf`` take the shared-law path (a checked interpolant of the
  quadrature); each case also prints the max relative error of pdf, cdf and sf at all 1e4 points, tails
  included, against the quadrature run at every point, and that pointwise quadrature's time.

Times are medians of repeated runs, in one process, after a warm-up call (tracing excluded). Sampling
times the three contenders in turn on every repeat, with a new seed (a tensor argument) on every call.
"""

from __future__ import annotations

import argparse
import os
import platform
import statistics
import time

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

import numpy as np  # noqa: E402
import tensorflow as tf  # noqa: E402
from scipy.stats import levy_stable  # noqa: E402

from tfescape.stable import Stable, SymmetricStable, stable_math  # noqa: E402


def _median_time(fn, repeats):
    times = []
    for _ in range(repeats):
        start = time.perf_counter()
        fn()
        times.append(time.perf_counter() - start)
    return statistics.median(times)


def _interleaved_median_times(fns, repeats):
    """Median wall time of each fn, timed in turn (fn 1, fn 2, ..., fn 1, ...) so load swings hit all."""
    times = [[] for _ in fns]
    for _ in range(repeats):
        for fn, t in zip(fns, times, strict=True):
            start = time.perf_counter()
            fn()
            t.append(time.perf_counter() - start)
    return [statistics.median(t) for t in times]


def bench_sampling(n, repeats, rows):
    cases = [
        ("SaS alpha=1.5 (float32)", SymmetricStable(1.5), 1.5, 0.0),
        ("S0 alpha=1.3 beta=0.5 (float32 out)", Stable(1.3, 0.5), 1.3, 0.5),
    ]
    levy_stable.parameterization = "S0"
    for label, dist, alpha, beta in cases:
        # The seed is a tensor argument, new on every call (as scipy draws new numbers on every call): with
        # a constant seed, graph optimization could fold the random draws into constants.
        graph = tf.function(lambda seed, d=dist: d.sample(n, seed=seed))
        xla = tf.function(lambda seed, d=dist: d.sample(n, seed=seed), jit_compile=True)
        calls = iter(range(10**9))

        def ours(fn, calls=calls):
            return lambda: fn(tf.constant([7, next(calls)])).numpy()

        rng = np.random.default_rng(0)

        def scipy_draw(a=alpha, b=beta, r=rng):
            return levy_stable.rvs(a, b, size=n, random_state=r)

        fns = [ours(graph), ours(xla), scipy_draw]
        for fn in fns[:2]:
            fn()  # trace and compile
        t_graph, t_xla, t_scipy = _interleaved_median_times(fns, repeats)
        rows.append(
            (f"sample {n:.0e}: {label}", t_scipy, t_graph, t_xla, t_scipy / min(t_graph, t_xla), "", "")
        )


def _rel(a, b):
    return np.abs(np.asarray(a, np.float64) - b) / np.abs(b)


def bench_pdf_cdf(n_points, n_scipy, repeats, rows):
    cases = [
        ("SaS alpha=1.5", 1.5, 0.0),
        ("S0 alpha=1.3 beta=0.5", 1.3, 0.5),
        ("S0 alpha=0.8 beta=-0.3", 0.8, -0.3),
    ]
    levy_stable.parameterization = "S0"
    for label, alpha, beta in cases:
        dist = Stable(np.float64(alpha), np.float64(beta))
        x = dist.sample(n_points, seed=(5, 6)).numpy()
        x_tf = tf.constant(x)
        pdf_fn = tf.function(lambda v, d=dist: d.prob(v))
        cdf_fn = tf.function(lambda v, d=dist: d.cdf(v))
        pdf_fn(x_tf), cdf_fn(x_tf)
        t_pdf = _median_time(lambda f=pdf_fn, v=x_tf: f(v).numpy(), repeats)
        t_cdf = _median_time(lambda f=cdf_fn, v=x_tf: f(v).numpy(), repeats)
        ours_pdf = pdf_fn(x_tf).numpy()
        ours_cdf, ours_sf = dist.cdf(x).numpy(), dist.survival_function(x).numpy()
        sub = x[:n_scipy]
        start = time.perf_counter()
        ref_pdf = levy_stable.pdf(sub, alpha, beta)
        t_scipy_pdf = (time.perf_counter() - start) * n_points / n_scipy
        start = time.perf_counter()
        ref_cdf = levy_stable.cdf(sub, alpha, beta)
        t_scipy_cdf = (time.perf_counter() - start) * n_points / n_scipy
        # scipy replaces x by zeta when |x - zeta| < 0.005 alpha^(1/alpha) (Nolan's rule); its values there
        # are off by up to ~1e-3, so those points are left out of the error columns.
        zeta = -beta * np.tan(np.pi * alpha / 2)
        clear = np.abs(sub - zeta) >= 0.005 * alpha ** (1 / alpha)
        ok = (ref_pdf > 1e-12) & clear
        err_pdf = np.max(_rel(ours_pdf[:n_scipy][ok], ref_pdf[ok]))
        low = (ref_cdf < 0.5) & (ref_cdf > 1e-4) & clear
        high = (ref_cdf >= 0.5) & (1 - ref_cdf > 1e-4) & clear
        err_cdf = max(
            np.max(_rel(ours_cdf[:n_scipy][low], ref_cdf[low]), initial=0.0),
            np.max(_rel(ours_sf[:n_scipy][high], 1 - ref_cdf[high]), initial=0.0),
        )
        for kind, t_ref, t_ours, err in (
            ("pdf", t_scipy_pdf, t_pdf, err_pdf),
            ("cdf", t_scipy_cdf, t_cdf, err_cdf),
        ):
            rows.append((f"{kind} {n_points:.0e}: {label}", t_ref, t_ours, None, t_ref / t_ours, err, ""))
        _compare_with_pointwise_quadrature(label, x, alpha, beta, dist, repeats)


def _compare_with_pointwise_quadrature(label, x, alpha, beta, dist, repeats):
    """All points (tails included) against the quadrature run at every point, which is what ``prob`` and
    ``cdf`` do below 1000 points per law; and that quadrature's time."""
    n = len(x)
    args = [tf.constant(v, tf.float64) for v in (x, np.full(n, alpha), np.full(n, beta))]
    pointwise = stable_math._chunked_log_values  # the per-point path (private; used here as the reference)
    t_pointwise = _median_time(lambda: pointwise(*args)[0].numpy(), max(1, repeats // 2))
    ref_lp, ref_lc, ref_ls = (v.numpy() for v in pointwise(*args))
    ours = [dist.log_prob(x).numpy(), dist.log_cdf(x).numpy(), dist.log_survival_function(x).numpy()]
    errs = [np.max(np.abs(np.expm1(o - r))) for o, r in zip(ours, (ref_lp, ref_lc, ref_ls), strict=True)]
    print(
        f"{label}: pointwise quadrature {t_pointwise:.3f} s for {n} points; max rel. error of pdf, cdf, sf "
        f"against it over all points: {errs[0]:.1e}, {errs[1]:.1e}, {errs[2]:.1e}"
    )


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="1e6 draws only; scipy pdf/cdf on 1,000 points")
    args = parser.parse_args()
    rows = []
    bench_sampling(10**6, 5, rows)
    if not args.quick:
        bench_sampling(10**7, 3, rows)
    bench_pdf_cdf(10**4, 1000 if args.quick else 10**4, 5, rows)
    load = os.getloadavg()[0] if hasattr(os, "getloadavg") else float("nan")
    print(
        f"machine: {platform.machine()}, {os.cpu_count()} CPUs, TF {tf.__version__}, "
        f"load average {load:.1f}; medians; ratio = scipy / best tfescape"
    )
    print("| case | scipy s | tfescape tf.function s | tfescape XLA s | ratio | max rel. error vs scipy |")
    print("|---|---|---|---|---|---|")
    for label, t_ref, t_graph, t_xla, ratio, err, _ in rows:
        xla = f"{t_xla:.3f}" if t_xla is not None else "-"
        err_s = f"{err:.1e}" if err != "" else "-"
        print(f"| {label} | {t_ref:.3f} | {t_graph:.3f} | {xla} | {ratio:.1f}x | {err_s} |")


if __name__ == "__main__":
    main()
