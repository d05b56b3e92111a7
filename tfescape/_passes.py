"""Compiled passes over data held in device memory: a weighted sum over batches in one tf.function.

A pass computes, for a per-batch function f returning tensors,

    S = sum_b n_b * flat(f(x_b, y_b))   (float64),     N = sum_b n_b,

where batch b has n_b examples. Calling a compiled step once per batch from Python costs a function
call, a host synchronisation and a device-to-host copy per batch; iterating a tf.data pipeline inside
a tf.function costs the pipeline's per-batch work on every pass. Here the batches are read once, kept
as tensors (``ResidentBatches``), and the whole sum runs in one tf.function: consecutive batches of the
same shape are stacked into one (k, n, ...) tensor per leaf and visited by a ``tf.range`` loop, so
every batch keeps a static shape (XLA can compile the pass with ``jit_compile=True``) and the
accumulator never leaves the device. Batches are visited in their original order, so the sum is
accumulated in the same order as a per-batch loop.

Used on one device (no tf.distribute strategy with several replicas); under a strategy the callers
keep their per-batch, all-reduced steps.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from dataclasses import dataclass

import numpy as np
import tensorflow as tf

logger = logging.getLogger(__name__)

DEFAULT_MAX_RESIDENT_BYTES = 1 << 30
"""Data larger than this (1 GiB) is not copied into memory; the caller streams it batch by batch."""

_MAX_RUNS = 4
"""Batches fall into at most this many runs of equal shape (e.g. full batches plus a last smaller one)."""


@dataclass(frozen=True)
class _Run:
    """``count`` consecutive batches of one shape: leaves stacked along a new leading axis."""

    x: object
    y: object
    count: int
    batch_size: int


class ResidentBatches:
    """The batches of a finite dataset, read once and kept as stacked tensors.

    Attributes:
        num_examples: N, the total number of examples.
        num_batches: number of non-empty batches.
    """

    def __init__(self, runs: list[_Run]):
        self._runs = runs
        self.num_examples = int(sum(r.count * r.batch_size for r in runs))
        self.num_batches = int(sum(r.count for r in runs))

    @classmethod
    def from_batches(cls, batches, *, max_bytes: int = DEFAULT_MAX_RESIDENT_BYTES):
        """Read ``(x, y)`` batches into runs; None if they exceed ``max_bytes`` or vary too much in shape.

        Empty batches are dropped (they contribute nothing to a weighted sum).
        """
        groups: list[list] = []
        signature = None
        total_bytes = 0
        for x, y in batches:
            leaves = tf.nest.flatten((x, y))
            n = int(leaves[0].shape[0]) if leaves[0].shape.rank else 0
            if n == 0:
                continue
            total_bytes += sum(int(np.prod(t.shape, dtype=np.int64)) * t.dtype.size for t in leaves)
            if total_bytes > max_bytes:
                logger.debug("Data exceeds %d bytes; it is streamed batch by batch.", max_bytes)
                return None
            shapes = tuple(tuple(t.shape) for t in leaves)
            if shapes != signature:
                groups.append([])
                signature = shapes
                if len(groups) > _MAX_RUNS:
                    logger.debug("More than %d batch shapes; the data is streamed.", _MAX_RUNS)
                    return None
            groups[-1].append((x, y))
        if not groups:
            return None
        runs = []
        for group in groups:
            stacked = tf.nest.map_structure(lambda *parts: tf.stack(parts), *group)
            batch_size = int(tf.nest.flatten(group[0])[0].shape[0])
            runs.append(_Run(stacked[0], stacked[1], len(group), batch_size))
        return cls(runs)

    def weighted_sum(
        self,
        batch_fn: Callable,
        *,
        jit_compile: bool = False,
        prepare: Callable | None = None,
        input_signature=None,
    ) -> Callable:
        """A tf.function ``(*extra) -> sum_b n_b * flat(batch_fn(x_b, y_b, *extra))`` (float64 vector).

        ``batch_fn`` returns a list of tensors; they are cast to float64 and concatenated. ``prepare``,
        if given, maps the call's arguments once per pass (before the loop over batches) to the
        ``extra`` arguments of ``batch_fn``, e.g. to split a flat vector into per-variable tensors.
        ``input_signature`` is passed to tf.function (e.g. a leading dimension of None: one trace).
        """
        runs = self._runs

        def weighted(x, y, n, extra):
            values = batch_fn(x, y, *extra)
            flat = tf.concat([tf.reshape(tf.cast(v, tf.float64), [-1]) for v in values], axis=0)
            return tf.constant(float(n), tf.float64) * flat

        def total(*extra):
            if prepare is not None:
                extra = tuple(prepare(*extra))
            result = None
            for run in runs:
                if run.count == 1:
                    term = weighted(_first(run.x), _first(run.y), run.batch_size, extra)
                    result = term if result is None else result + term
                    continue
                if result is None:
                    result = weighted(_first(run.x), _first(run.y), run.batch_size, extra)
                    start = 1
                else:
                    start = 0
                for i in tf.range(start, run.count):
                    result = result + weighted(_at(run.x, i), _at(run.y, i), run.batch_size, extra)
            return result

        if input_signature is not None:
            return tf.function(total, jit_compile=jit_compile, input_signature=input_signature)
        return tf.function(total, jit_compile=jit_compile, reduce_retracing=True)


def _first(structure):
    return tf.nest.map_structure(lambda t: t[0], structure)


def _at(structure, i):
    return tf.nest.map_structure(lambda t: tf.gather(t, i), structure)
