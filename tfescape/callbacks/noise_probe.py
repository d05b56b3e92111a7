"""GradientNoiseProbe: measure the gradient noise and its tail index during model.fit.

At chosen optimizer steps the probe freezes nothing and changes nothing: at the current parameters it
computes the full gradient grad F over ``dataset`` and streams ``num_batches`` noise vectors
w = grad F - grad f_S (see :mod:`tfescape.noise`). From that single stream it keeps, in O(parameters)
memory:

- the per-coordinate noise variance, the diagonal of Sigma (Welford);
- the noise values of a fixed uniformly random subset of at most ``max_coordinates`` coordinates per
  variable (chosen once, from ``seed``), over all probed batches;
- optionally the same subset of Adam's smoothed noise u_k (EMA with ``smoothed_beta_1``).

Tail index: each sampled coordinate's values are divided by their median absolute value over the batches
(the stability identity behind the estimators needs equally scaled samples; gradient noise scales differ
by orders of magnitude across coordinates), coordinates whose noise is identically zero and exact zeros are
dropped, and the pooled values go to :func:`tfescape.stable.tail_index` with confidence intervals: once
per variable ("layer"), and once globally on a uniform random subset of all the model's coordinates
(each variable contributes the same fraction of its coordinates), which estimates what pooling the whole
(batches x parameters) noise matrix would, from a fraction of it.

Results: ``probe.history`` (a list of frozen :class:`NoiseProbeRecord`), TensorBoard summaries when
``log_dir`` is set, and the raw sampled noise as .npz files when ``samples_dir`` is set (atomic writes).
A failure inside a measurement (e.g. too few samples for the estimator) is logged and recorded as NaN;
it never stops training.

Example:
    >>> probe = GradientNoiseProbe(train.take(20), every_n_steps=200, num_batches=100,
    ...                            log_dir="logs/noise", smoothed_beta_1=0.9)
    >>> model.fit(train, epochs=3, callbacks=[probe])
    >>> [(r.step, r.global_noise.alpha) for r in probe.history]

References:
    Simsekli, Sagun, Gurbuzbalaban. "A Tail-Index Analysis of Stochastic Gradient Noise in Deep Neural
    Networks." ICML 2019.
    Zhou et al. "Towards Theoretically Understanding Why SGD Generalizes Better Than Adam in Deep
    Learning." NeurIPS 2020.
"""

from __future__ import annotations

import logging
import math
from collections.abc import Sequence
from dataclasses import dataclass

import keras
import numpy as np
import tensorflow as tf
import tensorflow_probability as tfp

from tfescape import _checks
from tfescape import data as data_lib
from tfescape import noise as noise_lib
from tfescape._seeds import sanitize_seed
from tfescape.callbacks._summaries import write_histogram, write_scalar

logger = logging.getLogger(__name__)

__all__ = [
    "GradientNoiseProbe",
    "NoiseProbeRecord",
    "LayerNoise",
]


@dataclass(frozen=True)
class LayerNoise:
    """Noise statistics of one variable ("layer") or of all of them ("global").

    Attributes:
        name: variable path, or "global".
        alpha, ci_low, ci_high: tail index and its confidence interval (NaN if it could not be estimated).
        num_samples: standardized noise values the estimate used.
        num_coordinates: coordinates of the variable(s).
        variance_mean, variance_median, variance_max: of the per-coordinate noise variance diag(Sigma).
    """

    name: str
    alpha: float
    ci_low: float
    ci_high: float
    num_samples: int
    num_coordinates: int
    variance_mean: float
    variance_median: float
    variance_max: float
    pooling: str = "standardized"
    dropped_coordinates: int = 0


