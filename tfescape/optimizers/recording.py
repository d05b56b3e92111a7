"""RecordingOptimizer: a Keras optimizer wrapper that records what the optimizer sees and does.

Every ``record_every`` steps, inside the compiled train step, the wrapper stores into its own
non-trainable variables (one slot per trainable variable and quantity):

- the minibatch gradient g_t the optimizer received (all-reduced across replicas under
  tf.distribute, unscaled by the inner optimizer's ``loss_scale_factor``; before clipping);
- the optimizer state after the step: first moment m_t and second moment v_t (see
  :mod:`tfescape.optimizers.readers` for every family's definitions);
- the update actually applied, Delta theta_t = theta_t - theta_{t-1} (weight decay, constraints and
  momentum included), and the learning rate lr_t of that step.

The preconditioners, the paper's Q_t and (Adam family) Keras' effective Q'_t, and the effective
learning rate lr_t / Q'_t are functions of v_t, t and the hyperparameters; they are computed from the
recorded values when read (float64 math, returned in the variable's dtype), which keeps the train step
to four copies per variable. With ``record_every=1`` every step is recorded, so the recorded m_t and v_t
are always the wrapped optimizer's current state: they are read from it instead of copied, and the
update theta_t - theta_{t-1} is computed when read from the variable and its value before the step
(two copies per variable and step, no conditionals in the step).

It also counts steps whose gradients contain NaN or inf (``nonfinite_steps``, one summing pass over
the gradients of a checked step); those gradients reach the inner optimizer unchanged, exactly as
without the wrapper. By default the recorded steps are checked, so a step that is not recorded costs
only the test of its step number and two skipped conditionals (single If ops on one device);
``count_nonfinite="every_step"`` checks every step (one read of every gradient per step: about 2-4%
of a step of a 582k-parameter MLP at batch 64, benchmarks/README.md).

Steps are numbered like Keras' ``optimizer.iterations`` after the step: step t = 1 is the first update.
Step t is recorded when (t - 1) % record_every == 0, so step 1 is always recorded.

Read the records with :meth:`RecordingOptimizer.snapshot` (NumPy arrays aligned with
``model.trainable_variables``) or :meth:`RecordingOptimizer.summary` (scalars), or log them with
:class:`tfescape.callbacks.OptimizerStateLogger`.

Example:
    >>> import keras, tfescape
    >>> from tfescape.optimizers import RecordingOptimizer
    >>> from tfescape.callbacks import OptimizerStateLogger
    >>> train, _, info = tfescape.load_dataset("digits", batch_size=64, seed=0)
    >>> model = tfescape.build_model("mlp", input_shape=info.input_shape,
    ...                              num_classes=info.num_classes, width=64, depth=1)
    >>> optimizer = RecordingOptimizer(keras.optimizers.Adam(1e-3), record_every=10)
    >>> model.compile(optimizer=optimizer, jit_compile=True,
    ...               loss=keras.losses.SparseCategoricalCrossentropy(from_logits=True))
    >>> logger = OptimizerStateLogger("logs/adam", every_n_steps=10)
    >>> model.fit(train, epochs=2, verbose=0, callbacks=[logger])
    >>> snap = optimizer.snapshot()          # StateSnapshot of the latest recorded step (41)
    >>> snap.step, snap.preconditioner[0].shape == tuple(model.trainable_variables[0].shape)
    (41, True)
    >>> optimizer.summary().global_stats.preconditioner_anisotropy   # max Q' / min Q'
    # then: tensorboard --logdir logs   (pip install tensorboard to view)

References:
    Zhou, Feng, Ma, Xiong, Hoi, E. "Towards Theoretically Understanding Why SGD Generalizes Better
    Than Adam in Deep Learning." NeurIPS 2020.
"""

from __future__ import annotations

import logging
import math
import warnings
from dataclasses import dataclass, fields

import keras
import numpy as np
import tensorflow as tf
from keras.src.utils import tracking
from tensorflow.core.framework import attr_value_pb2

from tfescape import _checks
from tfescape.optimizers.readers import state_reader

logger = logging.getLogger(__name__)

__all__ = ["RecordingOptimizer", "StateSnapshot", "StateSummary", "VariableStats"]

_EFFECTIVE_LR_QUANTILES = (0.05, 0.5, 0.95)

COUNT_NONFINITE_MODES = ("recorded", "every_step")
"""Which steps ``RecordingOptimizer.nonfinite_steps`` checks (the ``count_nonfinite`` option)."""


