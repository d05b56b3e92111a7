"""RecordingOptimizer: records equal a hand-written NumPy optimizer fed the recorded gradients.

The oracles below are written from the published update rules (Kingma & Ba for Adam and Adamax,
Loshchilov & Hutter for decoupled weight decay as Keras applies it, Dozat for Nadam as Keras schedules
its momentum, Tieleman & Hinton for RMSprop, Duchi et al. for Adagrad, heavy-ball SGD in Keras' sign
convention), in float64, independent of tfescape's readers.
"""

import contextlib

import keras
import numpy as np
import pytest
import tensorflow as tf

from tfescape.optimizers import SUPPORTED_OPTIMIZERS, RecordingOptimizer, StateSnapshot

RTOL = 1e-6  # acceptance tolerance (float64 runs reach ~1e-12)
BATCH = 8
STEPS = 5


def _data(dtype="float64", n=BATCH * STEPS, seed=0):
    rng = np.random.default_rng(seed)
    x = rng.normal(size=(n, 3)).astype(dtype)
    y = np.stack([np.sin(x[:, 0]) + x[:, 1] * x[:, 2], x[:, 0] - x[:, 2]], axis=1).astype(dtype)
    return x, y


def _model(seed=1):
    init = keras.initializers.GlorotUniform(seed=seed)
    return keras.Sequential(
        [
            keras.Input((3,)),
            keras.layers.Dense(4, activation="tanh", kernel_initializer=init, bias_initializer="ones"),
            keras.layers.Dense(2, kernel_initializer=keras.initializers.GlorotUniform(seed=seed + 1)),
        ]
    )


class _Snapshots(keras.callbacks.Callback):
    def __init__(self, optimizer):
        super().__init__()
        self.optimizer_ = optimizer
        self.snapshots = []

    def on_train_batch_end(self, batch, logs=None):
        self.snapshots.append(self.optimizer_.snapshot())


def _fit(
    inner,
    *,
    record_every=1,
    jit=False,
    eager=False,
    x=None,
    y=None,
    strategy=None,
    model=None,
    count_nonfinite="recorded",
):
    scope = strategy.scope() if strategy is not None else contextlib.nullcontext()
    with scope:
        if callable(inner) and not isinstance(inner, keras.optimizers.Optimizer):
            inner = inner()  # optimizers must be created in the strategy's scope
        model = model or _model()
        optimizer = RecordingOptimizer(inner, record_every=record_every, count_nonfinite=count_nonfinite)
        model.compile(optimizer=optimizer, loss="mse", jit_compile=jit, run_eagerly=eager)
    if x is None:
        x, y = _data()
    initial = [np.array(v.numpy()) for v in model.trainable_variables]
    recorder = _Snapshots(optimizer)
    model.fit(x, y, batch_size=BATCH, epochs=1, shuffle=False, verbose=0, callbacks=[recorder])
    return model, optimizer, initial, recorder.snapshots


# ---------------------------------------------------------------- NumPy oracles


