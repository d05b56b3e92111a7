"""Training stage: every optimizer run from the same initial weights, epoch by epoch, checkpointed.

Per epoch it appends the loss/accuracy and optimizer-state history (``train/<run>/history.csv``), saves a
checkpoint (weights and optimizer state, atomically) and, every ``probe_every_epochs`` epochs, a weight
snapshot with the recorded preconditioner Q_t (tfescape.experiments.context). Epoch e of every run sees the
same batches, data epoch e of the seeded pipeline (tfescape.data.SyncDataEpoch), also after a restart; an
interrupted run continues from the last checkpoint.
"""

from __future__ import annotations

import contextlib
import logging
import os
import time
from dataclasses import dataclass

from tfescape._atomic import atomic_save
from tfescape._distribute import keras_fit_context
from tfescape.data import SyncDataEpoch
from tfescape.experiments._io import progress, read_csv, read_json, write_csv, write_json
from tfescape.experiments.context import CompareContext, save_snapshot

logger = logging.getLogger(__name__)


@dataclass(frozen=True)
class TrainingRecord:
    """The end of one run's training: epochs and steps done, final losses (nats) and accuracies."""

    epochs: int
    steps: int
    loss: float
    accuracy: float
    val_loss: float
    val_accuracy: float


def train_stage(ctx: CompareContext, name: str) -> TrainingRecord:
    """Train with optimizer ``name`` epoch by epoch, checkpointing after each; resumes from the checkpoint."""
    c, results = ctx.config, ctx.results
    model = ctx.compiled_model(name)
    ckpt_path = results.file("train", name, "checkpoint.weights.h5")
    state_path = results.file("train", name, "checkpoint.json")
    history_path = results.file("train", name, "history.csv")
    start_epoch, history = 0, []
    if os.path.exists(state_path) and os.path.exists(ckpt_path):
        state = read_json(state_path)
        if not model.optimizer.built:
            model.optimizer.build(model.trainable_variables)
        model.load_weights(ckpt_path)
        start_epoch = int(state["epoch"])
        history = [row for row in read_csv(history_path) if row["epoch"] <= start_epoch]
        logger.info("%s: resuming from the checkpoint of epoch %d", name, start_epoch)
    if start_epoch == 0:
        save_snapshot(results, name, model, 0)
    train, test, _ = ctx.data
    epochs = range(start_epoch, c.epochs)
    for epoch in progress(epochs, total=len(epochs), desc=f"train {name}", enabled=ctx.show_progress):
        tick = time.monotonic()
        with keras_fit_context(model, ctx.strategy):
            logs = model.fit(
                train,
                epochs=epoch + 1,
                initial_epoch=epoch,
                validation_data=test,
                shuffle=False,
                verbose=0,
                callbacks=[SyncDataEpoch(train)],  # epoch e sees data epoch e, in every run and on restart
            ).history
        step = _iterations(model)
        history.append(
            {
                "epoch": epoch + 1,
                "step": step,
                **{k: float(v[-1]) for k, v in logs.items()},
                "seconds": time.monotonic() - tick,
                **{f"opt_{k}": v for k, v in _state_row(model).items()},
            }
        )
        if (epoch + 1) % c.probe_every_epochs == 0 or epoch + 1 == c.epochs:
            save_snapshot(results, name, model, step)
        write_csv(history_path, history)
        atomic_save(model.save_weights, ckpt_path)
        write_json(state_path, {"epoch": epoch + 1, "step": step})
    atomic_save(model.save_weights, results.file("train", name, "final.weights.h5"))
    atomic_save(model.save, results.file("train", name, "final.keras"))  # for `tfescape sharpness`
    for done_with in (ckpt_path, state_path):  # the final files supersede the checkpoint
        with contextlib.suppress(FileNotFoundError):
            os.remove(done_with)
    last = history[-1] if history else {}
    nan = float("nan")
    return TrainingRecord(
        epochs=int(last.get("epoch", 0)),
        steps=int(last.get("step", 0)),
        loss=float(last.get("loss", nan)),
        accuracy=float(last.get("accuracy", nan)),
        val_loss=float(last.get("val_loss", nan)),
        val_accuracy=float(last.get("val_accuracy", nan)),
    )


def _state_row(model) -> dict[str, float]:
    """Global scalars of the optimizer's latest recorded step (norms, Q range, effective lr quantiles)."""
    summary = model.optimizer.summary()
    return {"learning_rate": summary.learning_rate, **summary.global_stats.scalars()}


def _iterations(model) -> int:
    import keras

    return int(keras.ops.convert_to_numpy(model.optimizer.iterations))