@dataclass(frozen=True)
class StateSnapshot:
    """The state recorded at one optimizer step, per trainable variable.

    Every per-variable field is a tuple aligned with ``model.trainable_variables`` (same order, each
    array with that variable's shape and dtype), or None when the optimizer has no such state.

    Attributes:
        step: the optimizer step t these values belong to (1-based; 0 = nothing recorded yet).
        optimizer: family of the wrapped optimizer ("adam", "adamw", "amsgrad", "nadam", "adamax",
            "rmsprop", "adagrad", "sgd", "sgd_momentum").
        learning_rate: lr_t used at step t.
        variable_names: paths of the trainable variables.
        gradients: g_t, the minibatch gradient the optimizer received.
        first_moments: m_t after the step (SGD: Keras' velocity mu u - lr g), or None.
        second_moments: v_t after the step (AMSGrad: the running max; Adagrad: the sum of g^2), or None.
        preconditioner: the paper's Q_t (Adam: sqrt(v_t / (1 - beta_2^t)) + epsilon); ones for SGD.
        effective_preconditioner: Keras' exact Q'_t with update = -lr_t * d_t / Q'_t. Equal to
            ``preconditioner`` except for Adam/AdamW/AMSGrad, where
            Q'_t = (sqrt(v_t) + epsilon) / sqrt(1 - beta_2^t).
        effective_learning_rate: lr_t / Q'_t, the per-coordinate step size applied to the search
            direction d_t (bias-corrected m for the Adam family, g for RMSprop/Adagrad/SGD).
        updates: Delta theta_t = theta_t - theta_{t-1}, the update actually applied.
        nonfinite_steps: number of checked steps so far whose gradients contained NaN or inf: of the
            recorded steps (the default, ``count_nonfinite="recorded"``; there are
            ceil(t / record_every) of them after step t) or of every step (``"every_step"``).
        gradients_finite: whether the recorded gradients are all finite.
    """

    step: int
    optimizer: str
    learning_rate: float
    variable_names: tuple[str, ...]
    gradients: tuple[np.ndarray, ...]
    first_moments: tuple[np.ndarray, ...] | None
    second_moments: tuple[np.ndarray, ...] | None
    preconditioner: tuple[np.ndarray, ...]
    effective_preconditioner: tuple[np.ndarray, ...]
    effective_learning_rate: tuple[np.ndarray, ...]
    updates: tuple[np.ndarray, ...]
    nonfinite_steps: int
    gradients_finite: bool


@dataclass(frozen=True)
class VariableStats:
    """Scalar statistics of one variable's record (or of all variables together).

    Norms are Euclidean; Q is the effective preconditioner Q'_t (what Keras divides by). Statistics
    ignore non-finite entries; a quantity the optimizer lacks is NaN.

    Attributes:
        name: variable path, or "global".
        size: number of coordinates.
        gradient_norm, first_moment_norm, second_moment_norm, update_norm: norms of the records.
        preconditioner_min, preconditioner_median, preconditioner_max: of Q'_t.
        preconditioner_anisotropy: max Q / min Q (1 = isotropic, as SGD). Coordinates that never
            received a gradient (dead units) sit at the epsilon floor of Q and dominate this ratio;
            the log spread below is the robust measure.
        preconditioner_log_spread: standard deviation of log10 Q (0 = isotropic).
        effective_lr_q05, effective_lr_median, effective_lr_q95: quantiles of lr_t / Q'_t.
    """

    name: str
    size: int
    gradient_norm: float
    first_moment_norm: float
    second_moment_norm: float
    update_norm: float
    preconditioner_min: float
    preconditioner_median: float
    preconditioner_max: float
    preconditioner_anisotropy: float
    preconditioner_log_spread: float
    effective_lr_q05: float
    effective_lr_median: float
    effective_lr_q95: float

    def scalars(self) -> dict[str, float]:
        """The numeric fields as a {name: value} dict (for CSV and TensorBoard)."""
        return {f.name: float(getattr(self, f.name)) for f in fields(self) if f.name != "name"}


@dataclass(frozen=True)
class StateSummary:
    """Per-variable and global scalars of one recorded step.

    Attributes:
        step, optimizer, learning_rate, nonfinite_steps: as in StateSnapshot.
        global_stats: VariableStats over all coordinates of all variables.
        per_variable: VariableStats per trainable variable, in model.trainable_variables order.
    """

    step: int
    optimizer: str
    learning_rate: float
    nonfinite_steps: int
    global_stats: VariableStats
    per_variable: tuple[VariableStats, ...]


