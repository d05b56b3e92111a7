"""Escape stage: every optimizer run's predicted and simulated escape from the basin of every run's minimum.

Orchestration only: the basin of a minimum is tfescape.sde.reduce_basin (top Hessian eigenpairs from the
sharpness stage, gradient noise measured at the minimum) and an optimizer's escape from it is
tfescape.sde.basin_escape with that optimizer's learning rate, final tail index and recorded final
preconditioner Q (ones for SGD). Results: ``escape/escape_times.csv`` (one row per basin and optimizer)
and ``escape/basin_<run>.json``.
"""

from __future__ import annotations

import os
from dataclasses import dataclass

import numpy as np

from tfescape.experiments._io import progress, read_csv, write_csv, write_json


@dataclass(frozen=True)
class EscapeRecord:
    """How many (basin, optimizer) escapes were estimated."""

    estimates: int


def escape_stage(ctx) -> EscapeRecord:
    """Predicted and simulated escape of every run from the basin of every run's final minimum."""
    from tfescape import noise, sde
    from tfescape.experiments.context import final_preconditioner
    from tfescape.experiments.noise_tail import final_alpha
    from tfescape.experiments.sharpness import load_eigenvectors, load_probe

    c, results = ctx.config, ctx.results
    folder = os.path.join(results.path, "sharpness")
    keys = ctx.analysed_keys  # a run whose training diverged has no minimum and no noise measured
    if not keys:
        return EscapeRecord(0)
    alphas = {k: final_alpha(results, k) for k in keys}
    preconditioners = {k: _preconditioner_or_identity(final_preconditioner(results, k)) for k in keys}
    rows = []
    for basin_key in progress(keys, desc="escape from each basin", enabled=ctx.show_progress):
        model = ctx.trained_model(basin_key)
        noise_vectors = [
            noise.flatten(sample.noise)
            for sample in noise.gradient_noise(
                model,
                ctx.train_eval,
                noise_dataset=ctx.fresh_train(),
                loss=ctx.loss(),
                num_batches=c.noise_batches,
            )
        ]
        basin = sde.reduce_basin(
            load_probe(folder, basin_key).top_eigenvalues,
            load_eigenvectors(folder, basin_key),
            noise_vectors=np.asarray(noise_vectors),
            alpha=alphas[basin_key],
            height=c.basin_height,
            seed=c.seed,
        )
        projections = {}
        for key in keys:
            escape = sde.basin_escape(
                basin,
                alpha=alphas[key],
                learning_rate=c.spec(key).learning_rate,
                preconditioner=preconditioners[key],
                num_paths=c.escape_paths,
                max_steps=c.escape_steps,
                seed=c.seed,
            )
            projections[key] = escape.projection
            rows.append({"basin": basin_key, "optimizer": key, **escape.scalars()})
        write_json(
            results.file("escape", f"basin_{basin_key}.json"),
            {
                "eigenvalues": basin.eigenvalues,
                "noise_scale": basin.noise_scale,
                "height": basin.height,
                "projections": projections,
            },
        )
    write_csv(results.file("escape", "escape_times.csv"), rows)
    return EscapeRecord(len(rows))


def _preconditioner_or_identity(q: np.ndarray):
    """None (Q = I exactly) when the recorded preconditioner is all ones, as SGD's is."""
    return None if np.all(q == 1.0) else q