def _oracle_step(name, params, state, g, theta, t):
    """One step of the named optimizer on one variable; returns (update, m, v, Q_paper, Q_keras)."""
    lr = params["learning_rate"]
    if name in ("adam", "adamw", "amsgrad"):
        b1, b2, eps = params["beta_1"], params["beta_2"], params["epsilon"]
        decay = -lr * params["weight_decay"] * theta if name == "adamw" else 0.0
        state["m"] = b1 * state.get("m", 0.0) + (1 - b1) * g
        state["v"] = b2 * state.get("v", 0.0) + (1 - b2) * g * g
        v = state["v"]
        if name == "amsgrad":
            state["vhat"] = np.maximum(state.get("vhat", 0.0), v)
            v = state["vhat"]
        m_hat = state["m"] / (1 - b1**t)
        q_paper = np.sqrt(v / (1 - b2**t)) + eps
        q_keras = (np.sqrt(v) + eps) / np.sqrt(1 - b2**t)
        # Keras' own form of the step, written out independently of q_keras:
        step = lr * np.sqrt(1 - b2**t) / (1 - b1**t) * state["m"] / (np.sqrt(v) + eps)
        np.testing.assert_allclose(step, lr * m_hat / q_keras, rtol=1e-12)
        return decay - step, state["m"], v, q_paper, q_keras
    if name == "nadam":
        b1, b2, eps = params["beta_1"], params["beta_2"], params["epsilon"]
        # Keras' momentum schedule: update_step rounds its 0.96 to float32 (ops.cast of a Python
        # float), the running product of u_t uses 0.96 exactly.
        d32 = float(np.float32(0.96))
        u_t, u_next = b1 * (1 - 0.5 * d32**t), b1 * (1 - 0.5 * d32 ** (t + 1))
        state["prod"] = state.get("prod", 1.0) * b1 * (1 - 0.5 * 0.96**t)
        state["m"] = b1 * state.get("m", 0.0) + (1 - b1) * g
        state["v"] = b2 * state.get("v", 0.0) + (1 - b2) * g * g
        m_hat = u_next * state["m"] / (1 - state["prod"] * u_next) + (1 - u_t) * g / (1 - state["prod"])
        q = np.sqrt(state["v"] / (1 - b2**t)) + eps
        return -lr * m_hat / q, state["m"], state["v"], q, q
    if name == "adamax":
        b1, b2, eps = params["beta_1"], params["beta_2"], params["epsilon"]
        state["m"] = b1 * state.get("m", 0.0) + (1 - b1) * g
        state["u"] = np.maximum(b2 * state.get("u", 0.0), np.abs(g))
        q = state["u"] + eps
        return -lr * state["m"] / (1 - b1**t) / q, state["m"], state["u"], q, q
    if name == "rmsprop":
        rho, eps = params["rho"], params["epsilon"]
        state["v"] = rho * state.get("v", 0.0) + (1 - rho) * g * g
        q = np.sqrt(state["v"] + eps)
        return -lr * g / q, None, state["v"], q, q
    if name == "adagrad":
        eps = params["epsilon"]
        state["acc"] = state.get("acc", params["initial_accumulator_value"]) + g * g
        q = np.sqrt(state["acc"] + eps)
        return -lr * g / q, None, state["acc"], q, q
    if name == "sgd_momentum":
        state["u"] = params["momentum"] * state.get("u", 0.0) - lr * g
        ones = np.ones_like(g)
        return state["u"], state["u"], None, ones, ones
    raise AssertionError(name)


def _inner(name):
    # Hyperparameters are dyadic (exact in float32): Keras turns Python-float hyperparameters such as
    # 1 - beta_1 into float32 constants before casting, so 0.9 would cost float64 runs ~1e-8 accuracy.
    common = {"learning_rate": 0.0625, "epsilon": 2.0**-10}
    if name == "adam":
        return keras.optimizers.Adam(beta_1=0.75, beta_2=0.9375, **common)
    if name == "adamw":
        return keras.optimizers.AdamW(weight_decay=0.125, beta_1=0.875, beta_2=0.9375, **common)
    if name == "amsgrad":
        return keras.optimizers.Adam(beta_1=0.875, beta_2=0.75, amsgrad=True, **common)
    if name == "nadam":
        return keras.optimizers.Nadam(beta_1=0.875, beta_2=0.9375, **common)
    if name == "adamax":
        return keras.optimizers.Adamax(beta_1=0.875, beta_2=0.9375, **common)
    if name == "rmsprop":
        return keras.optimizers.RMSprop(rho=0.875, learning_rate=2.0**-6, epsilon=2.0**-12)
    if name == "adagrad":
        return keras.optimizers.Adagrad(
            initial_accumulator_value=0.125, learning_rate=0.125, epsilon=2.0**-12
        )
    if name == "sgd_momentum":
        return keras.optimizers.SGD(learning_rate=0.125, momentum=0.875)
    raise AssertionError(name)


def _close(actual, expected, what):
    np.testing.assert_allclose(actual, expected, rtol=RTOL, atol=1e-13, err_msg=what)


