"""Benchmark GradientNoiseProbe: time and peak memory to estimate the noise tail index over many batches.

Workload: a ~1M-parameter MLP (64 -> 960 -> 960 -> 10) on the digits training set, batches of 32; the
full gradient over the training set and 200 minibatch noise vectors (``--quick``: a ~250k-parameter MLP,
100 vectors), in inference mode.

- tfescape: ``GradientNoiseProbe.measure()``: streams the noise vectors, keeps diag(Sigma) (Welford)
  and at most 2048 sampled coordinates per variable, and estimates alpha (Mohammadi, asymptotic 95%
  interval) per variable and globally on the standardized sampled noise.
- reference (what the published tail-index code does): stack every noise vector into a
  (batches x parameters) float32 matrix, standardize each coordinate by its median absolute value and
  estimate alpha on all entries (the same estimator, per variable and globally).

Both sides use the same gradient function (tfescape.noise), run in one process one after the other, and
report wall time and peak resident memory above the level before the side started (sampled every
2 ms from /proc/self/statm). Timings on a shared machine are noisy; the memory ratio is the point.

Usage:
    python benchmarks/bench_noise_probe.py            # about 2 minutes, ~8 GB peak for the reference
    python benchmarks/bench_noise_probe.py --quick    # under a minute
"""

from __future__ import annotations

import argparse
import os
import platform
import threading
import time

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

import keras  # noqa: E402
import numpy as np  # noqa: E402
import tensorflow as tf  # noqa: E402

import tfescape  # noqa: E402
from tfescape import noise  # noqa: E402
from tfescape.callbacks import GradientNoiseProbe  # noqa: E402
from tfescape.noise import pool_columns  # noqa: E402
from tfescape.stable import tail_index  # noqa: E402

LOSS = keras.losses.SparseCategoricalCrossentropy(from_logits=True)
_PAGE = os.sysconf("SC_PAGE_SIZE")


def rss_bytes() -> int:
    with open("/proc/self/statm") as f:
        return int(f.read().split()[1]) * _PAGE


class PeakMemory:
    """Peak RSS above the starting level while the block runs (sampled by a thread)."""

    def __enter__(self):
        self.start = rss_bytes()
        self.peak = self.start
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._sample, daemon=True)
        self._thread.start()
        return self

    def _sample(self):
        while not self._stop.is_set():
            self.peak = max(self.peak, rss_bytes())
            time.sleep(0.002)

    def __exit__(self, *exc):
        self._stop.set()
        self._thread.join()
        self.peak = max(self.peak, rss_bytes())
        self.extra_mb = (self.peak - self.start) / 2**20


def ours(model, data, num_batches):
    probe = GradientNoiseProbe(
        data, every_n_steps=None, at_steps=(0,), num_batches=num_batches, interval="asymptotic", seed=0
    )
    probe.set_model(model)
    record = probe.measure(0)
    return record.global_noise.alpha, record.global_noise.ci_low, record.global_noise.ci_high


def reference(model, data, num_batches, gradient_fn):
    full = noise.full_gradient(model, data, gradient_fn=gradient_fn)
    sizes = [int(np.prod(v.shape)) for v in model.trainable_variables]
    matrix = np.empty((num_batches, sum(sizes)), dtype=np.float32)
    for sample in noise.gradient_noise(model, data, full=full, num_batches=num_batches):
        matrix[sample.index] = noise.flatten(sample.noise)
    pooled = []
    for start, size in zip(np.cumsum([0, *sizes[:-1]]), sizes, strict=True):
        z = pool_columns(matrix[:, start : start + size]).values.astype(np.float32)
        tail_index(z, interval="asymptotic")  # per variable, as the probe does
        pooled.append(z)
    del matrix
    result = tail_index(np.concatenate(pooled), interval="asymptotic")
    return float(result.alpha), float(result.ci_low), float(result.ci_high)


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--quick", action="store_true", help="~250k parameters, 100 noise vectors")
    args = parser.parse_args()
    width, num_batches = (448, 100) if args.quick else (960, 200)
    train, _, info = tfescape.load_dataset("digits", batch_size=32, seed=0, shuffle=False)
    model = tfescape.build_model(
        "mlp", input_shape=info.input_shape, num_classes=info.num_classes, seed=0, width=width, depth=2
    )
    model.compile(optimizer="adam", loss=LOSS)
    model.fit(train, epochs=1, verbose=0)  # away from initialization
    gradient_fn = noise.batch_gradient_fn(model, loss=LOSS)
    noise.full_gradient(model, train, gradient_fn=gradient_fn)  # trace once for both sides
    ours(model, train.take(2), 2)  # warm-up of the probe's own paths

    rows = []
    for name, fn in (
        ("tfescape GradientNoiseProbe (streamed)", lambda: ours(model, train, num_batches)),
        ("reference: (batches x params) matrix", lambda: reference(model, train, num_batches, gradient_fn)),
    ):
        start = time.perf_counter()
        with PeakMemory() as memory:
            alpha, low, high = fn()
        rows.append((name, time.perf_counter() - start, memory.extra_mb, alpha, low, high))

    params = model.count_params()
    print(
        f"Machine: {platform.machine()}, {os.cpu_count()} CPUs, TF {tf.__version__}; mlp with {params:,} "
        f"parameters, {num_batches} noise vectors of batch 32 (digits), full gradient over "
        f"{info.num_train} examples"
    )
    print("| method | time (s) | peak extra RSS (MB) | global alpha [95% CI] |")
    print("|---|---|---|---|")
    for name, seconds, mb, alpha, low, high in rows:
        print(f"| {name} | {seconds:.1f} | {mb:,.0f} | {alpha:.3f} [{low:.3f}, {high:.3f}] |")
    print(f"memory ratio (reference / ours): {rows[1][2] / max(rows[0][2], 1.0):.1f}x")
    return rows


if __name__ == "__main__":
    main()
