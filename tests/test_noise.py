"""tfescape.noise: full vs minibatch gradients, noise streams, smoothed noise, distribution."""

import itertools

import keras
import numpy as np
import pytest
import tensorflow as tf

from tfescape import noise

N, BATCH = 50, 16  # an uneven last batch of 2 examples


def _problem(dropout=0.0, n=N):
    rng = np.random.default_rng(3)
    x = rng.normal(size=(n, 5))
    y = rng.integers(0, 3, n)
    layers = [
        keras.Input((5,)),
        keras.layers.Dense(6, activation="tanh", kernel_regularizer=keras.regularizers.L2(0.01)),
    ]
    if dropout:
        layers.append(keras.layers.Dropout(dropout, seed=1))
    model = keras.Sequential([*layers, keras.layers.Dense(3)])
    loss = keras.losses.SparseCategoricalCrossentropy(from_logits=True)
    return model, loss, x, y


def _dataset(x, y, batch=BATCH):
    return tf.data.Dataset.from_tensor_slices((x, y)).batch(batch)


def _tape_gradient(model, loss, x, y, training=False):
    with tf.GradientTape() as tape:
        value = loss(y, model(x, training=training)) + tf.add_n(model.losses)
    return [g.numpy() for g in tape.gradient(value, model.trainable_variables)], float(value)


def test_full_gradient_equals_one_big_batch_gradient(float64):
    model, loss, x, y = _problem()
    full = noise.full_gradient(model, _dataset(x, y), loss=loss)
    want, want_loss = _tape_gradient(model, loss, x, y)
    assert (full.num_examples, full.num_batches, full.training) == (N, 4, False)
    assert full.loss == pytest.approx(want_loss, rel=1e-12)
    for g, w in zip(full.gradients, want, strict=True):
        np.testing.assert_allclose(g.numpy(), w, rtol=1e-10, atol=1e-15)


def test_minibatch_gradients_of_a_partition_average_to_full_gradient(float64):
    model, loss, x, y = _problem()
    data, fn = _dataset(x, y), noise.batch_gradient_fn(model, loss=loss)  # one trace for all calls
    full = noise.full_gradient(model, data, gradient_fn=fn)
    batches = list(noise.minibatch_gradients(model, data, gradient_fn=fn))
    assert [b.num_examples for b in batches] == [16, 16, 16, 2]
    for i, full_g in enumerate(full.gradients):
        weighted = sum(b.num_examples * b.gradients[i].numpy() for b in batches) / N
        np.testing.assert_allclose(weighted, full_g.numpy(), rtol=1e-10, atol=1e-15)
    # Each minibatch gradient is that batch's own gradient (independent oracle).
    last, _ = _tape_gradient(model, loss, x[48:], y[48:])
    np.testing.assert_allclose(batches[-1].gradients[0].numpy(), last[0], rtol=1e-10)
    # ... so the batch-size-weighted noise sums to zero.
    samples = list(noise.gradient_noise(model, data, full=full, gradient_fn=fn))
    for i in range(len(full.gradients)):
        total = sum(s.num_examples * s.noise[i].numpy() for s in samples)
        np.testing.assert_allclose(total, 0.0, atol=1e-14)


def test_training_mode_is_explicit(float64):
    model, loss, x, y = _problem(dropout=0.5)
    data = _dataset(x, y)
    inference = noise.full_gradient(model, data, loss=loss, training=False)
    want, _ = _tape_gradient(model, loss, x, y, training=False)
    np.testing.assert_allclose(inference.gradients[0].numpy(), want[0], rtol=1e-10)
    training = noise.full_gradient(model, data, loss=loss, training=True)
    assert training.training and not np.allclose(training.gradients[0].numpy(), want[0])


def test_noise_is_streamed_from_an_endless_source(float64):
    model, loss, x, y = _problem()
    full = noise.full_gradient(model, _dataset(x, y), loss=loss)
    endless = _dataset(x, y).repeat()  # never ends: only a lazy stream can yield from it
    stream = noise.gradient_noise(model, endless, full=full, loss=loss)
    first = list(itertools.islice(stream, 5))
    assert [s.index for s in first] == [0, 1, 2, 3, 4]
    assert [s.noise[0].shape for s in first] == [(5, 6)] * 5


def test_num_batches_repeats_the_source(float64):
    model, loss, x, y = _problem()
    samples = list(noise.gradient_noise(model, _dataset(x, y), loss=loss, num_batches=6))
    assert [s.num_examples for s in samples] == [16, 16, 16, 2, 16, 16]
    np.testing.assert_allclose(samples[4].noise[1].numpy(), samples[0].noise[1].numpy(), rtol=1e-12)