def _check_against_oracle(name, optimizer, initial, snapshots):
    config = optimizer.inner_optimizer.get_config()
    assert [s.step for s in snapshots] == list(range(1, STEPS + 1))
    states = [{} for _ in initial]
    thetas = [w.astype(np.float64) for w in initial]
    for t, snap in enumerate(snapshots, start=1):
        assert snap.optimizer == name and snap.gradients_finite
        assert snap.learning_rate == pytest.approx(config["learning_rate"], rel=1e-12)
        for i, g in enumerate(snap.gradients):
            update, m, v, q_paper, q_keras = _oracle_step(name, config, states[i], g, thetas[i], t)
            thetas[i] = thetas[i] + update
            _close(snap.updates[i], update, f"{name} update, step {t}, variable {i}")
            _close(snap.preconditioner[i], q_paper, f"{name} Q, step {t}")
            _close(snap.effective_preconditioner[i], q_keras, f"{name} Keras Q, step {t}")
            _close(snap.effective_learning_rate[i], config["learning_rate"] / q_keras, f"{name} lr/Q")
            for recorded, want, label in ((snap.first_moments, m, "m"), (snap.second_moments, v, "v")):
                if want is None:
                    assert recorded is None
                else:
                    _close(recorded[i], want, f"{name} {label}, step {t}")
    return thetas


ALL = ["adam", "adamw", "amsgrad", "nadam", "adamax", "rmsprop", "adagrad", "sgd_momentum"]


@pytest.mark.parametrize("name", ALL)
def test_records_match_numpy_oracle_eager(float64, name):
    model, optimizer, initial, snapshots = _fit(_inner(name), eager=True)
    thetas = _check_against_oracle(name, optimizer, initial, snapshots)
    for theta, v in zip(thetas, model.trainable_variables, strict=True):
        _close(v.numpy(), theta, f"{name} final weights")


def _fit_xla_step(inner):
    """The same training as _fit, through a hand-written tf.function(jit_compile=True) step."""
    model, (x, y) = _model(), _data()
    optimizer = RecordingOptimizer(inner)
    optimizer.build(model.trainable_variables)
    initial = [np.array(v.numpy()) for v in model.trainable_variables]

    @tf.function(jit_compile=True)
    def step(xb, yb):
        with tf.GradientTape() as tape:
            loss = tf.reduce_mean(tf.square(model(xb) - yb))
        optimizer.apply(tape.gradient(loss, model.trainable_variables), model.trainable_variables)

    snapshots = []
    for start in range(0, len(x), BATCH):
        step(x[start : start + BATCH], y[start : start + BATCH])
        snapshots.append(optimizer.snapshot())
    return optimizer, initial, snapshots


def test_records_match_numpy_oracle_fit_jit_compile(float64):
    _, optimizer, initial, snapshots = _fit(_inner("adam"), jit=True)
    _check_against_oracle("adam", optimizer, initial, snapshots)


@pytest.mark.parametrize("name", ["adamw", "rmsprop", "sgd_momentum"])
def test_records_match_numpy_oracle_xla_step(float64, name):
    _check_against_oracle(name, *_fit_xla_step(_inner(name)))


def test_recorded_gradient_is_the_minibatch_gradient(float64):
    x, y = _data()
    model, _, _, snapshots = _fit(_inner("adam"), x=x, y=y, eager=True)
    # Reconstruct theta_{t-1} of the last step from the recorded update and differentiate there.
    last = snapshots[-1]
    for v, update in zip(model.trainable_variables, last.updates, strict=True):
        v.assign(v.numpy() - update)
    xb, yb = x[-BATCH:], y[-BATCH:]
    with tf.GradientTape() as tape:
        loss = keras.losses.mean_squared_error(yb, model(xb))
        loss = tf.reduce_mean(loss)
    grads = tape.gradient(loss, [v.value for v in model.trainable_variables])
    for g, recorded in zip(grads, last.gradients, strict=True):
        np.testing.assert_allclose(recorded, g.numpy(), rtol=1e-10, atol=1e-14)


