"""Hessian-vector products of a Keras model's training loss, over a dataset or one batch.

The Hessian is that of the data-averaged loss at the current weights, in inference mode
(``training=False``: BatchNorm uses its moving statistics, dropout is off)::

    F(theta) = (1 / N) sum_b n_b * L_b(theta),     H v = (1 / N) sum_b n_b * (d^2 L_b / d theta^2) v

where batch b has n_b examples, N = sum_b n_b and L_b is the batch loss (a Keras loss with its default
"sum_over_batch_size" reduction, i.e. a mean over the batch, plus the model's regularization losses
when ``include_model_losses``). With one batch ``(x, y)`` the sum has one term.

Products are computed forward-over-reverse (``tf.autodiff.ForwardAccumulator`` around a
``tf.GradientTape``: one forward-mode pass through the gradient computation) or reverse-over-reverse
(a gradient of the gradient, dotted with v). On one device the data is read once into memory (up to
``max_resident_bytes``) and each product over the whole dataset is one compiled pass: the weighted
sum over batches runs inside one ``tf.function`` (optionally XLA-compiled with ``jit_compile=True``),
with no per-batch host transfer. Under a strategy, or for larger data, a compiled step runs per batch.
``method="auto"`` uses reverse-over-reverse, the order :meth:`HessianOperator.matmat` uses for its
shared passes (so ``matvec`` and ``matmat`` agree to 3e-8 relative in float32 instead of 1.5e-7),
and falls back to forward-over-reverse if it fails. TensorFlow evaluates most forward-mode JVPs by
transposing the VJP twice, so forward-over-reverse has no speed advantage here: on a quiet 2-core CPU
(benchmarks/README.md) both cost 2.6-3.0x the one-pass gradient on a tanh MLP over the digits.

Under a ``tf.distribute`` strategy (the model's, by default) each replica computes n_local * H_local v
on its share of every batch, and the sums of these products and of n_local are all-reduced, so the
result equals the single-device one. (Keras mean losses divide by the number of replicas inside a
replica context; that scaling is undone so each replica's loss is the mean over its own share.)
Memory is O(parameters) per product on top of the model's activations for one batch.

Precision: products are computed in the variables' dtype and accumulated over batches in float64. For
float64-accurate Hessians build the model in float64 and pass a float64 loss (Keras losses compute in
float32 unless built with ``dtype="float64"``); float32 models give about 1e-7 relative accuracy.

The operator exposes two forms: per-variable (:meth:`HessianOperator.hvp`, a list of tensors shaped like
the variables) and flat (:meth:`HessianOperator.matvec`, float64 NumPy vectors of length ``dim``, the
``mvp_fn`` that the algorithms in :mod:`tfescape.hessian.lanczos` and the probes take).
:meth:`HessianOperator.matmat` multiplies several vectors in one pass over the data: per batch the
forward pass and the first backward sweep are shared and each vector adds one backward sweep through
the gradient, so a product costs less than one from ``matvec`` (on a tanh MLP over the digits,
1.8x a gradient pass per product with 16 vectors, against 2.6-2.9x for ``matvec``, quiet machine;
benchmarks/README.md, which also counts why a lone exact product cannot cost under ~2.8x there).
The trace, diagonal and density probes use it for their sketches, probes and Lanczos starts.

Example:
    >>> op = HessianOperator(model, keras.losses.SparseCategoricalCrossentropy(from_logits=True), train)
    >>> hv = op.matvec(np.ones(op.dim))          # float64, shape (op.dim,)

References:
    Pearlmutter (1994), Fast exact multiplication by the Hessian. Neural Computation 6(1).
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Sequence

import keras
import numpy as np
import tensorflow as tf

from tfescape import _checks
from tfescape._distribute import distribute_dataset, summed_over_dataset, undo_replica_loss_scaling
from tfescape._passes import DEFAULT_MAX_RESIDENT_BYTES, ResidentBatches

logger = logging.getLogger(__name__)

HVP_METHODS = ("auto", "forward_over_reverse", "reverse_over_reverse")

MATMAT_BLOCK = 16
"""At most this many vectors share one pass in :meth:`HessianOperator.matmat` (memory: O(block x dim))."""

LossFn = Callable[[tf.Tensor, tf.Tensor], tf.Tensor]


class HessianOperator:
    """The Hessian of a Keras model's data-averaged loss as a linear operator on its weights.

    Args:
        model: a built Keras model.
        loss: a Keras loss (or any callable ``loss(y_true, y_pred) -> scalar``); it must return the
            mean over the batch (Keras' default reduction) for the full-data average to be exact.
        data: a ``tf.data.Dataset`` of ``(x, y)`` batches (the whole dataset is averaged, weighted by
            batch size) or a tuple ``(x, y)`` for one batch.
        variables: the Keras variables to differentiate with respect to (default: all trainable
            variables of the model). Restricting the variables gives the corresponding diagonal block
            of the Hessian.
        layers: alternatively, layers (objects or names) whose trainable variables to use.
        method: "auto", "forward_over_reverse" or "reverse_over_reverse" (see module docstring).
        include_model_losses: add ``sum(model.losses)`` (weight regularizers) to the loss.
        strategy: a ``tf.distribute.Strategy``; default: the model's strategy (the one in scope when
            it was built), which is the no-op default strategy for ordinary models.
        jit_compile: compile each pass over the data with XLA (one device only).
        max_resident_bytes: on one device, data up to this size is read once and kept in memory, and
            each product is one compiled pass over it; larger data is streamed batch by batch.

    Attributes:
        variables: tuple of the Keras variables, in flat order.
        shapes: tuple of their shapes.
        dim: total number of parameters (length of the flat vectors).
        num_hvps: number of Hessian-vector products evaluated so far (each is one pass over data).

    Raises:
        ValueError: empty data, no trainable variables, a non-scalar loss, unknown method, bad data.
    """

    def __init__(
        self,
        model: keras.Model,
        loss: LossFn,
        data,
        *,
        variables: Sequence | None = None,
        layers: Sequence | None = None,
        method: str = "auto",
        include_model_losses: bool = True,
        strategy: tf.distribute.Strategy | None = None,
        jit_compile: bool = False,
        max_resident_bytes: int = DEFAULT_MAX_RESIDENT_BYTES,
    ):
        if method not in HVP_METHODS:
            raise ValueError(f"Unknown HVP method {method!r}. Choose one of {', '.join(HVP_METHODS)}.")
        if not callable(loss):
            raise ValueError(f"loss must be callable as loss(y_true, y_pred), got {type(loss).__name__}.")
        if isinstance(loss, keras.losses.Loss) and loss.reduction not in _MEAN_REDUCTIONS:
            raise ValueError(
                f"loss has reduction={loss.reduction!r}; the Hessian needs the mean over the batch. "
                "Build the loss with reduction='sum_over_batch_size' (Keras' default)."
            )
        self._model = model
        self._loss = loss
        self._method = method
        self._include_model_losses = include_model_losses
        self._strategy = strategy if strategy is not None else _model_strategy(model)
        self._dataset = _as_dataset(data)
        first = _first_batch(self._dataset)
        self.variables = tuple(_select_variables(model, variables, layers, first[0]))
        self.shapes = tuple(tuple(int(d) for d in v.shape) for v in self.variables)
        self._sizes = [int(np.prod(s, dtype=np.int64)) for s in self.shapes]
        self.dim = int(sum(self._sizes))
        self.num_hvps = 0
        self._check_scalar_loss(first)
        self._distributed = self._strategy is not None and self._strategy.num_replicas_in_sync > 1
        self._data_for_loops = (
            distribute_dataset(self._strategy, self._dataset)
            if self._distributed
            else self._dataset
        )
        # One batch on one device: keep its tensors instead of iterating a dataset every product.
        self._single_batch = None if self._distributed or isinstance(data, tf.data.Dataset) else first
        self._steps: dict[str, Callable] = {}
        # One device: the data is read once and every pass is one compiled function (see _passes).
        self._jit_compile = bool(jit_compile)
        self._resident = (
            None
            if self._distributed
            else ResidentBatches.from_batches(self._batches(), max_bytes=max_resident_bytes)
        )
        self._passes: dict[str, Callable] = {}
        self._shared_pass_works = True

    # ----------------------------------------------------------------------------------------------
    # Public API
    @property
    def method(self) -> str:
        """The HVP method in use ("forward_over_reverse" or "reverse_over_reverse" once resolved)."""
        return self._method

    @property
    def strategy(self) -> tf.distribute.Strategy | None:
        """The distribution strategy the products run under."""
        return self._strategy

    def hvp(self, vectors: Sequence) -> list[tf.Tensor]:
        """Per-variable Hessian-vector product H v.

        Args:
            vectors: one tensor per variable, shaped like it (any float dtype).

        Returns:
            list of float64 tensors shaped like the variables.

        Raises:
            ValueError: wrong number of tensors or wrong shapes.
        """
        tangents = self._as_tangents(vectors)
        return [tf.constant(part) for part in self.unflatten(self.matvec(self.flatten(tangents)))]

    def matvec(self, vector) -> np.ndarray:
        """Flat Hessian-vector product: float64 vector of length ``dim`` -> float64 vector (mvp_fn)."""
        vector = self._checked_flat(vector)
        if self._resident is None:
            tangents = self._as_tangents(self.unflatten(vector))
            result = self._run_hvp(lambda method: self._hvp_over_data(method, tangents))
        else:
            result = self._run_hvp(lambda method: self._resident_pass(f"flat {method}", vector, method))
        self.num_hvps += 1
        return result

    __call__ = matvec

    def matmat(self, vectors) -> np.ndarray:
        """Hessian times several vectors at once: float64 array (dim, k) -> float64 array (dim, k).

        Column j of the result is ``matvec(vectors[:, j])`` (equal to it up to rounding). On one
        device with resident data the k products share one pass over the data: per batch one forward
        pass and one backward sweep give the gradient, and each column costs one more backward sweep
        through it (reverse-over-reverse, whatever ``method`` says), so a product costs less than
        one from ``matvec``. Blocks of up to ``MATMAT_BLOCK`` columns share a pass. Otherwise (a
        strategy, streamed data, or a model whose ops lack second-order reverse rules) the columns
        are computed one by one with ``matvec``. ``num_hvps`` grows by k.
        """
        vectors = np.asarray(vectors, dtype=np.float64)
        if vectors.ndim != 2 or vectors.shape[0] != self.dim:
            raise ValueError(
                f"Expected an array of shape ({self.dim}, k) (one vector per column), got {vectors.shape}."
            )
        if self._resident is None or not self._shared_pass_works:
            return self._columns_one_by_one(vectors)
        blocks = []
        try:
            for start in range(0, vectors.shape[1], MATMAT_BLOCK):
                block = np.ascontiguousarray(vectors[:, start : start + MATMAT_BLOCK].T)
                blocks.append(self._resident_pass("block", block, "block"))
        except (LookupError, NotImplementedError, TypeError, tf.errors.OpError) as err:
            logger.warning(
                "Shared-pass products failed (%s: %s); computing the columns one by one.",
                type(err).__name__,
                err,
            )
            self._shared_pass_works = False
            return self._columns_one_by_one(vectors)
        self.num_hvps += vectors.shape[1]
        return np.concatenate(blocks, axis=1) if blocks else np.zeros((self.dim, 0))

    def loss(self) -> float:
        """The data-averaged loss F(theta) at the current weights."""
        return float(self._mean_over_data("loss", self._loss_values)[0])

    def loss_and_gradient(self) -> tuple[float, np.ndarray]:
        """F(theta) and its flat float64 gradient at the current weights (one pass over the data)."""
        flat = self._mean_over_data("gradient", self._loss_and_gradient_values)
        return float(flat[0]), flat[1:]

    def flatten(self, tensors: Sequence) -> np.ndarray:
        """Concatenate per-variable tensors into one flat float64 vector."""
        return np.concatenate([np.reshape(np.asarray(t, dtype=np.float64), -1) for t in tensors])

    def unflatten(self, vector) -> list[np.ndarray]:
        """Split a flat vector of length ``dim`` into float64 arrays shaped like the variables."""
        vector = np.asarray(vector, dtype=np.float64)
        if vector.shape != (self.dim,):
            raise ValueError(f"Expected a flat vector of shape ({self.dim},), got {vector.shape}.")
        parts = np.split(vector, np.cumsum(self._sizes)[:-1])
        return [p.reshape(s) for p, s in zip(parts, self.shapes, strict=True)]

    def get_flat_weights(self) -> np.ndarray:
        """The current values of the operator's variables as one flat float64 vector."""
        return self.flatten([keras.ops.convert_to_numpy(v) for v in self.variables])

    def set_flat_weights(self, vector) -> None:
        """Assign a flat vector of length ``dim`` to the operator's variables."""
        for var, value in zip(self.variables, self.unflatten(vector), strict=True):
            var.assign(value.astype(var.dtype))

    # ----------------------------------------------------------------------------------------------
    # Internals
    def _batches(self):
        return [self._single_batch] if self._single_batch is not None else self._data_for_loops

    def _as_tangents(self, vectors) -> list[tf.Tensor]:
        vectors = list(vectors)
        if len(vectors) != len(self.variables):
            raise ValueError(
                f"Expected {len(self.variables)} tensors (one per variable), got {len(vectors)}."
            )
        tangents = []
        for vec, var, shape in zip(vectors, self.variables, self.shapes, strict=True):
            t = tf.convert_to_tensor(vec)
            if tuple(t.shape) != shape:
                raise ValueError(f"Vector for {var.path} has shape {tuple(t.shape)}, expected {shape}.")
            tangents.append(tf.cast(t, var.dtype))
        return tangents

    def _checked_flat(self, vector) -> np.ndarray:
        vector = np.asarray(vector, dtype=np.float64)
        if vector.shape != (self.dim,):
            raise ValueError(f"Expected a flat vector of shape ({self.dim},), got {vector.shape}.")
        return vector

    def _columns_one_by_one(self, vectors) -> np.ndarray:
        columns = [self.matvec(vectors[:, j]) for j in range(vectors.shape[1])]
        return np.stack(columns, axis=1) if columns else np.zeros((self.dim, 0))

    def _run_hvp(self, product_with):
        """``product_with(method)`` under the configured method; "auto" falls back once if needed."""
        if self._method != "auto":
            return product_with(self._method)
        try:
            result = product_with("reverse_over_reverse")
            self._method = "reverse_over_reverse"
            return result
        except (LookupError, NotImplementedError, TypeError, tf.errors.OpError) as err:
            logger.warning(
                "Reverse-over-reverse HVP failed (%s: %s); using forward-over-reverse.",
                type(err).__name__,
                err,
            )
            self._method = "forward_over_reverse"
            return product_with(self._method)

    def _hvp_over_data(self, method, tangents):
        product = _product_fn(method)
        return self._mean_over_data(
            method,
            lambda x, y, tangents: product(self._batch_loss, x, y, self._primals(), tangents),
            tangents,
        )

    def _resident_pass(self, name, vectors, method) -> np.ndarray:
        """H v (``vectors`` of shape (dim,)) or H V^T (shape (k, dim) -> (dim, k)) in one compiled pass.

        The flat float64 vectors enter the compiled pass as one tensor and are split into
        per-variable tangents once per pass, inside the graph.
        """
        if name not in self._passes:
            batch_fn = _shared_pass_products if method == "block" else _product_fn(method)
            shape = [None, self.dim] if method == "block" else [self.dim]
            self._passes[name] = self._resident.weighted_sum(
                lambda x, y, tangents: batch_fn(self._batch_loss, x, y, self._primals(), tangents),
                jit_compile=self._jit_compile,
                prepare=self._split_tangents,
                input_signature=[tf.TensorSpec(shape, tf.float64)],
            )
        total = self._passes[name](tf.constant(vectors)).numpy() / self._resident.num_examples
        if vectors.ndim == 1:
            return total
        return total.reshape(vectors.shape).T

    def _split_tangents(self, flat):
        """Flat float64 (dim,) or (k, dim) tensor -> per-variable tangents in the variables' dtypes."""
        leading = [-1] if flat.shape.rank == 2 else []
        parts = tf.split(flat, self._sizes, axis=-1)
        return (
            [
                tf.cast(tf.reshape(part, leading + list(shape)), var.dtype)
                for part, shape, var in zip(parts, self.shapes, self.variables, strict=True)
            ],
        )

    def _mean_over_data(self, name, batch_fn, *extra) -> np.ndarray:
        """(1/N) sum_b n_b flat(batch_fn(x_b, y_b, *extra)) as one flat float64 NumPy vector.

        On one device with resident data this is one compiled pass; otherwise a compiled step per
        batch, summed over replicas under a strategy.
        """
        if self._resident is None:
            return self._average(self._compiled_step(name, batch_fn), *extra)
        if name not in self._passes:
            self._passes[name] = self._resident.weighted_sum(batch_fn, jit_compile=self._jit_compile)
        return self._passes[name](*extra).numpy() / self._resident.num_examples

    def _primals(self):
        return [v.value for v in self.variables]

    def _batch_loss(self, x, y):
        y_pred = self._model(x, training=False)
        value = self._loss(y, y_pred)
        if self._distributed:
            # Each replica's value is the mean over its own share of the batch.
            value = undo_replica_loss_scaling(self._loss, value)
        if self._include_model_losses and self._model.losses:
            value = value + tf.cast(tf.add_n(self._model.losses), value.dtype)
        return value

    def _loss_values(self, x, y):
        return [self._batch_loss(x, y)]

    def _loss_and_gradient_values(self, x, y):
        primals = self._primals()
        with tf.GradientTape() as tape:
            tape.watch(primals)
            value = self._batch_loss(x, y)
        grads = tape.gradient(value, primals, unconnected_gradients=tf.UnconnectedGradients.ZERO)
        return [value, *grads]

    def _compiled_step(self, name, batch_fn):
        """tf.function (x, y, *extra) -> (n_b * flat batch_fn(...) in float64, n_b), summed over replicas."""
        if name in self._steps:
            return self._steps[name]

        def weighted(x, y, *extra):
            n = tf.cast(tf.shape(tf.nest.flatten(x)[0])[0], tf.float64)
            values = batch_fn(x, y, *extra)
            # An empty per-replica share of a batch contributes nothing (its mean loss would be NaN).
            zero = tf.constant(0.0, tf.float64)
            flat = tf.concat([tf.reshape(tf.cast(v, tf.float64), [-1]) for v in values], axis=0)
            return tf.where(n > 0, n * flat, zero), n

        if self._distributed:
            # One compiled pass over the whole distributed dataset per call: step(*extra).
            self._steps[name] = summed_over_dataset(self._strategy, self._data_for_loops, weighted)
            return self._steps[name]

        def step(x, y, *extra):
            return weighted(x, y, *extra)

        self._steps[name] = tf.function(step, reduce_retracing=True)
        return self._steps[name]

    def _average(self, step, *extra) -> np.ndarray:
        """(1/N) sum_b n_b f(batch_b) over the data, as one flat float64 NumPy vector."""
        total, count = None, 0.0
        batches = [] if self._distributed else self._batches()
        if self._distributed:  # one compiled pass over all batches and replicas
            values, n = step(*extra)
            total, count = values.numpy(), float(n)
        for x, y in batches:
            values, n = step(x, y, *extra)
            if total is None:
                total = np.array(values, dtype=np.float64)
            else:
                total += values.numpy()
            count += float(n)
        if count <= 0:
            raise ValueError(
                "data yielded no examples (all batches empty); pass data with at least one example."
            )
        return total / count

    def _check_scalar_loss(self, first):
        x, y = first
        value = self._loss(y, self._model(x, training=False))
        if tf.convert_to_tensor(value).shape.rank != 0:
            raise ValueError(
                f"loss must return a scalar (the mean over the batch), got shape {tuple(value.shape)}. "
                "Use a Keras loss with its default reduction='sum_over_batch_size'."
            )


