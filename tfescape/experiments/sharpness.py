"""Sharpness of a trained minimum: Hessian top eigenvalues, trace, spectral density, Keskar sharpness, 1-D
landscape, computed with tfescape.hessian and saved as JSON/CSV/NPZ.

Used by the compare pipeline (both final minima) and by ``tfescape sharpness`` (any saved .keras models).

Example:
    >>> probe = probe_sharpness(model, loss, train_eval, k=5, seed=0)
    >>> probe.top_eigenvalues[0], probe.trace, probe.epsilon_sharpness
"""

from __future__ import annotations

import dataclasses
import logging
import os
import time
from dataclasses import dataclass

import numpy as np

from tfescape.experiments._io import (
    csv_columns,
    progress,
    read_csv,
    read_json,
    write_csv,
    write_json,
    write_npz,
)

logger = logging.getLogger(__name__)


@dataclass(frozen=True)
class SharpnessProbe:
    """Flatness measures of one minimum (Hessian of the training loss in inference mode).

    Attributes:
        num_params: number of parameters (Hessian dimension).
        base_loss: training loss at the minimum (nats).
        top_eigenvalues: (k,) largest Hessian eigenvalues, descending.
        eigen_residuals: (k,) ||H v - lambda v|| of each Ritz pair.
        eigen_converged: (k,) whether each pair met the Lanczos tolerance.
        trace: Hutch++ estimate of tr(H); trace_stderr its standard error.
        epsilon_sharpness: Keskar et al.'s 100 (max f - f) / (1 + f) over the box eps (|x| + 1).
        epsilon: the box size eps.
        density_grid, density: (g,) stochastic-Lanczos-quadrature estimate of the eigenvalue density.
        landscape_alphas, landscape_losses: (n,) training loss along a filter-normalized direction.
        seconds: wall time of the probe.
        eigenvectors: (num_params, k) eigenvectors of ``top_eigenvalues`` (None when loaded from disk;
            read them with :func:`load_eigenvectors`).
    """

    num_params: int
    base_loss: float
    top_eigenvalues: np.ndarray
    eigen_residuals: np.ndarray
    eigen_converged: np.ndarray
    trace: float
    trace_stderr: float
    epsilon_sharpness: float
    epsilon: float
    density_grid: np.ndarray
    density: np.ndarray
    landscape_alphas: np.ndarray
    landscape_losses: np.ndarray
    seconds: float
    eigenvectors: np.ndarray | None = None


def probe_sharpness(
    model,
    loss,
    data,
    *,
    k: int = 5,
    lanczos_iters: int = 40,
    density_starts: int = 3,
    trace_samples: int = 20,
    landscape_points: int = 25,
    landscape_radius: float = 1.0,
    epsilon: float = 1e-3,
    sharpness_steps: int = 20,
    seed: int = 0,
    show_progress: bool = False,
) -> SharpnessProbe:
    """All sharpness measures of ``model`` at its current weights over ``data``.

    Args:
        model: a built Keras model (weights of the minimum).
        loss: the training loss (mean reduction), e.g. SparseCategoricalCrossentropy(from_logits=True).
        data: tf.data.Dataset of (x, y) batches (the whole set is averaged) or one (x, y) batch.
        k: number of top eigenvalues.
        lanczos_iters: Hessian-vector products of the eigenvalue search (cap) and per density start.
        density_starts: random starts of stochastic Lanczos quadrature.
        trace_samples: Hutch++ products for the trace (>= 4).
        landscape_points: points of the 1-D landscape on [-landscape_radius, landscape_radius].
        landscape_radius: extent of the landscape in filter-normalized units.
        epsilon: Keskar box size.
        sharpness_steps: projected-gradient ascent steps.
        seed: seed of every random start (the same seed gives the same directions for every model).
        show_progress: show progress over the five measures (tfescape.experiments._io.progress).

    Returns:
        SharpnessProbe.

    Raises:
        ValueError: bad sizes (propagated from tfescape.hessian with its message).
    """
    from tfescape import hessian

    if trace_samples < 4:
        raise ValueError(f"trace_samples must be >= 4 for Hutch++, got {trace_samples}.")
    tick = time.monotonic()
    op = hessian.HessianOperator(model, loss, data)  # one operator (one traced HVP) for the three spectra
    alphas = np.linspace(-landscape_radius, landscape_radius, landscape_points)
    measures = {
        "top": lambda: hessian.top_eigenvalues_of(
            op.matvec, dim=op.dim, k=k, seed=seed, max_iters=max(lanczos_iters, k + 2)
        ),
        "trace": lambda: hessian.trace_of(op.matvec, dim=op.dim, seed=seed + 1, num_probes=trace_samples),
        "density": lambda: hessian.spectral_density_of(
            op.matvec,
            dim=op.dim,
            num_random_starts=density_starts,
            num_iters=lanczos_iters,
            seed=seed + 2,
            num_grid=400,
        ),
        "sharp": lambda: hessian.epsilon_sharpness(
            model, loss, data, epsilon=epsilon, max_steps=sharpness_steps, seed=seed + 3
        ),
        "land": lambda: hessian.loss_landscape_1d(model, loss, data, alphas=alphas, seed=seed + 4),
    }
    steps = progress(measures.items(), desc="Hessian probes", enabled=show_progress)
    done = {name: measure() for name, measure in steps}
    top, tr, density, sharp, land = (done[n] for n in ("top", "trace", "density", "sharp", "land"))
    return SharpnessProbe(
        num_params=int(top.eigenvectors.shape[0]),
        base_loss=float(sharp.base_loss),
        top_eigenvalues=np.asarray(top.eigenvalues, float),
        eigen_residuals=np.asarray(top.residuals, float),
        eigen_converged=np.asarray(top.converged, bool),
        trace=float(tr.estimate),
        trace_stderr=float(tr.stderr),
        epsilon_sharpness=float(sharp.sharpness),
        epsilon=float(epsilon),
        density_grid=np.asarray(density.grid, float),
        density=np.asarray(density.density, float),
        landscape_alphas=np.asarray(land.alphas, float),
        landscape_losses=np.asarray(land.losses, float),
        seconds=time.monotonic() - tick,
        eigenvectors=np.asarray(top.eigenvectors, np.float32),
    )