def test_recording_does_not_change_training(float64):
    x, y = _data()
    plain = _model()
    plain.compile(optimizer=_inner("adam"), loss="mse", run_eagerly=True)
    plain.fit(x, y, batch_size=BATCH, epochs=1, shuffle=False, verbose=0)
    wrapped, *_ = _fit(_inner("adam"), record_every=2, x=x, y=y, eager=True)
    for a, b in zip(plain.trainable_variables, wrapped.trainable_variables, strict=True):
        np.testing.assert_array_equal(a.numpy(), b.numpy())


@pytest.mark.parametrize("mode", ["eager", "graph", "xla"])
def test_record_every_records_steps_one_plus_multiples(float64, mode):
    """Steps 1, 3, 5 recorded with record_every=2 hold what record_every=1 records at those steps."""
    options = {"eager": mode == "eager", "jit": mode == "xla"}
    _, optimizer, _, snapshots = _fit(_inner("adam"), record_every=2, **options)
    assert [s.step for s in snapshots] == [1, 1, 3, 3, 5]
    _, _, _, every = _fit(_inner("adam"), record_every=1, **options)
    for sparse, dense in zip(snapshots[::2], every[::2], strict=True):
        assert sparse.step == dense.step
        for name in ("gradients", "first_moments", "second_moments", "updates"):
            for a, b in zip(getattr(sparse, name), getattr(dense, name), strict=True):
                np.testing.assert_allclose(a, b, rtol=1e-12, atol=1e-300, err_msg=f"{name} {mode}")


def test_snapshot_shapes_names_and_sgd_defaults():
    model, optimizer, _, snapshots = _fit(keras.optimizers.SGD(0.01), x=_data("float32")[0], y=_data()[1])
    snap = snapshots[-1]
    assert isinstance(snap, StateSnapshot)
    assert snap.variable_names == tuple(v.path for v in model.trainable_variables)
    assert [g.shape for g in snap.gradients] == [tuple(v.shape) for v in model.trainable_variables]
    assert snap.first_moments is None and snap.second_moments is None
    assert all(np.all(q == 1) for q in snap.preconditioner)
    # The applied update is a float32 difference of weights: exact up to one rounding of the weights.
    weight_ulp = np.finfo(np.float32).eps * max(np.abs(w).max() for w in model.get_weights())
    np.testing.assert_allclose(
        np.concatenate([u.ravel() for u in snap.updates]),
        -0.01 * np.concatenate([g.ravel() for g in snap.gradients]),
        rtol=1e-5,
        atol=2 * weight_ulp,
    )
    summary = optimizer.summary()
    assert summary.global_stats.preconditioner_anisotropy == 1.0
    assert summary.global_stats.preconditioner_log_spread == 0.0
    assert summary.global_stats.effective_lr_median == pytest.approx(0.01, rel=1e-6)
    with pytest.raises(dataclasses_frozen_error()):
        snap.step = 3


def dataclasses_frozen_error():
    import dataclasses

    return dataclasses.FrozenInstanceError


def test_summary_matches_numpy_on_snapshot(float64):
    _, optimizer, _, _ = _fit(_inner("adam"), eager=True)
    snap, summary = optimizer.snapshot(), optimizer.summary()
    q = np.concatenate([a.ravel() for a in snap.effective_preconditioner])
    g = summary.global_stats
    assert g.size == q.size
    assert g.preconditioner_anisotropy == pytest.approx(q.max() / q.min(), rel=1e-12)
    assert g.preconditioner_median == pytest.approx(np.median(q), rel=1e-12)
    assert g.preconditioner_log_spread == pytest.approx(np.std(np.log10(q)), rel=1e-9)
    lr = snap.learning_rate / q
    assert (g.effective_lr_q05, g.effective_lr_q95) == pytest.approx(tuple(np.quantile(lr, [0.05, 0.95])))
    grads = np.concatenate([a.ravel() for a in snap.gradients])
    assert g.gradient_norm == pytest.approx(np.linalg.norm(grads), rel=1e-12)
    assert [s.name for s in summary.per_variable] == list(snap.variable_names)
    assert summary.per_variable[0].update_norm == pytest.approx(np.linalg.norm(snap.updates[0]), rel=1e-12)


