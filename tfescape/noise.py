"""Gradient noise: full-batch vs minibatch gradients at fixed parameters, streamed in O(parameters).

Definitions (theta fixed throughout; l_i(theta) the per-example loss, R(theta) the model's
regularization losses ``model.losses``):

- minibatch loss  f_S(theta) = (1/|S|) sum_{i in S} l_i(theta) + R(theta);
- full loss       F(theta)   = (1/N) sum_{i=1..N} l_i(theta) + R(theta), the dataset of N examples;
- full gradient   grad F = sum_b (|S_b| / N) grad f_{S_b} over the batches S_b of the dataset
  (a batch-size-weighted accumulation: an uneven last batch is weighted correctly);
- gradient noise  w_S = grad F - grad f_S (the paper's sign convention; E w_S = 0 for uniformly drawn S);
- smoothed noise (Adam's averaged gradient at fixed parameters): with minibatch gradients g_1, g_2, ...
  and m_0 = 0,  m_k = beta_1 m_{k-1} + (1 - beta_1) g_k,  m_hat_k = m_k / (1 - beta_1^k) and
      u_k = grad F - m_hat_k = sum_{j<=k} c_kj w_j,  c_kj = (1 - beta_1) beta_1^(k-j) / (1 - beta_1^k),
  a weighted average of the noise vectors w_j (weights sum to 1). Successive u_k are dependent
  (they share terms); the paper credits this averaging with Adam's lighter-tailed noise.

Whether the model runs in training mode (dropout on, BatchNorm on batch statistics) or inference mode is
an explicit ``training`` argument; with batch statistics the minibatch losses do not average to F.

Memory: gradients are computed batch by batch and yielded one at a time, so a loop over noise vectors
holds O(parameters), never a (parameters x batches) matrix; :class:`NoiseStatistics` accumulates
per-coordinate mean and variance (the diagonal of the noise covariance Sigma) in one pass (Welford).

Under a tf.distribute strategy (the one in scope, or ``strategy=``), each global batch is split across
replicas, every replica returns |S_r| grad f_{S_r} and |S_r|, and these are all-reduced (summed): the
result equals the single-device gradient of the global batch.

Example:
    >>> full = full_gradient(model, dataset, loss=loss_fn, training=False)
    >>> stats = NoiseStatistics()
    >>> for sample in gradient_noise(model, dataset, full=full, num_batches=100):
    ...     stats.update(sample.noise)
    >>> moments = stats.result()          # per-variable mean and diag(Sigma)

References:
    Simsekli, Sagun, Gurbuzbalaban. "A Tail-Index Analysis of Stochastic Gradient Noise in Deep Neural
    Networks." ICML 2019.
    Zhou et al. "Towards Theoretically Understanding Why SGD Generalizes Better Than Adam in Deep
    Learning." NeurIPS 2020.
"""

from __future__ import annotations

import itertools
import weakref
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass

import keras
import numpy as np
import tensorflow as tf

from tfescape._distribute import distribute_dataset, sum_over_replicas
from tfescape._noise_samples import (
    POOLINGS,
    NoisePool,
    NoiseSamples,
    check_pooling,
    load_noise_samples,
    load_pool,
    pool_columns,
    pool_noise,
    sample_steps,
    samples_path,
    save_noise_samples,
)

__all__ = [
    "FullGradient",
    "MinibatchGradient",
    "NoiseSample",
    "NoiseMoments",
    "NoiseStatistics",
    "batch_gradient_fn",
    "full_gradient",
    "minibatch_gradients",
    "gradient_noise",
    "smoothed_gradient_noise",
    "flatten",
    "POOLINGS",
    "NoiseSamples",
    "NoisePool",
    "check_pooling",
    "pool_columns",
    "pool_noise",
    "samples_path",
    "sample_steps",
    "save_noise_samples",
    "load_noise_samples",
    "load_pool",
]


@dataclass(frozen=True)
class FullGradient:
    """grad F over a dataset.

    Attributes:
        gradients: one float tensor per trainable variable, with its shape.
        loss: F(theta), the example-weighted mean loss (regularization included).
        num_examples: N.
        num_batches: number of batches accumulated.
        training: the mode the model ran in.
    """

    gradients: tuple[tf.Tensor, ...]
    loss: float
    num_examples: int
    num_batches: int
    training: bool


@dataclass(frozen=True)
class MinibatchGradient:
    """grad f_S of one batch.

    Attributes:
        index: position of the batch in the iteration (0-based).
        gradients: one tensor per trainable variable.
        loss: f_S(theta).
        num_examples: |S|.
    """

    index: int
    gradients: tuple[tf.Tensor, ...]
    loss: float
    num_examples: int