def test_smoothed_noise_is_the_bias_corrected_ema_of_noise(float64):
    model, loss, x, y = _problem()
    data, beta, fn = _dataset(x, y), 0.7, noise.batch_gradient_fn(model, loss=loss)
    w = [s.noise[0].numpy() for s in noise.gradient_noise(model, data, gradient_fn=fn, num_batches=6)]
    u = [
        s.noise[0].numpy()
        for s in noise.smoothed_gradient_noise(model, data, beta_1=beta, gradient_fn=fn, num_batches=6)
    ]
    for k in range(1, 7):  # explicit weights c_kj = (1 - b) b^(k-j) / (1 - b^k)
        weights = [(1 - beta) * beta ** (k - j) / (1 - beta**k) for j in range(1, k + 1)]
        assert sum(weights) == pytest.approx(1.0)
        want = sum(c * w[j] for j, c in enumerate(weights))
        np.testing.assert_allclose(u[k - 1], want, rtol=1e-10, atol=1e-15)
    with pytest.raises(ValueError, match="beta_1"):
        next(noise.smoothed_gradient_noise(model, data, beta_1=1.0, loss=loss))


def test_noise_statistics_match_numpy():
    rng = np.random.default_rng(0)
    vectors = [(rng.normal(size=(3, 2)), rng.standard_cauchy(size=4)) for _ in range(30)]
    stats = noise.NoiseStatistics()
    for v in vectors:
        stats.update(v)
    result = stats.result()
    assert result.count == 30
    for i in range(2):
        stack = np.stack([v[i] for v in vectors])
        np.testing.assert_allclose(result.mean[i], stack.mean(axis=0), rtol=1e-12)
        np.testing.assert_allclose(result.variance[i], stack.var(axis=0, ddof=1), rtol=1e-10)
    with pytest.raises(ValueError, match="at least 2"):
        noise.NoiseStatistics().result()
    with pytest.raises(ValueError, match="shapes"):
        stats.update((np.zeros(2),))


def test_bad_inputs_raise_value_error():
    model, loss, x, y = _problem()
    with pytest.raises(ValueError, match="No loss"):
        noise.full_gradient(model, _dataset(x, y))
    with pytest.raises(ValueError, match=r"\(x, y\)"):
        noise.full_gradient(model, tf.data.Dataset.from_tensor_slices(x).batch(4), loss=loss)
    with pytest.raises(ValueError, match="tf.data.Dataset"):
        noise.full_gradient(model, (x, y), loss=loss)
    with pytest.raises(ValueError, match="no examples"):
        noise.full_gradient(model, _dataset(x, y).take(0), loss=loss)


def test_mirrored_strategy_all_reduces_to_the_single_device_gradient(float64, two_device_strategy):
    model, loss, x, y = _problem()
    data = _dataset(x, y)
    fn = noise.batch_gradient_fn(model, loss=loss)
    single = noise.full_gradient(model, data, gradient_fn=fn)
    single_noise = [
        s.noise[0].numpy() for s in noise.gradient_noise(model, data, full=single, gradient_fn=fn)
    ]
    strategy = two_device_strategy
    fn = noise.batch_gradient_fn(model, loss=loss, strategy=strategy)
    mirrored = noise.full_gradient(model, data, strategy=strategy, gradient_fn=fn)
    assert mirrored.num_examples == N
    for a, b in zip(single.gradients, mirrored.gradients, strict=True):
        np.testing.assert_allclose(b.numpy(), a.numpy(), rtol=1e-10, atol=1e-15)
    stream = noise.gradient_noise(model, data, full=mirrored, strategy=strategy, gradient_fn=fn)
    for a, b in zip(single_noise, [s.noise[0].numpy() for s in stream], strict=True):
        np.testing.assert_allclose(b, a, rtol=1e-9, atol=1e-14)


def test_full_gradient_in_one_call_equals_the_per_batch_sum(float64):
    # One device: the pass runs in one compiled call; it must equal summing the batch function's
    # outputs from Python, with max_batches taking a prefix of the batches.
    model, loss, x, y = _problem()
    dataset = _dataset(x, y)
    fn = noise.batch_gradient_fn(model, loss=loss)
    for max_batches in (None, 2):
        full = noise.full_gradient(model, dataset, gradient_fn=fn, max_batches=max_batches)
        sums = [fn(batch) for batch in dataset.take(-1 if max_batches is None else max_batches)]
        count = sum(int(c) for _, c, _ in sums)
        assert (full.num_examples, full.num_batches) == (count, len(sums))
        assert full.loss == pytest.approx(sum(float(s) for _, _, s in sums) / count, rel=1e-12)
        for i, g in enumerate(full.gradients):
            want = sum(grads[i].numpy() for grads, _, _ in sums) / count
            np.testing.assert_allclose(g.numpy(), want, rtol=1e-10, atol=1e-15)
