"""GradientNoiseProbe: known tail index recovered, records, TensorBoard events, .npz samples."""

import glob
import os

import keras
import numpy as np
import pytest
import tensorflow as tf

from tfescape.callbacks import GradientNoiseProbe, NoiseProbeRecord
from tfescape.noise import load_pool, pool_columns
from tfescape.stable import symmetric_stable_sample


def _linear_loss(y_true, y_pred):
    return y_pred[:, 0]  # loss theta . x_i: the gradient is x_i itself


def _stable_noise_problem(alpha, *, dim=256, batch=4, batches=100, seed=0):
    """A model whose minibatch gradient noise is exactly SaS(alpha).

    With loss(x_i) = theta . x_i the minibatch gradient is the batch mean of x_i. The probe's full
    dataset holds X and -X, so grad F = 0 exactly, and the noise batches come from X alone: each noise
    vector is minus a mean of iid SaS(alpha) rows, again SaS(alpha), independent across batches.
    """
    x = symmetric_stable_sample([batches * batch, dim], alpha, seed=seed).numpy().astype("float32")
    y = np.zeros((2 * len(x), 1), "float32")
    full = tf.data.Dataset.from_tensor_slices((np.concatenate([x, -x]), y)).batch(batch)
    minibatches = tf.data.Dataset.from_tensor_slices((x, y[: len(x)])).batch(batch)
    model = keras.Sequential([keras.Input((dim,)), keras.layers.Dense(1, use_bias=False)])
    model.compile(optimizer=keras.optimizers.SGD(0.0), loss=_linear_loss)
    return model, full, minibatches


@pytest.mark.parametrize("alpha", [1.2, 1.7])
def test_known_tail_index_is_recovered(alpha):
    model, full, minibatches = _stable_noise_problem(alpha)
    probe = GradientNoiseProbe(
        full,
        every_n_steps=None,
        at_steps=(0,),
        num_batches=100,
        noise_dataset=minibatches,
        loss=_linear_loss,
        smoothed_beta_1=0.9,
        seed=1,
    )
    probe.set_model(model)
    record = probe.measure()
    g = record.global_noise
    assert g.num_samples == 100 * 256 and g.num_coordinates == 256
    # Fixed seeds. The estimate's standard error here is ~0.03 and per-coordinate standardization
    # biases it down by up to ~0.04 at alpha = 1.2; errors on data seeds 0 and 1 for alpha in
    # {1.2, 1.5, 1.8} were <= 0.063, so the 0.1 tolerance fails for roughly 1 seed in 100.
    assert abs(g.alpha - alpha) < 0.1
    assert g.ci_low < g.alpha < g.ci_high and g.ci_high - g.ci_low < 0.3
    # One variable: the per-layer estimate is the global one.
    assert record.per_layer[0].alpha == pytest.approx(g.alpha)
    assert record.smoothed_global is not None and np.isfinite(record.smoothed_global.alpha)
    # diag(Sigma) of the noise: coordinates are iid, so the per-coordinate variances are comparable.
    assert g.variance_max > 0 and g.variance_median > 0


def test_gaussian_noise_gives_alpha_near_two():
    rng = np.random.default_rng(0)
    x = rng.normal(size=(400, 64)).astype("float32")
    y = np.zeros((400, 1), "float32")
    model = keras.Sequential([keras.Input((64,)), keras.layers.Dense(1, use_bias=False)])
    model.compile(optimizer="sgd", loss=_linear_loss)
    probe = GradientNoiseProbe(
        tf.data.Dataset.from_tensor_slices((x, y)).batch(4),
        at_steps=(0,),
        every_n_steps=None,
        num_batches=100,
    )
    probe.set_model(model)
    assert probe.measure().global_noise.alpha > 1.85  # finite variance: alpha = 2 (clipped estimate)


