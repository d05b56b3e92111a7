"""Benchmark: tail-index estimators, stable-law fitting vs scipy.stats.levy_stable.fit, streamed tail index.

Three tables, printed as Markdown:

1. tail_index: bias, RMSE and time of each method on seeded datasets drawn by scipy.stats.levy_stable.rvs,
   for n in {1e3, 1e4, 1e5} and alpha in {1.1, 1.5, 1.9} (all datasets of one cell in one batched call).
2. fit vs scipy: alpha RMSE over 50 seeded datasets of n = 1000 per alpha (beta = 0, scale 1, loc 0) and
   time per dataset. scipy's maximum-likelihood fit takes minutes per dataset, so it runs on only a few
   datasets (--scipy-fits, default 1 per alpha); its alpha RMSE is stood in for by the Cramer-Rao bound
   sqrt([I^-1]_alpha,alpha / n), computed from scipy's own density (Fisher information by quadrature),
   which an efficient MLE approaches and no unbiased estimator beats. On the datasets scipy does fit,
   its estimates are printed beside ours.
3. TailIndexAccumulator on 1e8 scalars (1e7 with --quick) streamed in chunks of 1e6: throughput of
   update() and peak memory (tracemalloc for Python/numpy allocations, ru_maxrss for the process).

4. fit(method="mle") on --mle-datasets seeded datasets per alpha (seconds per fit).
5. paired (section "paired"): scipy's maximum-likelihood fit and ours (default method and "mle") on the same
   first --paired K datasets per alpha (default 4) of the 50 seeded datasets of table 2: per-alpha alpha RMSE
   of each on those K datasets, their ratio, every per-dataset error (K is small: read the spread), the time
   ratio, and the default method's RMSE over all 50 datasets. Datasets are visited index-major (dataset 0 of
   every alpha, then dataset 1, ...) and each result is printed as it arrives, so a cut-short run still gives
   paired results for every alpha.

Run:  python benchmarks/bench_stable_fit.py [--quick] [--scipy-fits K] [--mle-datasets K] [--paired K]
      [--sections tail,fit,mle,stream,paired]
"""

from __future__ import annotations

import argparse
import logging
import math
import os
import resource
import statistics
import sys
import time
import tracemalloc

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

import numpy as np  # noqa: E402
import tensorflow as tf  # noqa: E402
from scipy import integrate  # noqa: E402
from scipy.stats import levy_stable  # noqa: E402

sys.path.insert(0, os.path.join(os.path.dirname(__file__), ".."))

from tfescape.stable.accumulator import TailIndexAccumulator  # noqa: E402
from tfescape.stable.fit import METHODS as FIT_METHODS  # noqa: E402
from tfescape.stable.fit import fit  # noqa: E402
from tfescape.stable.sampling import symmetric_stable_sample  # noqa: E402
from tfescape.stable.tail_index import METHODS as TAIL_METHODS  # noqa: E402
from tfescape.stable.tail_index import tail_index  # noqa: E402

log = logging.getLogger("bench_stable_fit")
ALPHAS = (1.1, 1.5, 1.9)


def scipy_draws(alpha, shape, seed):
    levy_stable.parameterization = "S0"
    return levy_stable.rvs(alpha, 0.0, size=shape, random_state=np.random.default_rng(seed))


def timed(fn, repeats=3):
    """Median wall time of fn() over repeats (after one warm-up call) and its last result."""
    result = fn()
    times = []
    for _ in range(repeats):
        start = time.perf_counter()
        result = fn()
        times.append(time.perf_counter() - start)
    return statistics.median(times), result


