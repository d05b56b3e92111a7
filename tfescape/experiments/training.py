"""Training stage: every optimizer run from the same initial weights, epoch by epoch, checkpointed.

Per epoch it appends the loss/accuracy and optimizer-state history (``train/<run>/history.csv``), saves a
checkpoint (weights and optimizer state, atomically) and, every ``probe_every_epochs`` epochs, a weight
snapshot with the recorded preconditioner Q_t (tfescape.experiments.context). Epoch e of every run sees the
same batches, data epoch e of the seeded pipeline (tfescape.data.SyncDataEpoch), also after a restart; an
interrupted run continues from the last checkpoint.

A run whose training loss (the epoch's running mean) turns non-finite or exceeds
:data:`DIVERGENCE_FACTOR` times the initial model's loss on the training split has diverged: its training
stops there, its record says so, and the later stages leave it out (its minimum is no minimum to probe).
"""

from __future__ import annotations

import contextlib
import logging
import math
import os
import time
from dataclasses import dataclass

from tfescape._atomic import atomic_save
from tfescape._distribute import keras_fit_context
from tfescape.data import SyncDataEpoch
from tfescape.experiments._io import progress, read_csv, read_json, write_csv, write_json
from tfescape.experiments.context import CompareContext, save_snapshot

logger = logging.getLogger(__name__)


DIVERGENCE_FACTOR = 100.0
"""Training has diverged when an epoch's training loss exceeds this many times the initial loss."""


@dataclass(frozen=True)
class TrainingRecord:
    """The end of one run's training: epochs and steps done, final losses (nats) and accuracies.

    ``diverged`` is empty when training finished, else the sentence that says why it was stopped.
    """

    epochs: int
    steps: int
    loss: float
    accuracy: float
    val_loss: float
    val_accuracy: float
    initial_loss: float
    diverged: str


def train_stage(ctx: CompareContext, name: str) -> TrainingRecord:
    """Train with optimizer ``name`` epoch by epoch, checkpointing after each; resumes from the checkpoint."""
    c, results = ctx.config, ctx.results
    model = ctx.compiled_model(name)
    folder = os.path.dirname(results.file("train", name, "checkpoint.json"))  # created
    state_path = os.path.join(folder, "checkpoint.json")
    history_path = os.path.join(folder, "history.csv")
    start_epoch, history = 0, []
    state = _read_checkpoint_state(state_path)
    if state is not None:
        if not model.optimizer.built:
            model.optimizer.build(model.trainable_variables)
        model.load_weights(os.path.join(folder, state["weights"]))
        start_epoch = int(state["epoch"])
        history = [_typed_row(row) for row in read_csv(history_path) if row["epoch"] <= start_epoch]
        logger.info("%s: resuming from the checkpoint of epoch %d", name, start_epoch)
    if start_epoch == 0:
        save_snapshot(results, name, model, 0)
    train, test, _ = ctx.data
    initial_loss = _initial_loss(ctx)
    diverged = _diverged_before(history, initial_loss)  # a resumed run that had diverged stays stopped
    epochs = range(start_epoch, c.epochs if not diverged else start_epoch)
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
        _save_checkpoint(model, folder, epoch=epoch + 1, step=step)
        diverged = divergence(history[-1]["loss"], initial_loss, epoch=epoch + 1)
        if diverged:
            logger.warning("%s %s; its later stages are skipped", ctx.config.spec(name).label, diverged)
            break
    atomic_save(model.save_weights, results.file("train", name, "final.weights.h5"))
    atomic_save(model.save, results.file("train", name, "final.keras"))  # for `tfescape sharpness`
    _remove_checkpoints(folder)  # the final files supersede the checkpoint
    last = history[-1] if history else {}
    nan = float("nan")
    return TrainingRecord(
        epochs=int(last.get("epoch", 0)),
        steps=int(last.get("step", 0)),
        loss=float(last.get("loss", nan)),
        accuracy=float(last.get("accuracy", nan)),
        val_loss=float(last.get("val_loss", nan)),
        val_accuracy=float(last.get("val_accuracy", nan)),
        initial_loss=initial_loss,
        diverged=diverged,
    )


