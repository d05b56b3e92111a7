"""The core quantities of one small fixed problem, in one process or as one worker of a cluster.

``python _core_worker.py OUT_DIR`` with ``TF_CONFIG`` set runs under MultiWorkerMirroredStrategy and
writes ``OUT_DIR/worker<index>.npz``; :func:`compute` with ``strategy=None`` gives the single-process
values the test compares them with.

Data: 49 examples in batches of 16 (batches 16, 16, 16, 1: with two replicas the last one leaves one
replica an empty share). Training uses 48 examples (three even batches), see tfescape/_distribute.py
on Keras' loss scaling of uneven batches.

Faults: with ``TFESCAPE_TEST_DIE_AFTER=<seconds>``, after writing their results the workers compute full
gradients in a loop and worker 1 exits abruptly that many seconds into it (see
:func:`repeat_until_failure`). ``TFESCAPE_TEST_FAULT=exit`` or ``hang`` skips the core quantities; with
``hang`` worker 1 stays alive but stops joining collectives.
"""

from __future__ import annotations

import json
import os
import sys
import time

import numpy as np

NUM_EXAMPLES = 49
BATCH = 16
FEATURES, HIDDEN, CLASSES = 5, 8, 3


def arrays():
    rng = np.random.default_rng(20201)
    x = rng.normal(size=(NUM_EXAMPLES, FEATURES)).astype("float32")
    y = rng.integers(0, CLASSES, size=NUM_EXAMPLES).astype("int32")
    return x, y


def dataset(count=NUM_EXAMPLES):
    import tensorflow as tf

    x, y = arrays()
    return tf.data.Dataset.from_tensor_slices((x[:count], y[:count])).batch(BATCH)


def build_model():
    import keras

    def init(seed):
        return keras.initializers.GlorotUniform(seed=seed)

    return keras.Sequential(
        [
            keras.Input((FEATURES,)),
            keras.layers.Dense(
                HIDDEN, activation="tanh", kernel_initializer=init(1), bias_initializer="ones"
            ),
            keras.layers.Dense(CLASSES, kernel_initializer=init(2)),
        ]
    )


def loss_fn():
    import keras

    return keras.losses.SparseCategoricalCrossentropy(from_logits=True)


def _flat(tensors):
    return np.concatenate([np.ravel(np.asarray(t, dtype=np.float64)) for t in tensors])


def _timed(times, name, fn):
    start = time.perf_counter()
    value = fn()
    times[name] = time.perf_counter() - start
    print(f"{name}: {times[name]:.2f}s", flush=True)
    return value


