"""Benchmark the cost of RecordingOptimizer: median epoch time of model.fit, wrapped vs plain Adam.

Workloads: "cnn" on digits (8x8 images, batch 64) and "mlp" (3 x 512 ReLU) on the synthetic Gaussian
mixture (100 features, batch 64). For each workload five models with identical weights are trained
side by side in one process: plain Adam and RecordingOptimizer(Adam, record_every=1, 10 and 100, and
100 with count_nonfinite="every_step"). After a throwaway model and a warm-up epoch each (tracing),
the variants take turns of three epochs in a rotating order. Each round gives every variant's epoch time
(the fastest of its three epochs, the one least disturbed by other jobs) and its ratio to plain Adam's
in the same round; the table quotes medians over rounds of the epoch times and of these paired
ratios, in wall time and in process CPU time (all threads). Keras' default jit_compile="auto"
applies (it resolved to no XLA here).
Goals: <= 1.10x at record_every=1, <= 1.02x at record_every=100 (default count_nonfinite).

Epoch times on a shared machine move by several percent between identical epochs, more than the
2% goal, so a second table measures the wrapper's own cost directly: each variant's optimizer step
alone (``optimizer.apply`` of fixed gradients, 200 steps per timing inside one tf.function,
interleaved rounds), the extra microseconds per step over plain Adam (median over rounds of the
difference to plain Adam's time in the same round), and that extra as a
fraction of plain Adam's training step (epoch time / steps per epoch from the first table):
1 + extra / step is the overhead ratio the epoch times would show without noise.

Usage:
    python benchmarks/bench_recording.py            # about 10 minutes on 2 quiet cores
    python benchmarks/bench_recording.py --quick    # about 40 seconds
    python benchmarks/bench_recording.py --threads 1   # one TensorFlow thread: less noise
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

tf.get_logger().setLevel("ERROR")  # one tf.function per variant: no retracing warnings

import tfescape  # noqa: E402
from tfescape.optimizers import RecordingOptimizer  # noqa: E402

LOSS = keras.losses.SparseCategoricalCrossentropy(from_logits=True)
VARIANTS = (
    "plain",
    "record_every=1",
    "record_every=10",
    "record_every=100",
    "record_every=100, count_nonfinite='every_step'",
    "plain, second model",
)
"""The last variant is a control: plain Adam again, built last. Its ratio to the first plain model shows
how far two identical models measure apart in one process (build order, memory placement)."""


class _EpochTimer(keras.callbacks.Callback):
    """Wall time and process CPU time (all threads) of each epoch."""

    def __init__(self):
        super().__init__()
        self.seconds = []
        self.cpu_seconds = []

    def on_epoch_begin(self, epoch, logs=None):
        self._start = time.perf_counter()
        self._cpu_start = time.process_time()

    def on_epoch_end(self, epoch, logs=None):
        self.seconds.append(time.perf_counter() - self._start)
        self.cpu_seconds.append(time.process_time() - self._cpu_start)


def workload(name):
    if name == "cnn/digits":
        train, _, info = tfescape.load_dataset("digits", batch_size=64, seed=0)
        build = dict(name="cnn", input_shape=info.input_shape, num_classes=info.num_classes, seed=0)
    else:
        train, _, info = tfescape.load_dataset(
            "synthetic", batch_size=64, seed=0, num_examples=4000, num_features=100, num_classes=10
        )
        build = dict(name="mlp", input_shape=info.input_shape, num_classes=info.num_classes, seed=0)
    return train, build


def make_model(build, variant):
    model = tfescape.build_model(build["name"], **{k: v for k, v in build.items() if k != "name"})
    optimizer = keras.optimizers.Adam(1e-3)
    if not variant.startswith("plain"):
        every = int(variant.split("=")[1].split(",")[0])
        count = "every_step" if "every_step" in variant else "recorded"
        optimizer = RecordingOptimizer(optimizer, record_every=every, count_nonfinite=count)
    model.compile(optimizer=optimizer, loss=LOSS)
    return model


def bench(name, repeats, variants=VARIANTS):
    train, build = workload(name)
    make_model(build, "plain").fit(train, epochs=1, verbose=0)  # throwaway: process-wide first-use costs
    models = {v: make_model(build, v) for v in variants}
    for v in variants:  # warm-up: tracing and the first epoch's allocations
        models[v].fit(train, epochs=1, verbose=0)
    rounds = []  # per round: {variant: (wall, cpu)}
    for r in range(repeats):
        k = r % len(variants)
        order = variants[k:] + variants[:k]
        times = {}
        for v in order:  # three epochs per turn, the fastest one counts
            timer = _EpochTimer()
            models[v].fit(train, epochs=3, verbose=0, callbacks=[timer])
            times[v] = (min(timer.seconds), min(timer.cpu_seconds))
        rounds.append(times)

    def quartiles(values):
        q1, _, q3 = statistics.quantiles(values, n=4)
        return q1, q3

    def median(f):
        return statistics.median(f(times) for times in rounds)

    params = models["plain"].count_params()
    steps = sum(1 for _ in train)
    return [
        (
            name,
            params,
            steps,
            v,
            median(lambda t, v=v: t[v][0]),
            median(lambda t, v=v: t[v][0] / t["plain"][0]),
            quartiles([t[v][0] / t["plain"][0] for t in rounds]),
            median(lambda t, v=v: t[v][1]),
            median(lambda t, v=v: t[v][1] / t["plain"][1]),
        )
        for v in variants
    ]


def _optimizer_steps(model):
    """A tf.function n -> n optimizer steps of the model's optimizer on fixed gradients."""
    optimizer, weights = model.optimizer, model.trainable_variables
    optimizer.build(weights)
    grads = [
        tf.random.stateless_normal(w.shape, [1, i], dtype=w.dtype) * 1e-3 for i, w in enumerate(weights)
    ]

    @tf.function
    def run(n):
        for _ in tf.range(n):
            optimizer.apply(grads, weights)
        return optimizer.iterations

    return run


