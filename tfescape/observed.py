"""Observed escapes: real optimizer steps restarted at a trained minimum, until they leave its basin.

The exit law (tfescape.sde.theory) predicts how long an optimizer stays in the basin of a minimum theta*.
This module measures it. From theta*, R independent replicas of the model take real Keras training steps
(the optimizer's own update rule, learning rate and state, real minibatches of the training data, each
replica with its own data order from a stateless seed) until they leave the basin, or until a step budget
(later exits are censored). The basin is the set the theory uses:

- the quadratic {1/2 d^T H d < h} in the span of the top Hessian eigenvectors V with eigenvalues lambda
  (d = theta - theta*, so 1/2 d^T H d is 1/2 sum_i lambda_i (v_i^T d)^2), checked after every step;
- as a second criterion, the training loss above F(theta*) + h, checked every ``loss_every`` steps on a
  fixed evaluation subset of the training data.

Optimizer state at the start: the optimizer given is copied into every replica with its state (a trained
model's own optimizer continues where its training stopped). ``warmup_steps`` first runs that many steps at
learning rate 0: the moment estimates (Adam's m and v, RMSprop's average) fill in at theta* without moving
the weights; use it at another optimizer's minimum, where the optimizer has no state of its own. (SGD's
momentum velocity is -lr g summed, so it stays at rest during such a warm-up.)

The replicas run together: a step of a group of replicas (``group_size`` model copies) is one compiled
TensorFlow function, traced once; larger R runs group after group through it, each group reset to theta*
and to the starting optimizer state.

Example:
    >>> basin = MinimumBasin.of(model, eigenvalues, eigenvectors, height=0.05)
    >>> seen = observe_escape(model, loss, (x, y), optimizer=model.optimizer, basin=basin,
    ...                       num_replicas=16, batch_size=32, max_steps=2000, seed=0)
    >>> seen.mean.value, seen.escaped_fraction
"""

from __future__ import annotations

import logging
import math
from collections.abc import Callable
from dataclasses import dataclass

import numpy as np

logger = logging.getLogger(__name__)

__all__ = ["MinimumBasin", "ObservedEscape", "observe_escape", "array_batches"]


@dataclass(frozen=True)
class MinimumBasin:
    """The basin of a trained minimum as the exit-law theory sees it.

    Attributes:
        weights: theta*, one array per trainable variable (model.trainable_variables order).
        eigenvalues: (k,) positive top Hessian eigenvalues.
        eigenvectors: (num_params, k) their orthonormal eigenvectors V (flat parameter order).
        height: h > 0, loss units above the minimum.
    """

    weights: tuple[np.ndarray, ...]
    eigenvalues: np.ndarray
    eigenvectors: np.ndarray
    height: float

    @classmethod
    def of(cls, model, eigenvalues, eigenvectors, *, height: float) -> MinimumBasin:
        """The basin around ``model``'s current weights; eigenpairs with lambda <= 0 are dropped.

        Raises:
            ValueError: no positive eigenvalue, shapes that do not match the model, or height <= 0.
        """
        import keras

        from tfescape.sde.reduced import positive_subspace

        lam, v = positive_subspace(eigenvalues, eigenvectors)
        weights = tuple(np.asarray(keras.ops.convert_to_numpy(w)) for w in model.trainable_variables)
        size = sum(w.size for w in weights)
        if v.shape[0] != size:
            raise ValueError(
                f"eigenvectors have {v.shape[0]} rows but the model has {size} trainable parameters."
            )
        height = float(height)
        if not (math.isfinite(height) and height > 0):
            raise ValueError(f"height must be finite and > 0 (loss units above the minimum), got {height}.")
        return cls(weights, lam, v, height)


