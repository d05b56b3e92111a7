"""GPU check: tfescape's main code paths on a GPU, checked against the CPU and timed (one script, < 5 min).

Paths (each runs on the CPU, then on the first GPU when TensorFlow sees one):

- ``stable sampling``: 2^20 SaS(1.5) draws (symmetric_stable_sample, fixed seed, float32).
- ``stable pdf``: SymmetricStable(1.5).prob on 4096 points in float64.
- ``exit times``: first_exit_times of the SDE of SGD (OU drift) from a box (4096 paths x 500 steps, XLA).
- ``HVP + Lanczos``: Hessian-vector products of a float64 MLP over a dataset and its top eigenvalue.
- ``recorded fit (XLA)``: model.fit(jit_compile=True) with RecordingOptimizer(Adam), 2 epochs.

Checks:

- GPU vs CPU: the same inputs and seeds give the same results within a tolerance per path (stateless
  draws are the same bits on both devices; kernels differ in rounding). Exit times compare the mean and the
  share of paths whose exit step is identical.
- CPU vs an outside oracle, so the CPU side is itself checked: the draws' quantiles against
  scipy.stats.levy_stable.cdf (KS distance at 9 quantiles), the pdf against scipy.stats.levy_stable.pdf,
  exit times of the compiled loop against the plain graph loop (jit_compile=False, same draws), the
  Lanczos eigenvalue against the dense Hessian's largest eigenvalue (numpy.linalg.eigvalsh), and the
  recorded fit against the same fit with the plain optimizer (identical weights; the recorded update equals
  the last step's weight change).

Output: one table row per path and device, with the median wall time of the repeats (first call, with
tracing/compilation, excluded and shown separately), the GPU/CPU speedup, the largest relative difference
and PASS/FAIL. Without a GPU it says so and runs the CPU rows. Exit status 1 if any check fails.

Run:  python benchmarks/gpu_check.py [--repeats 2]
"""

from __future__ import annotations

import argparse
import os
import statistics
import time
from collections.abc import Callable
from dataclasses import dataclass

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
os.environ.setdefault("KERAS_BACKEND", "tensorflow")

import keras  # noqa: E402
import numpy as np  # noqa: E402
import tensorflow as tf  # noqa: E402
from scipy import stats  # noqa: E402

from tfescape.hessian import HessianOperator  # noqa: E402
from tfescape.hessian.estimators import top_eigenvalues_of  # noqa: E402
from tfescape.optimizers import RecordingOptimizer  # noqa: E402
from tfescape.sde import SGDSDE, Box, first_exit_times  # noqa: E402
from tfescape.stable import SymmetricStable, symmetric_stable_sample  # noqa: E402

ALPHA = 1.5


@dataclass(frozen=True)
class Row:
    path: str
    device: str
    first_seconds: float
    seconds: float
    check: str
    difference: float
    passed: bool


def timed(fn: Callable, repeats: int):
    """(result of the first call, seconds of the first call, median seconds of ``repeats`` more calls)."""
    start = time.perf_counter()
    result = fn()
    first = time.perf_counter() - start
    times = []
    for _ in range(repeats):
        start = time.perf_counter()
        fn()
        times.append(time.perf_counter() - start)
    return result, first, statistics.median(times)


def relative(a, b) -> float:
    a, b = np.asarray(a, np.float64), np.asarray(b, np.float64)
    return float(np.max(np.abs(a - b)) / max(np.max(np.abs(b)), 1e-300))


# ------------------------------------------------------------------------------------------ the paths


def sampling():
    return symmetric_stable_sample([2**20], ALPHA, seed=1234).numpy()


def pdf():
    x = tf.constant(np.linspace(-30.0, 30.0, 4096), tf.float64)
    return SymmetricStable(tf.constant(ALPHA, tf.float64)).prob(x).numpy()


# One process and basin for every call: first_exit_times reuses its compiled loop for them.
SDE = SGDSDE(lambda x: x, alpha=ALPHA, eps=0.3)
BASIN = Box(low=[-1.0, -1.0], high=[1.0, 1.0])