@dataclass(frozen=True)
class NoiseSample:
    """One noise vector, per trainable variable.

    Attributes:
        index: position in the stream (0-based).
        noise: w = grad F - grad f_S (or the smoothed u_k), one tensor per trainable variable.
        num_examples: |S| of the batch that produced it.
    """

    index: int
    noise: tuple[tf.Tensor, ...]
    num_examples: int


@dataclass(frozen=True)
class NoiseMoments:
    """Per-coordinate moments of a stream of noise vectors.

    Attributes:
        count: number of vectors.
        mean: per-variable arrays, the sample mean (near 0 for unbiased minibatches).
        variance: per-variable arrays, the unbiased sample variance: the diagonal of Sigma.
    """

    count: int
    mean: tuple[np.ndarray, ...]
    variance: tuple[np.ndarray, ...]


def flatten(tensors: Iterable) -> np.ndarray:
    """Concatenate per-variable arrays/tensors into one flat float64 NumPy vector (NaN stays NaN).

    Raises:
        ValueError: no arrays at all.
    """
    tensors = list(tensors)
    if not tensors:
        raise ValueError("flatten needs at least one array or tensor, got none (an empty sequence).")
    return np.concatenate([np.ravel(np.asarray(t, dtype=np.float64)) for t in tensors])


class NoiseStatistics:
    """Streaming per-coordinate mean and variance (Welford) of noise vectors; O(parameters) memory.

    Example:
        >>> stats = NoiseStatistics()
        >>> for sample in gradient_noise(model, data, num_batches=50):
        ...     stats.update(sample.noise)
        >>> diag_sigma = stats.result().variance
    """

    def __init__(self):
        self._count = 0
        self._mean: list[np.ndarray] | None = None
        self._m2: list[np.ndarray] | None = None

    @property
    def count(self) -> int:
        return self._count

    def update(self, noise: Iterable) -> None:
        """Add one noise vector (a sequence of per-variable arrays/tensors).

        Raises:
            ValueError: the vector has NaN/inf entries (the moments would be NaN) or other shapes.
        """
        arrays = [np.asarray(t, dtype=np.float64) for t in noise]
        if not all(np.isfinite(a).all() for a in arrays):
            raise ValueError(
                "NoiseStatistics.update: the noise vector has NaN or inf entries, so every moment would "
                "be NaN. The loss or its gradient is not finite at these weights or on this batch: "
                "check the model (did training diverge?) and the data."
            )
        if self._mean is None:
            self._mean = [np.zeros_like(a) for a in arrays]
            self._m2 = [np.zeros_like(a) for a in arrays]
        if [a.shape for a in arrays] != [m.shape for m in self._mean]:
            raise ValueError("NoiseStatistics.update: the noise vector's variable shapes changed.")
        self._count += 1
        for a, mean, m2 in zip(arrays, self._mean, self._m2, strict=True):
            delta = a - mean
            mean += delta / self._count
            m2 += delta * (a - mean)

    def result(self) -> NoiseMoments:
        """The moments so far.

        Raises:
            ValueError: fewer than two vectors were added (no variance yet).
        """
        if self._count < 2:
            raise ValueError(f"NoiseStatistics needs at least 2 noise vectors, got {self._count}.")
        return NoiseMoments(
            count=self._count,
            mean=tuple(m.copy() for m in self._mean),
            variance=tuple(m2 / (self._count - 1) for m2 in self._m2),
        )


# ---------------------------------------------------------------------------------------- gradients


def _per_example_loss_fn(model, loss) -> Callable:
    loss = model.loss if loss is None else loss
    if loss is None:
        raise ValueError(
            "No loss: pass loss= (a keras.losses.Loss, a loss name such as 'mse', or a callable "
            "(y_true, y_pred) -> per-example losses), or compile the model with a loss."
        )
    if isinstance(loss, str):
        loss = keras.losses.get(loss)
    if isinstance(loss, keras.losses.Loss):
        return loss.call  # unreduced, one value per example
    if not callable(loss):
        raise ValueError(f"loss must be a Loss, a loss name or a callable, got {loss!r}.")
    return _per_example_only(loss)


