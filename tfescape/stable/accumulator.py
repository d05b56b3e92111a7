"""Streaming Mohammadi tail-index estimate over chunks of noise, in memory independent of the stream length.

Gradient noise comes one vector at a time (one per training step or probe). ``TailIndexAccumulator`` takes
the chunks in order, treats them as one long sample (blocks may straddle chunk boundaries), and keeps only

- the block statistics' running count, mean and sum of squared deviations (D_i = log|Y_i| minus the mean
  of log|X_j| over block i, see ``tfescape.stable.tail_index``),
- the fewer than K1 samples of the last, incomplete block,
- the running minimum and maximum (to reject constant data).

So memory is O(batch * K1) whatever the number of chunks, and ``result()`` equals
``tail_index(all_samples, method="mohammadi", block_size=K1, interval="asymptotic")`` on the concatenated
samples (both use the complete blocks only), up to floating-point rounding.

References:
    Mohammadi, Mohammadpour & Ogata (2015), Metrika 78, 549-561 (Corollary 2.4).
    Chan, Golub & LeVeque (1979), Updating formulae and a pairwise algorithm for computing sample variances.
"""

from __future__ import annotations

import math
import statistics

import numpy as np
import tensorflow as tf

from tfescape.stable.tail_index import TailIndexResult, inverse_alpha_to_alpha