def bench_tail_index(num_datasets, sizes):
    print(f"\n### tail_index: bias / RMSE of alpha over {num_datasets} scipy datasets; ms per dataset\n")
    print("| method | n | " + " | ".join(f"alpha={a}: bias, RMSE" for a in ALPHAS) + " | ms/dataset |")
    print("|---|---|" + "---|" * len(ALPHAS) + "---|")
    for n in sizes:
        data = {a: scipy_draws(a, (num_datasets, n), seed=int(1000 * a) + n) for a in ALPHAS}
        for method in TAIL_METHODS:
            cells, times = [], []
            for a in ALPHAS:
                x = tf.constant(data[a])
                seconds, result = timed(lambda x=x, m=method: tail_index(x, method=m, interval="none"), 1)
                est = result.alpha.numpy()
                cells.append(f"{est.mean() - a:+.3f}, {math.sqrt(np.mean((est - a) ** 2)):.3f}")
                times.append(1e3 * seconds / num_datasets)
            print(f"| {method} | {n:.0e} | " + " | ".join(cells) + f" | {statistics.median(times):.2f} |")
    n = sizes[-1]
    x = tf.constant(scipy_draws(1.5, (10, n), seed=7))
    print(f"\nWith the default intervals (n = {n:.0e}, 10 datasets in one call), ms per dataset:")
    for method in TAIL_METHODS:
        seconds, _ = timed(lambda m=method: tail_index(x, method=m, seed=1), 1)
        print(f"- {method} (bootstrap): {1e3 * seconds / 10:.1f} ms")


def fisher_crb_alpha(alpha, n):
    """Cramer-Rao bound on the sd of alpha_hat for S(alpha, 0, 1, 0) with all 4 parameters unknown.

    By symmetry (beta = 0) the information matrix is block diagonal in (alpha, scale) and (beta, loc), so
    the bound on alpha is [I^-1]_alpha,alpha of the (alpha, scale) block. Scores by central differences of
    scipy's log-density; I by quadrature over x >= 0 (doubled), with the substitution x = sinh(t).
    """
    levy_stable.parameterization = "S0"
    h = 1e-3
    t = np.linspace(0.0, math.asinh(1e6), 6001)
    x = np.sinh(t)
    jac = np.cosh(t)
    logf = levy_stable.logpdf(x, alpha, 0.0)
    d_alpha = (levy_stable.logpdf(x, alpha + h, 0.0) - levy_stable.logpdf(x, alpha - h, 0.0)) / (2 * h)
    d_scale = (
        levy_stable.logpdf(x, alpha, 0.0, scale=1 + h) - levy_stable.logpdf(x, alpha, 0.0, scale=1 - h)
    ) / (2 * h)
    f = np.exp(logf) * jac
    info = np.empty((2, 2))
    scores = (d_alpha, d_scale)
    for i in range(2):
        for j in range(2):
            info[i, j] = 2 * integrate.trapezoid(f * scores[i] * scores[j], t)
    return math.sqrt(np.linalg.inv(info)[0, 0] / n)


def bench_fit(num_datasets, n, scipy_fits):
    print(
        f"\n### fit: alpha RMSE over {num_datasets} scipy datasets of n = {n} (beta = 0), time per dataset\n"
    )
    methods = [m for m in FIT_METHODS if m not in ("auto", "mle")]  # mle: seconds per fit, see bench_mle
    print(
        "| alpha | "
        + " | ".join(f"{m} RMSE" for m in methods)
        + " | MLE Cramer-Rao sd | "
        + " | ".join(f"{m} ms (1 call)" for m in methods)
        + " | "
        + " | ".join(f"{m} ms (batched)" for m in methods)
        + " | scipy fit s (median) | speed-up |"
    )
    print("|---" * (3 * len(methods) + 4) + "|")
    scipy_rows = []
    for a in ALPHAS:
        data = scipy_draws(a, (num_datasets, n), seed=int(100 * a))
        rmses, single_ms, batch_ms = [], [], []
        for m in methods:
            seconds, result = timed(lambda m=m, data=data: fit(data, method=m), 1)
            est = result.alpha.numpy()
            rmses.append(math.sqrt(np.mean((est - a) ** 2)))
            batch_ms.append(1e3 * seconds / num_datasets)
            one, _ = timed(lambda m=m, data=data: fit(data[0], method=m), 5)
            single_ms.append(1e3 * one)
        crb = fisher_crb_alpha(a, n)
        scipy_seconds = []
        for k in range(scipy_fits):
            levy_stable.parameterization = "S0"
            start = time.perf_counter()
            params = levy_stable.fit(data[k])
            scipy_seconds.append(time.perf_counter() - start)
            ours = {m: float(fit(data[k], method=m).alpha) for m in methods}
            scipy_rows.append((a, k, params[0], ours, scipy_seconds[-1]))
        scipy_s = statistics.median(scipy_seconds) if scipy_seconds else float("nan")
        auto = methods.index("ecf")  # fit(method='auto') runs 'ecf'
        print(
            f"| {a} | "
            + " | ".join(f"{r:.3f}" for r in rmses)
            + f" | {crb:.3f} | "
            + " | ".join(f"{t:.1f}" for t in single_ms)
            + " | "
            + " | ".join(f"{t:.2f}" for t in batch_ms)
            + f" | {scipy_s:.1f} | ecf {1e3 * scipy_s / single_ms[auto]:.0f}x (1 call), "
            f"{1e3 * scipy_s / batch_ms[auto]:.0f}x (batched) |"
        )
    if scipy_rows:
        print("\nDatasets fitted by scipy (alpha estimates):")
        for a, k, scipy_alpha, ours, seconds in scipy_rows:
            mine = ", ".join(f"{m} {v:.3f}" for m, v in ours.items())
            print(f"- alpha={a}, dataset {k}: scipy MLE {scipy_alpha:.3f} ({seconds:.0f} s); {mine}")