def compute(strategy, samples_dir=None) -> tuple[dict, dict]:
    """All core quantities under ``strategy`` (None: one process).

    Returns (arrays, seconds per step); the second also holds ``samples_path``, where the noise probe
    saved its samples under ``samples_dir`` (None when it did not write).
    """
    import contextlib

    import keras

    from tfescape import hessian, noise
    from tfescape._distribute import keras_fit_context
    from tfescape.callbacks import GradientNoiseProbe
    from tfescape.optimizers import RecordingOptimizer

    def scope():
        return strategy.scope() if strategy is not None else contextlib.nullcontext()

    with scope():
        model = build_model()
    data, loss, out, times = dataset(), loss_fn(), {}, {}

    full = _timed(
        times, "full_gradient", lambda: noise.full_gradient(model, data, loss=loss, strategy=strategy)
    )
    out["full_gradient"] = _flat(full.gradients)
    out["full_loss"] = np.float64(full.loss)
    out["num_examples"] = np.int64(full.num_examples)

    def noise_moments():
        stats = noise.NoiseStatistics()
        for sample in noise.gradient_noise(
            model, data, full=full, loss=loss, num_batches=6, strategy=strategy
        ):
            stats.update(sample.noise)
        return stats.result()

    moments = _timed(times, "noise_statistics", noise_moments)
    out["noise_mean"], out["noise_variance"] = _flat(moments.mean), _flat(moments.variance)

    probe = GradientNoiseProbe(
        data, at_steps=(0,), num_batches=12, loss=loss, smoothed_beta_1=0.9, seed=3, samples_dir=samples_dir
    )
    probe.set_model(model)
    record = _timed(times, "noise_probe", probe.measure)
    times["samples_path"] = record.samples_path
    out["alpha"] = np.float64(record.global_noise.alpha)
    out["alpha_ci"] = np.array([record.global_noise.ci_low, record.global_noise.ci_high])
    out["smoothed_alpha"] = np.float64(record.smoothed_global.alpha)
    out["probe_variance_mean"] = np.float64(record.global_noise.variance_mean)

    options = {"strategy": strategy} if strategy is not None else {}
    top = _timed(
        times, "top_eigenvalue", lambda: hessian.top_eigenvalues(model, loss, data, k=1, seed=5, **options)
    )
    out["top_eigenvalue"] = np.float64(top.eigenvalues[0])
    tr = _timed(times, "trace", lambda: hessian.trace(model, loss, data, seed=7, num_probes=12, **options))
    out["trace"] = np.float64(tr.estimate)
    diag = _timed(
        times, "diagonal", lambda: hessian.diagonal(model, loss, data, seed=9, num_probes=4, **options)
    )
    out["diagonal"] = np.asarray(diag.diagonal, dtype=np.float64)
    density = _timed(
        times,
        "density",
        lambda: hessian.spectral_density(
            model, loss, data, num_random_starts=1, num_iters=8, num_grid=50, seed=11, **options
        ),
    )
    out["density_nodes"] = np.ravel(np.asarray(density.nodes, dtype=np.float64))
    op = hessian.HessianOperator(model, loss, data, **options)
    value, gradient = op.loss_and_gradient()
    out["operator_loss"], out["operator_gradient"] = np.float64(value), gradient

    with scope():
        trained = build_model()
        optimizer = RecordingOptimizer(keras.optimizers.Adam(0.05), record_every=1)
        trained.compile(optimizer=optimizer, loss=loss_fn())
    with keras_fit_context(trained, strategy):
        _timed(times, "fit", lambda: trained.fit(dataset(48), epochs=2, verbose=0, shuffle=False))
    snap = optimizer.snapshot()
    out["fit_weights"] = _flat(keras.ops.convert_to_numpy(v) for v in trained.trainable_variables)
    out["fit_recorded_step"] = np.int64(snap.step)
    out["fit_recorded_gradient"] = _flat(snap.gradients)
    out["fit_recorded_second_moment"] = _flat(snap.second_moments)
    out["fit_recorded_update"] = _flat(snap.updates)
    return out, times


def repeat_until_failure(strategy, out_dir, *, die_after: float, limit: float = 150.0):
    """Full gradients in a loop; worker 1 exits abruptly ``die_after`` seconds into it.

    Worker 1 writes ``died.json`` (its wall-clock time of death) first; a worker whose loop raises
    writes ``failure<index>.json`` (error type, message, wall-clock time) and returns.
    """
    import tensorflow as tf

    from tfescape import noise

    with strategy.scope():
        model = build_model()
    data, loss = dataset(), loss_fn()
    task = json.loads(os.environ["TF_CONFIG"])["task"]
    noise.full_gradient(model, data, loss=loss, strategy=strategy)  # compiled and warm on all workers
    start = time.monotonic()
    try:
        while time.monotonic() - start < limit:
            if task["index"] == 1 and time.monotonic() - start > die_after:
                _write_json(os.path.join(out_dir, "died.json"), {"time": time.time()})
                if os.environ.get("TFESCAPE_TEST_FAULT") == "hang":
                    time.sleep(45.0)  # alive (heartbeats go on) but never joins the next collective
                os._exit(17)
            noise.full_gradient(model, data, loss=loss, strategy=strategy)
    except tf.errors.OpError as error:
        failure = {"type": type(error).__name__, "message": str(error), "time": time.time()}
        _write_json(os.path.join(out_dir, f"failure{task['index']}.json"), failure)
        print(f"FAILED {type(error).__name__}: {error}", flush=True)


def _write_json(path, value):
    with open(path + ".tmp", "w") as handle:
        json.dump(value, handle)
    os.replace(path + ".tmp", path)


def main(out_dir):
    from tfescape._distribute import multiworker_strategy

    task = json.loads(os.environ["TF_CONFIG"])["task"]
    timeout = float(os.environ.get("TFESCAPE_TEST_COLLECTIVE_TIMEOUT", "120"))
    strategy = multiworker_strategy(timeout_seconds=timeout)
    if not os.environ.get("TFESCAPE_TEST_FAULT"):
        out, times = compute(strategy, samples_dir=os.path.join(out_dir, "samples"))
        np.savez(os.path.join(out_dir, f"worker{task['index']}.npz"), **out)
        _write_json(os.path.join(out_dir, f"times{task['index']}.json"), times)
    die_after = os.environ.get("TFESCAPE_TEST_DIE_AFTER")
    if die_after:
        repeat_until_failure(strategy, out_dir, die_after=float(die_after))


if __name__ == "__main__":
    main(sys.argv[1])
