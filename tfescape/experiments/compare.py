"""The main job: SGD vs Adam on one model from one initialization, end to end, resumable.

Stages (each skipped when its marker ``stages/<name>.json`` exists in the results folder; the marker is
written atomically as the last thing a stage does):

1. ``train_<optimizer>``: train a copy of the same initial model with each optimizer, wrapped in
   tfescape.optimizers.RecordingOptimizer. Per epoch it appends the loss/accuracy and optimizer-state
   history (train/<opt>/history.csv), saves a checkpoint (weights and optimizer state, atomically) and, every
   ``probe_every_epochs`` epochs, a snapshot of the weights and of the recorded preconditioner Q_t. An
   interrupted run continues from the last checkpoint (the data order of the remaining epochs restarts
   from the seed, so a resumed run is not bit-identical to an uninterrupted one).
2. ``noise_<optimizer>``: gradient noise and its tail index at every snapshot
   (tfescape.callbacks.GradientNoiseProbe; noise/<opt>/tail_index.csv, samples .npz); resumes per snapshot.
3. ``sharpness_<optimizer>``: Hessian probes of each final minimum (tfescape.hessian; sharpness/).
4. ``escape``: predicted and simulated escape times of both optimizers from each minimum's basin
   (tfescape.sde; escape/escape_times.csv). Needs both optimizers.
5. the figures (figures/*.png and .svg), summary.csv and the report (report.md, report.html), rebuilt on
   every run from the saved data.

Example:
    >>> config = CompareConfig.preset("quick")
    >>> result = run_compare(config, "results/digits-quick")
    >>> result.report_md
    'results/digits-quick/report.md'
"""

from __future__ import annotations

import contextlib
import dataclasses
import logging
import os
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass

import numpy as np

from tfescape.experiments._io import (
    ResultsDir,
    csv_columns,
    progress,
    read_csv,
    read_json,
    write_csv,
    write_json,
    write_npz,
)

logger = logging.getLogger(__name__)

OPTIMIZERS = ("sgd", "adam")
DISTRIBUTE = ("none", "mirrored")