_ARRAYS = ("density_grid", "density", "landscape_alphas", "landscape_losses", "eigenvectors")


def save_probe(probe: SharpnessProbe, folder: str, name: str) -> None:
    """Write ``<name>.json`` (scalars), ``<name>_density.npz`` and ``<name>_landscape.csv`` in ``folder``."""
    scalars = {f.name: getattr(probe, f.name) for f in dataclasses.fields(probe) if f.name not in _ARRAYS}
    os.makedirs(folder, exist_ok=True)
    write_npz(os.path.join(folder, f"{name}_density.npz"), grid=probe.density_grid, density=probe.density)
    if probe.eigenvectors is not None:
        write_npz(os.path.join(folder, f"{name}_eigenvectors.npz"), eigenvectors=probe.eigenvectors)
    write_csv(
        os.path.join(folder, f"{name}_landscape.csv"),
        [
            {"alpha": a, "loss": v}
            for a, v in zip(probe.landscape_alphas, probe.landscape_losses, strict=True)
        ],
    )
    write_json(os.path.join(folder, f"{name}.json"), scalars)


def load_probe(folder: str, name: str) -> SharpnessProbe:
    """Read a probe written by :func:`save_probe`."""
    scalars = read_json(os.path.join(folder, f"{name}.json"))
    with np.load(os.path.join(folder, f"{name}_density.npz")) as data:
        grid, density = data["grid"], data["density"]
    land = csv_columns(read_csv(os.path.join(folder, f"{name}_landscape.csv")))
    fields = {
        **scalars,
        "top_eigenvalues": np.asarray(scalars["top_eigenvalues"], float),
        "eigen_residuals": np.asarray(scalars["eigen_residuals"], float),
        "eigen_converged": np.asarray(scalars["eigen_converged"], bool),
        "trace_stderr": float("nan") if scalars["trace_stderr"] is None else scalars["trace_stderr"],
        "density_grid": grid,
        "density": density,
        "landscape_alphas": land["alpha"],
        "landscape_losses": land["loss"],
    }
    return SharpnessProbe(**fields)


def load_eigenvectors(folder: str, name: str) -> np.ndarray:
    """The (num_params, k) top eigenvectors saved with a probe."""
    with np.load(os.path.join(folder, f"{name}_eigenvectors.npz")) as data:
        return data["eigenvectors"]


def sharpness_figures(probes: dict[str, SharpnessProbe], folder: str) -> dict[str, str]:
    """Save the three sharpness figures (top eigenvalues, spectral density, 1-D landscape); PNG paths."""
    from tfescape import plots

    out = {}
    out["top_eigenvalues"] = plots.save_figure(
        plots.top_eigenvalues({n: p.top_eigenvalues for n, p in probes.items()}),
        os.path.join(folder, "hessian_top_eigenvalues"),
    )[0]
    out["spectral_density"] = plots.save_figure(
        plots.spectral_densities({n: (p.density_grid, p.density) for n, p in probes.items()}),
        os.path.join(folder, "hessian_spectral_density"),
    )[0]
    out["landscape"] = plots.save_figure(
        plots.loss_landscapes_1d({n: (p.landscape_alphas, p.landscape_losses) for n, p in probes.items()}),
        os.path.join(folder, "loss_landscape_1d"),
    )[0]
    return out