def bench_mle(num_datasets, n):
    """fit(method='mle') (one slice at a time, seconds per fit) on further seeded datasets of n samples."""
    print(f"\n### fit(method='mle') on {num_datasets} datasets of n = {n} per alpha\n")
    print("| alpha | mle RMSE | ecf RMSE (same datasets) | mean mle stderr(alpha) | s per mle fit (median) |")
    print("|---|---|---|---|---|")
    for a in ALPHAS:
        data = scipy_draws(a, (num_datasets, n), seed=int(100 * a))
        ecf = fit(data, method="ecf").alpha.numpy()
        est, errs, secs = [], [], []
        for k in range(num_datasets):
            start = time.perf_counter()
            result = fit(data[k], method="mle")
            secs.append(time.perf_counter() - start)
            est.append(float(result.alpha))
            errs.append(float(result.stderr.alpha))
        est = np.array(est)
        print(
            f"| {a} | {math.sqrt(np.mean((est - a) ** 2)):.3f} | {math.sqrt(np.mean((ecf - a) ** 2)):.3f} | "
            f"{np.mean(errs):.3f} | {statistics.median(secs):.1f} |"
        )


def _rmse(estimates, alpha):
    return math.sqrt(np.mean((np.asarray(estimates) - alpha) ** 2))


def _timed_scipy_fit(x):
    levy_stable.parameterization = "S0"
    start = time.perf_counter()
    params = levy_stable.fit(x)
    return float(params[0]), time.perf_counter() - start


def _timed_fit_alpha(x, method, repeats):
    seconds, result = timed(lambda: fit(x, method=method), repeats)
    return float(result.alpha), seconds


def _print_paired_summary(rows, data, num_datasets):
    k = len(rows[ALPHAS[0]])
    print(f"\nPer alpha over the {k} paired datasets (errors are estimate - alpha, in dataset order):\n")
    print(
        "| alpha | scipy RMSE | fit RMSE | fit / scipy | mle RMSE | mle / scipy | scipy errors | fit errors "
        "| mle errors | scipy s (median) | fit s (median) | speed-up fit | speed-up mle "
        f"| fit RMSE, all {num_datasets} |"
    )
    print("|---" * 14 + "|")
    for a in ALPHAS:
        scipy_est, scipy_s, ours_est, ours_s, mle_est, mle_s = np.array(rows[a]).T
        all_est = fit(data[a]).alpha.numpy()
        r_scipy, r_ours, r_mle = _rmse(scipy_est, a), _rmse(ours_est, a), _rmse(mle_est, a)
        errors = [", ".join(f"{e - a:+.3f}" for e in est) for est in (scipy_est, ours_est, mle_est)]
        print(
            f"| {a} | {r_scipy:.3f} | {r_ours:.3f} | {r_ours / r_scipy:.2f} | {r_mle:.3f} | "
            f"{r_mle / r_scipy:.2f} | " + " | ".join(errors) + f" | {np.median(scipy_s):.0f} | "
            f"{np.median(ours_s):.4f} | {np.median(scipy_s) / np.median(ours_s):,.0f}x | "
            f"{np.median(scipy_s) / np.median(mle_s):,.0f}x | {_rmse(all_est, a):.3f} |",
            flush=True,
        )
    print(flush=True)