def hessian_vector_product(model, loss, data, vector, **options) -> np.ndarray:
    """One flat Hessian-vector product H v (float64); see :class:`HessianOperator` for the options.

    Raises:
        ValueError: ``vector`` has NaN/inf entries or the wrong length, or H v is not finite (a loss
            that is NaN/inf at these weights or on this data).
    """
    _checks.finite_array(vector, "vector")
    product = HessianOperator(model, loss, data, **options).matvec(vector)
    return _checks.finite_result(product, "hessian_vector_product: H v")


def _product_fn(method):
    return _forward_over_reverse if method == "forward_over_reverse" else _reverse_over_reverse


def _shared_pass_products(loss_fn, x, y, primals, tangents):
    """H_b v_j for every j on one batch: one forward pass and first backward sweep for all j.

    ``tangents`` holds one (k, *shape) tensor per variable (k may be unknown when tracing: one graph
    serves every k); the result is one (k, dim) tensor (row j: the flat product with vector j), from
    k backward sweeps through the recorded gradient, run by a tf.while_loop.
    """
    with tf.GradientTape(persistent=True) as outer:
        outer.watch(primals)
        with tf.GradientTape() as inner:
            inner.watch(primals)
            value = loss_fn(x, y)
        grads = inner.gradient(value, primals, unconnected_gradients=tf.UnconnectedGradients.ZERO)
    count = tf.shape(tangents[0])[0]

    def product(j, rows):
        products = outer.gradient(
            grads,
            primals,
            output_gradients=[tf.gather(t, j) for t in tangents],
            unconnected_gradients=tf.UnconnectedGradients.ZERO,
        )
        flat = tf.concat([tf.reshape(tf.cast(p, tf.float64), [-1]) for p in products], axis=0)
        return j + 1, rows.write(j, flat)

    dim = sum(int(np.prod(p.shape)) for p in primals)
    rows = tf.TensorArray(tf.float64, size=count, element_shape=[dim])
    _, rows = tf.while_loop(lambda j, _: j < count, product, (tf.constant(0), rows))
    return [rows.stack()]


