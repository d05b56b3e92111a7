"""What the comparison's stages share: the configuration, the results folder, the data, the models, and
the weight snapshots saved along training (their file format is owned here).

Every optimizer run starts from the same initial weights (saved once as ``train/init.weights.h5``).
"""

from __future__ import annotations

import contextlib
import logging
import os

import numpy as np

from tfescape._atomic import atomic_save
from tfescape.experiments._io import ResultsDir, write_npz
from tfescape.experiments.config import DISTRIBUTE, CompareConfig

logger = logging.getLogger(__name__)


class CompareContext:
    """What the stages share: config, results folder, strategy, data (loaded lazily, once)."""

    def __init__(self, config: CompareConfig, results: ResultsDir, *, show_progress: bool):
        self.config = config
        self.results = results
        self.show_progress = show_progress
        self._data = None
        self._train_eval = None
        self._strategy = None

    @property
    def strategy(self):
        if self._strategy is None:
            self._strategy = make_strategy(self.config.distribute)
        return self._strategy

    def scope(self):
        return self.strategy.scope() if self.strategy is not None else contextlib.nullcontext()

    def _load(self, **options):
        """tfescape.data.load_dataset of the configured dataset (the split is fixed by the seed)."""
        from tfescape.data import load_dataset

        c = self.config
        return load_dataset(
            c.dataset,
            seed=c.seed,
            image_size=c.image_size,
            max_train=c.max_train,
            max_test=c.max_test,
            **options,
        )

    @property
    def data(self):
        """(train, test, info) at the training batch size (loaded once)."""
        if self._data is None:
            self._data = self._load(batch_size=self.config.batch_size)
        return self._data

    def fresh_train(self):
        """A new training pipeline (same seed): its batch sequence starts over, unlike ``data.train``'s."""
        return self._load(batch_size=self.config.batch_size).train

    @property
    def train_arrays(self):
        """(x, y) of the training split as NumPy arrays (the data the training pipeline batches)."""
        from tfescape.data import load_arrays

        c = self.config
        arrays = load_arrays(
            c.dataset, seed=c.seed, image_size=c.image_size, max_train=c.max_train, max_test=c.max_test
        )
        return arrays.x_train, arrays.y_train

    @property
    def train_eval(self):
        """The training split, unshuffled, in batches of 256: the data Hessians and full gradients average."""
        if self._train_eval is None:
            self._train_eval = self._load(batch_size=256, shuffle=False).train
        return self._train_eval

    def divergence(self, key: str) -> str:
        """Why run ``key``'s training diverged, from its training stage's marker ("" if it did not)."""
        info = self.results.stage_info(f"train_{key}") or {}
        return str(info.get("diverged") or "")

    @property
    def analysed_keys(self) -> tuple[str, ...]:
        """The runs whose training did not diverge: the ones the later stages analyse."""
        return tuple(k for k in self.config.keys if not self.divergence(k))

    def loss(self):
        import keras

        return keras.losses.SparseCategoricalCrossentropy(from_logits=True)

    def build_model(self):
        """The shared initial model (identical weights for every optimizer: same seed, same init file)."""
        from tfescape.models import build_model

        c, info = self.config, self.data.info
        model = build_model(
            c.model,
            input_shape=info.input_shape,
            num_classes=info.num_classes,
            seed=c.seed,
            width=c.width,
            depth=c.depth,
        )
        init_path = self.results.file("train", "init.weights.h5")
        if os.path.exists(init_path):
            model.load_weights(init_path)
        else:
            atomic_save(model.save_weights, init_path)
        return model

    def compiled_model(self, key: str):
        """The shared initial model compiled with run ``key``'s optimizer (wrapped in RecordingOptimizer)."""
        with self.scope():
            model = self.build_model()
            model.compile(
                optimizer=self.config.spec(key).build(record=True, record_every=1),
                loss=self.loss(),
                metrics=["accuracy"],
            )
        return model

    def trained_model(self, optimizer_name: str):
        """The final model of ``optimizer_name`` (weights from its finished training stage)."""
        model = self.compiled_model(optimizer_name)
        with self.scope():
            model.optimizer.build(model.trainable_variables)  # the file holds the optimizer state too
        model.load_weights(self.results.file("train", optimizer_name, "final.weights.h5"))
        return model


def make_strategy(distribute: str):
    """None for "none"; MirroredStrategy for "mirrored"; MultiWorkerMirroredStrategy from TF_CONFIG for
    "multiworker"."""
    if distribute == "none":
        return None
    if distribute == "mirrored":
        import tensorflow as tf

        strategy = tf.distribute.MirroredStrategy()
        logger.info("MirroredStrategy with %d replicas", strategy.num_replicas_in_sync)
        return strategy
    if distribute == "multiworker":
        from tfescape._distribute import multiworker_strategy

        return multiworker_strategy()
    raise ValueError(f"distribute must be one of {DISTRIBUTE}, got {distribute!r}.")


def snapshot_path(results: ResultsDir, name: str, step: int) -> str:
    return results.file("train", name, "snapshots", f"step_{step:07d}.npz")


def save_snapshot(results: ResultsDir, name: str, model, step: int) -> None:
    """Trainable weights ``w<i>`` and, once trained, the paper's preconditioner ``q<i>`` (Q_t) at ``step``."""
    import keras

    arrays = {f"w{i}": keras.ops.convert_to_numpy(v) for i, v in enumerate(model.trainable_variables)}
    if step > 0:
        for i, q in enumerate(model.optimizer.snapshot().preconditioner):
            arrays[f"q{i}"] = q
    write_npz(snapshot_path(results, name, step), **arrays)


def load_preconditioner(results: ResultsDir, name: str, step: int) -> list[np.ndarray] | None:
    """The recorded preconditioner Q_t (per variable) saved with a snapshot, or None (step 0)."""
    with np.load(snapshot_path(results, name, step)) as data:
        keys = sorted((k for k in data.files if k.startswith("q")), key=lambda k: int(k[1:]))
        return [data[k] for k in keys] or None


def snapshot_steps(results: ResultsDir, name: str) -> list[int]:
    """Training steps at which weight snapshots of ``name`` were saved, ascending."""
    folder = os.path.join(results.path, "train", name, "snapshots")
    if not os.path.isdir(folder):
        return []
    return sorted(int(f[5:12]) for f in os.listdir(folder) if f.startswith("step_") and f.endswith(".npz"))


def load_snapshot(results: ResultsDir, name: str, step: int, model) -> None:
    """Assign the snapshot of ``name`` at ``step`` to ``model``'s trainable variables."""
    with np.load(snapshot_path(results, name, step)) as data:
        for i, variable in enumerate(model.trainable_variables):
            variable.assign(data[f"w{i}"])


def final_preconditioner(results: ResultsDir, name: str) -> np.ndarray:
    """The flat preconditioner Q recorded with the last weight snapshot of run ``name`` (ones for SGD)."""
    steps = snapshot_steps(results, name)
    q = load_preconditioner(results, name, steps[-1]) if steps else None
    if q is None:
        raise ValueError(f"no recorded preconditioner for {name!r}; rerun its training stage.")
    return np.concatenate([np.ravel(a) for a in q]).astype(np.float64)