def apply_only(name, repeats, variants, steps=200):
    """Per variant: median microseconds per optimizer step (fixed gradients), and the median over
    rounds of its difference to plain Adam's in the same round (interleaved rounds)."""
    train, build = workload(name)
    functions = {v: _optimizer_steps(make_model(build, v)) for v in variants}
    for run in functions.values():
        run(tf.constant(steps))  # trace and warm up
    micros = {v: [] for v in variants}
    for r in range(repeats):
        k = r % len(variants)
        for v in variants[k:] + variants[:k]:
            start = time.perf_counter()
            functions[v](tf.constant(steps)).numpy()
            micros[v].append((time.perf_counter() - start) / steps * 1e6)
    step = {v: statistics.median(micros[v]) for v in variants}
    extra = {
        v: statistics.median(a - b for a, b in zip(micros[v], micros["plain"], strict=True)) for v in variants
    }
    return step, extra


def _label(variant):
    if variant.startswith("plain"):
        return "Adam" + variant[len("plain") :]
    return f"RecordingOptimizer(Adam, {variant})"


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--quick", action="store_true", help="fewer repeats (noisier)")
    parser.add_argument("--workloads", default="cnn/digits,mlp/synthetic", help="comma-separated")
    parser.add_argument(
        "--threads",
        type=int,
        default=0,
        help="TensorFlow intra- and inter-op threads (0: TensorFlow's default); 1 times the wrapper's "
        "work without overlap, with less noise from thread scheduling",
    )
    args = parser.parse_args()
    if args.threads:
        tf.config.threading.set_intra_op_parallelism_threads(args.threads)
        tf.config.threading.set_inter_op_parallelism_threads(args.threads)
    repeats = 6 if args.quick else 30
    variants = VARIANTS
    rows = []
    applies = {}
    for name in args.workloads.split(","):
        rows += bench(name, repeats, variants)
        applies[name] = apply_only(name, 10 if args.quick else 120, variants)
    print(
        f"Machine: {platform.machine()}, {os.cpu_count()} CPUs, load average "
        f"{os.getloadavg()[0]:.1f} at the end, TF {tf.__version__}, "
        f"Keras {keras.__version__}, TensorFlow threads: {args.threads or 'default'}; {repeats} rounds "
        "of 3 epochs per variant, medians of rounds"
    )
    print(
        "| workload | params | steps/epoch | optimizer | epoch wall (s) | wall ratio (paired) "
        "| wall ratio quartiles | epoch CPU (s) | CPU ratio (paired) |"
    )
    print("|---|---|---|---|---|---|---|---|---|")
    for name, params, steps, variant, wall, wall_ratio, (q1, q3), cpu, cpu_ratio in rows:
        label = _label(variant)
        print(
            f"| {name} | {params:,} | {steps} | {label} | {wall:.3f} | {wall_ratio:.3f} "
            f"| {q1:.3f}-{q3:.3f} | {cpu:.3f} | {cpu_ratio:.3f} |"
        )
    print()
    print(
        "| workload | optimizer | optimizer step (us) | extra over Adam (us, paired) "
        "| Adam's training step (us) | 1 + extra / step |"
    )
    print("|---|---|---|---|---|---|")
    for name, _, steps, variant, *_ in rows:
        plain_step = next(r[4] for r in rows if r[0] == name and r[3] == "plain") / steps * 1e6
        step, extras = applies[name]
        extra = extras[variant]
        label = _label(variant)
        print(
            f"| {name} | {label} | {step[variant]:.0f} | {extra:.0f} | {plain_step:.0f} "
            f"| {1 + extra / plain_step:.3f} |"
        )
    return rows


if __name__ == "__main__":
    np.set_printoptions(precision=3)
    main()