def _per_example_only(loss_fn) -> Callable:
    """Wrap a loss callable so that a reduced (batch-mean or batch-sum) result raises at trace time.

    The passes sum per-example losses and divide by the example count; a callable that already
    averages over the batch would give gradients |S| times too small, silently.
    """

    def per_example(y_true, y_pred):
        values = tf.convert_to_tensor(loss_fn(y_true, y_pred))
        rows = tf.nest.flatten(y_pred)[0].shape[:1]
        reduced = values.shape.rank == 0 or (
            rows.is_fully_defined() and values.shape[:1].is_fully_defined() and values.shape[0] != rows[0]
        )
        if reduced:
            raise ValueError(
                f"The loss callable returned shape {values.shape} for a batch of predictions of shape "
                f"{tf.nest.flatten(y_pred)[0].shape}: it "
                "reduces over the batch (e.g. a mean), which would scale every gradient by 1 / batch "
                "size. Pass a per-example loss instead: a keras.losses.Loss instance (used unreduced), a "
                "loss name such as 'mse', or a callable returning one value per example (e.g. "
                "keras.losses.sparse_categorical_crossentropy)."
            )
        return values

    return per_example


def _split_batch(batch):
    if isinstance(batch, dict) or not isinstance(batch, (tuple, list)) or len(batch) != 2:
        raise ValueError(
            "The dataset must yield (x, y) pairs; got an element of type "
            f"{type(batch).__name__}. Map it to (features, labels) first."
        )
    return batch[0], batch[1]


def batch_gradient_fn(
    model: keras.Model,
    *,
    loss=None,
    training: bool = False,
    strategy: tf.distribute.Strategy | None = None,
) -> Callable:
    """A compiled function batch -> (sum of per-example gradients, example count, summed loss).

    For a batch S it returns |S| grad f_S (one tensor per trainable variable), |S| and |S| f_S, summed
    over replicas when ``strategy`` has several; dividing by |S| gives the minibatch gradient.

    Args:
        model: a built keras.Model.
        loss: per-example loss (see :func:`full_gradient`); default the compiled ``model.loss``.
        training: run the model in training mode.
        strategy: tf.distribute strategy; default the one in scope.

    Returns:
        fn(batch) where ``batch`` is an (x, y) element of ``strategy.experimental_distribute_dataset``
        (or of a plain dataset under the default strategy).
    """
    per_example = _per_example_loss_fn(model, loss)
    strategy = strategy or tf.distribute.get_strategy()
    variables = model.trainable_variables
    if not variables:
        raise ValueError("The model has no trainable variables: build it (call it once) first.")

    def replica_fn(x, y):
        count = tf.shape(tf.nest.flatten(x)[0])[0]
        with tf.GradientTape() as tape:
            prediction = model(x, training=training)
            values = tf.convert_to_tensor(per_example(y, prediction))
            values = tf.cast(values, variables[0].dtype)
            if values.shape.rank and values.shape.rank > 1:
                values = tf.reduce_mean(values, axis=list(range(1, values.shape.rank)))
            total = tf.reduce_sum(values)
            if model.losses:
                total += tf.cast(count, total.dtype) * tf.cast(tf.add_n(model.losses), total.dtype)
        grads = tape.gradient(total, variables)
        grads = [
            tf.zeros_like(v) if g is None else tf.convert_to_tensor(g)
            for g, v in zip(grads, variables, strict=True)
        ]
        return grads, tf.cast(count, tf.int64), total

    @tf.function(reduce_retracing=True)
    def fn(batch):
        x, y = _split_batch(batch)
        per_replica = strategy.run(replica_fn, args=(x, y))
        return sum_over_replicas(strategy, per_replica)

    return fn


def _check_dataset(dataset, name: str) -> None:
    if not isinstance(dataset, tf.data.Dataset):
        raise ValueError(f"{name} must be a batched tf.data.Dataset of (x, y), got {type(dataset).__name__}.")


def _distributed(dataset, strategy):
    if not isinstance(dataset, tf.data.Dataset):
        raise ValueError(
            f"dataset must be a batched tf.data.Dataset of (x, y), got {type(dataset).__name__}."
        )
    return distribute_dataset(strategy, dataset)


def _check_num_batches(num_batches, name="num_batches"):
    if num_batches is not None and (int(num_batches) != num_batches or num_batches < 1):
        raise ValueError(f"{name} must be a positive integer or None, got {num_batches!r}.")