@keras.saving.register_keras_serializable(package="tfescape")
class RecordingOptimizer(keras.optimizers.Optimizer):
    """Wraps a Keras optimizer and records g_t, m_t, v_t, Q_t and the applied update every k steps.

    The wrapped optimizer does the training exactly as it would alone; the wrapper only copies values
    into its own non-trainable slot variables. It works in ``model.fit`` (eager, tf.function and
    ``jit_compile=True``), under tf.distribute.MirroredStrategy (recorded values are the all-reduced
    ones, equal to a single-device run's), with ``model.save(".keras")`` / ``keras.models.load_model``
    and with ``tf.train.Checkpoint``.

    Args:
        inner_optimizer: the optimizer to wrap; one of tfescape.optimizers.SUPPORTED_OPTIMIZERS.
        record_every: record step t when (t - 1) % record_every == 0 (steps 1, 1 + k, 1 + 2k, ...).
        count_nonfinite: which steps' gradients ``nonfinite_steps`` checks for NaN/inf: "recorded"
            (default; a step that is not recorded does no extra work) or "every_step" (an exact count
            over all steps, for one read of every gradient per step). Equal when record_every=1.
        name: optimizer name.

    Raises:
        ValueError: unsupported optimizer (the message lists the supported ones), record_every < 1,
            an unknown count_nonfinite, or base-optimizer options (clipnorm, weight_decay, ...)
            passed to the wrapper.

    Example:
        >>> optimizer = RecordingOptimizer(keras.optimizers.Adam(1e-3), record_every=10)
        >>> model.compile(optimizer=optimizer, loss=loss, jit_compile=True)
        >>> model.fit(x, y, epochs=1)
        >>> optimizer.snapshot().preconditioner      # tuple of arrays, one per trainable variable
        >>> optimizer.summary().global_stats.preconditioner_anisotropy
    """

    def __init__(
        self,
        inner_optimizer,
        *,
        record_every: int = 1,
        count_nonfinite: str = "recorded",
        name: str | None = None,
        **kwargs,
    ):
        if kwargs:
            raise ValueError(
                f"RecordingOptimizer takes no {', '.join(sorted(kwargs))}: set such options on the inner "
                "optimizer, which does the training."
            )
        if not isinstance(inner_optimizer, keras.optimizers.Optimizer):
            raise ValueError(
                f"inner_optimizer must be a keras.optimizers.Optimizer instance, got {inner_optimizer!r}."
            )
        if isinstance(record_every, bool) or not isinstance(record_every, int) or record_every < 1:
            raise ValueError(f"record_every must be an integer >= 1, got {record_every!r}.")
        if count_nonfinite not in COUNT_NONFINITE_MODES:
            raise ValueError(
                f"count_nonfinite must be one of {', '.join(map(repr, COUNT_NONFINITE_MODES))}, got "
                f"{count_nonfinite!r}."
            )
        reader = state_reader(inner_optimizer)  # raises for unsupported optimizers
        check_hyperparameters(inner_optimizer)
        super().__init__(learning_rate=0.0, name=name)
        self.inner_optimizer = inner_optimizer
        self.record_every = record_every
        self.count_nonfinite = count_nonfinite
        self._reader = reader

    @property
    def family(self) -> str:
        """Family name of the wrapped optimizer, e.g. "adam" or "sgd_momentum"."""
        return self._reader.family

    # ------------------------------------------------------------------ variables

    @tracking.no_automatic_dependency_tracking
    def build(self, var_list):
        reader = self._reader
        float_dtype = var_list[0].dtype if var_list else keras.backend.floatx()

        def slots(name, wanted=True):
            if not wanted:
                return None
            return [self.add_variable_from_reference(v, name=name) for v in var_list]

        self._gradient_slots = slots("recorded_gradient")
        self._first_slots = slots("recorded_first_moment", reader.has_first_moment)
        self._second_slots = slots("recorded_second_moment", reader.has_second_moment)
        self._update_slots = slots("recorded_update")
        self._recorded_step = self.add_variable((), dtype="int64", name="recorded_step")
        self._recorded_lr = self.add_variable((), dtype=float_dtype, name="recorded_learning_rate")
        self._nonfinite_steps = self.add_variable((), dtype="int64", name="nonfinite_steps")
        self._recorded_finite = self.add_variable(
            (), dtype="int64", initializer="ones", name="recorded_gradients_finite"
        )
        self.inner_optimizer.build(var_list)
        super().build(var_list)

    @property
    def variables(self):
        return self._variables + self.inner_optimizer.variables

    @property
    def nonfinite_steps(self):
        """Variable: number of steps so far whose gradients contained NaN or inf (int64 scalar)."""
        if not self.built:
            raise ValueError("The optimizer is not built yet: train (or call build) first.")
        return self._nonfinite_steps

    @property
    def learning_rate(self):
        return self.inner_optimizer.learning_rate

    @learning_rate.setter
    def learning_rate(self, learning_rate):
        self.inner_optimizer.learning_rate = learning_rate

    @property
    def iterations(self):
        return self.inner_optimizer.iterations

    def scale_loss(self, loss):
        return self.inner_optimizer.scale_loss(loss)

    def finalize_variable_values(self, var_list):
        self.inner_optimizer.finalize_variable_values(var_list)

    # ------------------------------------------------------------------ the step

    def apply(self, grads, trainable_variables=None):
        if len(grads) == 0:
            return
        if not self.built:
            if trainable_variables is None:
                raise ValueError("Pass trainable_variables on the first call, or call build() first.")
            with keras.name_scope(self.name, caller=self):
                self.build(list(trainable_variables))
            self.built = True
        if tf.distribute.in_cross_replica_context():
            raise ValueError("apply() must be called in a replica context (inside strategy.run).")
        variables = (
            list(trainable_variables) if trainable_variables is not None else self._trainable_variables
        )
        tf.__internal__.distribute.interim.maybe_merge_call(
            self._record_and_apply, self._distribution_strategy, list(grads), variables
        )

    def _record_and_apply(self, distribution, grads, variables):
        """Runs in cross-replica context under a multi-replica strategy, else in the replica context."""
        cross_replica = tf.distribute.in_cross_replica_context()
        present = [(g, v) for g, v in zip(grads, variables, strict=True) if g is not None]
        step_before = tf.cast(tf.convert_to_tensor(self.inner_optimizer.iterations), tf.int64)
        record = tf.equal(step_before % self.record_every, 0)
        every_step = self.record_every == 1
        check_every_step = every_step or self.count_nonfinite == "every_step"

        def count_nonfinite():
            finite = self._all_finite(distribution, [g for g, _ in present], cross_replica)
            self._nonfinite_steps.assign_add(tf.cast(tf.logical_not(finite), tf.int64))
            return finite

        finite = count_nonfinite() if check_every_step else None

        # Everything recorded lives inside the two conds: by default a step that is not recorded pays
        # only the two predicates (and, with count_nonfinite="every_step", the finiteness count).
        # The learning rate (a schedule's value) is read before the inner step, which may advance
        # it. With record_every=1 the recorded step is always the latest one, so m_t and v_t are not
        # copied (snapshot() reads the wrapped optimizer's own state, which holds exactly those
        # values) and the update slot keeps theta_{t-1}: snapshot() subtracts it from theta_t, the
        # same float operation as in the step.
        def before():
            step_finite = finite if check_every_step else count_nonfinite()
            self._recorded_finite.assign(tf.cast(step_finite, tf.int64))
            learning_rate = tf.convert_to_tensor(self.inner_optimizer.learning_rate)
            self._recorded_lr.assign(tf.cast(learning_rate, self._recorded_lr.dtype))
            reduced = self._reduced_gradients(distribution, present, cross_replica)
            for (_, variable), gradient in zip(present, reduced, strict=True):
                i = self._get_variable_index(variable)
                self._assign(distribution, cross_replica, self._gradient_slots[i], gradient)
                source = variable.value if cross_replica else variable
                self._assign(distribution, cross_replica, self._update_slots[i], source)
            return tf.constant(True)

        def after():
            step = step_before + 1
            if not every_step:  # with record_every=1 snapshot() derives these (see above)
                for _, variable in present:
                    i = self._get_variable_index(variable)
                    state = self._reader.read(i, variable.dtype)
                    targets = (
                        (self._first_slots, state.first_moment),
                        (self._second_slots, state.second_moment),
                    )
                    for slot_list, value in targets:
                        if slot_list is not None:
                            self._assign(distribution, cross_replica, slot_list[i], value)
                    # theta_{t-1} - theta_t in place (no new buffer); snapshot() negates it, which
                    # gives exactly the number theta_t - theta_{t-1} (rounding is antisymmetric).
                    source = variable.value if cross_replica else variable
                    self._assign(
                        distribution, cross_replica, self._update_slots[i], source, _subtract_cast
                    )
            self._recorded_step.assign(step)
            return tf.constant(True)

        def inner_step():
            if cross_replica:
                distribution.extended.call_for_each_replica(
                    self.inner_optimizer.apply, args=(grads, variables)
                )
            else:
                self.inner_optimizer.apply(grads, variables)

        if every_step:  # every step is recorded: no conditionals
            before()
            inner_step()
            after()
            return
        skip = lambda: tf.constant(False)  # noqa: E731
        # Under a multi-replica strategy a conditional touches variables on several devices, which
        # one If op cannot place: there it stays lowered to switch/merge nodes.
        cond = tf.cond if cross_replica else _unlowered_cond
        cond(record, before, skip)
        inner_step()
        cond(record, after, skip)

    def _all_finite(self, distribution, grads, cross_replica):
        """Whether every gradient entry is finite, in one summing pass per gradient.

        The sum of all entries is NaN or inf iff some entry is, or the finite entries overflow the
        float range together (entries of order 1e34 in float32), which is counted as non-finite too.
        Large gradients are summed by a matrix product (``_sum_of_entries``).
        """
        if cross_replica:
            local = [t for g in grads for t in distribution.experimental_local_results(g)]
        else:
            local = list(grads)
        if not local:
            return tf.constant(True)
        values = [g.values if isinstance(g, tf.IndexedSlices) else g for g in local]
        sums = [_sum_of_entries(v) for v in values]
        if len({s.dtype for s in sums}) > 1 or sums[0].dtype.size < 4:  # mixed or half precision
            sums = [tf.cast(s, tf.float64) for s in sums]
        return tf.math.is_finite(tf.add_n(sums))

    def _reduced_gradients(self, distribution, present, cross_replica):
        """Gradients summed over replicas (what the inner optimizer applies), loss scale undone."""
        grads = [g for g, _ in present]
        if cross_replica:
            pairs = [(g, v.value) for g, v in present]
            grads = distribution.extended.batch_reduce_to(tf.distribute.ReduceOp.SUM, pairs)
        scale = self.inner_optimizer.loss_scale_factor
        if scale is not None:
            grads = [g / scale for g in grads]
        return grads

    @staticmethod
    def _assign(distribution, cross_replica, slot, value, update=None):
        update = _assign_cast if update is None else update
        if cross_replica:
            distribution.extended.update(slot.value, update, args=(value,), group=False)
        else:
            update(slot, value)

    # ------------------------------------------------------------------ reading

    def snapshot(self) -> StateSnapshot:
        """The latest recorded step as NumPy arrays.

        Returns:
            StateSnapshot (see its attributes); ``step`` is 0 and the arrays zeros before the first step.

        Raises:
            ValueError: the optimizer has not been built (no training step and no build() yet).
        """
        if not self.built:
            raise ValueError("Nothing recorded: the optimizer is not built. Train (or call build) first.")

        def read(slot_list):
            if slot_list is None:
                return None
            return tuple(np.asarray(s.numpy()) for s in slot_list)

        step = int(np.asarray(self._recorded_step.numpy()))
        gradients = read(self._gradient_slots)
        latest = self.record_every == 1 and step > 0  # the recorded step is the latest step
        if latest:
            first, second = self._current_moments()
        else:
            first, second = read(self._first_slots), read(self._second_slots)
        precond, effective = [], []
        with np.errstate(divide="ignore", invalid="ignore"):  # step 0: nothing recorded, Q undefined
            for i, g in enumerate(gradients):
                q, q_eff = self._reader.preconditioners(
                    None if second is None else second[i], None if first is None else first[i], step
                )
                q = np.ones_like(g) if q is None else np.asarray(q, dtype=g.dtype)
                precond.append(q)
                effective.append(q if q_eff is None else np.asarray(q_eff, dtype=g.dtype))
            lr = float(np.asarray(self._recorded_lr.numpy()))
            effective_lr = tuple((lr / q.astype(np.float64)).astype(q.dtype) for q in effective)
        return StateSnapshot(
            step=step,
            optimizer=self.family,
            learning_rate=lr,
            variable_names=tuple(v.path for v in self._trainable_variables),
            gradients=gradients,
            first_moments=first,
            second_moments=second,
            preconditioner=tuple(precond),
            effective_preconditioner=tuple(effective),
            effective_learning_rate=effective_lr,
            updates=self._latest_updates() if latest else _negated(read(self._update_slots)),
            nonfinite_steps=int(np.asarray(self._nonfinite_steps.numpy())),
            gradients_finite=bool(np.asarray(self._recorded_finite.numpy())),
        )

    def _current_moments(self):
        """(m, v) of the wrapped optimizer now, as tuples of arrays (None where it has no such state)."""
        states = [
            self._reader.read(i, variable.dtype) for i, variable in enumerate(self._trainable_variables)
        ]
        first = tuple(np.asarray(s.first_moment) for s in states) if self._first_slots else None
        second = tuple(np.asarray(s.second_moment) for s in states) if self._second_slots else None
        return first, second

    def _latest_updates(self):
        """theta_t - theta_{t-1}: the variables now minus their values before the latest step."""
        return tuple(
            np.asarray(keras.ops.convert_to_numpy(v) - s.numpy(), dtype=s.dtype)
            for v, s in zip(self._trainable_variables, self._update_slots, strict=True)
        )

    def summary(self) -> StateSummary:
        """Scalars of the latest recorded step: norms, Q range/anisotropy, effective-lr quantiles.

        Returns:
            StateSummary with global and per-variable VariableStats. Non-finite entries are ignored
            (a warning is logged when the recorded gradients were not finite).
        """
        snap = self.snapshot()
        if not snap.gradients_finite:
            logger.warning("Step %d had non-finite gradients; statistics ignore those entries.", snap.step)
        per_variable = []
        for i, name in enumerate(snap.variable_names):
            per_variable.append(
                _stats(name, snap, lambda arrays, i=i: None if arrays is None else [arrays[i]])
            )
        global_stats = _stats("global", snap, lambda arrays: arrays)
        return StateSummary(
            step=snap.step,
            optimizer=snap.optimizer,
            learning_rate=snap.learning_rate,
            nonfinite_steps=snap.nonfinite_steps,
            global_stats=global_stats,
            per_variable=tuple(per_variable),
        )

    # ------------------------------------------------------------------ serialization

    def get_config(self):
        return {
            "name": self.name,
            "inner_optimizer": keras.saving.serialize_keras_object(self.inner_optimizer),
            "record_every": self.record_every,
            "count_nonfinite": self.count_nonfinite,
        }

    @classmethod
    def from_config(cls, config, custom_objects=None):
        config = dict(config)
        inner = keras.saving.deserialize_keras_object(
            config.pop("inner_optimizer"), custom_objects=custom_objects
        )
        return cls(inner, **config)


