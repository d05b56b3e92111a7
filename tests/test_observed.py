"""Observed escapes of real Keras training from a minimum's basin (tfescape.observed)."""

import keras
import numpy as np
import pytest
import tensorflow as tf

from tfescape import sde, stable
from tfescape.observed import MinimumBasin, array_batches, observe_escape


@keras.saving.register_keras_serializable(package="tfescape_tests")
class Quadratic(keras.layers.Layer):
    """Per-example loss 1/2 w^T H w - xi^T w: its minibatch gradient is H w - mean(xi), minimum at w = 0."""

    def __init__(self, h, **kwargs):
        super().__init__(**kwargs)
        self.h = np.asarray(h, "float64")

    def build(self, shape):
        self.w = self.add_weight(shape=(self.h.size,), initializer="zeros", dtype="float64")

    def call(self, xi):
        h = keras.ops.convert_to_tensor(self.h, dtype=self.w.dtype)
        return 0.5 * keras.ops.sum(h * self.w * self.w) - keras.ops.matmul(
            keras.ops.cast(xi, self.w.dtype), self.w
        )

    def compute_output_shape(self, shape):
        return (shape[0],)

    def get_config(self):
        return {**super().get_config(), "h": self.h.tolist()}


H = np.array([4.0, 1.0])


def _quadratic_model():
    model = keras.Sequential([Quadratic(H, dtype="float64")])
    model.build((None, 2))
    return model


def _mean_loss(y_true, y_pred):
    return tf.reduce_mean(y_pred)


def _injected_sas(alpha, scale, batch, seed):
    """Minibatches of iid SaS(alpha, scale) noise, a pure function of (seed, replica, step)."""

    def batches(replica, first_step, num_steps):
        key = tf.constant([seed * 7919 + replica, first_step], tf.int32)
        xi = scale * stable.symmetric_stable_sample([num_steps, batch, 2], alpha, seed=key, dtype=tf.float64)
        return np.asarray(xi), np.zeros((num_steps, batch))

    return batches


def _observe(alpha, scale, *, height=0.5, replicas=32, max_steps=400, optimizer=None, seed=0):
    model = _quadratic_model()
    basin = MinimumBasin.of(model, H, np.eye(2), height=height)
    return observe_escape(
        model,
        _mean_loss,
        _injected_sas(alpha, scale, 16, seed),
        optimizer=optimizer or keras.optimizers.SGD(0.01),
        basin=basin,
        num_replicas=replicas,
        batch_size=16,
        max_steps=max_steps,
        chunk_steps=50,
        group_size=16,
        loss_every=10**6,
        eval_examples=16,
        seed=seed,
    )


@pytest.mark.slow
def test_sgd_on_a_quadratic_with_injected_sas_noise_escapes_as_the_exit_law_predicts():
    alpha, batch, lr = 1.2, 16, 0.01
    # Noise scale chosen so that the exit law predicts 600 iterations (the law scales as scale^-alpha).
    unit = sde.predict_optimizer_escape(
        alpha=alpha, noise_scale=batch ** (1 / alpha - 1), hessian=H, height=0.5, learning_rate=lr
    ).iterations
    scale = (unit / 600.0) ** (1 / alpha)
    seen = _observe(alpha, scale, replicas=48, max_steps=3000)
    assert seen.escaped_fraction > 0.9
    # 48 replicas: the mean's standard error is ~15%. The law is an eps -> 0 asymptotic: observed / predicted
    # was measured at 0.79 (alpha 1.2, 150 predicted iterations) and 1.2 (alpha 1.5, 2600 iterations, 32
    # replicas); a factor 1.6 either way flags real breakage.
    assert 600 / 1.6 < seen.mean.value < 600 * 1.6, seen.mean


def test_same_seed_same_exits_and_a_tiny_basin_is_left_at_once():
    first = _observe(1.5, 1.0, replicas=4, max_steps=50, seed=3)
    again = _observe(1.5, 1.0, replicas=4, max_steps=50, seed=3)
    np.testing.assert_array_equal(first.exit_steps, again.exit_steps)
    tiny = _observe(1.5, 1.0, height=1e-12, replicas=4, max_steps=5)
    assert tiny.escaped.all() and (tiny.exit_steps == 1).all()
    huge = _observe(1.5, 1e-6, height=1e6, replicas=3, max_steps=20)
    assert not huge.escaped.any() and (huge.exit_steps == 20).all() and huge.mean.low >= 20


def test_array_batches_are_stateless_permutations_per_replica_and_epoch():
    x, y = np.arange(10.0)[:, None], np.arange(10)
    batches = array_batches(x, y, batch_size=5, seed=0)
    xb, yb = batches(0, 0, 4)  # two epochs of two batches
    assert sorted(yb[:2].ravel()) == list(range(10)) and sorted(yb[2:].ravel()) == list(range(10))
    assert not np.array_equal(yb[:2], yb[2:])
    np.testing.assert_array_equal(array_batches(x, y, batch_size=5, seed=0)(0, 0, 4)[1], yb)
    assert not np.array_equal(batches(1, 0, 2)[1], yb[:2])