@dataclass(frozen=True)
class NoiseProbeRecord:
    """One measurement.

    Attributes:
        step: optimizer iterations when measured (after that many updates).
        num_batches: noise vectors streamed.
        batch_size: mean |S| of those batches.
        full_loss: F(theta) over the probe dataset.
        global_noise: LayerNoise over all variables, pooled the probe's first ``pooling`` way.
        pools: the global LayerNoise for each of the probe's poolings (global_noise first).
        per_layer: LayerNoise per trainable variable (model.trainable_variables order).
        smoothed_global, smoothed_per_layer: the same for Adam's smoothed noise (None if not requested;
            the variance fields there are NaN).
        histogram_counts, histogram_edges: histogram of the global pool of standardized noise, arrays
            of shapes [bins] and [bins + 1] (the outer 1% on each side is counted in the end bins).
        method, confidence: tail-index estimator and interval coverage used.
        samples_path: the .npz written for this step, or None.
    """

    step: int
    num_batches: int
    batch_size: float
    full_loss: float
    global_noise: LayerNoise
    per_layer: tuple[LayerNoise, ...]
    smoothed_global: LayerNoise | None
    smoothed_per_layer: tuple[LayerNoise, ...] | None
    histogram_counts: np.ndarray
    histogram_edges: np.ndarray
    method: str
    confidence: float
    samples_path: str | None
    pools: tuple[LayerNoise, ...] = ()

    def pool(self, pooling: str) -> LayerNoise:
        """The global estimate of one pooling ("standardized" or "raw"); ValueError if not measured."""
        for item in self.pools:
            if item.pooling == pooling:
                return item
        raise ValueError(
            f"this record has no {pooling!r} pooling; measured: {[p.pooling for p in self.pools]}. "
            f"Create the probe with pooling=({pooling!r}, ...)."
        )