# ---------------------------------------------------------------- errors, NaN


class _MyAdam(keras.optimizers.Adam):
    pass


@pytest.mark.parametrize(
    "inner",
    [keras.optimizers.Lion(), keras.optimizers.Adadelta(), keras.optimizers.Ftrl(), _MyAdam()],
    ids=["lion", "adadelta", "ftrl", "adam-subclass"],
)
def test_unsupported_optimizer_lists_supported_ones(inner):
    with pytest.raises(ValueError, match="supported optimizers are") as info:
        RecordingOptimizer(inner)
    for name in SUPPORTED_OPTIMIZERS:
        assert name in str(info.value)


def test_bad_arguments():
    with pytest.raises(ValueError, match="record_every"):
        RecordingOptimizer(keras.optimizers.Adam(), record_every=0)
    with pytest.raises(ValueError, match="count_nonfinite must be one of 'recorded', 'every_step'"):
        RecordingOptimizer(keras.optimizers.Adam(), count_nonfinite="always")
    with pytest.raises(ValueError, match="gradient_accumulation_steps"):
        RecordingOptimizer(keras.optimizers.Adam(gradient_accumulation_steps=2))
    with pytest.raises(ValueError, match="clipnorm"):
        RecordingOptimizer(keras.optimizers.Adam(), clipnorm=1.0)
    with pytest.raises(ValueError, match="not built"):
        RecordingOptimizer(keras.optimizers.Adam()).snapshot()


def test_nonfinite_gradients_are_counted_not_fatal():
    x, y = _data("float32")
    x[-1, 0] = np.nan  # only the last batch: exactly one non-finite step
    model, optimizer, _, snapshots = _fit(keras.optimizers.Adam(0.01), x=x, y=y)
    assert [s.nonfinite_steps for s in snapshots] == [0, 0, 0, 0, 1]
    assert snapshots[-2].gradients_finite and not snapshots[-1].gradients_finite
    assert int(optimizer.nonfinite_steps.numpy()) == 1
    summary = optimizer.summary()  # must not raise
    assert np.isfinite(summary.global_stats.gradient_norm) or np.isnan(summary.global_stats.gradient_norm)
    # Direct apply with an infinite gradient, eagerly.
    grads = [tf.fill(v.shape, np.inf) for v in model.trainable_variables]
    optimizer.apply(grads, model.trainable_variables)
    assert int(optimizer.nonfinite_steps.numpy()) == 2


@pytest.mark.parametrize("jit", [False, True], ids=["graph", "xla"])
def test_nonfinite_count_checks_recorded_steps_or_every_step(jit):
    """record_every=2 (steps 1, 3, 5 recorded); NaN gradients at steps 2 and 5, inf at step 6."""
    model = _model()
    bad = {2: np.nan, 5: np.nan, 6: np.inf}
    for mode, expected in (("recorded", [0, 0, 0, 0, 1, 1]), ("every_step", [0, 1, 1, 1, 2, 3])):
        optimizer = RecordingOptimizer(keras.optimizers.Adam(0.01), record_every=2, count_nonfinite=mode)
        optimizer.build(model.trainable_variables)
        step = tf.function(
            lambda grads, o=optimizer: o.apply(grads, model.trainable_variables), jit_compile=jit
        )
        counts, finite = [], []
        for t in range(1, 7):
            grads = [tf.fill(v.shape, tf.cast(bad.get(t, 0.5), v.dtype)) for v in model.trainable_variables]
            step(grads)
            snap = optimizer.snapshot()
            counts.append(snap.nonfinite_steps)
            finite.append(snap.gradients_finite)
        assert counts == expected, mode  # "recorded": steps 2 and 6 are not recorded, so not checked
        assert finite == [True, True, True, True, False, False]