def full_gradient(
    model: keras.Model,
    dataset: tf.data.Dataset,
    *,
    loss=None,
    training: bool = False,
    max_batches: int | None = None,
    strategy: tf.distribute.Strategy | None = None,
    gradient_fn: Callable | None = None,
) -> FullGradient:
    """grad F(theta): the batch-size-weighted average of minibatch gradients over a dataset.

    Args:
        model: a built keras.Model; its variables are not changed.
        dataset: batched tf.data.Dataset of (x, y); one pass (or ``max_batches``) defines F.
        loss: a keras.losses.Loss (its unreduced ``call`` is used), a loss name ("mse"), or a callable
            (y_true, y_pred) -> per-example losses; default the compiled ``model.loss``. A callable
            that reduces over the batch (returns a scalar, e.g. a batch mean) is detected from the
            shape it returns and rejected with a ValueError, since it would scale the gradient by
            1 / batch size.
        training: run the model in training mode (dropout, BatchNorm batch statistics) or not.
        max_batches: use only the first ``max_batches`` batches.
        strategy: tf.distribute strategy (default: the one in scope); results are all-reduced.
        gradient_fn: a function from :func:`batch_gradient_fn` to reuse (skips retracing).

    Returns:
        FullGradient.

    Raises:
        ValueError: bad dataset/loss (including a batch-reduced loss callable), or an empty dataset.
        A NaN/inf loss or gradient is returned as it is (``FullGradient.loss`` is then not finite):
        check ``math.isfinite(full.loss)`` before using the gradient.
    """
    _check_num_batches(max_batches, "max_batches")
    strategy = strategy or tf.distribute.get_strategy()
    fn = gradient_fn or batch_gradient_fn(model, loss=loss, training=training, strategy=strategy)
    if strategy.num_replicas_in_sync == 1 and isinstance(dataset, tf.data.Dataset):
        return _full_gradient_in_one_call(model, dataset, fn, max_batches, training)
    total_grads, total_count, total_loss, batches = None, 0, 0.0, 0
    for batch in itertools.islice(_distributed(dataset, strategy), max_batches):
        grads, count, loss_sum = fn(batch)
        total_grads = (
            list(grads) if total_grads is None else [a + g for a, g in zip(total_grads, grads, strict=True)]
        )
        total_count += int(count)
        total_loss += float(loss_sum)
        batches += 1
    if not total_count:
        raise ValueError("full_gradient: the dataset yielded no examples.")
    n = tf.constant(total_count, dtype=total_grads[0].dtype)
    return FullGradient(
        gradients=tuple(g / n for g in total_grads),
        loss=total_loss / total_count,
        num_examples=total_count,
        num_batches=batches,
        training=bool(training),
    )


def _full_gradient_in_one_call(model, dataset, fn, max_batches, training) -> FullGradient:
    """One device: the batch-size-weighted sum over the dataset in one compiled call.

    The loop over batches runs inside a tf.function (no per-batch call from Python, no per-batch
    host synchronisation); sums accumulate in the same order and dtypes as a per-batch loop.
    """
    if max_batches is not None:
        dataset = dataset.take(max_batches)
    run = _dataset_sums.get(fn)
    if run is None:
        run = _dataset_sums[fn] = _dataset_sum_fn(fn, model.trainable_variables)
    grads, count, loss_sum, batches = run(iter(dataset))
    total_count = int(count)
    if not total_count:
        raise ValueError("full_gradient: the dataset yielded no examples.")
    n = tf.constant(total_count, dtype=grads[0].dtype)
    return FullGradient(
        gradients=tuple(g / n for g in grads),
        loss=float(loss_sum) / total_count,
        num_examples=total_count,
        num_batches=int(batches),
        training=bool(training),
    )


_dataset_sums: weakref.WeakKeyDictionary = weakref.WeakKeyDictionary()


def _dataset_sum_fn(fn, variables):
    """tf.function iterator -> (sum of fn's gradient sums, example count, float64 loss sum, batches).

    The loop pulls batches with ``get_next_as_optional`` inside the function graph; a ``for`` over a
    dataset would instead become a ``dataset.reduce``, whose body runs in the tf.data runtime and was
    measured several times slower than a per-batch Python loop here.
    """

    @tf.function(reduce_retracing=True)
    def run(iterator):
        grads = tuple(tf.zeros(v.shape, v.dtype) for v in variables)
        count = tf.constant(0, tf.int64)
        loss_sum = tf.constant(0.0, tf.float64)
        batches = tf.constant(0, tf.int64)
        element = iterator.get_next_as_optional()
        while element.has_value():
            batch_grads, batch_count, batch_loss = fn(element.get_value())
            grads = tuple(a + tf.cast(g, a.dtype) for a, g in zip(grads, batch_grads, strict=True))
            count += batch_count
            loss_sum += tf.cast(batch_loss, tf.float64)
            batches += 1
            element = iterator.get_next_as_optional()
        return grads, count, loss_sum, batches

    return run