def exit_times(jit_compile=None):
    result = first_exit_times(
        SDE,
        x0=tf.zeros([2]),
        basin=BASIN,
        dt=0.01,
        num_paths=4096,
        max_time=5.0,
        seed=7,
        jit_compile=jit_compile,
    )
    return np.asarray(result.times, np.float64)


def _hessian_problem():
    rng = np.random.default_rng(0)
    x = rng.normal(size=(512, 10))
    y = rng.integers(0, 3, size=512).astype("int32")
    init = keras.initializers.GlorotUniform
    model = keras.Sequential(
        [
            keras.Input((10,), dtype="float64"),
            keras.layers.Dense(16, activation="tanh", kernel_initializer=init(seed=1), dtype="float64"),
            keras.layers.Dense(3, kernel_initializer=init(seed=2), dtype="float64"),
        ]
    )
    loss = keras.losses.SparseCategoricalCrossentropy(from_logits=True, dtype="float64")
    data = tf.data.Dataset.from_tensor_slices((x, y)).batch(128)
    return HessianOperator(model, loss, data)


def hvp_lanczos():
    op = _hessian_problem()
    v = np.random.default_rng(1).normal(size=op.dim)
    hv = op.matvec(v)
    top = top_eigenvalues_of(op.matvec, dim=op.dim, k=1, seed=3, tol=1e-8).eigenvalues[0]
    return op, hv, float(top)


def _fit_problem():
    rng = np.random.default_rng(2)
    x = rng.normal(size=(1024, 20)).astype("float32")
    y = (x[:, :3].sum(axis=1) > 0).astype("int32")
    data = tf.data.Dataset.from_tensor_slices((x, y)).batch(64)
    init = keras.initializers.GlorotUniform
    model = keras.Sequential(
        [
            keras.Input((20,)),
            keras.layers.Dense(32, activation="relu", kernel_initializer=init(seed=3)),
            keras.layers.Dense(2, kernel_initializer=init(seed=4)),
        ]
    )
    return model, data


def recorded_fit(record=True):
    model, data = _fit_problem()
    optimizer = keras.optimizers.Adam(1e-2)
    if record:
        optimizer = RecordingOptimizer(optimizer, record_every=1)
    model.compile(
        optimizer=optimizer,
        loss=keras.losses.SparseCategoricalCrossentropy(from_logits=True),
        jit_compile=True,
    )
    model.fit(data.take(15), epochs=1, verbose=0)  # all but the last step
    before = [w.copy() for w in model.get_weights()]
    model.fit(data.skip(15).take(1), epochs=1, verbose=0)
    weights = np.concatenate([np.ravel(w) for w in model.get_weights()])
    last_change = [a - b for a, b in zip(model.get_weights(), before, strict=True)]
    snapshot = optimizer.snapshot() if record else None
    return weights, last_change, snapshot


# ------------------------------------------------------------------------------------------ checks


def cpu_oracle(name: str, result) -> tuple[str, float, bool]:
    """(what was compared, difference, passed) for the CPU result against an outside reference."""
    if name == "stable sampling":
        probs = np.linspace(0.1, 0.9, 9)
        quantiles = np.quantile(result, probs)
        distance = float(np.max(np.abs(stats.levy_stable.cdf(quantiles, ALPHA, 0.0) - probs)))
        return "KS at 9 quantiles vs scipy", distance, distance < 3e-3
    if name == "stable pdf":
        x = np.linspace(-30.0, 30.0, 4096)[::256]
        reference = stats.levy_stable.pdf(x, ALPHA, 0.0)
        difference = relative(result[::256], reference)
        return "vs scipy levy_stable.pdf", difference, difference < 1e-6
    if name == "exit times":
        graph = exit_times(jit_compile=False)
        same = float(np.mean(graph == result))
        return "share equal to graph loop", 1.0 - same, same > 0.99
    if name == "HVP + Lanczos":
        op, _, top = result
        dense = np.stack([op.matvec(e) for e in np.eye(op.dim)], axis=1)
        largest = float(np.linalg.eigvalsh((dense + dense.T) / 2)[-1])
        difference = abs(top - largest) / abs(largest)
        return "top eigenvalue vs dense eigvalsh", difference, difference < 1e-6
    if name == "recorded fit (XLA)":
        weights, last_change, snapshot = result
        plain, _, _ = recorded_fit(record=False)
        update = relative(snapshot.updates[0], last_change[0])
        difference = max(relative(weights, plain), update)
        return "vs unrecorded fit; recorded update", difference, difference < 1e-6
    raise ValueError(name)


