"""Sharpness stage: the probes of tfescape.hessian.probe_sharpness (top eigenvalues, trace, spectral
density, Keskar sharpness, 1-D landscape) of trained minima, saved as JSON/CSV/NPZ and reported.

Used by the compare pipeline (both final minima) and by ``tfescape sharpness`` (any saved .keras models).

Example:
    >>> probe = probe_sharpness(model, loss, train_eval, k=5, seed=0)
    >>> probe.top_eigenvalues[0], probe.trace, probe.epsilon_sharpness
"""

from __future__ import annotations

import dataclasses
import logging
import os
from dataclasses import dataclass

import numpy as np

from tfescape.experiments._io import csv_columns, read_csv, read_json, write_csv, write_json, write_npz
from tfescape.hessian.summary import SharpnessProbe, probe_sharpness

logger = logging.getLogger(__name__)


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


def sharpness_figures(probes: dict[str, SharpnessProbe], folder: str, *, styles=None) -> dict[str, str]:
    """Save the three sharpness figures (top eigenvalues, spectral density, 1-D landscape); PNG paths."""
    from tfescape import plots

    out = {}
    out["top_eigenvalues"] = plots.save_figure(
        plots.top_eigenvalues({n: p.top_eigenvalues for n, p in probes.items()}, styles=styles),
        os.path.join(folder, "hessian_top_eigenvalues"),
    )[0]
    out["spectral_density"] = plots.save_figure(
        plots.spectral_densities({n: (p.density_grid, p.density) for n, p in probes.items()}, styles=styles),
        os.path.join(folder, "hessian_spectral_density"),
    )[0]
    out["landscape"] = plots.save_figure(
        plots.loss_landscapes_1d(
            {n: (p.landscape_alphas, p.landscape_losses) for n, p in probes.items()}, styles=styles
        ),
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
class SharpnessRecord:
    """The headline numbers of one minimum's probe."""

    top_eigenvalue: float
    trace: float
    epsilon_sharpness: float


def sharpness_stage(ctx, key: str) -> SharpnessRecord:
    """Hessian probes of run ``key``'s final minimum over the whole training split."""
    c = ctx.config
    model = ctx.trained_model(key)
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
    )
    save_probe(probe, os.path.join(ctx.results.path, "sharpness"), key)
    return SharpnessRecord(
        float(probe.top_eigenvalues[0]), float(probe.trace), float(probe.epsilon_sharpness)
    )


def sharpness_section(ctx, rows: list, sections: list) -> None:
    """Summary rows, figures and the report section of the Hessian probes of every run's minimum."""
    from tfescape import plots
    from tfescape.report import ReportFigure, Section

    folder = os.path.join(ctx.results.path, "sharpness")
    probes = {
        n: load_probe(folder, n) for n in ctx.config.keys if os.path.exists(os.path.join(folder, f"{n}.json"))
    }
    if not probes:
        return
    styles = plots.optimizer_styles(ctx.config.specs)
    rows.extend(sharpness_rows(probes, ctx.config.keys))
    paths = sharpness_figures(probes, os.path.join(ctx.results.path, "figures"), styles=styles)
    sizes = ", ".join(f"{styles[n].label}: {p.num_params} parameters" for n, p in probes.items())
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
        **probe_options: options of :func:`probe_sharpness` (k, lanczos_iters, ...).

    Returns:
        SharpnessRun.

    Raises:
        ValueError: no models, a missing file, or a model that does not fit the dataset.
    """
    import keras

    from tfescape.data import load_dataset
    from tfescape.experiments._io import ResultsDir
    from tfescape.experiments.stages import Stage, run_stages
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
    folder = os.path.join(results.path, "sharpness")
    data = []

    def probe_saved_model(name, path):
        if not data:
            data.append(
                load_dataset(
                    dataset,
                    batch_size=256,
                    seed=seed,
                    shuffle=False,
                    image_size=image_size,
                    max_train=max_train,
                ).train
            )
        model = keras.models.load_model(path, compile=False)
        probe = probe_sharpness(model, loss, data[0], seed=seed, **probe_options)
        save_probe(probe, folder, name)
        return SharpnessRecord(
            float(probe.top_eigenvalues[0]), float(probe.trace), float(probe.epsilon_sharpness)
        )

    stages = [
        Stage(
            f"sharpness_{name}",
            f"Hessian probes of {path}",
            lambda _, n=name, p=path: probe_saved_model(n, p),
        )
        for name, path in models.items()
    ]
    outcome = run_stages(stages, results, None)
    ran, skipped = outcome.ran, outcome.skipped
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