def minibatch_gradients(
    model: keras.Model,
    dataset: tf.data.Dataset,
    *,
    loss=None,
    training: bool = False,
    num_batches: int | None = None,
    strategy: tf.distribute.Strategy | None = None,
    gradient_fn: Callable | None = None,
) -> Iterator[MinibatchGradient]:
    """Yield grad f_S for successive batches of ``dataset`` at the current (fixed) parameters.

    Args:
        model, dataset, loss, training, strategy, gradient_fn: as in :func:`full_gradient`.
        num_batches: stop after this many batches (the dataset is repeated if it is shorter); None: one
            pass over the dataset.

    Yields:
        MinibatchGradient, one at a time (O(parameters) memory).
    """
    _check_num_batches(num_batches)
    _check_dataset(dataset, "dataset")
    strategy = strategy or tf.distribute.get_strategy()
    fn = gradient_fn or batch_gradient_fn(model, loss=loss, training=training, strategy=strategy)
    source = dataset.repeat() if num_batches is not None else dataset
    for index, batch in enumerate(itertools.islice(_distributed(source, strategy), num_batches)):
        grads, count, loss_sum = fn(batch)
        n = int(count)
        if n == 0:
            continue
        scale = tf.constant(n, dtype=grads[0].dtype)
        yield MinibatchGradient(index, tuple(g / scale for g in grads), float(loss_sum) / n, n)


def gradient_noise(
    model: keras.Model,
    dataset: tf.data.Dataset,
    *,
    full: FullGradient | None = None,
    noise_dataset: tf.data.Dataset | None = None,
    loss=None,
    training: bool = False,
    num_batches: int | None = None,
    strategy: tf.distribute.Strategy | None = None,
    gradient_fn: Callable | None = None,
) -> Iterator[NoiseSample]:
    """Yield noise vectors w_S = grad F - grad f_S, one batch at a time.

    Args:
        model, loss, training, strategy, gradient_fn: as in :func:`full_gradient`.
        dataset: defines F (one pass) unless ``full`` is given.
        full: a precomputed FullGradient at the current parameters.
        noise_dataset: where minibatches S come from (default ``dataset``); its batch size is |S|.
        num_batches: number of noise vectors (the minibatch source repeats); None: one pass.

    Yields:
        NoiseSample per batch.
    """
    _check_dataset(dataset, "dataset")
    if noise_dataset is not None:
        _check_dataset(noise_dataset, "noise_dataset")
    strategy = strategy or tf.distribute.get_strategy()
    fn = gradient_fn or batch_gradient_fn(model, loss=loss, training=training, strategy=strategy)
    if full is None:
        full = full_gradient(model, dataset, training=training, strategy=strategy, gradient_fn=fn)
    source = dataset if noise_dataset is None else noise_dataset
    for mb in minibatch_gradients(
        model, source, num_batches=num_batches, strategy=strategy, gradient_fn=fn, training=training
    ):
        noise = tuple(f - g for f, g in zip(full.gradients, mb.gradients, strict=True))
        yield NoiseSample(mb.index, noise, mb.num_examples)


def smoothed_gradient_noise(
    model: keras.Model,
    dataset: tf.data.Dataset,
    *,
    beta_1: float = 0.9,
    full: FullGradient | None = None,
    noise_dataset: tf.data.Dataset | None = None,
    loss=None,
    training: bool = False,
    num_batches: int | None = None,
    strategy: tf.distribute.Strategy | None = None,
    gradient_fn: Callable | None = None,
) -> Iterator[NoiseSample]:
    """Yield Adam's smoothed noise u_k = grad F - m_hat_k at fixed parameters (module docstring).

    Args:
        beta_1: EMA coefficient in [0, 1); 0 gives back :func:`gradient_noise`.
        Others: as in :func:`gradient_noise`.

    Yields:
        NoiseSample per batch; ``noise`` holds u_k. Successive samples are dependent.

    Raises:
        ValueError: beta_1 outside [0, 1).
    """
    if not 0.0 <= beta_1 < 1.0:
        raise ValueError(f"beta_1 must be in [0, 1), got {beta_1}.")
    m, weight = None, 0.0
    for sample in gradient_noise(
        model,
        dataset,
        full=full,
        noise_dataset=noise_dataset,
        loss=loss,
        training=training,
        num_batches=num_batches,
        strategy=strategy,
        gradient_fn=gradient_fn,
    ):
        # EMA of w_k directly: grad F - m_hat_k = m_hat_k of the w's, since the weights sum to one.
        m = (
            [(1.0 - beta_1) * w for w in sample.noise]
            if m is None
            else [beta_1 * a + (1.0 - beta_1) * w for a, w in zip(m, sample.noise, strict=True)]
        )
        weight = beta_1 * weight + (1.0 - beta_1)  # = 1 - beta_1^k
        yield NoiseSample(sample.index, tuple(a / weight for a in m), sample.num_examples)
