"""Benchmark tfescape.hessian: HVP cost, Lanczos vs power iteration, spectral density wall time.

1. HVP time / gradient time on the same model and data (a briefly trained cnn on the digits training
   set): forward-over-reverse and reverse-over-reverse, against a plain tf.function gradient over the
   same batches. Goal: <= 2.5x on CPU.
2. Hessian-vector products needed for the top eigenvalue to 1e-3 relative at the trained cnn/digits
   minimum: Lanczos (stopping rule: residual <= 1e-3 |theta|) vs power iteration with PyHessian's
   defaults (100 iterations, tol 1e-3 on the relative change). The reference eigenvalue comes from a
   long Lanczos run (residual <= 1e-8 |theta|). Both the products spent by each stopping rule and the
   first product count at which each estimate was within 1e-3 of the reference are reported.
   Goal: Lanczos <= 1/3 of power iteration.
3. Spectral density (stochastic Lanczos quadrature) wall time for a ~300k-parameter MLP over the digits
   training set.
4. Block vs single-vector Lanczos for the top-1, top-3 and top-5 eigenvalues (same cnn as 1-2), both to
   the same stopping rule (residual <= 1e-3 |theta|): products, passes over the data (calls of
   matvec / matmat), median wall and CPU seconds of whole runs (interleaved), and the largest relative
   error against a long Lanczos run (residual <= 1e-8 |theta|). Runs only when named
   (``--sections 4``; about 2 minutes with ``--quick``).

Usage:
    python benchmarks/bench_hessian.py            # about 8 minutes on 2 busy cores
    python benchmarks/bench_hessian.py --quick    # about a minute
"""

from __future__ import annotations

import argparse
import os
import platform
import statistics
import time

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

import keras  # noqa: E402
import numpy as np  # noqa: E402
import tensorflow as tf  # noqa: E402

import tfescape  # noqa: E402
from tfescape.hessian import (  # noqa: E402
    HessianOperator,
    block_lanczos_eigenvalues,
    lanczos_eigenvalues,
    power_iteration,
    spectral_density_of,
)

LOSS = keras.losses.SparseCategoricalCrossentropy(from_logits=True)


def trained_model(name, *, image_size, epochs, batch_size=64, **model_options):
    train, _, info = tfescape.load_dataset("digits", batch_size=batch_size, seed=0, image_size=image_size)
    model = tfescape.build_model(
        name, input_shape=info.input_shape, num_classes=info.num_classes, seed=0, **model_options
    )
    model.compile(optimizer=keras.optimizers.Adam(1e-3), loss=LOSS)
    model.fit(train, epochs=epochs, verbose=0)
    # The Hessian's data: the training set in a fixed order, batches of 256, cached after batching so
    # that the timings measure the products, not the input pipeline.
    eval_data = tfescape.load_dataset(
        "digits", batch_size=256, seed=0, image_size=image_size, shuffle=False, prefetch=False
    ).train.cache()
    return model, eval_data


def interleaved_medians(fns, repeats, *, cpu=False):
    """Median seconds of each callable, timed round-robin so that load changes hit all of them alike.

    With ``cpu`` the process CPU time (all threads) is measured instead of wall time: the work done,
    which other jobs on a shared machine disturb much less than the wall clock.
    """
    clock = time.process_time if cpu else time.perf_counter
    for fn in fns.values():
        fn()  # warm-up / tracing
    times = {name: [] for name in fns}
    for _ in range(repeats):
        for name, fn in fns.items():
            start = clock()
            fn()
            times[name].append(clock() - start)
    return {name: statistics.median(t) for name, t in times.items()}


def bench_hvp_cost(model, data, repeats):
    variables = model.trainable_variables

    @tf.function(reduce_retracing=True)
    def gradient_step(x, y):
        with tf.GradientTape() as tape:
            value = LOSS(y, model(x, training=False))
        return tape.gradient(value, variables)

    def reference_gradient():
        for x, y in data:
            [g.numpy() for g in gradient_step(x, y)]

    forward = HessianOperator(model, LOSS, data, method="forward_over_reverse")
    reverse = HessianOperator(model, LOSS, data, method="reverse_over_reverse")
    v = np.random.default_rng(0).standard_normal(forward.dim)
    fns = {
        "gradient (plain tf.function)": reference_gradient,
        "HVP forward_over_reverse": lambda: forward.matvec(v),
        "HVP reverse_over_reverse": lambda: reverse.matvec(v),
        "gradient (HessianOperator.loss_and_gradient)": forward.loss_and_gradient,
    }
    wall = interleaved_medians(fns, repeats)
    cpu = interleaved_medians(fns, repeats, cpu=True)
    return [(name, wall[name], cpu[name]) for name in fns], forward.dim