@dataclass(frozen=True)
class CompareConfig:
    """Configuration of the SGD-vs-Adam comparison (the defaults run offline on digits in minutes).

    Attributes:
        dataset: tfescape.data dataset name ("digits", "mnist", "cifar10", ...).
        model: tfescape.models model name ("mlp", "cnn", "alexnet").
        width, depth: hidden units and layers of "mlp".
        image_size: resize images to this side (None: native; "alexnet" on digits needs >= 16).
        max_train, max_test: keep only the first examples of each split (None: all).
        batch_size: minibatch size of training and of the gradient-noise probes.
        epochs: training epochs of each optimizer.
        sgd_lr, sgd_momentum: plain SGD as in the paper's theory (momentum 0 by default).
        adam_lr, adam_beta_1, adam_beta_2, adam_epsilon: Adam's hyperparameters (Keras' epsilon convention).
        seed: seed of the data split, shuffling and the (shared) initialization.
        probe_every_epochs: save a weight snapshot (a point of the tail-index curve) every this many epochs.
        noise_batches: minibatches whose gradient noise is measured at each snapshot.
        confidence: confidence level of the tail-index intervals.
        hessian_k: top Hessian eigenvalues computed at each final minimum.
        lanczos_iters: Lanczos iterations of the eigenvalue and spectral-density probes.
        density_starts: random starts of stochastic Lanczos quadrature.
        trace_samples: Hutchinson probes of the Hessian trace.
        landscape_points: points of the 1-D loss landscape.
        sharpness_epsilon: box size of Keskar's epsilon-sharpness (box eps (|x_i| + 1)).
        sharpness_steps: projected-gradient ascent steps of the epsilon-sharpness.
        escape_paths: Monte Carlo paths per escape-time simulation.
        escape_steps: step budget per simulated path (later exits are censored).
        basin_height: loss height h (nats) of the quadratic basin {1/2 d^T H d < h} around each minimum.
        distribute: "none" or "mirrored" (tf.distribute.MirroredStrategy over the visible devices).
        optimizers: which optimizers to compare, a subset of ("sgd", "adam").
    """

    dataset: str = "digits"
    model: str = "mlp"
    width: int = 128
    depth: int = 2
    image_size: int | None = None
    max_train: int | None = None
    max_test: int | None = None
    batch_size: int = 32
    epochs: int = 40
    sgd_lr: float = 0.1
    sgd_momentum: float = 0.0
    adam_lr: float = 1e-3
    adam_beta_1: float = 0.9
    adam_beta_2: float = 0.999
    adam_epsilon: float = 1e-8
    seed: int = 0
    probe_every_epochs: int = 4
    noise_batches: int = 40
    confidence: float = 0.95
    hessian_k: int = 5
    lanczos_iters: int = 40
    density_starts: int = 3
    trace_samples: int = 20
    landscape_points: int = 25
    sharpness_epsilon: float = 1e-3
    sharpness_steps: int = 20
    escape_paths: int = 1000
    escape_steps: int = 10000
    basin_height: float = 0.05
    distribute: str = "none"
    optimizers: tuple[str, ...] = OPTIMIZERS

    def __post_init__(self):
        object.__setattr__(self, "optimizers", tuple(str(o).lower() for o in self.optimizers))
        unknown = [o for o in self.optimizers if o not in OPTIMIZERS]
        if unknown or not self.optimizers:
            raise ValueError(f"optimizers must be a non-empty subset of {OPTIMIZERS}, got {self.optimizers}.")
        if self.distribute not in DISTRIBUTE:
            raise ValueError(f"distribute must be one of {DISTRIBUTE}, got {self.distribute!r}.")
        for name in (
            "batch_size",
            "epochs",
            "probe_every_epochs",
            "noise_batches",
            "hessian_k",
            "lanczos_iters",
            "density_starts",
            "trace_samples",
            "landscape_points",
            "escape_paths",
            "escape_steps",
            "sharpness_steps",
            "width",
            "depth",
        ):
            value = getattr(self, name)
            if not isinstance(value, int) or value < 1:
                raise ValueError(f"{name} must be a positive integer, got {value!r}.")
        for name in ("sgd_lr", "adam_lr", "adam_epsilon", "sharpness_epsilon", "basin_height"):
            if not getattr(self, name) > 0:
                raise ValueError(f"{name} must be > 0, got {getattr(self, name)!r}.")
        if not 0.0 < self.confidence < 1.0:
            raise ValueError(f"confidence must be in (0, 1), got {self.confidence}.")
        if not 0.0 <= self.sgd_momentum < 1.0:
            raise ValueError(f"sgd_momentum must be in [0, 1), got {self.sgd_momentum}.")
        if self.model == "alexnet" and self.dataset == "digits" and (self.image_size or 8) < 16:
            object.__setattr__(self, "image_size", 32)

    @classmethod
    def preset(cls, name: str = "default", **overrides) -> CompareConfig:
        """A named configuration: "default" (< 10 min on 2 cores), "quick" (< 2 min), "smoke" (tests).

        Args:
            name: preset name.
            **overrides: fields to change on top of the preset.

        Raises:
            ValueError: unknown preset or field.
        """
        if name not in PRESETS:
            raise ValueError(f"unknown preset {name!r}; choose one of {', '.join(PRESETS)}.")
        fields = {f.name for f in dataclasses.fields(cls)}
        bad = sorted(set(overrides) - fields)
        if bad:
            raise ValueError(f"unknown CompareConfig fields {bad}; valid fields: {sorted(fields)}.")
        return cls(**{**PRESETS[name], **overrides})

    def to_dict(self) -> dict:
        return dataclasses.asdict(self)


PRESETS: dict[str, dict] = {
    "default": {},
    "quick": dict(
        epochs=12,
        probe_every_epochs=2,
        noise_batches=24,
        lanczos_iters=24,
        density_starts=2,
        trace_samples=10,
        landscape_points=17,
        escape_paths=500,
        escape_steps=4000,
        hessian_k=3,
        sharpness_steps=10,
    ),
    "smoke": dict(
        epochs=2,
        width=32,
        depth=1,
        max_train=256,
        max_test=128,
        probe_every_epochs=1,
        noise_batches=8,
        lanczos_iters=6,
        density_starts=1,
        trace_samples=4,
        landscape_points=5,
        escape_paths=64,
        escape_steps=300,
        hessian_k=2,
        sharpness_steps=1,
    ),
}


@dataclass(frozen=True)
class CompareResult:
    """What :func:`run_compare` did: the folder, the report files, and which stages ran or were skipped."""

    out_dir: str
    report_md: str
    report_html: str
    ran: tuple[str, ...]
    skipped: tuple[str, ...]
    seconds: float


# ------------------------------------------------------------------------------------------------ stages


@dataclass(frozen=True)
class Stage:
    """One resumable stage: ``run(context, name)`` computes and saves its outputs."""

    name: str
    run: Callable
    description: str