def escape_section(ctx, rows: list, sections: list) -> None:
    """Summary rows, the escape figure and the report section (times in iterations)."""
    from tfescape import plots
    from tfescape.report import ReportFigure, Section, Table

    c, results = ctx.config, ctx.results
    path = os.path.join(results.path, "escape", "escape_times.csv")
    if not os.path.exists(path):
        return
    estimates = read_csv(path)
    from tfescape.experiments.observed_escape import load_observed

    styles = plots.optimizer_styles(c.specs)
    seen = {(str(o["basin"]), str(o["optimizer"])): o for o in load_observed(results)}
    nan = {"mean": float("nan"), "low": float("nan"), "high": float("nan")}
    bars = [
        plots.EscapeBar(
            str(e["basin"]),
            str(e["optimizer"]),
            e["predicted_iterations"],
            e["simulated_iterations"],
            e["simulated_low"] / e["learning_rate"],
            e["simulated_high"] / e["learning_rate"],
            *(seen.get((str(e["basin"]), str(e["optimizer"])), nan)[k] for k in ("mean", "low", "high")),
        )
        for e in estimates
    ]
    fig = plots.save_figure(
        plots.escape_times(bars, time_unit="iterations", styles=styles),
        results.file("figures", "escape_times"),
    )[0]
    for basin_key in c.keys:
        label = styles[basin_key].label
        by_opt = {str(e["optimizer"]): e for e in estimates if e["basin"] == basin_key}
        for kind in ("predicted", "simulated"):
            rows.append(
                (
                    f"{kind} escape from {label} minimum (iterations)",
                    *(by_opt[k][f"{kind}_iterations"] if k in by_opt else None for k in c.keys),
                )
            )
        if seen:
            rows.append(
                (
                    f"observed escape from {label} minimum (iterations)",
                    *(_interval_text(seen.get((basin_key, k))) for k in c.keys),
                )
            )
    table = Table(
        (
            "basin of",
            "optimizer",
            "alpha",
            "eps",
            "predicted (iterations)",
            "simulated (iterations)",
            "95% CI (iterations)",
            "escaped share",
            "Theta",
            "m(W)",
        ),
        [
            (
                styles[str(e["basin"])].label,
                styles[str(e["optimizer"])].label,
                e["alpha"],
                e["eps"],
                e["predicted_iterations"],
                e["simulated_iterations"],
                _interval(e["simulated_low"] / e["learning_rate"], e["simulated_high"] / e["learning_rate"]),
                e["escaped_fraction"],
                e["theta"],
                e["m_w"],
            )
            for e in estimates
        ],
    )
    censored = [e for e in estimates if e["escaped_fraction"] < 1.0]
    censor_note = (
        " Paths still inside at the horizon are censored; their means use the tail-exponential estimate "
        "(tfescape.sde.first_exit_times): "
        + ", ".join(
            f"{styles[str(e['optimizer'])].label} from the {styles[str(e['basin'])].label} minimum "
            f"{100 * (1 - e['escaped_fraction']):.0f}% censored"
            for e in censored
        )
        + "."
        if censored
        else " Every simulated path escaped before the horizon."
    )
    sections.append(
        Section(
            "Escape times from each minimum's basin",
            "Each minimum's basin is modelled as the quadratic {1/2 d^T H d < h} (h = "
            f"{c.basin_height:g} nats) in the span of its top Hessian eigenvectors with positive "
            "eigenvalues (tfescape.sde.reduce_basin). Every optimizer follows the Levy-driven SDE "
            "d theta = -P grad F dt + eps P S dL with its preconditioner Q frozen at the value recorded at "
            "the end of its training (P = V^T Q^-1 V; Q = I for SGD), eps = eta^((alpha - 1)/alpha) with its "
            "learning rate eta and final tail index alpha, and S the SaS scales of the gradient noise "
            "projected on the eigenvectors, measured at the minimum. Predicted: the exit law 1 / nu(W) "
            "(tfescape.sde.theory.predict_optimizer_escape); simulated: Monte Carlo mean exit time of "
            f"{c.escape_paths} paths (tfescape.sde.basin_escape) with its 95% interval. Times are in "
            "iterations, the unit the optimizers share (SDE time / eta). Theta = (2/alpha) eps^alpha and "
            "m(W) = nu(W) / Theta are the paper's form of the same rate." + censor_note,
            figures=[
                ReportFigure(
                    results.rel(fig),
                    "Predicted (hatched), simulated (solid) and observed (dotted; real training restarted at "
                    "the minimum, tfescape.observed) mean escape times in iterations, with 95% intervals; an "
                    "arrow marks an observation where no replica left within the step budget.",
                )
            ],
            tables=[table],
        )
    )


def _interval_text(row) -> str | None:
    """An observed mean with its interval ("> bound" when too few replicas left to estimate it), or None."""
    if row is None:
        return None
    if row["mean"] == float("inf"):
        replicas = int(row["replicas"])
        left = round(float(row["escaped_fraction"]) * replicas)
        share = "none" if left == 0 else f"{left} of {replicas}"
        return f"> {row['low']:.4g} ({share} left)"
    return f"{row['mean']:.4g} {_interval(row['low'], row['high'])}"


def _interval(low: float, high: float) -> str:
    return f"[{low:.4g}, {high:.4g}]"