@dataclass(frozen=True)
class ObservedEscape:
    """First exits of R replicas of real training from a minimum's basin, in iterations.

    Attributes:
        exit_steps: (R,) iterations until the quadratic criterion first held; ``max_steps`` where censored.
        escaped: (R,) whether the replica left (quadratic criterion) within the budget.
        loss_exit_steps: (R,) the same for the loss criterion (resolved to ``loss_every`` steps).
        loss_escaped: (R,) whether the loss criterion held within the budget.
        max_steps: the step budget.
        mean: censoring-aware mean exit step (quadratic criterion) with a 95% interval
            (tfescape.sde.ExitTimes.mean_estimate with dt = 1).
        loss_mean: the same for the loss criterion.
        base_loss: training loss at theta* on the evaluation subset.
        num_replicas, batch_size, learning_rate: settings.
        final_loss: (R,) evaluation loss of each replica at the end (NaN or inf flags divergence).
    """

    exit_steps: np.ndarray
    escaped: np.ndarray
    loss_exit_steps: np.ndarray
    loss_escaped: np.ndarray
    max_steps: int
    mean: object
    loss_mean: object
    base_loss: float
    num_replicas: int
    batch_size: int
    learning_rate: float
    final_loss: np.ndarray

    @property
    def escaped_fraction(self) -> float:
        """Share of replicas that left the quadratic basin within the budget."""
        return float(np.mean(self.escaped))


def array_batches(x, y, *, batch_size: int, seed) -> Callable:
    """Minibatches of in-memory data, a fresh stateless permutation per replica and epoch.

    Returns a function ``batches(replica, first_step, num_steps)`` giving x [num_steps, B, ...] and
    y [num_steps, B]; replica r's data order is a pure function of (seed, r): the same seed gives the
    same batches in any process. Each epoch is a permutation of the whole set; the last incomplete batch
    of an epoch is dropped (every step has exactly ``batch_size`` examples).
    """
    import tensorflow as tf

    from tfescape._seeds import sanitize_seed

    x, y = np.asarray(x), np.asarray(y)
    n = x.shape[0]
    if n != y.shape[0] or n < batch_size:
        raise ValueError(
            f"x and y need the same length >= batch_size={batch_size}, got {n} and {y.shape[0]}."
        )
    per_epoch = n // batch_size
    base = sanitize_seed(seed, salt="observe_escape_batches")

    def permutation(replica, epoch):
        key = tf.stack([base[0] + replica, base[1] + epoch])
        return np.asarray(tf.argsort(tf.random.stateless_uniform([n], seed=key)))

    cache = {}

    def batches(replica: int, first_step: int, num_steps: int):
        idx = np.empty((num_steps, batch_size), np.int64)
        for i in range(num_steps):
            epoch, position = divmod(first_step + i, per_epoch)
            if (replica, epoch) not in cache:
                if len(cache) > 64:
                    cache.clear()
                cache[(replica, epoch)] = permutation(replica, epoch)
            idx[i] = cache[(replica, epoch)][position * batch_size : (position + 1) * batch_size]
        return x[idx], y[idx]

    return batches