def first_within(history, reference, rel):
    for count, value in history:
        if abs(value - reference) <= rel * abs(reference):
            return count
    return None


def bench_top_eigenvalue(model, data, seed):
    op = HessianOperator(model, LOSS, data)
    start = time.perf_counter()
    reference = lanczos_eigenvalues(op.matvec, dim=op.dim, k=1, tol=1e-8, max_iters=150, seed=seed + 100)
    reference_time = time.perf_counter() - start
    top = float(reference.eigenvalues[0])

    lanczos_history = []
    start = time.perf_counter()
    lz = lanczos_eigenvalues(
        op.matvec,
        dim=op.dim,
        k=1,
        tol=1e-3,
        seed=seed,
        callback=lambda r: lanczos_history.append((r.num_mvps, r.ritz_values[0])),
    )
    lanczos_time = time.perf_counter() - start

    power_history = []
    start = time.perf_counter()
    pw = power_iteration(
        op.matvec,
        dim=op.dim,
        k=1,
        max_iters=100,
        tol=1e-3,
        seed=seed,
        callback=lambda n, value: power_history.append((n, value)),
    )
    power_time = time.perf_counter() - start

    # Power iteration run to PyHessian's iteration cap without the early stop, to see when (if ever
    # within 100 products) it reaches 1e-3.
    capped_history = []
    power_iteration(
        op.matvec,
        dim=op.dim,
        k=1,
        max_iters=100,
        tol=1e-12,
        seed=seed,
        callback=lambda n, value: capped_history.append((n, value)),
    )
    return {
        "power_capped_first": first_within(capped_history, top, 1e-3),
        "power_capped_final": capped_history[-1],
        "dim": op.dim,
        "reference": top,
        "reference_mvps": reference.num_mvps,
        "reference_converged": bool(reference.converged[0]),
        "reference_time": reference_time,
        "lanczos": (
            lz.num_mvps,
            float(lz.eigenvalues[0]),
            first_within(lanczos_history, top, 1e-3),
            lanczos_time,
        ),
        "power": (pw.num_mvps, float(pw.eigenvalues[0]), first_within(power_history, top, 1e-3), power_time),
    }


def bench_top_k(model, data, k, seed):
    """Top-k eigenvalues to 1e-3: Lanczos (one Krylov space) vs power iteration with deflation."""
    op = HessianOperator(model, LOSS, data)
    reference = lanczos_eigenvalues(op.matvec, dim=op.dim, k=k, tol=1e-8, max_iters=200, seed=seed + 100)
    lz = lanczos_eigenvalues(op.matvec, dim=op.dim, k=k, tol=1e-3, seed=seed)
    pw = power_iteration(op.matvec, dim=op.dim, k=k, max_iters=100, tol=1e-3, seed=seed)
    rows = []
    for name, result in (("lanczos", lz), ("power", pw)):
        # Power iteration returns the largest magnitudes; compare sorted values.
        values = np.sort(result.eigenvalues)[::-1]
        err = np.max(np.abs(values - reference.eigenvalues) / np.abs(reference.eigenvalues))
        rows.append((name, result.num_mvps, err, bool(result.converged.all())))
    return reference, rows


def bench_density(model, data, *, starts, iters, seed):
    start = time.perf_counter()
    op = HessianOperator(model, LOSS, data)
    op.matvec(np.zeros(op.dim))  # tracing
    setup = time.perf_counter() - start
    start, cpu_start = time.perf_counter(), time.process_time()
    result = spectral_density_of(op.matvec, dim=op.dim, num_random_starts=starts, num_iters=iters, seed=seed)
    seconds, cpu = time.perf_counter() - start, time.process_time() - cpu_start
    gradient = interleaved_medians({"gradient": op.loss_and_gradient}, 5, cpu=True)["gradient"]
    return op.dim, setup, (seconds, cpu), gradient, result


