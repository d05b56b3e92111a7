"""OptimizerStateLogger: a RecordingOptimizer's summary to TensorBoard and to a CSV history.

Every ``every_n_steps`` optimizer steps the logger reads ``optimizer.summary()`` (the latest recorded
step; a step already logged is not logged twice) and writes

- TensorBoard scalars ``optimizer/<variable or global>/<statistic>`` (norms, min/median/max of the
  effective preconditioner Q, its anisotropy max/min and log10 spread, effective-lr quantiles) and
  histograms ``optimizer/<variable>/{preconditioner,effective_learning_rate,gradient,update}``;
- a CSV file in long format: one row per (step, variable), the variable "global" for all together. Rows
  are appended and flushed after every write, so a crashed run keeps everything logged so far and a
  resumed run continues the same file (the header is written only when the file is new or empty).

Example:
    >>> optimizer = RecordingOptimizer(keras.optimizers.Adam(), record_every=50)
    >>> model.compile(optimizer=optimizer, loss=loss)
    >>> model.fit(x, y, callbacks=[OptimizerStateLogger("logs/adam", every_n_steps=50)])
    >>> # tensorboard --logdir logs ; pandas.read_csv("logs/adam/optimizer_state.csv")
"""

from __future__ import annotations

import csv
import logging
import os
from dataclasses import fields

import keras
import numpy as np
import tensorflow as tf

from tfescape import _checks
from tfescape.callbacks._summaries import write_histogram, write_scalar
from tfescape.optimizers.recording import RecordingOptimizer, StateSummary, VariableStats

logger = logging.getLogger(__name__)

__all__ = ["OptimizerStateLogger", "CSV_COLUMNS"]

_STAT_FIELDS = tuple(f.name for f in fields(VariableStats) if f.name != "name")
CSV_COLUMNS = ("step", "optimizer", "learning_rate", "nonfinite_steps", "variable", *_STAT_FIELDS)


class OptimizerStateLogger(keras.callbacks.Callback):
    """Logs RecordingOptimizer summaries to TensorBoard and a CSV file during fit.

    Args:
        log_dir: directory for the TensorBoard events and the CSV (created if missing).
        every_n_steps: log when optimizer.iterations is a multiple of this.
        histograms: also write TensorBoard histograms of Q, lr/Q, gradients and updates.
        csv_name: file name of the CSV inside log_dir (None: no CSV).

    Attributes:
        history: list of the StateSummary objects logged, in order.

    Raises:
        ValueError: bad arguments; at the start of fit, a model whose optimizer is not a
            RecordingOptimizer.
    """

    def __init__(
        self,
        log_dir: str,
        *,
        every_n_steps: int = 100,
        histograms: bool = True,
        csv_name: str | None = "optimizer_state.csv",
    ):
        super().__init__()
        if not log_dir or not isinstance(log_dir, str | os.PathLike):
            raise ValueError(f"log_dir must be a directory path, got {log_dir!r}.")
        _checks.positive_int(every_n_steps, "every_n_steps")
        if int(every_n_steps) != every_n_steps or every_n_steps < 1:
            raise ValueError(f"every_n_steps must be a positive integer, got {every_n_steps!r}.")
        self.log_dir = str(log_dir)
        self.every_n_steps = int(every_n_steps)
        self.histograms = bool(histograms)
        self.csv_path = os.path.join(self.log_dir, csv_name) if csv_name else None
        self.history: list[StateSummary] = []
        self._writer = None
        self._last_step = None

    def _optimizer(self) -> RecordingOptimizer:
        optimizer = self.model.optimizer
        if not isinstance(optimizer, RecordingOptimizer):
            raise ValueError(
                "OptimizerStateLogger needs the model compiled with a RecordingOptimizer, got "
                f"{type(optimizer).__name__}. Wrap it: RecordingOptimizer(keras.optimizers.Adam(...))."
            )
        return optimizer

    def on_train_begin(self, logs=None):
        self._optimizer()
        os.makedirs(self.log_dir, exist_ok=True)

    def on_train_batch_end(self, batch, logs=None):
        optimizer = self._optimizer()
        step = int(np.asarray(keras.ops.convert_to_numpy(optimizer.iterations)))
        if step % self.every_n_steps == 0:
            self.log_now()

    def on_train_end(self, logs=None):
        if self._writer is not None:
            self._writer.flush()

    def log_now(self) -> StateSummary | None:
        """Log the latest recorded step now (unless already logged); returns its summary or None."""
        optimizer = self._optimizer()
        summary = optimizer.summary()
        if summary.step == 0 or summary.step == self._last_step:
            return None
        self._last_step = summary.step
        self.history.append(summary)
        if self.csv_path:
            self._append_csv(summary)
        self._write_tensorboard(summary, optimizer)
        return summary

    def _append_csv(self, summary: StateSummary):
        os.makedirs(self.log_dir, exist_ok=True)
        new = not os.path.exists(self.csv_path) or os.path.getsize(self.csv_path) == 0
        with open(self.csv_path, "a", newline="") as f:
            writer = csv.writer(f)
            if new:
                writer.writerow(CSV_COLUMNS)
            head = [summary.step, summary.optimizer, repr(summary.learning_rate), summary.nonfinite_steps]
            for stats in (summary.global_stats, *summary.per_variable):
                writer.writerow(
                    [*head, stats.name, stats.size, *(repr(getattr(stats, k)) for k in _STAT_FIELDS[1:])]
                )
            f.flush()
            os.fsync(f.fileno())

    def _write_tensorboard(self, summary: StateSummary, optimizer: RecordingOptimizer):
        if self._writer is None:
            self._writer = tf.summary.create_file_writer(self.log_dir)
        with self._writer.as_default(step=summary.step):
            write_scalar("optimizer/learning_rate", summary.learning_rate)
            write_scalar("optimizer/nonfinite_steps", summary.nonfinite_steps)
            for stats in (summary.global_stats, *summary.per_variable):
                for key, value in stats.scalars().items():
                    if key != "size" and np.isfinite(value):
                        write_scalar(f"optimizer/{stats.name}/{key}", value)
            if self.histograms:
                snap = optimizer.snapshot()
                series = {
                    "preconditioner": snap.effective_preconditioner,
                    "effective_learning_rate": snap.effective_learning_rate,
                    "gradient": snap.gradients,
                    "update": snap.updates,
                }
                for kind, arrays in series.items():
                    for name, array in zip(snap.variable_names, arrays, strict=True):
                        finite = np.ravel(array)[np.isfinite(np.ravel(array))]
                        if finite.size:
                            write_histogram(f"optimizer/{name}/{kind}", finite)
        self._writer.flush()