class GradientNoiseProbe(keras.callbacks.Callback):
    """Keras callback: gradient noise, its tail index (global and per layer) and diag(Sigma) during fit.

    Args:
        dataset: batched tf.data.Dataset of (x, y) defining F (one pass) and, by default, the minibatches
            S (their batch size is |S|; the dataset is repeated when num_batches exceeds its length).
            Give it the batch size of training for the noise training actually sees.
        every_n_steps: measure when optimizer.iterations is a multiple of this (None: only ``at_steps``).
        num_batches: noise vectors per measurement (>= 2).
        at_steps: extra optimizer steps to measure at (e.g. (0,) to measure before training: step 0 is
            measured at the start of fit).
        noise_dataset: separate source of minibatches (default ``dataset``).
        loss: per-example loss (see tfescape.noise.full_gradient); default the compiled loss.
        training: run the model in training mode while probing (default inference mode).
        max_coordinates: sampled coordinates per variable for the tail index.
        smoothed_beta_1: also measure Adam's smoothed noise with this beta_1 (None: skip).
        pooling: how the global noise matrix is pooled for the tail index: "standardized" (each
            coordinate divided by its median |w|; the default) or "raw" (the paper's recipe: no scaling,
            coordinates that never move dropped and counted), or a tuple of both: the first sets
            ``global_noise`` and the per-layer estimates, each gets an entry in ``record.pools``. See
            tfescape.noise.pool_noise.
        method, confidence, interval: passed to tfescape.stable.tail_index.
        histogram_bins: bins of the record's histogram of standardized noise.
        log_dir: TensorBoard directory (tf.summary scalars and histograms), or None.
        samples_dir: directory for raw sampled noise, one ``noise_step<step>.npz`` per measurement, with
            arrays ``noise_<i>_<variable>`` [batches, sampled coordinates], ``indices_<i>_<variable>``
            (flat indices of the sampled coordinates, in sampling order), ``size_<i>_<variable>`` (the
            variable's size) and, with smoothed_beta_1, ``smoothed_<i>_<variable>``;
            tfescape.noise.load_pool rebuilds each global sample from it.
        seed: seeds the coordinate subset and the bootstrap (None: nondeterministic).

    Raises:
        ValueError: bad arguments.
    """

    def __init__(
        self,
        dataset: tf.data.Dataset,
        *,
        every_n_steps: int | None = 100,
        num_batches: int = 50,
        at_steps: Sequence[int] = (),
        noise_dataset: tf.data.Dataset | None = None,
        loss=None,
        training: bool = False,
        max_coordinates: int = 2048,
        smoothed_beta_1: float | None = None,
        pooling: str | Sequence[str] = "standardized",
        method: str = "mohammadi",
        confidence: float = 0.95,
        interval: str = "asymptotic",
        histogram_bins: int = 41,
        log_dir: str | None = None,
        samples_dir: str | None = None,
        seed=None,
    ):
        super().__init__()
        _check_options(every_n_steps, num_batches, at_steps, max_coordinates, histogram_bins)
        _check_estimator_options(method, confidence, interval, noise_dataset)
        if not isinstance(dataset, tf.data.Dataset):
            raise ValueError(f"dataset must be a batched tf.data.Dataset of (x, y), got {type(dataset)}.")
        if every_n_steps is not None and (int(every_n_steps) != every_n_steps or every_n_steps < 1):
            raise ValueError(f"every_n_steps must be a positive integer or None, got {every_n_steps!r}.")
        if every_n_steps is None and not at_steps:
            raise ValueError("Give every_n_steps or at_steps, otherwise the probe never measures.")
        if int(num_batches) != num_batches or num_batches < 2:
            raise ValueError(f"num_batches must be an integer >= 2, got {num_batches!r}.")
        if int(max_coordinates) != max_coordinates or max_coordinates < 1:
            raise ValueError(f"max_coordinates must be a positive integer, got {max_coordinates!r}.")
        if smoothed_beta_1 is not None and not 0.0 < smoothed_beta_1 < 1.0:
            raise ValueError(f"smoothed_beta_1 must be in (0, 1) or None, got {smoothed_beta_1!r}.")
        if int(histogram_bins) != histogram_bins or histogram_bins < 1:
            raise ValueError(f"histogram_bins must be a positive integer, got {histogram_bins!r}.")
        poolings = (pooling,) if isinstance(pooling, str) else tuple(pooling)
        if not poolings or len(set(poolings)) != len(poolings):
            raise ValueError(f"pooling must be one of {noise_lib.POOLINGS} or a tuple of distinct ones.")
        self.poolings = tuple(noise_lib.check_pooling(p) for p in poolings)
        self.dataset = dataset
        self.noise_dataset = noise_dataset
        self.every_n_steps = every_n_steps
        self.num_batches = int(num_batches)
        self.at_steps = frozenset(int(s) for s in at_steps)
        self.loss = loss
        self.training = bool(training)
        self.max_coordinates = int(max_coordinates)
        self.smoothed_beta_1 = smoothed_beta_1
        self.method = method
        self.confidence = float(confidence)
        self.interval = interval
        self.histogram_bins = int(histogram_bins)
        self.log_dir = log_dir
        self.samples_dir = samples_dir
        self._seed = sanitize_seed(seed, salt="GradientNoiseProbe")
        self.history: list[NoiseProbeRecord] = []
        self._writer = None
        self._gradient_fn = None
        self._indices = None
        self._last_step = None

    # ------------------------------------------------------------------ Keras hooks

    def on_train_begin(self, logs=None):
        if 0 in self.at_steps and self._current_step() == 0:
            self._safe_measure(0)

    def on_train_batch_end(self, batch, logs=None):
        step = self._current_step()
        due = (self.every_n_steps is not None and step % self.every_n_steps == 0) or step in self.at_steps
        if due and step != self._last_step:
            self._safe_measure(step)

    def on_train_end(self, logs=None):
        if self._writer is not None:
            self._writer.flush()

    # ------------------------------------------------------------------ measurement

    def _current_step(self) -> int:
        optimizer = getattr(self.model, "optimizer", None)
        if optimizer is None:  # measuring a model that is not compiled for training
            return 0
        return int(np.asarray(keras.ops.convert_to_numpy(optimizer.iterations)))

    def _safe_measure(self, step):
        self._last_step = step
        try:
            self.measure(step)
        except Exception:  # a probe must never stop training
            logger.exception("GradientNoiseProbe: measurement at step %d failed; training continues.", step)

    def measure(self, step: int | None = None) -> NoiseProbeRecord:
        """Measure now, append the record to ``history``, log it, and return it.

        Minibatches are a pure function of (data seed, step): a :func:`tfescape.data.load_dataset`
        training pipeline is read from data epoch :func:`noise_data_epoch` (step) on, and its epoch
        counter is restored afterwards, so a restarted process measures the same batches. Other
        pipelines are iterated as they are.

        Args:
            step: the step to file the record under (default: the optimizer's iterations).
        """
        if step is None:
            step = self._current_step()
        with data_lib.pinned_data_epoch((self.dataset, self.noise_dataset), noise_data_epoch(step)):
            return self._measure(step)

    def _measure(self, step: int | None) -> NoiseProbeRecord:
        model = self.model
        if step is None:
            step = self._current_step()
        strategy = getattr(model, "distribute_strategy", None) or tf.distribute.get_strategy()
        variables = model.trainable_variables
        if self._gradient_fn is None:
            self._gradient_fn = noise_lib.batch_gradient_fn(
                model, loss=self.loss, training=self.training, strategy=strategy
            )
        if self._indices is None:
            self._indices = self._choose_coordinates(variables)
        full = noise_lib.full_gradient(
            model, self.dataset, training=self.training, strategy=strategy, gradient_fn=self._gradient_fn
        )
        source = self.dataset if self.noise_dataset is None else self.noise_dataset
        stats = noise_lib.NoiseStatistics()
        raw = [np.empty((self.num_batches, idx.size)) for idx in self._indices]
        smooth = [np.empty_like(r) for r in raw] if self.smoothed_beta_1 is not None else None
        ema, weight, sizes = None, 0.0, []
        for k, mb in enumerate(
            noise_lib.minibatch_gradients(
                model,
                source,
                num_batches=self.num_batches,
                strategy=strategy,
                gradient_fn=self._gradient_fn,
                training=self.training,
            )
        ):
            w = [f - g for f, g in zip(full.gradients, mb.gradients, strict=True)]
            stats.update(w)
            sampled = [np.take(np.ravel(np.asarray(t)), idx) for t, idx in zip(w, self._indices, strict=True)]
            for buffer, values in zip(raw, sampled, strict=True):
                buffer[k] = values
            if smooth is not None:
                b1 = self.smoothed_beta_1
                ema = (
                    [(1 - b1) * s for s in sampled]
                    if ema is None
                    else [b1 * e + (1 - b1) * s for e, s in zip(ema, sampled, strict=True)]
                )
                weight = b1 * weight + (1 - b1)
                for buffer, e in zip(smooth, ema, strict=True):
                    buffer[k] = e / weight
            sizes.append(mb.num_examples)
        moments = stats.result()
        names = [v.path for v in variables]
        per_layer = self._layers(names, raw, moments.variance)
        pools = tuple(
            self._estimate("global", self._global_pool(raw, p), moments.variance, salt=_pool_salt(0, p))
            for p in self.poolings
        )
        global_noise = pools[0]
        z = self._global_pool(raw, self.poolings[0]).values
        smoothed_global = smoothed_per_layer = None
        if smooth is not None:
            smoothed_per_layer = self._layers(names, smooth, None)
            smoothed_global = self._estimate(
                "global",
                self._global_pool(smooth, self.poolings[0]),
                None,
                salt=_pool_salt(1, self.poolings[0]),
            )
        counts, edges = _histogram(z, self.histogram_bins)
        samples_path = self._save_samples(step, names, raw, smooth) if self.samples_dir else None
        record = NoiseProbeRecord(
            step=int(step),
            num_batches=len(sizes),
            batch_size=float(np.mean(sizes)),
            full_loss=full.loss,
            global_noise=global_noise,
            per_layer=tuple(per_layer),
            smoothed_global=smoothed_global,
            smoothed_per_layer=None if smoothed_per_layer is None else tuple(smoothed_per_layer),
            histogram_counts=counts,
            histogram_edges=edges,
            method=self.method,
            confidence=self.confidence,
            samples_path=samples_path,
            pools=pools,
        )
        self.history.append(record)
        if self.log_dir:
            self._log(record, z, moments.variance)
        return record

    def _choose_coordinates(self, variables):
        """Per variable, min(size, max_coordinates) coordinates in uniformly random order."""
        seed = tfp.random.split_seed(self._seed, n=max(len(variables), 1), salt="coordinates")
        self._sizes = [int(np.prod(v.shape)) for v in variables]
        indices = []
        for size, s in zip(self._sizes, seed, strict=False):
            order = tf.argsort(tf.random.stateless_uniform([size], seed=s)).numpy()
            indices.append(order[: min(size, self.max_coordinates)])
        return indices

    def _global_pool(self, buffers, pooling):
        return noise_lib.pool_noise(buffers, self._sizes, pooling=pooling)

    def _layers(self, names, buffers, variances):
        layers = []
        pooling = self.poolings[0]
        for i, (name, buffer) in enumerate(zip(names, buffers, strict=True)):
            variance = None if variances is None else [variances[i]]
            pool = noise_lib.pool_columns(buffer, pooling=pooling)
            layers.append(self._estimate(name, pool, variance, salt=_pool_salt(2 + i, pooling)))
        return layers

    def _estimate(self, name, pool, variances, *, salt) -> LayerNoise:
        from tfescape.stable import tail_index

        z = pool.values
        alpha = low = high = math.nan
        try:
            seed = tfp.random.split_seed(self._seed, n=2, salt=f"tail{salt}")[1]
            result = tail_index(
                z, method=self.method, confidence=self.confidence, interval=self.interval, seed=seed
            )
            alpha = float(result.alpha)
            if result.ci_low is not None:
                low, high = float(result.ci_low), float(result.ci_high)
        except ValueError as error:
            logger.warning("GradientNoiseProbe: no tail index for %s (%s).", name, error)
        if variances is None:
            v_mean = v_median = v_max = math.nan
            coordinates = 0
        else:
            flat = noise_lib.flatten(variances)
            v_mean, v_median, v_max = float(flat.mean()), float(np.median(flat)), float(flat.max())
            coordinates = flat.size
        return LayerNoise(
            name,
            alpha,
            low,
            high,
            int(z.size),
            coordinates,
            v_mean,
            v_median,
            v_max,
            pool.pooling,
            pool.dropped_coordinates,
        )

    # ------------------------------------------------------------------ outputs

    def _log(self, record: NoiseProbeRecord, z, variances):
        if self._writer is None:
            self._writer = tf.summary.create_file_writer(self.log_dir)
        with self._writer.as_default(step=record.step):
            for prefix, layers, glob in (
                ("noise", record.per_layer, record.global_noise),
                ("smoothed_noise", record.smoothed_per_layer, record.smoothed_global),
            ):
                if glob is None:
                    continue
                for item in (glob, *layers):
                    tag = f"{prefix}/{item.name}"
                    write_scalar(f"{tag}/alpha", item.alpha)
                    write_scalar(f"{tag}/alpha_ci_low", item.ci_low)
                    write_scalar(f"{tag}/alpha_ci_high", item.ci_high)
                    if not math.isnan(item.variance_mean):
                        write_scalar(f"{tag}/variance_mean", item.variance_mean)
            write_scalar("noise/full_loss", record.full_loss)
            if z.size:
                write_histogram("noise/standardized", z)
            for item, variance in zip(record.per_layer, variances, strict=True):
                write_histogram(f"noise/{item.name}/variance", np.ravel(variance))
        self._writer.flush()

    def _save_samples(self, step, names, raw, smooth) -> str:
        samples = noise_lib.NoiseSamples(
            int(step),
            tuple(names),
            tuple(raw),
            tuple(self._indices),
            tuple(self._sizes),
            None if smooth is None else tuple(smooth),
        )
        return noise_lib.save_noise_samples(samples, self.samples_dir)