def _forward_over_reverse(loss_fn, x, y, primals, tangents):
    with tf.autodiff.ForwardAccumulator(primals, tangents) as acc:
        with tf.GradientTape() as tape:
            tape.watch(primals)
            value = loss_fn(x, y)
        grads = tape.gradient(value, primals, unconnected_gradients=tf.UnconnectedGradients.ZERO)
    return acc.jvp(grads, unconnected_gradients=tf.UnconnectedGradients.ZERO)


def _reverse_over_reverse(loss_fn, x, y, primals, tangents):
    with tf.GradientTape() as outer:
        outer.watch(primals)
        with tf.GradientTape() as inner:
            inner.watch(primals)
            value = loss_fn(x, y)
        grads = inner.gradient(value, primals, unconnected_gradients=tf.UnconnectedGradients.ZERO)
    return outer.gradient(
        grads, primals, output_gradients=tangents, unconnected_gradients=tf.UnconnectedGradients.ZERO
    )


_MEAN_REDUCTIONS = ("sum_over_batch_size", "mean", "mean_with_sample_weight")


def _model_strategy(model):
    strategy = getattr(model, "distribute_strategy", None)
    return strategy if strategy is not None else tf.distribute.get_strategy()


def _as_dataset(data) -> tf.data.Dataset:
    if isinstance(data, tf.data.Dataset):
        spec = data.element_spec
        if not isinstance(spec, tuple) or len(spec) != 2:
            raise ValueError(
                "data must yield (x, y) batches; got elements with spec "
                f"{spec}. Map the dataset to (x, y) pairs, e.g. dataset.map(lambda x, y, w: (x, y))."
            )
        return data
    if isinstance(data, tuple | list) and len(data) == 2:
        x, y = data
        if _num_examples(x) == 0:
            raise ValueError("data is an empty batch (0 examples); pass at least one example.")
        return tf.data.Dataset.from_tensors((x, y))
    raise ValueError(
        f"data must be a tf.data.Dataset of (x, y) batches or a tuple (x, y); got {type(data).__name__}."
    )