def sharpness_rows(probes: dict[str, SharpnessProbe], names) -> list[tuple]:
    """Summary-table rows (quantity, value per name) of the probes."""

    def cell(name, fn):
        return fn(probes[name]) if name in probes else None

    return [
        ("top Hessian eigenvalue", *(cell(n, lambda p: float(p.top_eigenvalues[0])) for n in names)),
        ("Hessian trace (Hutch++)", *(cell(n, lambda p: p.trace) for n in names)),
        (
            "Keskar sharpness (eps 1e-3)"
            if all(p.epsilon == 1e-3 for p in probes.values())
            else "Keskar sharpness",
            *(cell(n, lambda p: p.epsilon_sharpness) for n in names),
        ),
    ]


@dataclass(frozen=True)
class SharpnessRun:
    """What :func:`run_sharpness` did: the folder, the report, and the models probed or skipped."""

    out_dir: str
    report_md: str
    report_html: str
    ran: tuple[str, ...]
    skipped: tuple[str, ...]


def run_sharpness(
    models: dict[str, str],
    out_dir: str,
    *,
    dataset: str = "digits",
    image_size: int | None = None,
    max_train: int | None = None,
    seed: int = 0,
    from_logits: bool = True,
    resume: bool = True,
    show_progress: bool = True,
    **probe_options,
) -> SharpnessRun:
    """Probe saved Keras models (.keras files) on a dataset's training split; write figures and a report.

    Args:
        models: display name -> path of a .keras file (names "sgd"/"adam" get their fixed colors).
        out_dir: results folder; each model's probe is a resumable stage.
        dataset, image_size, max_train, seed: the training split, as in tfescape.data.load_dataset (the
            same split the models were trained on, for a meaningful minimum).
        from_logits: the models output logits (tfescape.models do); False for probabilities.
        resume: skip models whose probe finished in an earlier run.
        show_progress: progress over each model's probes.
        **probe_options: options of :func:`probe_sharpness` (k, lanczos_iters, ...).

    Returns:
        SharpnessRun.

    Raises:
        ValueError: no models, a missing file, or a model that does not fit the dataset.
    """
    import keras

    from tfescape.data import load_dataset
    from tfescape.experiments._io import ResultsDir
    from tfescape.report import Report, ReportFigure, Section, Table, write_report

    if not models:
        raise ValueError("no models given: pass NAME=PATH.keras pairs (or paths) of saved Keras models.")
    for name, path in models.items():
        if not os.path.isfile(path):
            raise ValueError(f"model file {path!r} (for {name!r}) does not exist.")
    config = dict(
        models=dict(models),
        dataset=dataset,
        image_size=image_size,
        max_train=max_train,
        seed=seed,
        from_logits=from_logits,
        **probe_options,
    )
    results = ResultsDir(out_dir, config, resume=resume)
    loss = keras.losses.SparseCategoricalCrossentropy(from_logits=from_logits)
    data = None
    folder = os.path.join(results.path, "sharpness")
    ran, skipped = [], []
    for name, path in models.items():
        stage = f"sharpness_{name}"
        if results.is_done(stage):
            skipped.append(stage)
            continue
        if data is None:
            data = load_dataset(
                dataset, batch_size=256, seed=seed, shuffle=False, image_size=image_size, max_train=max_train
            ).train
        tick = time.monotonic()
        model = keras.models.load_model(path, compile=False)
        logger.info("probing %s (%s)", name, path)
        probe = probe_sharpness(model, loss, data, seed=seed, show_progress=show_progress, **probe_options)
        save_probe(probe, folder, name)
        results.mark_done(
            stage, seconds=time.monotonic() - tick, top_eigenvalue=float(probe.top_eigenvalues[0])
        )
        ran.append(stage)
    probes = {n: load_probe(folder, n) for n in models}
    paths = sharpness_figures(probes, os.path.join(results.path, "figures"))
    names = list(models)
    from tfescape.plots import optimizer_label

    rows = sharpness_rows(probes, names)
    rows.append(("parameters", *(probes[n].num_params for n in names)))
    rows.append(("training loss at the minimum (nats)", *(probes[n].base_loss for n in names)))
    report = Report(
        f"Sharpness of {', '.join(names)} on {dataset}",
        summary=Table(("quantity", *(optimizer_label(n) for n in names)), rows),
        sections=[
            Section(
                "Hessian and landscape",
                "Hessian of the training loss in inference mode, averaged over the training split.",
                figures=[ReportFigure(results.rel(p), k.replace("_", " ")) for k, p in paths.items()],
            )
        ],
        metadata={"models": ", ".join(f"{n}={p}" for n, p in models.items()), "dataset": dataset},
    )
    md, html = write_report(report, results.path)
    return SharpnessRun(results.path, md, html, tuple(ran), tuple(skipped))