def test_standardized_pool_drops_dead_coordinates_and_zeros():
    values = np.array([[1.0, 0.0, 2.0], [-3.0, 0.0, 0.0], [2.0, 0.0, -4.0]])
    z = pool_columns(values).values
    # column 0 median |.| = 2, column 1 is dead, column 2 has median 2 and an exact zero
    np.testing.assert_allclose(sorted(z), sorted([0.5, -1.5, 1.0, 1.0, -2.0]))


def _events(log_dir):
    tags = {}
    for path in glob.glob(os.path.join(log_dir, "events.out.tfevents.*")):
        for event in tf.compat.v1.train.summary_iterator(path):
            for value in event.summary.value:
                tags.setdefault(value.tag, []).append((event.step, tf.make_ndarray(value.tensor)))
    return tags


def _classifier_and_data(seed):
    """A small compiled tanh classifier and 96 examples in batches of 16."""
    rng = np.random.default_rng(seed)
    x = rng.normal(size=(96, 6)).astype("float32")
    y = rng.integers(0, 3, 96)
    data = tf.data.Dataset.from_tensor_slices((x, y)).batch(16)
    model = keras.Sequential(
        [keras.Input((6,)), keras.layers.Dense(8, activation="tanh"), keras.layers.Dense(3)]
    )
    model.compile(
        optimizer=keras.optimizers.SGD(0.1), loss=keras.losses.SparseCategoricalCrossentropy(from_logits=True)
    )
    return model, data


def test_probe_during_fit_logs_tensorboard_and_samples(tmp_path):
    model, data = _classifier_and_data(1)
    probe = GradientNoiseProbe(
        data,
        every_n_steps=4,
        at_steps=(0,),
        num_batches=6,
        smoothed_beta_1=0.9,
        log_dir=str(tmp_path / "tb"),
        samples_dir=str(tmp_path / "samples"),
        max_coordinates=10,
        seed=3,
    )
    model.fit(data, epochs=2, verbose=0, callbacks=[probe])  # 12 steps: measured at 0, 4, 8, 12
    assert [r.step for r in probe.history] == [0, 4, 8, 12]
    record = probe.history[-1]
    assert isinstance(record, NoiseProbeRecord)
    assert [layer.name for layer in record.per_layer] == [v.path for v in model.trainable_variables]
    assert record.num_batches == 6 and record.batch_size == 16
    assert record.histogram_counts.shape == (41,) and record.histogram_edges.shape == (42,)
    assert record.histogram_counts.sum() == record.global_noise.num_samples
    with pytest.raises(AttributeError):
        record.step = 1

    tags = _events(str(tmp_path / "tb"))
    assert [s for s, _ in tags["noise/global/alpha"]] == [0, 4, 8, 12]
    logged = dict(tags["noise/global/alpha"])[12]
    assert float(logged) == pytest.approx(record.global_noise.alpha, rel=1e-6, nan_ok=True)
    assert "smoothed_noise/global/alpha" in tags and "noise/standardized" in tags
    assert tags["noise/standardized"][0][1].shape[1] == 3  # (left, right, count) rows

    files = sorted(glob.glob(str(tmp_path / "samples" / "*.npz")))
    assert [os.path.basename(f) for f in files] == [f"noise_step{s:08d}.npz" for s in (0, 4, 8, 12)]
    assert not glob.glob(str(tmp_path / "samples" / "*.tmp"))
    with np.load(files[-1]) as saved:
        kernel = [k for k in saved.files if k.startswith("noise_000")][0]
        assert saved[kernel].shape == (6, 10)  # batches x sampled coordinates (10 of 48)
        assert saved[kernel.replace("noise_", "indices_")].shape == (10,)
        assert int(saved[kernel.replace("noise_", "size_")]) == 48
        assert record.samples_path == files[-1]
    # The saved samples rebuild exactly the pool the global estimate and the histogram used.
    pool = load_pool(files[-1]).values
    assert pool.size == record.global_noise.num_samples == record.histogram_counts.sum()
    assert load_pool(files[-1], smoothed=True).values.size == record.smoothed_global.num_samples