def _num_examples(x) -> int:
    first = tf.nest.flatten(x)[0]
    return int(np.shape(first)[0]) if np.ndim(first) else 0


def _first_batch(dataset):
    if int(dataset.cardinality()) == 0:
        raise ValueError("data is an empty dataset; pass a dataset with at least one (x, y) batch.")
    for x, y in dataset.take(1):
        if _num_examples(x) == 0:
            raise ValueError("data's first batch has 0 examples; pass non-empty batches.")
        return x, y
    raise ValueError("data is an empty dataset; pass a dataset with at least one (x, y) batch.")


def _select_variables(model, variables, layers, x):
    if not model.built:
        model(x, training=False)
    if variables is not None and layers is not None:
        raise ValueError("Pass either variables or layers, not both.")
    if layers is not None:
        chosen = []
        for layer in layers:
            if isinstance(layer, str):
                layer = model.get_layer(layer)
            chosen.extend(layer.trainable_variables)
    elif variables is not None:
        chosen = list(variables)
    else:
        chosen = list(model.trainable_variables)
    unique, seen = [], set()
    for var in chosen:
        if id(var) not in seen:
            seen.add(id(var))
            unique.append(var)
    if not unique:
        raise ValueError(
            "No trainable weights to differentiate: the model (or the chosen layers/variables) has none. "
            "Check model.trainable_variables or unfreeze layers (layer.trainable = True)."
        )
    for var in unique:
        if not keras.backend.is_float_dtype(var.dtype):
            raise ValueError(f"Variable {var.path} has dtype {var.dtype}; Hessians need float variables.")
    return unique