def observe_escape(
    model,
    loss,
    data,
    *,
    optimizer,
    basin: MinimumBasin,
    num_replicas: int = 16,
    batch_size: int = 32,
    max_steps: int = 2000,
    warmup_steps: int = 0,
    loss_every: int = 10,
    eval_examples: int = 512,
    chunk_steps: int = 25,
    group_size: int = 16,
    jit_compile: bool = False,
    training: bool = True,
    seed=0,
) -> ObservedEscape:
    """Restart real training of ``model`` at ``basin``'s minimum in R replicas and record their first exits.

    Args:
        model: a built Keras model of the architecture the basin belongs to (its weights are not changed).
        loss: the training loss (mean over the batch), e.g. SparseCategoricalCrossentropy(from_logits=True).
        data: (x, y) arrays of the training data, or a function ``batches(replica, first_step, num_steps)``
            as returned by :func:`array_batches` (e.g. one that injects synthetic noise); with a function the
            loss criterion is evaluated on its replica-0 batches of the first ``eval_examples`` examples.
        optimizer: the Keras optimizer to run (a RecordingOptimizer is unwrapped); copied with its state.
        basin: the basin (:class:`MinimumBasin`).
        num_replicas: R >= 2 independent replicas.
        batch_size: minibatch size.
        max_steps: step budget >= 1 per replica.
        warmup_steps: steps at learning rate 0 before the clock starts (fills the optimizer's moments).
        loss_every: check the loss criterion every this many steps.
        eval_examples: examples of the evaluation subset of the loss criterion.
        chunk_steps: steps per compiled call (results do not depend on it).
        group_size: replicas stepped together in one compiled call (each holds a copy of the model); groups
            run one after another through the same compiled step (results do not depend on it).
        jit_compile: compile the group step with XLA (faster for small models; every layer and the
            optimizer must support XLA).
        training: run the model in training mode (dropout, batch statistics) as training does.
        seed: seed of the replicas' data orders.

    Returns:
        ObservedEscape.

    Raises:
        ValueError: R < 2, a budget < 1, a basin that does not fit the model, or a non-finite loss at theta*.
    """
    import keras
    import tensorflow as tf

    num_replicas, max_steps = _at_least("num_replicas", num_replicas, 2), _at_least("max_steps", max_steps, 1)
    batch_size, loss_every = _at_least("batch_size", batch_size, 1), _at_least("loss_every", loss_every, 1)
    warmup_steps, chunk_steps = (
        _at_least("warmup_steps", warmup_steps, 0),
        _at_least("chunk_steps", chunk_steps, 1),
    )
    optimizer = getattr(optimizer, "inner_optimizer", optimizer)
    batches = data if callable(data) else array_batches(*data, batch_size=batch_size, seed=seed)
    if len(basin.weights) != len(model.trainable_variables):
        raise ValueError("the basin's weights do not match the model's trainable variables.")

    group = min(num_replicas, _at_least("group_size", group_size, 1))
    replicas = [_replica(model, optimizer, basin) for _ in range(group)]
    start_state = [np.asarray(keras.ops.convert_to_numpy(v)) for v in replicas[0][1].variables]
    lam = tf.constant(basin.eigenvalues, tf.float64)
    v = tf.constant(basin.eigenvectors, tf.float64)
    center = tf.constant(np.concatenate([w.ravel() for w in basin.weights]).astype(np.float64))
    ex, ey = _evaluation_subset(data, batches, eval_examples, batch_size)

    def one_step(r, xb, yb):
        m, opt = replicas[r]
        with tf.GradientTape() as tape:
            out = m(xb, training=training)
            value = loss(yb, out)
            if m.losses:
                value = value + tf.add_n(m.losses)
        grads = tape.gradient(value, m.trainable_variables)
        opt.apply(grads, m.trainable_variables)

    def quadratic_energy(r):
        m = replicas[r][0]
        flat = tf.concat([tf.reshape(tf.cast(w, tf.float64), [-1]) for w in m.trainable_variables], 0)
        proj = tf.linalg.matvec(v, flat - center, transpose_a=True)
        return 0.5 * tf.reduce_sum(lam * proj * proj)

    @tf.function(reduce_retracing=True, jit_compile=jit_compile)
    def run_chunk(xs, ys):
        energies = tf.TensorArray(tf.float64, size=tf.shape(xs)[1])
        for i in tf.range(tf.shape(xs)[1]):
            for r in range(group):
                one_step(r, xs[r, i], ys[r, i])
            energies = energies.write(i, tf.stack([quadratic_energy(r) for r in range(group)]))
        return energies.stack()  # [steps, group]

    @tf.function(reduce_retracing=True)
    def eval_losses():
        return tf.stack(
            [tf.cast(loss(ey, replicas[r][0](ex, training=False)), tf.float64) for r in range(group)]
        )

    base_loss = float(eval_losses()[0].numpy())
    if not math.isfinite(base_loss):
        raise ValueError(f"the training loss at the minimum is {base_loss}: not a minimum to escape from.")

    exit_steps = np.full(num_replicas, max_steps, np.int64)
    escaped = np.zeros(num_replicas, bool)
    loss_steps = np.full(num_replicas, max_steps, np.int64)
    loss_escaped = np.zeros(num_replicas, bool)
    final = np.full(num_replicas, np.nan)
    for first in range(0, num_replicas, group):
        ids = np.arange(first, first + group)  # the last group may run past R; its extra replicas are dropped
        for m, opt in replicas:
            _reset(m, opt, basin, start_state)

        def chunk(step, n, ids=ids):
            return run_chunk(*_stack(batches, ids, step, n)).numpy()

        step = _warm_up(replicas, chunk, warmup_steps, chunk_steps)
        keep = ids < num_replicas
        sel = ids[keep]
        done, next_loss_check = 0, loss_every
        while done < max_steps and not (escaped[sel].all() and loss_escaped[sel].all()):
            n = min(chunk_steps, max_steps - done, next_loss_check - done)
            outside = ~(chunk(step, n)[:, keep] < basin.height)  # NaN (diverged) counts as out of the basin
            step += n
            for j in np.flatnonzero(~escaped[sel] & outside.any(axis=0)):
                exit_steps[sel[j]] = done + 1 + int(np.argmax(outside[:, j]))
                escaped[sel[j]] = True
            done += n
            if done == next_loss_check or done == max_steps:
                final[sel] = eval_losses().numpy()[keep]
                above = ~(final[sel] <= base_loss + basin.height)  # NaN counts as out of the basin
                loss_steps[sel[above & ~loss_escaped[sel]]] = done
                loss_escaped[sel] |= above
                next_loss_check = done + loss_every
    learning_rate = float(keras.ops.convert_to_numpy(replicas[0][1].learning_rate))
    return ObservedEscape(
        exit_steps=exit_steps,
        escaped=escaped,
        loss_exit_steps=loss_steps,
        loss_escaped=loss_escaped,
        max_steps=max_steps,
        mean=_exit_statistics(exit_steps, escaped, max_steps).mean,
        loss_mean=_exit_statistics(loss_steps, loss_escaped, max_steps).mean,
        base_loss=base_loss,
        num_replicas=num_replicas,
        batch_size=batch_size,
        learning_rate=learning_rate,
        final_loss=final,
    )


