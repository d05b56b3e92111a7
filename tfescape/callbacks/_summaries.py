"""TensorBoard scalars and histograms written with core TensorFlow only.

tf.summary.scalar / tf.summary.histogram live in the ``tensorboard`` package, which TensorFlow no longer
installs. These writers produce the same event records (the "scalars" and "histograms" plugin formats)
through ``tf.summary.write``, so logging works without it; viewing needs ``pip install tensorboard``.
Call them inside ``writer.as_default(step=...)``.
"""

from __future__ import annotations

import numpy as np
import tensorflow as tf
from tensorflow.core.framework import summary_pb2


def _metadata(plugin: str) -> summary_pb2.SummaryMetadata:
    return summary_pb2.SummaryMetadata(plugin_data=summary_pb2.SummaryMetadata.PluginData(plugin_name=plugin))


def write_scalar(tag: str, value: float, step: int | None = None) -> None:
    """One scalar point (TensorBoard "scalars" plugin format)."""
    tf.summary.write(tag, tf.constant(float(value), tf.float32), step=step, metadata=_metadata("scalars"))


def write_histogram(tag: str, values, step: int | None = None, *, bins: int = 30) -> None:
    """Histogram of the finite entries of ``values`` ("histograms" plugin: [bins, 3] left, right, count)."""
    values = np.ravel(np.asarray(values, dtype=np.float64))
    values = values[np.isfinite(values)]
    if values.size == 0:
        return
    low, high = float(values.min()), float(values.max())
    if high <= low:
        low, high = low - 0.5, high + 0.5
    counts, edges = np.histogram(values, bins=bins, range=(low, high))
    table = np.stack([edges[:-1], edges[1:], counts.astype(np.float64)], axis=1)
    tf.summary.write(tag, tf.constant(table, tf.float64), step=step, metadata=_metadata("histograms"))