class TailIndexAccumulator:
    """Mohammadi block-sum tail index from a stream of chunks of shape [..., m] (any m, fixed batch shape).

    Args:
        block_size: K1, the number of consecutive samples summed per block (>= 2). The stream length is
            unknown in advance, so there is no sqrt(n) default rule here; 1000 suits streams of 1e6 samples
            or more (tail_index's default for n samples is floor(sqrt(n))).
        confidence: coverage of the asymptotic (normal, on 1/alpha) interval in ``result()``.

    Example:
        >>> acc = TailIndexAccumulator(block_size=1000)
        >>> for step in range(100):
        ...     acc.update(noise_vector(step))  # e.g. [num_params] or [num_layers, m]
        >>> acc.result().alpha
    """

    def __init__(self, block_size: int = 1000, *, confidence: float = 0.95):
        if int(block_size) != block_size or block_size < 2:
            raise ValueError(f"TailIndexAccumulator: block_size must be an integer >= 2, got {block_size}.")
        if not 0.0 < float(confidence) < 1.0:
            raise ValueError(f"TailIndexAccumulator: confidence must lie in (0, 1), got {confidence}.")
        self.block_size = int(block_size)
        self.confidence = float(confidence)
        self.reset()

    def reset(self) -> None:
        """Forget everything seen so far (the batch shape is set again by the next chunk)."""
        self._batch_shape = None
        self._pending = None  # [..., r], r < K1
        self._num_samples = 0
        self._num_blocks = 0
        self._mean = None  # running mean of D_i, [...]
        self._m2 = None  # running sum of squared deviations of D_i, [...]
        self._min = None
        self._max = None

    @property
    def num_samples(self) -> int:
        """Samples seen per batch slice (complete blocks and the pending partial block)."""
        return self._num_samples

    @property
    def num_blocks(self) -> int:
        """Complete blocks seen per batch slice (K2)."""
        return self._num_blocks

    def update(self, chunk) -> None:
        """Add a chunk of samples (array or Tensor, shape [..., m]; the batch shape must not change).

        Raises:
            ValueError: NaN/inf or exact zeros in the chunk, or a batch shape different from earlier chunks.
        """
        x = np.asarray(chunk, dtype=np.float64)
        if x.ndim == 0:
            x = x.reshape(1)
        if self._batch_shape is None:
            self._start(x.shape[:-1])
        elif x.shape[:-1] != self._batch_shape:
            raise ValueError(
                f"TailIndexAccumulator: chunk batch shape {x.shape[:-1]} differs from the first chunk's "
                f"{self._batch_shape}; keep the leading axes fixed (one accumulator per batch layout)."
            )
        if x.shape[-1] == 0:
            return
        if not np.all(np.isfinite(x)):
            raise ValueError(
                "TailIndexAccumulator: chunk contains NaN or inf; drop non-finite values before update() "
                "(e.g. chunk[np.isfinite(chunk)]) or fix the computation that produced them."
            )
        if not np.all(x != 0):
            raise ValueError(
                "TailIndexAccumulator: chunk contains exact zeros, whose log is -inf; drop them first "
                "(chunk[chunk != 0]), e.g. coordinates whose gradient is always zero."
            )
        np.minimum(self._min, x.min(axis=-1), out=self._min)
        np.maximum(self._max, x.max(axis=-1), out=self._max)
        self._num_samples += x.shape[-1]
        data = np.concatenate([self._pending, x], axis=-1) if self._pending.shape[-1] else x
        k1 = self.block_size
        num_new = data.shape[-1] // k1
        self._pending = data[..., num_new * k1 :].copy()
        if num_new:
            self._merge(block_statistics(data[..., : num_new * k1], k1))

    def result(self) -> TailIndexResult:
        """The Mohammadi estimate over the complete blocks so far, with an asymptotic interval.

        Returns:
            TailIndexResult (float64 Tensors of the batch shape; interval "asymptotic"; num_samples counts
            every sample seen, block_size is K1).

        Raises:
            ValueError: fewer than 2 complete blocks so far, or constant data.
        """
        if self._num_blocks < 2:
            raise ValueError(
                f"TailIndexAccumulator: too few samples for the block size: {self._num_samples} samples "
                f"give {self._num_blocks} complete blocks of block_size={self.block_size}, need >= 2; "
                f"feed at least {2 * self.block_size} samples or use a smaller block_size."
            )
        if np.any(self._max <= self._min):
            raise ValueError(
                "TailIndexAccumulator: the data are constant (in at least one batch slice), so they have no "
                "tail to measure; check that the noise was not zeroed or detached."
            )
        log_k1 = math.log(self.block_size)
        inv = tf.constant(self._mean / log_k1, tf.float64)
        std = np.sqrt(self._m2 / (self._num_blocks - 1))
        z = statistics.NormalDist().inv_cdf(0.5 + self.confidence / 2.0)
        half = tf.constant(z * std / (math.sqrt(self._num_blocks) * log_k1), tf.float64)
        return TailIndexResult(
            alpha=inverse_alpha_to_alpha(inv),
            ci_low=inverse_alpha_to_alpha(inv + half),
            ci_high=inverse_alpha_to_alpha(inv - half),
            interval="asymptotic",
            method="mohammadi",
            num_samples=self._num_samples,
            block_size=self.block_size,
            confidence=self.confidence,
        )

    def _start(self, batch_shape) -> None:
        self._batch_shape = tuple(batch_shape)
        self._pending = np.zeros(self._batch_shape + (0,))
        self._mean = np.zeros(self._batch_shape)
        self._m2 = np.zeros(self._batch_shape)
        self._min = np.full(self._batch_shape, np.inf)
        self._max = np.full(self._batch_shape, -np.inf)

    def _merge(self, d: np.ndarray) -> None:
        """Chan et al.'s pairwise update of (count, mean, M2) with a batch of block statistics [..., b]."""
        b = d.shape[-1]
        mean_b = d.mean(axis=-1)
        m2_b = np.square(d - mean_b[..., np.newaxis]).sum(axis=-1)
        total = self._num_blocks + b
        delta = mean_b - self._mean
        self._mean = self._mean + delta * (b / total)
        self._m2 = self._m2 + m2_b + np.square(delta) * (self._num_blocks * b / total)
        self._num_blocks = total


def block_statistics(x: np.ndarray, block_size: int) -> np.ndarray:
    """D_i = log|sum of block i| - mean of log|x| over block i, for x of shape [..., b * K1] -> [..., b]."""
    blocks = x.reshape(x.shape[:-1] + (-1, block_size))
    return np.log(np.abs(blocks.sum(axis=-1))) - np.log(np.abs(blocks)).mean(axis=-1)