@pytest.mark.parametrize(
    "kwargs, match",
    [
        (dict(num_replicas=1), "num_replicas must be an integer >= 2"),
        (dict(max_steps=0), "max_steps must be an integer >= 1"),
        (dict(batch_size=0), "batch_size"),
    ],
)
def test_bad_settings_get_a_clear_error(kwargs, match):
    model = _quadratic_model()
    basin = MinimumBasin.of(model, H, np.eye(2), height=0.5)
    x, y = np.zeros((64, 2)), np.zeros(64)
    with pytest.raises(ValueError, match=match):
        observe_escape(model, _mean_loss, (x, y), optimizer=keras.optimizers.SGD(0.1), basin=basin, **kwargs)


def test_a_basin_without_positive_eigenvalues_is_refused():
    model = _quadratic_model()
    with pytest.raises(ValueError, match="not a minimum"):
        MinimumBasin.of(model, [-1.0, 0.0], np.eye(2), height=0.5)
    with pytest.raises(ValueError, match="height"):
        MinimumBasin.of(model, H, np.eye(2), height=0.0)
    with pytest.raises(ValueError, match="trainable parameters"):
        MinimumBasin.of(model, H, np.eye(3)[:, :2], height=0.5)


def _small_mlp():
    model = keras.Sequential(
        [
            keras.layers.Input((5,)),
            keras.layers.Dense(
                8, "tanh", kernel_initializer=keras.initializers.GlorotUniform(1), dtype="float64"
            ),
            keras.layers.BatchNormalization(dtype="float64"),
            keras.layers.Dense(3, kernel_initializer=keras.initializers.GlorotUniform(2), dtype="float64"),
        ]
    )
    x = np.random.default_rng(0).normal(size=(96, 5))  # float64: rounding stays far below the tolerances
    y = (x[:, 0] > 0).astype("int64") + (x[:, 1] > 0.5)
    return model, x, y


@pytest.mark.parametrize(
    "make_optimizer, height",
    [
        (lambda: keras.optimizers.SGD(0.5, momentum=0.9), 0.05),
        pytest.param(lambda: keras.optimizers.Adam(0.3, amsgrad=True), 1e-3, marks=pytest.mark.slow),
        pytest.param(lambda: keras.optimizers.AdamW(0.3, weight_decay=0.1), 1e-3, marks=pytest.mark.slow),
        pytest.param(
            lambda: keras.optimizers.RMSprop(0.1, momentum=0.5, centered=True), 0.05, marks=pytest.mark.slow
        ),
    ],
    ids=["momentum", "amsgrad", "adamw", "rmsprop"],
)
def test_stacked_replicas_take_the_same_steps_as_model_clones(make_optimizer, height):
    # The stacked engine (one optimizer on variables with a replica axis) against one model clone and one
    # optimizer per replica: same data orders, same exits, same final losses.
    model, x, y = _small_mlp()
    params = sum(int(np.prod(v.shape)) for v in model.trainable_variables)
    basin = MinimumBasin.of(model, [0.05, 0.1, 0.2], np.eye(params)[:, [0, 5, 40]], height=height)
    source = make_optimizer()
    source.build(model.trainable_variables)  # a trained optimizer's state is copied into every replica
    source.iterations.assign(7)
    for slot in source.variables[2:]:
        slot.assign(tf.fill(slot.shape, 0.01))
    loss = keras.losses.SparseCategoricalCrossentropy(from_logits=True)
    settings = dict(optimizer=source, basin=basin, num_replicas=5, batch_size=16, max_steps=60)
    settings.update(warmup_steps=3, loss_every=7, eval_examples=64, chunk_steps=9, group_size=3, seed=4)
    clones = observe_escape(model, loss, (x, y), engine="clones", **settings)
    stacked = observe_escape(model, loss, (x, y), engine="stacked", **settings)
    assert clones.escaped.any() or clones.loss_escaped.any()
    assert len(set(np.round(clones.final_loss, 6))) > 1  # the replicas differ: the check is not vacuous
    np.testing.assert_array_equal(stacked.exit_steps, clones.exit_steps)
    np.testing.assert_array_equal(stacked.loss_exit_steps, clones.loss_exit_steps)
    np.testing.assert_allclose(stacked.final_loss, clones.final_loss, rtol=1e-6)
    assert stacked.base_loss == pytest.approx(clones.base_loss, rel=1e-6)


def test_an_optimizer_that_couples_the_replicas_is_refused_by_the_stacked_engine():
    model = _quadratic_model()
    basin = MinimumBasin.of(model, H, np.eye(2), height=0.5)
    x, y = np.zeros((64, 2)), np.zeros(64)
    for optimizer, reason in [
        (keras.optimizers.SGD(0.1, clipnorm=1.0), "clipnorm"),
        (keras.optimizers.SGD(0.1, global_clipnorm=1.0), "global_clipnorm"),
        (keras.optimizers.Lamb(0.1), "Lamb is not one of the element-wise"),
    ]:
        with pytest.raises(ValueError, match=reason):
            observe_escape(model, _mean_loss, (x, y), optimizer=optimizer, basin=basin, engine="stacked")
    # "auto" steps such an optimizer with model clones instead.
    seen = observe_escape(
        model,
        _mean_loss,
        (x, y),
        optimizer=keras.optimizers.SGD(0.1, clipnorm=1.0),
        basin=basin,
        num_replicas=2,
        max_steps=3,
        engine="auto",
    )
    assert seen.num_replicas == 2
    with pytest.raises(ValueError, match="engine must be"):
        observe_escape(
            model, _mean_loss, (x, y), optimizer=keras.optimizers.SGD(0.1), basin=basin, engine="x"
        )