_MATMUL_SUM_MIN_SIZE = 4096
"""Gradients with at least this many entries are summed by a matrix product (see _sum_of_entries)."""


def _sum_of_entries(tensor):
    """The sum of all entries of a float tensor (NaN or inf iff an entry is, or the sum overflows).

    On CPU TensorFlow's full reduction (``tf.reduce_sum``) of a few hundred thousand float32 entries
    costs several times a matrix-vector product over the same entries, so a large float32/float64
    tensor is viewed as a (rows, last_dim) matrix and summed as ones(1, rows) @ matrix, which reads
    every entry once and propagates NaN and inf like the plain sum (tested with single NaN/inf
    entries). Small, rank < 2 and half-precision tensors use ``tf.reduce_sum``.
    """
    shape = tensor.shape
    if (
        shape.rank is None
        or shape.rank < 2
        or not shape.is_fully_defined()
        or shape.num_elements() < _MATMUL_SUM_MIN_SIZE
        or tensor.dtype not in (tf.float32, tf.float64)
    ):
        return tf.reduce_sum(tensor)
    columns = int(shape[-1])
    matrix = tf.reshape(tensor, [-1, columns])
    ones = tf.ones([1, shape.num_elements() // columns], tensor.dtype)
    return tf.reduce_sum(tf.matmul(ones, matrix))


def _assign_cast(slot, value):
    if isinstance(value, tf.IndexedSlices):  # sparse gradients (embeddings) are recorded densely
        value = tf.convert_to_tensor(value)
    return slot.assign(tf.cast(value, slot.dtype))


def _unlowered_cond(pred, true_fn, false_fn):
    """``tf.cond`` kept as one functional If op in a graph instead of lowered to switch/merge nodes.

    Lowered, a conditional routes each of its captured tensors and resource handles (here every
    gradient, weight and slot: ~90 for an 8-variable model) through a switch node on every step,
    taken or not. Measured on a 582k-parameter MLP with one TensorFlow thread (benchmarks/README.md),
    the two skipped conditionals of a step that is not recorded cost ~100 us lowered and ~10 us as
    If ops. XLA compiles the If op the same way either way. If the op cannot be found (eager mode) or
    marked, the conditional stays as TensorFlow built it.
    """
    graph = tf.compat.v1.get_default_graph()
    if tf.executing_eagerly() or not hasattr(graph, "get_operations"):
        return tf.cond(pred, true_fn, false_fn)
    known = len(graph.get_operations())
    result = tf.cond(pred, true_fn, false_fn)
    for op in graph.get_operations()[known:]:
        if op.type in ("If", "StatelessIf"):
            try:
                op._set_attr("_lower_using_switch_merge", attr_value_pb2.AttrValue(b=False))
            except (AttributeError, ValueError, TypeError) as err:  # a TensorFlow without the attribute
                logger.debug("Recording conditional left lowered: %s", err)
    return result


def _subtract_cast(slot, value):
    return slot.assign_sub(tf.cast(value, slot.dtype))


def _negated(arrays):
    return tuple(-a for a in arrays)


def _flat_finite(arrays) -> np.ndarray:
    if arrays is None:
        return np.empty(0)
    flat = np.concatenate([np.ravel(a).astype(np.float64) for a in arrays]) if arrays else np.empty(0)
    return flat[np.isfinite(flat)]


def _norm(arrays) -> float:
    if arrays is None:
        return math.nan
    return float(np.sqrt(np.sum(np.square(_flat_finite(arrays)))))


def _stats(name, snap: StateSnapshot, pick) -> VariableStats:
    q = _flat_finite(pick(snap.effective_preconditioner))
    q = q[q > 0]
    lr = _flat_finite(pick(snap.effective_learning_rate))
    size = sum(int(np.size(a)) for a in pick(snap.gradients))
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)
        if q.size:
            q_min, q_med, q_max = float(q.min()), float(np.median(q)), float(q.max())
            q_spread = float(np.std(np.log10(q)))
        else:
            q_min = q_med = q_max = q_spread = math.nan
        lr_q = np.quantile(lr, _EFFECTIVE_LR_QUANTILES) if lr.size else [math.nan] * 3
    return VariableStats(
        name=name,
        size=size,
        gradient_norm=_norm(pick(snap.gradients)),
        first_moment_norm=_norm(pick(snap.first_moments)),
        second_moment_norm=_norm(pick(snap.second_moments)),
        update_norm=_norm(pick(snap.updates)),
        preconditioner_min=q_min,
        preconditioner_median=q_med,
        preconditioner_max=q_max,
        preconditioner_anisotropy=q_max / q_min if q.size else math.nan,
        preconditioner_log_spread=q_spread,
        effective_lr_q05=float(lr_q[0]),
        effective_lr_median=float(lr_q[1]),
        effective_lr_q95=float(lr_q[2]),
    )


def check_hyperparameters(optimizer: keras.optimizers.Optimizer) -> None:
    """ValueError for hyperparameters of a Keras optimizer that cannot train: checked before training.

    A constant learning rate must be finite and > 0 (a schedule is not evaluated); beta_1, beta_2,
    momentum and rho in [0, 1); epsilon finite and >= 0. Attributes an optimizer lacks are skipped.
    """
    name = type(optimizer).__name__
    rate = getattr(optimizer, "_learning_rate", None)
    if (
        rate is not None
        and not isinstance(rate, keras.optimizers.schedules.LearningRateSchedule)
        and not callable(rate)
    ):
        _checks.positive_float(float(np.asarray(keras.ops.convert_to_numpy(rate))), f"{name} learning_rate")
    for attribute in ("beta_1", "beta_2", "momentum", "rho"):
        value = getattr(optimizer, attribute, None)
        if isinstance(value, int | float) and not isinstance(value, bool):
            _checks.in_interval(value, f"{name} {attribute}", 0.0, 1.0, high_open=True)
    epsilon = getattr(optimizer, "epsilon", None)
    if isinstance(epsilon, int | float) and not isinstance(epsilon, bool):
        _checks.nonnegative_float(epsilon, f"{name} epsilon")
