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

The replicas run together. The default engine stacks every variable along a leading replica axis and runs
each replica's forward pass through ``model.stateless_call`` under ``tf.vectorized_map``; one Keras optimizer
on the stacked variables then takes every replica's step at once (exact for element-wise update rules: SGD,
momentum, Adam, AdamW, RMSprop, ...; see ``engine``). Many steps run in one compiled call, and the quadratic
criterion is evaluated inside it. A second engine keeps one model clone and one optimizer copy per replica
(any optimizer); both take the same steps for the same seed, up to floating-point rounding.

Validation (tests/test_observed.py): a Keras model whose loss is exactly quadratic, H = diag(4, 1), with
injected SaS minibatch noise, 2000 replicas, the exit law predicting 2000 iterations.
- Real SGD steps (eta = 0.1): observed / predicted 0.981 [0.934, 1.018] at alpha 1.2 and 0.997
  [0.952, 1.033] at alpha 1.6. The law is a small-noise limit: where the predicted exit comes within a few
  hundred steps of the minimum's relaxation time 1 / (eta lambda), exits come early (0.89 at alpha 1.6 and 300
  predicted steps; 0.79 at alpha 1.2, 150 predicted steps and a relaxation time of 100 steps).
- Real Adam steps against the fixed-Q discrete-Adam law (tfescape.sde.predict_optimizer_escape with beta_1):
  it applies where Q is set by epsilon, i.e. where neither the resting sqrt(v) nor the rise of sqrt(v) that an
  exit-sized jump causes is comparable to epsilon: 0.970 [0.930, 1.018] at alpha 1.2 and 0.961
  [0.915, 1.008] at alpha 1.5 (epsilon 1000, eta 50; 0.93 at alpha 1.6). Where sqrt(v) jumps matter,
  exits come later than the law says: 1.19 at epsilon = 10. At the epsilon floor (Keras' default epsilon)
  one big jump moves Adam at most ~31.8 eta whatever its size, so basins wider than that are not left by
  single jumps and the fixed-Q law (Q = the warmed sqrt(v)) fails: predicted 7179 iterations, 2% of
  replicas out after 35,894.

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

__all__ = ["MinimumBasin", "ObservedEscape", "observe_escape", "array_batches", "warmed_preconditioner"]


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
    loss_every: int | None = 10,
    eval_examples: int = 512,
    chunk_steps: int = 25,
    group_size: int | None = None,
    engine: str = "auto",
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
        loss_every: check the loss criterion every this many steps; None turns the loss criterion off (its
            exits are then all censored, and a group stops as soon as all its replicas left the quadratic).
        eval_examples: examples of the evaluation subset of the loss criterion.
        chunk_steps: steps per compiled call (results do not depend on it).
        group_size: replicas stepped together in one compiled call; groups run one after another through
            the same compiled step (exit steps do not depend on it; a group stops when all its replicas
            left by both criteria, so ``final_loss`` does). Default: 16 for the "clones" engine, up to 512
            for the "stacked" one.
        engine: how replicas are stepped together.
            "stacked": one copy of every variable with a leading replica axis [G, ...], each replica's
            forward pass through ``model.stateless_call`` under ``tf.vectorized_map``, the replicas' losses
            summed (each replica's gradient is then its own) and ONE Keras optimizer built on the stacked
            variables. For element-wise update rules (SGD with or without momentum, Adam, AdamW, Adamax,
            Nadam, AMSGrad, RMSprop, Adagrad, Adadelta, Ftrl, Lion) an update of the stacked variables is
            exactly G independent replica updates: every slot is element-wise and the bias corrections use
            the iteration count, which all replicas share. Optimizers that couple entries (clipnorm,
            global_clipnorm, LAMB's trust ratio, Adafactor, Muon, unknown subclasses) are refused.
            "clones": a model clone and an optimizer copy per replica of a group (any optimizer; slower).
            "auto": "stacked" where the optimizer allows it, else "clones".
            Both engines take the same steps for the same seed, up to floating-point rounding
            (tests/test_observed.py checks exits and final losses in float64).
        jit_compile: compile the group step with XLA (faster for small models; every layer and the
            optimizer must support XLA).
        training: run the model in training mode (dropout, batch statistics) as training does.
        seed: seed of the replicas' data orders (and of the stacked engine's per-replica dropout seeds).

    Returns:
        ObservedEscape.

    Raises:
        ValueError: R < 2, a budget < 1, a basin that does not fit the model, a non-finite loss at theta*,
            an unknown engine, or engine="stacked" with an optimizer whose update couples entries.
    """
    num_replicas, max_steps = _at_least("num_replicas", num_replicas, 2), _at_least("max_steps", max_steps, 1)
    batch_size = _at_least("batch_size", batch_size, 1)
    if loss_every is not None:
        loss_every = _at_least("loss_every", loss_every, 1)
    warmup_steps, chunk_steps = (
        _at_least("warmup_steps", warmup_steps, 0),
        _at_least("chunk_steps", chunk_steps, 1),
    )
    optimizer = getattr(optimizer, "inner_optimizer", optimizer)
    engine = _choose_engine(engine, optimizer)
    batches = data if callable(data) else array_batches(*data, batch_size=batch_size, seed=seed)
    if len(basin.weights) != len(model.trainable_variables):
        raise ValueError("the basin's weights do not match the model's trainable variables.")
    if group_size is None:
        group_size = 16 if engine == "clones" else 512
    group = min(num_replicas, _at_least("group_size", group_size, 1))
    ex, ey = _evaluation_subset(data, batches, eval_examples, batch_size)
    make = _CloneReplicas if engine == "clones" else _StackedReplicas
    settings = dict(group=group, training=training, jit_compile=jit_compile, eval_data=(ex, ey), seed=seed)
    replicas = make(model, optimizer, basin, loss, **settings)

    base_loss = float(replicas.eval_losses()[0])
    if not math.isfinite(base_loss):
        raise ValueError(f"the training loss at the minimum is {base_loss}: not a minimum to escape from.")

    exit_steps = np.full(num_replicas, max_steps, np.int64)
    escaped = np.zeros(num_replicas, bool)
    loss_steps = np.full(num_replicas, max_steps, np.int64)
    loss_escaped = np.zeros(num_replicas, bool)
    final = np.full(num_replicas, np.nan)
    never = max_steps + 1  # the next loss check when the loss criterion is off
    for first in range(0, num_replicas, group):
        ids = np.arange(first, first + group)  # the last group may run past R; its extra replicas are dropped
        replicas.reset()

        def chunk(step, n, ids=ids):
            return replicas.run_chunk(*_stack(batches, ids, step, n))

        step = _warm_up(replicas, chunk, warmup_steps, chunk_steps)
        keep = ids < num_replicas
        sel = ids[keep]
        done = 0
        next_loss_check = never if loss_every is None else loss_every

        def finished(sel=sel):
            return escaped[sel].all() and (loss_every is None or loss_escaped[sel].all())

        while done < max_steps and not finished():
            n = min(chunk_steps, max_steps - done, next_loss_check - done)
            outside = ~(chunk(step, n)[:, keep] < basin.height)  # NaN (diverged) counts as out of the basin
            step += n
            for j in np.flatnonzero(~escaped[sel] & outside.any(axis=0)):
                exit_steps[sel[j]] = done + 1 + int(np.argmax(outside[:, j]))
                escaped[sel[j]] = True
            done += n
            if done == next_loss_check or (loss_every is not None and done == max_steps):
                final[sel] = replicas.eval_losses()[keep]
                above = ~(final[sel] <= base_loss + basin.height)  # NaN counts as out of the basin
                loss_steps[sel[above & ~loss_escaped[sel]]] = done
                loss_escaped[sel] |= above
                next_loss_check = done + loss_every
        if loss_every is None:
            final[sel] = replicas.eval_losses()[keep]
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
        learning_rate=replicas.learning_rate(),
        final_loss=final,
    )


# Keras optimizers whose update of a variable is element-wise given the shared iteration count: an update of
# variables stacked along a replica axis is then one independent update per replica.
_ELEMENTWISE = ("SGD", "Adam", "AdamW", "Adamax", "Nadam", "RMSprop", "Adagrad", "Adadelta", "Ftrl", "Lion")


def _stacking_refusal(optimizer) -> str | None:
    """Why ``optimizer`` cannot step stacked replicas as one (None when it can)."""
    import keras

    kind = type(optimizer)
    if not any(kind is getattr(keras.optimizers, name, None) for name in _ELEMENTWISE):
        return (
            f"{kind.__name__} is not one of the element-wise Keras optimizers {', '.join(_ELEMENTWISE)} "
            "(its update may couple the replicas)"
        )
    for option in ("clipnorm", "global_clipnorm"):
        if getattr(optimizer, option, None) is not None:
            return f"{option} scales a gradient by its norm, which would mix the replicas' gradients"
    if getattr(optimizer, "_exclude_from_weight_decay", None):
        return "exclude_from_weight_decay(var_list=...) names variables of the original model"
    return None


def _choose_engine(engine, optimizer) -> str:
    if engine not in ("auto", "stacked", "clones"):
        raise ValueError(f"engine must be 'auto', 'stacked' or 'clones', got {engine!r}.")
    if engine == "clones":
        return engine
    refusal = _stacking_refusal(optimizer)
    if refusal is None:
        return "stacked"
    if engine == "stacked":
        raise ValueError(f"engine='stacked' cannot run this optimizer: {refusal}; use engine='clones'.")
    logger.info("observe_escape: clone engine, since %s.", refusal)
    return "clones"


class _Replicas:
    """What both engines share: a compiled chunk of steps and a compiled evaluation, read back to NumPy.

    A subclass sets ``_run_chunk(xs, ys)`` (the exit energies [steps, group]) and ``_eval()`` (the
    evaluation loss of every replica) in its constructor.
    """

    def run_chunk(self, xs, ys):
        return self._run_chunk(xs, ys).numpy()

    def eval_losses(self):
        return self._eval().numpy()


class _CloneReplicas(_Replicas):
    """A group of replicas as model clones with optimizer copies, stepped in one compiled function."""

    def __init__(self, model, optimizer, basin, loss, *, group, training, jit_compile, eval_data, seed):
        import keras
        import tensorflow as tf

        del seed  # clones draw their own dropout seeds
        self.basin, self.source = basin, model
        self.replicas = [_replica(model, optimizer, basin.weights) for _ in range(group)]
        self.start_state = [np.asarray(keras.ops.convert_to_numpy(v)) for v in self.replicas[0][1].variables]
        energy = _energy_function(basin)
        ex, ey = eval_data

        def one_step(r, xb, yb):
            m, opt = self.replicas[r]
            with tf.GradientTape() as tape:
                value = _add_model_losses(loss(yb, m(xb, training=training)), m.losses)
            grads = tape.gradient(value, m.trainable_variables)
            opt.apply(grads, m.trainable_variables)

        def energies():
            flat = [_flat(m.trainable_variables, batched=False) for m, _ in self.replicas]
            return energy(tf.stack(flat))

        @tf.function(reduce_retracing=True, jit_compile=jit_compile)
        def run_chunk(xs, ys):
            out = tf.TensorArray(tf.float64, size=tf.shape(xs)[1])
            for i in tf.range(tf.shape(xs)[1]):
                for r in range(group):
                    one_step(r, xs[r, i], ys[r, i])
                out = out.write(i, energies())
            return out.stack()  # [steps, group]

        @tf.function(reduce_retracing=True)
        def eval_losses():
            return tf.stack([tf.cast(loss(ey, m(ex, training=False)), tf.float64) for m, _ in self.replicas])

        self._run_chunk, self._eval = run_chunk, eval_losses

    def reset(self):
        for m, opt in self.replicas:
            _reset(m, opt, self.basin, self.start_state, self.source)

    def optimizers(self):
        return [opt for _, opt in self.replicas]

    def learning_rate(self) -> float:
        import keras

        return float(keras.ops.convert_to_numpy(self.replicas[0][1].learning_rate))


class _StackedReplicas(_Replicas):
    """A group of G replicas as variables stacked along a leading axis [G, ...] and one optimizer on them.

    The forward pass of each replica is ``model.stateless_call`` with its slice of the stacked variables,
    vectorized over the replica axis; the replicas' losses are summed, so the gradient of the sum with
    respect to a stacked variable holds each replica's own gradient in its slice. Non-trainable variables
    (batch-norm statistics, dropout seed states) are stacked too and carried per replica; replica r's
    dropout seed state is offset by r (and by ``seed``), so the replicas draw different masks.
    """

    def __init__(self, model, optimizer, basin, loss, *, group, training, jit_compile, eval_data, seed):
        import keras
        import tensorflow as tf

        self.basin, self.group = basin, group
        self.trainable = [
            keras.Variable(_tile(w, group), dtype=v.dtype, name=v.name, trainable=True)
            for v, w in zip(model.trainable_variables, basin.weights, strict=True)
        ]
        self.start_states = [_seed_offsets(v, group, seed) for v in model.non_trainable_variables]
        self.states = [
            keras.Variable(s, dtype=v.dtype, name=v.name, trainable=False)
            for v, s in zip(model.non_trainable_variables, self.start_states, strict=True)
        ]
        self.optimizer = type(optimizer).from_config(optimizer.get_config())
        self.optimizer.build(self.trainable)
        self.start_slots = _stacked_optimizer_state(self.optimizer, optimizer, group)
        energy = _energy_function(basin)
        ex, ey = (tf.constant(a) for a in eval_data)

        def replica_loss(args):
            weights, states, xb, yb = args
            out, new_states, losses = model.stateless_call(
                weights, states, xb, training=training, return_losses=True
            )
            return _add_model_losses(loss(yb, out), losses), new_states

        def replica_eval(args):
            weights, states = args
            out, _ = model.stateless_call(weights, states, ex, training=False)
            return tf.cast(loss(ey, out), tf.float64)

        def one_step(xb, yb):
            weights = [v.value for v in self.trainable]
            with tf.GradientTape() as tape:
                tape.watch(weights)
                values, new_states = tf.vectorized_map(
                    replica_loss,
                    (weights, [s.value for s in self.states], xb, yb),
                    fallback_to_while_loop=True,
                    warn=False,
                )
                # Separable: the gradient of the sum in replica r's slice is replica r's own gradient.
                total = tf.reduce_sum(values)
            self.optimizer.apply(tape.gradient(total, weights), self.trainable)
            for variable, value in zip(self.states, new_states, strict=True):
                variable.assign(value)

        @tf.function(reduce_retracing=True, jit_compile=jit_compile)
        def run_chunk(xs, ys):
            out = tf.TensorArray(tf.float64, size=tf.shape(xs)[1])
            for i in tf.range(tf.shape(xs)[1]):
                one_step(xs[:, i], ys[:, i])
                out = out.write(i, energy(_flat(self.trainable, batched=True)))
            return out.stack()  # [steps, group]

        @tf.function(reduce_retracing=True)
        def eval_losses():
            weights = [v.value for v in self.trainable]
            states = [s.value for s in self.states]
            return tf.vectorized_map(replica_eval, (weights, states), fallback_to_while_loop=True, warn=False)

        self._run_chunk, self._eval = run_chunk, eval_losses

    def reset(self):
        for variable, value in zip(self.trainable, self.basin.weights, strict=True):
            variable.assign(_tile(value, self.group))
        for variable, value in zip(self.states, self.start_states, strict=True):
            variable.assign(value)
        for variable, value in zip(self.optimizer.variables, self.start_slots, strict=True):
            variable.assign(value)

    def optimizers(self):
        return [self.optimizer]

    def learning_rate(self) -> float:
        import keras

        return float(keras.ops.convert_to_numpy(self.optimizer.learning_rate))


def _tile(value, group) -> np.ndarray:
    value = np.asarray(value)
    return np.broadcast_to(value, (group, *value.shape)).copy()


def _seed_offsets(variable, group, seed) -> np.ndarray:
    """A non-trainable variable stacked per replica; a dropout seed state gets a per-replica offset."""
    import keras

    value = _tile(keras.ops.convert_to_numpy(variable), group)
    if "seed_generator_state" in variable.name and value.shape[1:] == (2,):
        value[:, 0] += np.arange(group, dtype=value.dtype) + np.asarray(_seed_int(seed), value.dtype)
    return value


def _seed_int(seed) -> int:
    return 0 if seed is None else int(np.sum(np.atleast_1d(np.asarray(seed, np.int64))))


def _stacked_optimizer_state(stacked, source, group) -> list[np.ndarray]:
    """Starting values of ``stacked``'s variables: ``source``'s state, each slot repeated for every replica.

    A slot of the stacked optimizer has shape [G, *shape of the source slot]; scalars (the iteration count,
    the learning rate) keep their shape. An unbuilt source gives the stacked optimizer's fresh state.
    """
    import keras

    fresh = [np.asarray(keras.ops.convert_to_numpy(v)) for v in stacked.variables]
    if not source.built:
        return fresh
    if len(source.variables) != len(stacked.variables):
        raise ValueError("the optimizer's state does not match the model (was it built on another model?).")
    values = []
    for target, variable in zip(fresh, source.variables, strict=True):
        value = np.asarray(keras.ops.convert_to_numpy(variable))
        if value.shape == target.shape:
            values.append(value.astype(target.dtype))
        elif (group, *value.shape) == target.shape:
            values.append(_tile(value, group).astype(target.dtype))
        else:
            raise ValueError(
                f"the optimizer's state variable {variable.name} has shape {value.shape}, which does not "
                "match the model (was it built on another model?)."
            )
    return values


def _energy_function(basin):
    """1/2 sum_i lambda_i (v_i^T (theta - theta*))^2 of flat parameter rows [G, P] -> [G] (float64)."""
    import tensorflow as tf

    lam = tf.constant(basin.eigenvalues, tf.float64)
    v = tf.constant(basin.eigenvectors, tf.float64)
    center = tf.constant(np.concatenate([w.ravel() for w in basin.weights]).astype(np.float64))

    def energy(flat):
        proj = tf.matmul(flat - center, v)
        return 0.5 * tf.reduce_sum(lam * proj * proj, axis=-1)

    return energy


def _flat(variables, *, batched: bool):
    """Concatenated parameters: [P] of a model's variables, or [G, P] of stacked ones (float64)."""
    import tensorflow as tf

    if batched:
        rows = tf.shape(variables[0])[0]
        return tf.concat([tf.reshape(tf.cast(w, tf.float64), [rows, -1]) for w in variables], 1)
    return tf.concat([tf.reshape(tf.cast(w, tf.float64), [-1]) for w in variables], 0)


def _add_model_losses(value, losses):
    import tensorflow as tf

    if losses:
        value = value + tf.add_n([tf.cast(x, value.dtype) for x in losses])
    return value


def warmed_preconditioner(
    model, loss, data, *, optimizer, steps: int, batch_size: int = 32, training: bool = True, seed=0
) -> np.ndarray:
    """The diagonal preconditioner Q of ``optimizer`` at ``model``'s weights, as observe_escape starts it.

    A copy of ``optimizer`` (with its state, if built on ``model``) takes ``steps`` steps at learning rate 0
    on replica 0's minibatches of ``data`` (the warm-up of :func:`observe_escape`): the moments fill at the
    current weights, which do not move. Q is then read by the optimizer's state reader
    (tfescape.optimizers.state_reader; Adam: sqrt(v / (1 - b2^t)) + epsilon), e.g. for
    tfescape.sde.predict_optimizer_escape(preconditioner=Q, basis=V) at this minimum.

    Args:
        model: a built Keras model (not changed).
        loss: the training loss.
        data: (x, y) arrays, or a ``batches`` function as for :func:`observe_escape`.
        optimizer: a Keras optimizer of tfescape.optimizers.SUPPORTED_OPTIMIZERS.
        steps: learning-rate-0 steps (0 reads the copied state as it is).
        batch_size: minibatch size.
        training: run the model in training mode.
        seed: seed of the data order.

    Returns:
        float64 [num_params] flat Q (all ones for optimizers without a preconditioner, such as SGD).

    Raises:
        ValueError: steps < 0, or an optimizer without a state reader.
    """
    import keras
    import tensorflow as tf

    from tfescape.optimizers import state_reader

    steps = _at_least("steps", steps, 0)
    optimizer = getattr(optimizer, "inner_optimizer", optimizer)
    state_reader(optimizer)  # refuses an optimizer without a reader before any work
    weights = tuple(np.asarray(keras.ops.convert_to_numpy(w)) for w in model.trainable_variables)
    clone, opt = _replica(model, optimizer, weights)
    batches = data if callable(data) else array_batches(*data, batch_size=batch_size, seed=seed)

    @tf.function(reduce_retracing=True)
    def step(xb, yb):
        with tf.GradientTape() as tape:
            value = _add_model_losses(loss(yb, clone(xb, training=training)), clone.losses)
        opt.apply(tape.gradient(value, clone.trainable_variables), clone.trainable_variables)

    if steps:
        rate = opt.learning_rate.numpy()
        opt.learning_rate.assign(0.0)
        xs, ys = batches(0, 0, steps)
        for i in range(steps):
            step(xs[i], ys[i])
        opt.learning_rate.assign(rate)
    reader = state_reader(opt)
    t = max(1, int(keras.ops.convert_to_numpy(opt.iterations)))
    parts = []
    for i, w in enumerate(weights):
        state = reader.read(i, tf.float64)
        second = None if state.second_moment is None else state.second_moment.numpy()
        first = None if state.first_moment is None else state.first_moment.numpy()
        q, _ = reader.preconditioners(second, first, t)
        parts.append(np.ones(w.size) if q is None else np.broadcast_to(q, w.shape).ravel())
    return np.concatenate(parts).astype(np.float64)


def _exit_statistics(steps, escaped, max_steps):
    from tfescape.sde.exit_times import ExitTimes

    steps = np.asarray(steps, np.float64)
    return ExitTimes(
        steps, np.asarray(escaped, bool), np.full((steps.size, 1), np.nan), 1.0, float(max_steps)
    )


def _replica(model, optimizer, weights):
    """A copy of ``model`` at ``weights`` with a copy of ``optimizer`` (configuration and state)."""
    import keras

    clone = keras.models.clone_model(model)
    if not clone.built:
        clone.build(model.inputs[0].shape if getattr(model, "inputs", None) else None)
    for variable, value in zip(clone.trainable_variables, weights, strict=True):
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


def _reset(model, optimizer, basin, start_state, source):
    """Back to theta*, the source model's non-trainable state (batch-norm statistics) and the start state.

    Dropout seed states are left where they are: the next group draws fresh masks.
    """
    for variable, value in zip(model.trainable_variables, basin.weights, strict=True):
        variable.assign(value)
    for variable, value in zip(model.non_trainable_variables, source.non_trainable_variables, strict=True):
        if "seed_generator_state" not in variable.name:
            variable.assign(value)
    for variable, value in zip(optimizer.variables, start_state, strict=True):
        variable.assign(value)


def _warm_up(replicas, chunk, warmup_steps, chunk_steps) -> int:
    """Run ``warmup_steps`` steps at learning rate 0 (the weights stay; the moments fill); returns them."""
    if not warmup_steps:
        return 0
    optimizers = replicas.optimizers()
    rates = [opt.learning_rate.numpy() for opt in optimizers]
    for opt in optimizers:
        opt.learning_rate.assign(0.0)
    step = 0
    while step < warmup_steps:
        n = min(chunk_steps, warmup_steps - step)
        chunk(step, n)
        step += n
    for opt, rate in zip(optimizers, rates, strict=True):
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