def test_unrecorded_step_conditionals_stay_single_if_ops():
    """The two conditionals of a record_every > 1 step are If ops, not lowered switch/merge nodes."""
    model = _model()
    optimizer = RecordingOptimizer(keras.optimizers.Adam(0.01), record_every=3)
    optimizer.build(model.trainable_variables)
    grads = [tf.ones(v.shape, v.dtype) for v in model.trainable_variables]
    step = tf.function(lambda: optimizer.apply(grads, model.trainable_variables))
    graph = step.get_concrete_function().graph
    ifs = [op for op in graph.get_operations() if op.type in ("If", "StatelessIf")]
    assert len(ifs) == 2
    assert all(op.get_attr("_lower_using_switch_merge") is False for op in ifs)


@pytest.mark.parametrize("dtype", ["float32", "float64"])
def test_single_nonfinite_entries_in_large_gradients_are_found(dtype):
    """Large gradients are summed by a matrix product: one NaN or inf entry anywhere must show."""
    model = keras.Sequential([keras.Input((128,)), keras.layers.Dense(64, dtype=dtype)])
    kernel, bias = model.trainable_variables
    assert kernel.shape.num_elements() >= 4096  # the matrix-product path
    optimizer = RecordingOptimizer(keras.optimizers.SGD(1e-3), count_nonfinite="every_step")
    optimizer.build(model.trainable_variables)
    step = tf.function(lambda grads: optimizer.apply(grads, model.trainable_variables))
    rng = np.random.default_rng(0)
    cases = [[], [np.nan], [np.inf], [-np.inf], [np.inf, -np.inf], [3e38, 3e38]]
    expected = 0
    for bad in cases:
        for _ in range(3):  # random positions
            g = rng.normal(size=kernel.shape).astype(dtype)
            for value in bad:
                g[tuple(rng.integers(0, n) for n in kernel.shape)] = value
            step([tf.constant(g), tf.zeros(bias.shape, dtype)])
            overflow = dtype == "float32" and bad == [3e38, 3e38]  # finite entries, sum overflows
            expected += bool(bad) and (not all(np.isfinite(bad)) or overflow)
            assert int(optimizer.nonfinite_steps.numpy()) == expected, (bad, dtype)


# ---------------------------------------------------------------- serialization, resume


def test_get_config_round_trip():
    optimizer = RecordingOptimizer(keras.optimizers.RMSprop(0.02, rho=0.7), record_every=5, name="rec")
    clone = keras.optimizers.deserialize(keras.optimizers.serialize(optimizer))
    assert isinstance(clone, RecordingOptimizer)
    assert clone.record_every == 5 and clone.name == "rec"
    assert clone.count_nonfinite == "recorded"
    every = RecordingOptimizer(keras.optimizers.Adam(), count_nonfinite="every_step")
    assert keras.optimizers.deserialize(keras.optimizers.serialize(every)).count_nonfinite == "every_step"
    assert clone.inner_optimizer.get_config() == optimizer.inner_optimizer.get_config()
    assert float(clone.learning_rate.numpy()) == pytest.approx(0.02)


def test_keras_save_load_keeps_records_and_continues_identically(tmp_path):
    x, y = _data("float32")
    model, optimizer, _, _ = _fit(keras.optimizers.Adam(0.01), record_every=1, x=x, y=y, eager=True)
    path = tmp_path / "model.keras"
    model.save(path)
    loaded = keras.models.load_model(path)
    assert isinstance(loaded.optimizer, RecordingOptimizer)
    before, after = optimizer.snapshot(), loaded.optimizer.snapshot()
    assert after.step == before.step == STEPS
    for a, b in zip(before.second_moments, after.second_moments, strict=True):
        np.testing.assert_array_equal(a, b)
    for m in (model, loaded):
        m.fit(x[:16], y[:16], batch_size=BATCH, shuffle=False, verbose=0)
    for a, b in zip(optimizer.snapshot().updates, loaded.optimizer.snapshot().updates, strict=True):
        np.testing.assert_allclose(a, b, rtol=1e-6, atol=1e-9)