def _pool_salt(base: int, pooling: str):
    """Seed salt of an estimate: unchanged for the standardized pool, distinct for the raw one."""
    return base if pooling == "standardized" else f"{base}-{pooling}"


def _check_options(every_n_steps, num_batches, at_steps, max_coordinates, histogram_bins) -> None:
    _checks.optional_positive_int(every_n_steps, "GradientNoiseProbe every_n_steps")
    _checks.integer(num_batches, "GradientNoiseProbe num_batches", minimum=2)
    for step in at_steps:
        _checks.integer(step, "GradientNoiseProbe at_steps entry", minimum=0)
    _checks.positive_int(max_coordinates, "GradientNoiseProbe max_coordinates")
    _checks.positive_int(histogram_bins, "GradientNoiseProbe histogram_bins")


def _check_estimator_options(method, confidence, interval, noise_dataset) -> None:
    from tfescape.stable.tail_index import INTERVALS, METHODS

    _checks.choice(method, "GradientNoiseProbe method", METHODS)
    _checks.probability(confidence, "GradientNoiseProbe confidence")
    _checks.choice(interval, "GradientNoiseProbe interval", INTERVALS)
    if noise_dataset is not None and not isinstance(noise_dataset, tf.data.Dataset):
        raise ValueError(
            f"noise_dataset must be a batched tf.data.Dataset of (x, y) or None, got {type(noise_dataset)}."
        )


def noise_data_epoch(step: int) -> int:
    """The data epoch a probe measuring at optimizer ``step`` starts from: -(step + 1) * 2**20.

    Negative, so it never coincides with a training epoch, and 2**20 passes apart from the next step's.
    """
    return -(int(step) + 1) * 2**20


def _histogram(z, bins):
    if z.size == 0:
        return np.zeros(bins, dtype=np.int64), np.linspace(-1.0, 1.0, bins + 1)
    # Heavy tails: bin the central 98% so the histogram shows the body; the edges collect the rest.
    low, high = np.quantile(z, [0.01, 0.99])
    if not high > low:
        low, high = low - 1.0, high + 1.0
    counts, edges = np.histogram(np.clip(z, low, high), bins=bins, range=(low, high))
    return counts, edges