def divergence(loss: float, initial_loss: float, *, epoch: int) -> str:
    """Why training has diverged at ``epoch`` ("" when it has not): a non-finite or exploded loss.

    Args:
        loss: the epoch's training loss.
        initial_loss: the initial model's loss on the training split.
        epoch: the epoch (for the message).

    Returns:
        "" or a sentence such as "diverged at epoch 1: training loss 5.9e+05 > 100 x the initial loss 2.3".
    """
    if not math.isfinite(loss):
        return f"diverged at epoch {epoch}: training loss {loss}"
    if math.isfinite(initial_loss) and loss > DIVERGENCE_FACTOR * initial_loss:
        return (
            f"diverged at epoch {epoch}: training loss {loss:.3g} > {DIVERGENCE_FACTOR:g} x the initial "
            f"loss {initial_loss:.3g}"
        )
    return ""


def _diverged_before(history: list[dict], initial_loss: float) -> str:
    """The divergence of a run resumed after the epoch that diverged (its history ends there)."""
    if not history:
        return ""
    return divergence(float(history[-1]["loss"]), initial_loss, epoch=int(history[-1]["epoch"]))


def _initial_loss(ctx: CompareContext) -> float:
    """The shared initial model's mean loss over the training split (the divergence reference)."""
    import keras

    with ctx.scope():
        model = ctx.build_model()
    loss_fn = ctx.loss()  # mean over a batch
    total, count = 0.0, 0
    for x, y in ctx.train_eval:
        size = int(keras.ops.shape(y)[0])
        total += float(keras.ops.convert_to_numpy(loss_fn(y, model(x, training=False)))) * size
        count += size
    return total / max(count, 1)


CHECKPOINT_WEIGHTS = "checkpoint-epoch{:04d}.weights.h5"
"""Name of the weights (and optimizer state) checkpointed after an epoch, inside ``train/<run>/``."""


def _save_checkpoint(model, folder: str, *, epoch: int, step: int) -> None:
    """Checkpoint after ``epoch`` in an order that can neither skip nor repeat an epoch when killed.

    The weights go to a file named by their epoch; ``checkpoint.json`` (which names that file) is written
    after it, and only then is the previous epoch's file removed. A kill at any point leaves a
    ``checkpoint.json`` that names complete weights of the very epoch it states.
    """
    weights = CHECKPOINT_WEIGHTS.format(epoch)
    atomic_save(model.save_weights, os.path.join(folder, weights))
    write_json(os.path.join(folder, "checkpoint.json"), {"epoch": epoch, "step": step, "weights": weights})
    _remove_checkpoints(folder, keep=weights)


def _read_checkpoint_state(state_path: str) -> dict | None:
    """The state of the last checkpoint (epoch, step, weights file), or None when there is none to use."""
    if not os.path.exists(state_path):
        return None
    state = read_json(state_path)
    weights = state.get("weights") if isinstance(state, dict) else None
    if not weights or not os.path.exists(os.path.join(os.path.dirname(state_path), weights)):
        logger.warning("%s names no saved weights; training starts over", state_path)
        return None
    return state


def _remove_checkpoints(folder: str, *, keep: str | None = None) -> None:
    """Delete the checkpoint files in ``folder`` (all, or all but the weights file ``keep``)."""
    for file in os.listdir(folder):
        is_checkpoint = file == "checkpoint.json" or (
            file.startswith("checkpoint-epoch") and file.endswith(".weights.h5")
        )
        if is_checkpoint and file != keep and not (keep and file == "checkpoint.json"):
            with contextlib.suppress(FileNotFoundError):
                os.remove(os.path.join(folder, file))


def _typed_row(row: dict) -> dict:
    """A history row read back from CSV with its integer columns as integers again."""
    return {k: int(v) if k in ("epoch", "step") else v for k, v in row.items()}


def _state_row(model) -> dict[str, float]:
    """Global scalars of the optimizer's latest recorded step (norms, Q range, effective lr quantiles)."""
    summary = model.optimizer.summary()
    return {"learning_rate": summary.learning_rate, **summary.global_stats.scalars()}


def _iterations(model) -> int:
    import keras

    return int(keras.ops.convert_to_numpy(model.optimizer.iterations))