def bench_paired(num_datasets, n, k):
    """scipy's fit, fit() and fit(method='mle') on the same first k seeded datasets per alpha."""
    print(
        f"\n### paired: scipy.stats.levy_stable.fit vs fit on the same first {k} of {num_datasets} datasets "
        f"of n = {n} per alpha\n",
        flush=True,
    )
    data = {a: scipy_draws(a, (num_datasets, n), seed=int(100 * a)) for a in ALPHAS}
    rows = {a: [] for a in ALPHAS}
    print("| alpha | dataset | scipy alpha | scipy s | fit alpha | fit s | mle alpha | mle s |")
    print("|---|---|---|---|---|---|---|---|", flush=True)
    for i in range(k):
        for a in ALPHAS:
            x = data[a][i]
            scipy_alpha, scipy_s = _timed_scipy_fit(x)
            ours_alpha, ours_s = _timed_fit_alpha(x, "auto", 5)
            mle_alpha, mle_s = _timed_fit_alpha(x, "mle", 1)
            rows[a].append((scipy_alpha, scipy_s, ours_alpha, ours_s, mle_alpha, mle_s))
            print(
                f"| {a} | {i} | {scipy_alpha:.4f} | {scipy_s:.1f} | {ours_alpha:.4f} | {ours_s:.4f} | "
                f"{mle_alpha:.4f} | {mle_s:.1f} |",
                flush=True,
            )
        if i >= 1:
            _print_paired_summary(rows, data, num_datasets)


def bench_accumulator(total, chunk):
    print(f"\n### TailIndexAccumulator: {total:.0e} SaS(1.5) scalars in chunks of {chunk:.0e}\n")
    acc = TailIndexAccumulator(block_size=1000)
    update_seconds = 0.0
    tracemalloc.start()
    for i in range(total // chunk):
        x = symmetric_stable_sample([chunk], 1.5, seed=(0, i), dtype=tf.float64).numpy()
        start = time.perf_counter()
        acc.update(x)
        update_seconds += time.perf_counter() - start
        del x
    _, peak = tracemalloc.get_traced_memory()
    tracemalloc.stop()
    result = acc.result()
    maxrss_mb = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    print(
        f"- alpha = {float(result.alpha):.4f} [{float(result.ci_low):.4f}, {float(result.ci_high):.4f}] "
        f"from {acc.num_samples:.2e} samples ({acc.num_blocks} blocks)"
    )
    print(f"- update() throughput: {total / update_seconds / 1e6:.0f} M scalars/s ({update_seconds:.1f} s)")
    print(
        f"- peak traced (numpy/Python) memory during streaming: {peak / 2**20:.1f} MiB "
        f"(one chunk is {chunk * 8 / 2**20:.1f} MiB as float64); process max RSS {maxrss_mb:.0f} MiB"
    )


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="fewer datasets, no scipy fit, 1e7 streamed")
    parser.add_argument("--scipy-fits", type=int, default=None, help="scipy MLE fits per alpha (slow)")
    parser.add_argument(
        "--mle-datasets", type=int, default=None, help="our MLE fits per alpha (seconds each)"
    )
    parser.add_argument(
        "--paired", type=int, default=4, help="datasets per alpha fitted by scipy and us (section 'paired')"
    )
    parser.add_argument(
        "--sections", default="tail,fit,mle,stream", help="comma-separated subset (also: paired)"
    )
    args = parser.parse_args()
    logging.basicConfig(level=logging.INFO)
    scipy_fits = args.scipy_fits if args.scipy_fits is not None else (0 if args.quick else 1)
    print(f"TF {tf.__version__}, {os.cpu_count()} CPUs, quick={args.quick}")
    mle_datasets = args.mle_datasets if args.mle_datasets is not None else (2 if args.quick else 10)
    sections = args.sections.split(",")
    if "tail" in sections:
        bench_tail_index(10 if args.quick else 50, (1000, 10_000) if args.quick else (1000, 10_000, 100_000))
    if "fit" in sections:
        bench_fit(20 if args.quick else 50, 1000, scipy_fits)
    if "mle" in sections:
        bench_mle(mle_datasets, 1000)
    if "stream" in sections:
        bench_accumulator(10**7 if args.quick else 10**8, 10**6)
    if "paired" in sections:
        bench_paired(20 if args.quick else 50, 1000, args.paired)


if __name__ == "__main__":
    main()