def test_a_failing_measurement_does_not_stop_training(caplog):
    x = np.ones((8, 2), "float32")  # every minibatch gradient equal: the noise is exactly zero
    y = np.zeros((8, 1), "float32")
    data = tf.data.Dataset.from_tensor_slices((x, y)).batch(2)
    model = keras.Sequential([keras.Input((2,)), keras.layers.Dense(1, use_bias=False)])
    model.compile(optimizer=keras.optimizers.SGD(0.01), loss=_linear_loss)
    probe = GradientNoiseProbe(data, every_n_steps=2, num_batches=4)
    model.fit(data, epochs=1, verbose=0, callbacks=[probe])
    assert [r.step for r in probe.history] == [2, 4]
    assert np.isnan(probe.history[0].global_noise.alpha)
    assert "no tail index" in caplog.text


def test_bad_arguments():
    data = tf.data.Dataset.from_tensor_slices((np.zeros((4, 1)), np.zeros(4))).batch(2)
    with pytest.raises(ValueError, match="tf.data.Dataset"):
        GradientNoiseProbe([1, 2])
    with pytest.raises(ValueError, match="num_batches"):
        GradientNoiseProbe(data, num_batches=1)
    with pytest.raises(ValueError, match="never measures"):
        GradientNoiseProbe(data, every_n_steps=None)
    with pytest.raises(ValueError, match="smoothed_beta_1"):
        GradientNoiseProbe(data, smoothed_beta_1=1.0)


def test_mirrored_strategy_probe_equals_single_device(two_device_strategy):
    single, full, minibatches = _stable_noise_problem(1.5, dim=32, batches=20)
    strategy = two_device_strategy
    with strategy.scope():
        mirrored = keras.Sequential([keras.Input((32,)), keras.layers.Dense(1, use_bias=False)])
        mirrored.compile(optimizer=keras.optimizers.SGD(0.0), loss=_linear_loss)
    mirrored.set_weights(single.get_weights())
    records = []
    for model in (single, mirrored):
        probe = GradientNoiseProbe(
            full, at_steps=(0,), every_n_steps=None, num_batches=20, noise_dataset=minibatches, seed=4
        )
        probe.set_model(model)
        records.append(probe.measure())
    a, b = (r.global_noise for r in records)
    assert b.alpha == pytest.approx(a.alpha, rel=1e-5)
    assert b.variance_mean == pytest.approx(a.variance_mean, rel=1e-5)
    assert records[1].full_loss == pytest.approx(records[0].full_loss, rel=1e-5, abs=1e-6)


def test_raw_pooling_beside_the_standardized_one_estimates_from_the_saved_pools(tmp_path):
    from tfescape.stable import tail_index

    model, data = _classifier_and_data(5)
    probe = GradientNoiseProbe(
        data,
        every_n_steps=None,
        at_steps=(0,),
        num_batches=6,
        pooling=("standardized", "raw"),
        samples_dir=str(tmp_path),
        seed=3,
    )
    probe.set_model(model)
    record = probe.measure(0)
    assert [p.pooling for p in record.pools] == ["standardized", "raw"]
    assert record.global_noise == record.pool("standardized")
    raw = record.pool("raw")
    pool = load_pool(record.samples_path, pooling="raw")
    assert raw.num_samples == pool.values.size and raw.dropped_coordinates == pool.dropped_coordinates
    assert np.isfinite(raw.alpha) and 0 < raw.alpha <= 2
    # The estimate is the tail index of the saved raw pool (same values, same estimator and interval).
    redone = tail_index(pool.values, confidence=0.95, interval="asymptotic", seed=0)
    assert abs(float(redone.alpha) - raw.alpha) < 0.02
    probe_std = GradientNoiseProbe(data, every_n_steps=None, at_steps=(0,), num_batches=6, seed=3)
    probe_std.set_model(model)
    with pytest.raises(ValueError, match="no 'raw' pooling"):
        probe_std.measure(0).pool("raw")
    with pytest.raises(ValueError, match="pooling must be one of"):
        GradientNoiseProbe(data, every_n_steps=10, pooling="paper")
