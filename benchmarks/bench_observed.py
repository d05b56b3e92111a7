"""Benchmark observe_escape's two engines: stacked replicas against one model clone per replica.

Workload: the default comparison's network ("mlp", width 128, depth 2) on digits at a random minimum-like
point (the built model's weights; a 5-eigenvector basin of height 1e9, so no replica leaves and every call
runs its whole budget), batch 32, SGD and Adam. For each (optimizer, replicas, steps) both engines run the
same call in one process, alternating, ``--repeats`` times; the table quotes the median wall time of a whole
call (tracing included, as a pipeline stage pays it) at two step budgets, and the ratio clones / stacked.
On a shared machine the medians move with the other jobs: compare the ratios of one run.

Usage:
    python benchmarks/bench_observed.py            # a few minutes on 2 busy cores
    python benchmarks/bench_observed.py --quick
"""

from __future__ import annotations

import argparse
import os
import statistics
import time

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

import keras  # noqa: E402
import numpy as np  # noqa: E402

import tfescape  # noqa: E402
from tfescape.observed import MinimumBasin, observe_escape  # noqa: E402

LOSS = keras.losses.SparseCategoricalCrossentropy(from_logits=True)
OPTIMIZERS = {"SGD": lambda: keras.optimizers.SGD(0.05), "Adam": lambda: keras.optimizers.Adam(0.001)}


def _call(engine, model, basin, data, name, replicas, steps) -> float:
    start = time.perf_counter()
    observe_escape(
        model,
        LOSS,
        data,
        optimizer=OPTIMIZERS[name](),
        basin=basin,
        num_replicas=replicas,
        batch_size=32,
        max_steps=steps,
        loss_every=None,
        engine=engine,
        seed=0,
    )
    return time.perf_counter() - start


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="fewer repeats and replicas")
    parser.add_argument("--repeats", type=int, default=None)
    args = parser.parse_args()
    repeats = args.repeats or (1 if args.quick else 3)
    data = tfescape.load_arrays("digits", flatten=True, seed=0)
    x, y = data.x_train.astype("float32"), data.y_train
    model = tfescape.build_model("mlp", input_shape=(64,), num_classes=10, width=128, depth=2, seed=0)
    params = sum(int(np.prod(v.shape)) for v in model.trainable_variables)
    basin = MinimumBasin.of(model, np.ones(5), np.eye(params)[:, :5], height=1e9)
    budgets = (300,) if args.quick else (300, 1000)
    print(
        "{:9s} {:>3s} {:>6s} {:>12s} {:>12s} {:>8s}".format(
            "optimizer", "R", "steps", "stacked (s)", "clones (s)", "ratio"
        )
    )
    for name in OPTIMIZERS:
        for replicas in (8,) if args.quick else (8, 32):
            for steps in budgets:
                times = {"stacked": [], "clones": []}
                for _ in range(repeats):
                    for engine in times:
                        times[engine].append(_call(engine, model, basin, (x, y), name, replicas, steps))
                stacked, clones = (statistics.median(times[e]) for e in ("stacked", "clones"))
                ratio = clones / stacked
                print(f"{name:9s} {replicas:3d} {steps:6d} {stacked:12.2f} {clones:12.2f} {ratio:7.1f}x")


if __name__ == "__main__":
    main()