def device_difference(name: str, gpu, cpu) -> tuple[str, float, bool]:
    """(what was compared, difference, passed) for the GPU result against the CPU result."""
    if name == "stable sampling":
        difference = relative(np.clip(gpu, -1e3, 1e3), np.clip(cpu, -1e3, 1e3))
        return "draws vs CPU (clipped at 1e3)", difference, difference < 1e-4
    if name == "stable pdf":
        difference = relative(gpu, cpu)
        return "vs CPU", difference, difference < 1e-9
    if name == "exit times":
        same = float(np.mean(gpu == cpu))
        mean_difference = abs(np.mean(gpu) - np.mean(cpu)) / np.mean(cpu)
        return (
            "1 - share equal; mean",
            max(1.0 - same, mean_difference),
            same > 0.95 and mean_difference < 0.01,
        )
    if name == "HVP + Lanczos":
        difference = max(relative(gpu[1], cpu[1]), abs(gpu[2] - cpu[2]) / abs(cpu[2]))
        return "HVP, top eigenvalue vs CPU", difference, difference < 1e-9
    if name == "recorded fit (XLA)":
        difference = relative(gpu[0], cpu[0])
        return "weights vs CPU", difference, difference < 1e-3
    raise ValueError(name)


PATHS = {
    "stable sampling": sampling,
    "stable pdf": pdf,
    "exit times": exit_times,
    "HVP + Lanczos": hvp_lanczos,
    "recorded fit (XLA)": recorded_fit,
}


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeats", type=int, default=2, help="timed calls after the first (median)")
    args = parser.parse_args()
    gpus = tf.config.list_logical_devices("GPU")
    print(f"TensorFlow {tf.__version__}, Keras {keras.__version__}")
    if gpus:
        details = tf.config.experimental.get_device_details(tf.config.list_physical_devices("GPU")[0])
        print(f"GPU found: {gpus[0].name} ({details.get('device_name', 'unknown')})")
    else:
        print("No GPU found: running and checking the CPU paths only.")
    rows, start = [], time.perf_counter()
    for name, fn in PATHS.items():
        with tf.device("/CPU:0"):
            cpu, first, seconds = timed(fn, args.repeats)
            rows.append(Row(name, "CPU", first, seconds, *cpu_oracle(name, cpu)))
        if gpus:
            with tf.device(gpus[0].name):
                gpu, first, seconds = timed(fn, args.repeats)
            rows.append(Row(name, "GPU", first, seconds, *device_difference(name, gpu, cpu)))
        row = rows[-1]
        print(f"  {name} ({row.device}): {row.seconds:.3f} s, {'PASS' if row.passed else 'FAIL'}", flush=True)
    print_table(rows)
    print(f"total {time.perf_counter() - start:.0f} s")
    return 0 if all(r.passed for r in rows) else 1


def print_table(rows):
    cpu_seconds = {r.path: r.seconds for r in rows if r.device == "CPU"}
    header = (
        f"| {'path':<20} | device | first call s | median s | GPU/CPU speedup | check | difference | result |"
    )
    print()
    print(header)
    print("|" + "|".join("-" * (len(part)) for part in header.split("|")[1:-1]) + "|")
    for r in rows:
        speedup = f"{cpu_seconds[r.path] / r.seconds:.1f}x" if r.device == "GPU" else "-"
        print(
            f"| {r.path:<20} | {r.device:<6} | {r.first_seconds:11.3f} | {r.seconds:8.3f} | {speedup:>15} "
            f"| {r.check} | {r.difference:.1e} | {'PASS' if r.passed else 'FAIL'} |"
        )


if __name__ == "__main__":
    raise SystemExit(main())