def test_checkpoint_resume_follows_uninterrupted_trajectory(float64, tmp_path):
    x, y = _data(n=BATCH * 6)
    full, full_opt, _, _ = _fit(_inner("adam"), x=x, y=y, eager=True)

    first, first_opt, _, _ = _fit(_inner("adam"), x=x[: BATCH * 3], y=y[: BATCH * 3], eager=True)
    path = tf.train.Checkpoint(model=first, optimizer=first_opt).save(str(tmp_path / "ckpt"))

    resumed = _model(seed=7)  # different initial weights: the checkpoint must overwrite them
    resumed_opt = RecordingOptimizer(_inner("adam"))
    resumed_opt.build(resumed.trainable_variables)
    tf.train.Checkpoint(model=resumed, optimizer=resumed_opt).restore(path).assert_existing_objects_matched()
    assert int(resumed_opt.iterations.numpy()) == 3
    resumed.compile(optimizer=resumed_opt, loss="mse", run_eagerly=True)
    resumed.fit(x[BATCH * 3 :], y[BATCH * 3 :], batch_size=BATCH, shuffle=False, verbose=0)

    for a, b in zip(full.trainable_variables, resumed.trainable_variables, strict=True):
        np.testing.assert_allclose(b.numpy(), a.numpy(), rtol=1e-12)
    want, got = full_opt.snapshot(), resumed_opt.snapshot()
    assert got.step == want.step == 6
    for field in ("gradients", "first_moments", "second_moments", "preconditioner", "updates"):
        for a, b in zip(getattr(want, field), getattr(got, field), strict=True):
            np.testing.assert_allclose(b, a, rtol=1e-10, atol=1e-15, err_msg=field)


# ---------------------------------------------------------------- tf.distribute


@pytest.mark.parametrize("record_every", [1, 2])
def test_mirrored_strategy_records_equal_single_device(float64, two_device_strategy, record_every):
    strategy = two_device_strategy
    x, y = _data(n=BATCH * 3)
    _, single, _, _ = _fit(_inner("adam"), x=x, y=y, eager=True, record_every=record_every)
    _, mirrored, _, _ = _fit(
        lambda: _inner("adam"), x=x, y=y, strategy=strategy, record_every=record_every
    )
    a, b = single.snapshot(), mirrored.snapshot()
    assert a.step == b.step == 3
    for field in ("gradients", "first_moments", "second_moments", "preconditioner", "updates"):
        for u, w in zip(getattr(a, field), getattr(b, field), strict=True):
            np.testing.assert_allclose(w, u, rtol=1e-10, atol=1e-15, err_msg=field)


def test_sparse_embedding_gradients_are_recorded_densely():
    model = keras.Sequential(
        [keras.Input((3,), dtype="int32"), keras.layers.Embedding(10, 2), keras.layers.Flatten()]
    )
    optimizer = RecordingOptimizer(keras.optimizers.Adam(0.1))
    model.compile(optimizer=optimizer, loss="mse", run_eagerly=True)
    x = np.array([[1, 2, 2], [3, 1, 1]], "int32")
    before = model.trainable_variables[0].numpy().copy()
    model.fit(x, np.zeros((2, 6), "float32"), batch_size=2, verbose=0)
    snap = optimizer.snapshot()
    gradient = snap.gradients[0]
    assert gradient.shape == (10, 2) and snap.gradients_finite
    assert np.all(gradient[[0, 4, 5, 6, 7, 8, 9]] == 0) and np.all(gradient[[1, 2, 3]] != 0)
    np.testing.assert_allclose(snap.updates[0], model.trainable_variables[0].numpy() - before, atol=1e-7)


@pytest.mark.parametrize("record_every", [1, 3])
def test_snapshot_before_the_first_step_is_zeros(record_every):
    model = keras.Sequential([keras.Input((3,)), keras.layers.Dense(2)])
    optimizer = RecordingOptimizer(keras.optimizers.Adam(0.1), record_every=record_every)
    optimizer.build(model.trainable_variables)
    snap = optimizer.snapshot()
    assert snap.step == 0
    for field in ("gradients", "first_moments", "second_moments", "updates"):
        for array in getattr(snap, field):
            np.testing.assert_array_equal(array, np.zeros_like(array), err_msg=field)