def bench_block_lanczos(model, data, *, cases, repeats, seed):
    """Single-vector vs block Lanczos on one HessianOperator: rows per (k, method) and the reference."""
    op = HessianOperator(model, LOSS, data)
    largest_k = max(k for k, _ in cases)
    reference = lanczos_eigenvalues(
        op.matvec, dim=op.dim, k=largest_k, tol=1e-8, max_iters=300, seed=seed + 100
    ).eigenvalues
    calls = {"count": 0}

    def counted(fn):
        def wrapped(v):
            calls["count"] += 1
            return fn(v)

        return wrapped

    runs = {}
    for k, block_size in cases:
        runs[(k, "single")] = lambda k=k: lanczos_eigenvalues(
            counted(op.matvec), dim=op.dim, k=k, tol=1e-3, seed=seed
        )
        runs[(k, f"block {block_size}")] = lambda k=k, p=block_size: block_lanczos_eigenvalues(
            counted(op.matmat), dim=op.dim, k=k, block_size=p, tol=1e-3, seed=seed
        )
    results, passes = {}, {}
    for name, run in runs.items():  # warm-up (tracing) and the counts; the runs are deterministic
        calls["count"] = 0
        results[name] = run()
        passes[name] = calls["count"]
    wall = {name: [] for name in runs}
    cpu = {name: [] for name in runs}
    for _ in range(repeats):
        for name, run in runs.items():
            start, cpu_start = time.perf_counter(), time.process_time()
            run()
            wall[name].append(time.perf_counter() - start)
            cpu[name].append(time.process_time() - cpu_start)
    rows = []
    for (k, method), result in results.items():
        error = np.max(np.abs(result.eigenvalues - reference[:k]) / np.abs(reference[:k]))
        rows.append(
            (
                k,
                method,
                result.num_mvps,
                passes[(k, method)],
                statistics.median(wall[(k, method)]),
                statistics.median(cpu[(k, method)]),
                error,
                bool(result.converged.all()),
            )
        )
    return op.dim, reference, rows


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="smaller models and fewer repeats")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument(
        "--sections", default="1,2,3", help="comma-separated subset of 1,2,3,4 to run (4 only when named)"
    )
    args = parser.parse_args()
    sections = {int(part) for part in args.sections.split(",")}
    image_size, epochs, repeats = (8, 3, 5) if args.quick else (16, 8, 15)
    starts, iters = (1, 10) if args.quick else (3, 30)

    print(f"# tfescape.hessian benchmark ({'quick' if args.quick else 'full'})")
    versions = f"TF {tf.__version__}, Keras {keras.__version__}"
    print(f"machine: {platform.machine()}, {os.cpu_count()} CPUs, {versions}")

    if sections & {1, 2, 4}:
        model, data = trained_model("cnn", image_size=image_size, epochs=epochs)
    if 1 in sections:
        rows, dim = bench_hvp_cost(model, data, repeats)
        wall_base, cpu_base = rows[0][1], rows[0][2]
        print(
            f"\n## 1. HVP vs gradient: cnn on digits {image_size}x{image_size}, {dim} parameters, "
            f"training set (1437 images), median of {repeats}"
        )
        print("| computation | wall s | / gradient | CPU s | / gradient |\n|---|---|---|---|---|")
        for name, wall, cpu in rows:
            print(f"| {name} | {wall:.4f} | {wall / wall_base:.2f}x | {cpu:.4f} | {cpu / cpu_base:.2f}x |")
    if 2 in sections:
        eig = bench_top_eigenvalue(model, data, args.seed)
        print(f"\n## 2. Top eigenvalue to 1e-3 relative: trained cnn/digits, {eig['dim']} parameters")
        print(
            f"reference lambda_max = {eig['reference']:.6g} (Lanczos, {eig['reference_mvps']} HVPs, "
            f"converged={eig['reference_converged']}, {eig['reference_time']:.1f} s)"
        )
        print("| method | HVPs (stopping rule) | estimate | rel. error | HVPs until within 1e-3 | seconds |")
        print("|---|---|---|---|---|---|")
        for name in ("lanczos", "power"):
            mvps, value, first, seconds = eig[name]
            err = abs(value - eig["reference"]) / abs(eig["reference"])
            print(f"| {name} | {mvps} | {value:.6g} | {err:.1e} | {first} | {seconds:.1f} |")
        lz, pw = eig["lanczos"], eig["power"]
        capped_first, (capped_n, capped_value) = eig["power_capped_first"], eig["power_capped_final"]
        capped_err = abs(capped_value - eig["reference"]) / abs(eig["reference"])
        print(
            f"power iteration without the early stop (cap 100): first within 1e-3 after {capped_first} HVPs; "
            f"after {capped_n} HVPs rel. error {capped_err:.1e}"
        )
        print(f"ratio Lanczos / power, HVPs spent by the stopping rules: {lz[0] / pw[0]:.2f}")
        if lz[2] and capped_first:
            print(
                f"ratio Lanczos / power, HVPs until within 1e-3 of the reference: {lz[2] / capped_first:.2f}"
            )
        else:
            print(
                f"ratio Lanczos / power, HVPs until within 1e-3: Lanczos {lz[2]}, "
                f"power {capped_first} (cap 100)"
            )

        k = 3
        reference, rows = bench_top_k(model, data, k, args.seed)
        print(f"\n## 2b. Top-{k} eigenvalues to 1e-3 relative (same model)")
        print(f"reference (Lanczos, residual <= 1e-8): {np.round(reference.eigenvalues, 4)}")
        print("| method | HVPs (stopping rule) | max rel. error | converged |\n|---|---|---|---|")
        for name, mvps, err, converged in rows:
            print(f"| {name} | {mvps} | {err:.1e} | {converged} |")
        print(f"ratio Lanczos / power: {rows[0][1] / rows[1][1]:.2f}")
    if 3 in sections:
        mlp, mlp_data = trained_model(
            "mlp", image_size=None, epochs=2 if args.quick else 5, width=384, depth=3
        )
        dim, setup, (seconds, cpu), gradient, result = bench_density(
            mlp, mlp_data, starts=starts, iters=iters, seed=args.seed
        )
        print(f"\n## 3. Spectral density (SLQ): mlp 3x384 on digits 8x8, {dim} parameters, training set")
        print(
            f"operator setup + tracing: {setup:.1f} s; {starts} random starts x {iters} Lanczos steps = "
            f"{result.num_mvps} HVPs: {seconds:.1f} s wall, {cpu:.1f} s CPU "
            f"({cpu / result.num_mvps:.3f} CPU s per step incl. reorthogonalization; "
            f"one full-data gradient: {gradient:.3f} CPU s); "
            f"nodes in [{np.nanmin(result.nodes):.3g}, {np.nanmax(result.nodes):.3g}]"
        )
    if 4 in sections:
        cases = [(1, 2), (1, 4), (3, 3), (5, 5)]
        dim, reference, rows = bench_block_lanczos(
            model, data, cases=cases, repeats=3 if args.quick else 7, seed=args.seed
        )
        print(
            f"\n## 4. Block vs single-vector Lanczos, stopping at residual <= 1e-3 |theta|: trained "
            f"cnn/digits, {dim} parameters; medians of {3 if args.quick else 7} interleaved runs"
        )
        print(f"reference top-5 (Lanczos, residual <= 1e-8): {np.round(reference, 4)}")
        print(
            "| k | method | products | passes | wall s | CPU s | max rel. error | converged "
            "| wall / single | CPU / single |"
        )
        print("|---|---|---|---|---|---|---|---|---|---|")
        single = {row[0]: row for row in rows if row[1] == "single"}
        for k, method, mvps, passes, wall, cpu, error, converged in rows:
            base = single[k]
            print(
                f"| {k} | {method} | {mvps} | {passes} | {wall:.2f} | {cpu:.2f} | {error:.1e} | "
                f"{converged} | {wall / base[4]:.2f} | {cpu / base[5]:.2f} |"
            )


if __name__ == "__main__":
    main()