class _Context:
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

    @property
    def data(self):
        if self._data is None:
            from tfescape.data import load_dataset

            c = self.config
            self._data = load_dataset(
                c.dataset,
                batch_size=c.batch_size,
                seed=c.seed,
                image_size=c.image_size,
                max_train=c.max_train,
                max_test=c.max_test,
            )
        return self._data

    def fresh_train(self):
        """A new training pipeline (same seed): its batch sequence starts over, unlike ``data.train``'s."""
        from tfescape.data import load_dataset

        c = self.config
        return load_dataset(
            c.dataset,
            batch_size=c.batch_size,
            seed=c.seed,
            image_size=c.image_size,
            max_train=c.max_train,
            max_test=c.max_test,
        ).train

    @property
    def train_eval(self):
        """The training split, unshuffled, in batches of 256: the data Hessians and full gradients average."""
        if self._train_eval is None:
            from tfescape.data import load_dataset

            c = self.config
            self._train_eval = load_dataset(
                c.dataset,
                batch_size=256,
                seed=c.seed,
                shuffle=False,
                image_size=c.image_size,
                max_train=c.max_train,
                max_test=c.max_test,
            ).train
        return self._train_eval

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
            _save_atomic(model.save_weights, init_path)
        return model

    def compiled_model(self, optimizer_name: str):

        with self.scope():
            model = self.build_model()
            model.compile(
                optimizer=make_optimizer(optimizer_name, self.config),
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
    """None for "none"; a tf.distribute.MirroredStrategy over the visible devices for "mirrored"."""
    if distribute == "none":
        return None
    if distribute == "mirrored":
        import tensorflow as tf

        strategy = tf.distribute.MirroredStrategy()
        logger.info("MirroredStrategy with %d replicas", strategy.num_replicas_in_sync)
        return strategy
    raise ValueError(f"distribute must be one of {DISTRIBUTE}, got {distribute!r}.")


def make_optimizer(name: str, config: CompareConfig, *, record: bool = True):
    """The Keras optimizer ``name`` ("sgd" or "adam") with the configured hyperparameters.

    With ``record`` (the default) it is wrapped in tfescape.optimizers.RecordingOptimizer, which records
    g_t, m_t, v_t and the preconditioner Q_t at every step without changing the training.
    """
    import keras

    if name == "sgd":
        inner = keras.optimizers.SGD(learning_rate=config.sgd_lr, momentum=config.sgd_momentum)
    elif name == "adam":
        inner = keras.optimizers.Adam(
            learning_rate=config.adam_lr,
            beta_1=config.adam_beta_1,
            beta_2=config.adam_beta_2,
            epsilon=config.adam_epsilon,
        )
    else:
        raise ValueError(f"unknown optimizer {name!r}; choose one of {OPTIMIZERS}.")
    if not record:
        return inner
    from tfescape.optimizers import RecordingOptimizer

    return RecordingOptimizer(inner, record_every=1)


def _save_atomic(save, path: str) -> None:
    """Call ``save(tmp)`` (Keras needs the real file name's suffix), then move tmp into place."""
    tmp = os.path.join(os.path.dirname(path), f".tmp-{os.getpid()}-" + os.path.basename(path))
    save(tmp)
    os.replace(tmp, path)


def _snapshot_path(results: ResultsDir, name: str, step: int) -> str:
    return results.file("train", name, "snapshots", f"step_{step:07d}.npz")


def _save_snapshot(results: ResultsDir, name: str, model, step: int) -> None:
    """Trainable weights ``w<i>`` and, once trained, the paper's preconditioner ``q<i>`` (Q_t) at ``step``."""
    import keras

    arrays = {f"w{i}": keras.ops.convert_to_numpy(v) for i, v in enumerate(model.trainable_variables)}
    if step > 0:
        for i, q in enumerate(model.optimizer.snapshot().preconditioner):
            arrays[f"q{i}"] = q
    write_npz(_snapshot_path(results, name, step), **arrays)


def load_preconditioner(results: ResultsDir, name: str, step: int) -> list[np.ndarray] | None:
    """The recorded preconditioner Q_t (per variable) saved with a snapshot, or None (step 0)."""
    with np.load(_snapshot_path(results, name, step)) as data:
        keys = sorted((k for k in data.files if k.startswith("q")), key=lambda k: int(k[1:]))
        return [data[k] for k in keys] or None


def _state_row(model) -> dict[str, float]:
    """Global scalars of the optimizer's latest recorded step (norms, Q range, effective lr quantiles)."""
    summary = model.optimizer.summary()
    return {"learning_rate": summary.learning_rate, **summary.global_stats.scalars()}


def snapshot_steps(results: ResultsDir, name: str) -> list[int]:
    """Training steps at which weight snapshots of ``name`` were saved, ascending."""
    folder = os.path.join(results.path, "train", name, "snapshots")
    if not os.path.isdir(folder):
        return []
    return sorted(int(f[5:12]) for f in os.listdir(folder) if f.startswith("step_") and f.endswith(".npz"))


def load_snapshot(results: ResultsDir, name: str, step: int, model) -> None:
    """Assign the snapshot of ``name`` at ``step`` to ``model``'s trainable variables."""
    with np.load(_snapshot_path(results, name, step)) as data:
        for i, variable in enumerate(model.trainable_variables):
            variable.assign(data[f"w{i}"])


def _iterations(model) -> int:
    import keras

    return int(keras.ops.convert_to_numpy(model.optimizer.iterations))


def train_stage(ctx: _Context, name: str) -> dict:
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
        _save_snapshot(results, name, model, 0)
    train, test, _ = ctx.data
    epochs = range(start_epoch, c.epochs)
    for epoch in progress(epochs, total=len(epochs), desc=f"train {name}", enabled=ctx.show_progress):
        tick = time.monotonic()
        logs = model.fit(
            train, epochs=epoch + 1, initial_epoch=epoch, validation_data=test, shuffle=False, verbose=0
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
            _save_snapshot(results, name, model, step)
        write_csv(history_path, history)
        _save_atomic(model.save_weights, ckpt_path)
        write_json(state_path, {"epoch": epoch + 1, "step": step})
    _save_atomic(model.save_weights, results.file("train", name, "final.weights.h5"))
    _save_atomic(model.save, results.file("train", name, "final.keras"))  # for `tfescape sharpness`
    last = history[-1] if history else {}
    return {"final": last}


def noise_stage(ctx: _Context, name: str) -> dict:
    """Tail index of the gradient noise at every weight snapshot of ``name`` (resumes per snapshot)."""
    from tfescape.experiments.noise_tail import measure_along_training

    c, results = ctx.config, ctx.results
    model = ctx.compiled_model(name)
    rows = measure_along_training(
        model,
        snapshot_steps(results, name),
        load_snapshot=lambda step: load_snapshot(results, name, step, model),
        full_data=ctx.train_eval,
        minibatches=ctx.fresh_train(),  # the same minibatch sequence for every optimizer
        loss=ctx.loss(),
        num_batches=c.noise_batches,
        confidence=c.confidence,
        csv_path=results.file("noise", name, "tail_index.csv"),
        samples_dir=os.path.join(results.path, "noise", name, "samples"),
        smoothed_beta_1=c.adam_beta_1 if name == "adam" else None,
        seed=c.seed,
        show_progress=ctx.show_progress,
    )
    return {"final_alpha": rows[-1]["alpha"], "measurements": len(rows)}


def _noise_report(ctx: _Context, rows: list, sections: list) -> None:
    from tfescape import plots
    from tfescape.experiments import noise_tail
    from tfescape.report import ReportFigure, Section

    c, results = ctx.config, ctx.results
    names = c.optimizers
    csv_paths = {n: os.path.join(results.path, "noise", n, "tail_index.csv") for n in names}
    bands = noise_tail.tail_index_bands(csv_paths)
    if not bands:
        return
    tail_fig = plots.save_figure(
        plots.tail_index_over_training(bands, confidence=c.confidence), results.file("figures", "tail_index")
    )[0]

    def final(n, fmt):
        band = bands.get(n)
        return None if band is None else fmt(band, -1)

    rows.append(("tail index alpha, final", *(final(n, lambda b, i: float(b.y[i])) for n in names)))
    rows.append(
        (
            f"alpha {100 * c.confidence:g}% CI, final",
            *(final(n, lambda b, i: f"[{b.low[i]:.3f}, {b.high[i]:.3f}]") for n in names),
        )
    )
    rows.append(
        ("tail index alpha, mean over training", *(final(n, lambda b, i: float(np.mean(b.y))) for n in names))
    )
    smoothed = noise_tail.tail_index_bands(csv_paths, smoothed=True)
    if smoothed:
        rows.append(
            (
                "alpha of Adam's smoothed noise, final",
                *(float(smoothed[n].y[-1]) if n in smoothed else None for n in names),
            )
        )

    samples, densities, fitted, notes = {}, {}, {}, []
    for n in bands:
        step = int(bands[n].x[-1])
        path = noise_tail.samples_path(os.path.join(results.path, "noise", n, "samples"), step)
        if not os.path.exists(path):
            continue
        z = noise_tail.pooled_noise(path)
        samples[n] = z
        try:
            fits, curves = noise_tail.density_fits(z, seed=c.seed)
        except (ImportError, AttributeError) as err:  # the stable-law fit is not in this install
            notes.append(f"SaS density not drawn for {n}: {err}.")
            logger.warning("SaS fit unavailable: %s", err)
            continue
        densities[n] = curves
        fitted[n] = fits
        write_json(results.file("noise", n, "final_fits.json"), {"step": step, **fits})
    figures = [ReportFigure(results.rel(tail_fig), "Tail index of the gradient noise along training.")]
    if samples:
        hist = plots.save_figure(
            plots.noise_histograms(samples, densities), results.file("figures", "noise_histograms")
        )
        caption = "Gradient noise at the end of training, with fits. " + "; ".join(
            f"{plots.optimizer_label(n)}: Gaussian std {f['gaussian']['std']:.3g}, SaS alpha "
            f"{f['stable']['alpha']:.3g} and scale {f['stable']['scale']:.3g}"
            for n, f in fitted.items()
        )
        figures.append(ReportFigure(results.rel(hist[0]), caption.rstrip() + "."))
    text = (
        "Gradient noise w = grad F - grad f_S (full-batch minus minibatch gradient, tfescape.noise) at "
        f"weight snapshots along training, {c.noise_batches} minibatches of size {c.batch_size} per "
        "snapshot, measured by tfescape.callbacks.GradientNoiseProbe: every coordinate is divided by its "
        "median |w| over the batches and the pooled values go to tfescape.stable.tail_index (Mohammadi "
        f"et al.'s block-sum estimator, {100 * c.confidence:g}% asymptotic intervals). alpha = 2 is "
        "Gaussian noise; smaller is heavier tailed. The histograms show the standardized noise of the last "
        "snapshot with a Gaussian fit (sample mean and standard deviation) and a symmetric alpha-stable fit "
        "(tfescape.stable.fit)."
    )
    if notes:
        text += "\n\n" + " ".join(notes)
    sections.append(Section("Gradient noise and its tail index", text, figures=figures))


def sharpness_stage(ctx: _Context, name: str) -> dict:
    """Hessian probes of the final minimum of ``name`` over the whole training split."""
    from tfescape.experiments.sharpness import probe_sharpness, save_probe

    c = ctx.config
    model = ctx.trained_model(name)
    probe = probe_sharpness(
        model,
        ctx.loss(),
        ctx.train_eval,
        k=c.hessian_k,
        lanczos_iters=c.lanczos_iters,
        density_starts=c.density_starts,
        trace_samples=c.trace_samples,
        landscape_points=c.landscape_points,
        epsilon=c.sharpness_epsilon,
        sharpness_steps=c.sharpness_steps,
        seed=c.seed,
        show_progress=ctx.show_progress,
    )
    save_probe(probe, os.path.join(ctx.results.path, "sharpness"), name)
    return {"top_eigenvalue": float(probe.top_eigenvalues[0]), "trace": probe.trace}


def _sharpness_report(ctx: _Context, rows: list, sections: list) -> None:
    from tfescape.experiments.sharpness import load_probe, sharpness_figures, sharpness_rows
    from tfescape.report import ReportFigure, Section

    folder = os.path.join(ctx.results.path, "sharpness")
    probes = {
        n: load_probe(folder, n)
        for n in ctx.config.optimizers
        if os.path.exists(os.path.join(folder, f"{n}.json"))
    }
    if not probes:
        return
    rows.extend(sharpness_rows(probes, ctx.config.optimizers))
    paths = sharpness_figures(probes, os.path.join(ctx.results.path, "figures"))
    sizes = ", ".join(f"{n}: {p.num_params} parameters" for n, p in probes.items())
    sections.append(
        Section(
            "Sharpness of the final minima",
            "Hessian of the training loss (inference mode, averaged over the whole training split) at "
            "each optimizer's final weights, by tfescape.hessian: Lanczos top eigenvalues, Hutch++ "
            "trace, stochastic Lanczos quadrature density, Keskar et al.'s epsilon-sharpness "
            "(100 (max f - f) / (1 + f) over the box eps (|x| + 1), "
            f"eps = {ctx.config.sharpness_epsilon:g}) and the loss along one filter-normalized random "
            f"direction (Li et al. 2018). {sizes}.",
            figures=[
                ReportFigure(
                    ctx.results.rel(paths["top_eigenvalues"]), "Top Hessian eigenvalues of each minimum."
                ),
                ReportFigure(ctx.results.rel(paths["spectral_density"]), "Hessian eigenvalue density."),
                ReportFigure(ctx.results.rel(paths["landscape"]), "Training loss along a random direction."),
            ],
        )
    )


def _final_alpha(results: ResultsDir, name: str) -> float:
    rows = read_csv(os.path.join(results.path, "noise", name, "tail_index.csv"))
    return float(rows[-1]["alpha"])


def _final_preconditioner(results: ResultsDir, name: str) -> np.ndarray:
    steps = snapshot_steps(results, name)
    q = load_preconditioner(results, name, steps[-1])
    if q is None:
        raise ValueError(f"no recorded preconditioner for {name!r}; rerun its training stage.")
    return np.concatenate([np.ravel(a) for a in q]).astype(np.float64)


def escape_stage(ctx: _Context) -> dict:
    """Predicted and simulated escape of SGD and Adam from the basin of each final minimum."""
    from tfescape import noise
    from tfescape.experiments import escape
    from tfescape.experiments.sharpness import load_eigenvectors, load_probe

    c, results = ctx.config, ctx.results
    folder = os.path.join(results.path, "sharpness")
    alphas = {n: _final_alpha(results, n) for n in c.optimizers}
    rates = {"sgd": c.sgd_lr, "adam": c.adam_lr}
    q_adam = _final_preconditioner(results, "adam")
    estimates = []
    for basin_name in progress(c.optimizers, desc="escape from each basin", enabled=ctx.show_progress):
        eigenvalues, eigenvectors = escape.positive_subspace(
            load_probe(folder, basin_name).top_eigenvalues, load_eigenvectors(folder, basin_name)
        )
        model = ctx.trained_model(basin_name)
        projected = [
            noise.flatten(sample.noise) @ eigenvectors
            for sample in noise.gradient_noise(
                model,
                ctx.train_eval,
                noise_dataset=ctx.fresh_train(),
                loss=ctx.loss(),
                num_batches=c.noise_batches,
            )
        ]
        scale = np.maximum(
            np.median(np.abs(np.asarray(projected)), axis=0)
            / escape.median_abs_standard_sas(alphas[basin_name], seed=c.seed),
            1e-12,
        )
        basin = escape.ReducedBasin(eigenvalues, eigenvectors, scale, c.basin_height)
        projection = escape.adam_projection(eigenvectors, q_adam)
        for name in c.optimizers:
            estimates.append(
                escape.estimate_escape(
                    basin,
                    basin_name=basin_name,
                    optimizer=name,
                    alpha=alphas[name],
                    learning_rate=rates[name],
                    projection=projection if name == "adam" else None,
                    num_paths=c.escape_paths,
                    max_steps=c.escape_steps,
                    seed=c.seed,
                )
            )
        write_json(
            results.file("escape", f"basin_{basin_name}.json"),
            {
                "eigenvalues": eigenvalues,
                "noise_scale": scale,
                "height": c.basin_height,
                "adam_projection": projection,
            },
        )
    rows = [e.to_dict() for e in estimates]
    write_csv(results.file("escape", "escape_times.csv"), rows)
    return {"estimates": len(rows)}


def _escape_report(ctx: _Context, rows: list, sections: list) -> None:
    from tfescape import plots
    from tfescape.report import ReportFigure, Section

    c, results = ctx.config, ctx.results
    path = os.path.join(results.path, "escape", "escape_times.csv")
    if not os.path.exists(path):
        return
    estimates = read_csv(path)
    bars = [
        plots.EscapeBar(
            str(e["basin"]),
            str(e["optimizer"]),
            e["predicted_time"],
            e["simulated_time"],
            e["simulated_low"],
            e["simulated_high"],
        )
        for e in estimates
    ]
    fig = plots.save_figure(plots.escape_times(bars), results.file("figures", "escape_times"))[0]
    names = c.optimizers
    for basin_name in names:
        label = plots.optimizer_label(basin_name)
        by_opt = {str(e["optimizer"]): e for e in estimates if e["basin"] == basin_name}
        rows.append(
            (
                f"predicted escape from {label} minimum (iterations)",
                *(by_opt[n]["predicted_iterations"] if n in by_opt else None for n in names),
            )
        )
        rows.append(
            (
                f"simulated escape from {label} minimum (iterations)",
                *(
                    by_opt[n]["simulated_time"] / by_opt[n]["learning_rate"] if n in by_opt else None
                    for n in names
                ),
            )
        )
    table_rows = [
        (
            plots.optimizer_label(str(e["basin"])),
            plots.optimizer_label(str(e["optimizer"])),
            e["alpha"],
            e["eps"],
            e["predicted_time"],
            e["simulated_time"],
            f"[{e['simulated_low']:.3g}, {e['simulated_high']:.3g}]",
            e["escaped_fraction"],
            e["theta"],
            e["m_w"],
        )
        for e in estimates
    ]
    from tfescape.report import Table

    table = Table(
        (
            "basin of",
            "optimizer",
            "alpha",
            "eps",
            "predicted (SDE time)",
            "simulated (SDE time)",
            "95% CI",
            "escaped share",
            "Theta",
            "m(W)",
        ),
        table_rows,
    )
    sections.append(
        Section(
            "Escape times from each minimum's basin",
            "Each minimum's basin is modelled as the quadratic {1/2 d^T H d < h} (h = "
            f"{c.basin_height:g} nats) in the span of its top Hessian eigenvectors with positive "
            "eigenvalues. SGD follows d theta = -grad F dt + eps S dL and Adam the same with its "
            "preconditioner Q frozen at the value recorded at the end of its training (drift and noise "
            "multiplied by P = V^T Q^-1 V), eps = eta^((alpha - 1)/alpha) with each optimizer's learning "
            "rate eta and final tail index alpha, and S the SaS scales of the gradient noise projected on "
            "the eigenvectors, measured at the minimum. Predicted: the exit law 1 / nu(W) "
            "(tfescape.sde.theory); simulated: Monte Carlo mean exit time of "
            f"{c.escape_paths} paths (tfescape.sde.first_exit_times) with its 95% interval. One iteration "
            "is dt = eta of SDE time. Theta = (2/alpha) eps^alpha and m(W) = nu(W) / Theta are the paper's "
            "form of the same rate.",
            figures=[ReportFigure(results.rel(fig), "Predicted (hatched) and simulated mean escape times.")],
            tables=[table],
        )
    )


# ------------------------------------------------------------------------------------------------ report


def _training_summary(ctx: _Context) -> dict[str, dict]:
    out = {}
    for name in ctx.config.optimizers:
        path = os.path.join(ctx.results.path, "train", name, "history.csv")
        if os.path.exists(path):
            out[name] = csv_columns(read_csv(path))
    return out


def build_report(ctx: _Context):
    """Draw every figure from the saved data and write report.md / report.html."""
    from tfescape import plots
    from tfescape.report import Report, ReportFigure, Section, Table, write_report

    c, results = ctx.config, ctx.results
    names = c.optimizers
    columns = ("quantity", *(plots.optimizer_label(n) for n in names))
    rows, sections = [], []

    histories = _training_summary(ctx)
    if histories:
        fig_path = plots.save_figure(
            plots.training_curves(histories), results.file("figures", "training_curves")
        )
        for key, label, scale in (
            ("accuracy", "final train accuracy (%)", 100),
            ("val_accuracy", "final test accuracy (%)", 100),
            ("loss", "final train loss (nats)", 1),
            ("val_loss", "final test loss (nats)", 1),
        ):
            rows.append((label, *(_last(histories.get(n, {}).get(key), scale) for n in names)))
        rows.append(("training steps", *(_last_int(histories.get(n, {}).get("step")) for n in names)))
        sections.append(
            Section(
                "Training",
                "Both optimizers start from the same initial weights and see the same data order. "
                "Solid lines: training split (running average over the epoch); dashed: test split.",
                figures=[ReportFigure(results.rel(fig_path[0]), "Loss and accuracy per epoch.")],
            )
        )

    lr_bands = {
        n: plots.Band(
            h["step"], h["opt_effective_lr_median"], h["opt_effective_lr_q05"], h["opt_effective_lr_q95"]
        )
        for n, h in histories.items()
        if "opt_effective_lr_median" in h
    }
    if lr_bands:
        fig_path = plots.save_figure(
            plots.effective_learning_rates(lr_bands), results.file("figures", "effective_learning_rate")
        )
        rows.append(
            (
                "final Q anisotropy (max/min)",
                *(_last(histories.get(n, {}).get("opt_preconditioner_anisotropy")) for n in names),
            )
        )
        sections.append(
            Section(
                "Optimizer state",
                "Recorded by tfescape.optimizers.RecordingOptimizer at the last step of each epoch: the "
                "per-coordinate step size lr / Q'_t that Keras applies (Q'_t = 1 for SGD; for Adam "
                "Q'_t = (sqrt(v_t) + epsilon) / sqrt(1 - beta_2^t)). The band spans the 5th to 95th "
                "percentile over coordinates.",
                figures=[ReportFigure(results.rel(fig_path[0]), "Effective learning rate along training.")],
            )
        )

    for extra in _REPORT_EXTENSIONS:
        extra(ctx, rows, sections)

    summary = Table(columns, rows)
    write_csv(results.file("summary.csv"), [dict(zip(columns, r, strict=True)) for r in rows], columns)
    opt_text = ", ".join(
        f"SGD (lr {c.sgd_lr:g}, momentum {c.sgd_momentum:g})"
        if n == "sgd"
        else f"Adam (lr {c.adam_lr:g}, beta_1 {c.adam_beta_1:g}, beta_2 {c.adam_beta_2:g}, "
        f"eps {c.adam_epsilon:g})"
        for n in names
    )
    intro = (
        f"{c.model} on {c.dataset}, {c.epochs} epochs of batch size {c.batch_size}, trained from one "
        f"initialization (seed {c.seed}) with {opt_text}."
    )
    report = Report(
        f"SGD vs Adam: {c.model} on {c.dataset}",
        summary=summary,
        sections=sections,
        intro=intro,
        metadata={k: v for k, v in c.to_dict().items()},
    )
    return write_report(report, results.path)


def _last(values, scale=1.0):
    if values is None or len(values) == 0:
        return None
    return float(values[-1]) * scale


def _last_int(values):
    if values is None or len(values) == 0:
        return None
    return int(values[-1])


_REPORT_EXTENSIONS: list[Callable] = [_noise_report, _sharpness_report, _escape_report]


def _stage_list(config: CompareConfig) -> list[Stage]:
    per_optimizer = (
        ("train", train_stage, "train with {}"),
        ("noise", noise_stage, "gradient-noise tail index along {} training"),
        ("sharpness", sharpness_stage, "Hessian probes of the {} minimum"),
    )
    stages = [
        Stage(f"{kind}_{n}", lambda ctx, fn=fn, n=n: fn(ctx, n), text.format(n))
        for kind, fn, text in per_optimizer
        for n in config.optimizers
    ]
    if set(config.optimizers) == {"sgd", "adam"}:  # the escape comparison needs Adam's preconditioner
        stages.append(Stage("escape", escape_stage, "escape times of SGD and Adam from each minimum's basin"))
    return stages


STAGES = ("train", "noise", "sharpness", "escape")
"""Names of the analysis stages the pipeline runs, in order (training runs once per optimizer)."""


def run_compare(
    config: CompareConfig | None = None,
    out_dir: str | os.PathLike = "results/compare",
    *,
    resume: bool = True,
    show_progress: bool = True,
    only: Sequence[str] | None = None,
) -> CompareResult:
    """Run (or resume) the SGD-vs-Adam comparison into ``out_dir`` and write its report.

    Args:
        config: the configuration (default: ``CompareConfig()``).
        out_dir: results folder; created; a folder with results of another configuration is refused.
        resume: skip stages whose marker exists; False recomputes everything.
        show_progress: progress bars (tqdm if installed, else log lines).
        only: run only the stages whose names start with one of these prefixes (e.g. ("train",));
            the report is written from whatever has been computed.

    Returns:
        CompareResult with the report paths and the stages run and skipped.

    Raises:
        ValueError: bad configuration, or ``out_dir`` holds another configuration's results.
        tfescape.data.DatasetUnavailableError: the dataset is neither cached nor downloadable.
    """
    config = config or CompareConfig()
    tick = time.monotonic()
    results = ResultsDir(out_dir, config.to_dict(), resume=resume)
    ctx = _Context(config, results, show_progress=show_progress)
    ran, skipped = [], []
    for stage in _stage_list(config):
        if only is not None and not any(stage.name.startswith(p) for p in only):
            continue
        if results.is_done(stage.name):
            logger.info("stage %s: done in an earlier run, skipped", stage.name)
            skipped.append(stage.name)
            continue
        logger.info("stage %s: %s", stage.name, stage.description)
        start = time.monotonic()
        info = stage.run(ctx) or {}
        results.mark_done(stage.name, seconds=time.monotonic() - start, **info)
        ran.append(stage.name)
    logger.info("figures and report: drawing from the saved data")
    md, html = build_report(ctx)
    return CompareResult(results.path, md, html, tuple(ran), tuple(skipped), time.monotonic() - tick)