def _exit_statistics(steps, escaped, max_steps):
    from tfescape.sde.exit_times import ExitTimes

    steps = np.asarray(steps, np.float64)
    return ExitTimes(
        steps, np.asarray(escaped, bool), np.full((steps.size, 1), np.nan), 1.0, float(max_steps)
    )


def _replica(model, optimizer, basin):
    """A copy of ``model`` at theta* with a copy of ``optimizer`` (configuration and state)."""
    import keras

    clone = keras.models.clone_model(model)
    if not clone.built:
        clone.build(model.inputs[0].shape if getattr(model, "inputs", None) else None)
    for variable, value in zip(clone.trainable_variables, basin.weights, strict=True):
        variable.assign(value)
    for variable, source in zip(clone.non_trainable_variables, model.non_trainable_variables, strict=True):
        variable.assign(source)
    opt = type(optimizer).from_config(optimizer.get_config())
    opt.build(clone.trainable_variables)
    if optimizer.built:
        if len(opt.variables) != len(optimizer.variables):
            raise ValueError(
                "the optimizer's state does not match the model (was it built on another model?)."
            )
        for target, source in zip(opt.variables, optimizer.variables, strict=True):
            target.assign(source)
    return clone, opt


def _reset(model, optimizer, basin, start_state):
    for variable, value in zip(model.trainable_variables, basin.weights, strict=True):
        variable.assign(value)
    for variable, value in zip(optimizer.variables, start_state, strict=True):
        variable.assign(value)


def _warm_up(replicas, chunk, warmup_steps, chunk_steps) -> int:
    """Run ``warmup_steps`` steps at learning rate 0 (the weights stay; the moments fill); returns them."""
    if not warmup_steps:
        return 0
    rates = [opt.learning_rate.numpy() for _, opt in replicas]
    for _, opt in replicas:
        opt.learning_rate.assign(0.0)
    step = 0
    while step < warmup_steps:
        n = min(chunk_steps, warmup_steps - step)
        chunk(step, n)
        step += n
    for (_, opt), rate in zip(replicas, rates, strict=True):
        opt.learning_rate.assign(rate)
    return step


def _stack(batches, ids, first_step, num_steps):
    parts = [batches(int(r), first_step, num_steps) for r in ids]
    return np.stack([p[0] for p in parts]), np.stack([p[1] for p in parts])


def _evaluation_subset(data, batches, eval_examples, batch_size):
    if callable(data):
        steps = max(1, eval_examples // batch_size)
        x, y = batches(0, 0, steps)
        return x.reshape(-1, *x.shape[2:]), y.reshape(-1, *y.shape[2:])
    x, y = data
    return np.asarray(x)[:eval_examples], np.asarray(y)[:eval_examples]


def _at_least(name, value, low):
    if isinstance(value, bool) or int(value) != value or value < low:
        raise ValueError(f"{name} must be an integer >= {low}, got {value!r}.")
    return int(value)
