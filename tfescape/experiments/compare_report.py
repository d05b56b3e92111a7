"""The comparison's report: every figure drawn from the saved data, the summary table, report.md/.html.

Each section is written by the module that owns its stage (training here; noise_tail, sharpness, escape);
this module orders them and writes the summary table (one column per optimizer run) and summary.csv.
"""

from __future__ import annotations

import os

from tfescape.experiments._io import csv_columns, read_csv, write_csv


def _training_summary(ctx) -> dict[str, dict]:
    out = {}
    for name in ctx.config.keys:
        path = os.path.join(ctx.results.path, "train", name, "history.csv")
        if os.path.exists(path):
            out[name] = csv_columns(read_csv(path))
    return out


def build_report(ctx):
    """Draw every figure from the saved data and write report.md / report.html."""
    from tfescape import plots
    from tfescape.experiments.escape import escape_section
    from tfescape.experiments.noise_tail import noise_section
    from tfescape.experiments.sharpness import sharpness_section
    from tfescape.report import Report, ReportFigure, Section, Table, write_report

    c, results = ctx.config, ctx.results
    names = c.keys
    styles = plots.optimizer_styles(c.specs)
    columns = ("quantity", *(styles[n].label for n in names))
    rows, sections = [], []

    histories = _training_summary(ctx)
    if histories:
        fig_path = plots.save_figure(
            plots.training_curves(histories, styles=styles), results.file("figures", "training_curves")
        )
        for key, label, scale in (
            ("accuracy", "final train accuracy (%)", 100),
            ("val_accuracy", "final test accuracy (%)", 100),
            ("loss", "final train loss (nats)", 1),
            ("val_loss", "final test loss (nats)", 1),
        ):
            rows.append((label, *(_last(histories.get(n, {}).get(key), scale) for n in names)))
        rows.append(("training steps", *(_last_int(histories.get(n, {}).get("step")) for n in names)))
        diverged = {n: ctx.divergence(n) for n in names if ctx.divergence(n)}
        rows.append(("training outcome", *(_outcome(ctx, n, diverged) for n in names)))
        sections.append(
            Section(
                "Training",
                "Every optimizer run starts from the same initial weights and sees the same data order. "
                "Solid lines: training split (running average over the epoch); dashed: test split."
                + _divergence_note(diverged, styles),
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
            plots.effective_learning_rates(lr_bands, styles=styles),
            results.file("figures", "effective_learning_rate"),
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

    for section in (noise_section, sharpness_section, escape_section):
        section(ctx, rows, sections)

    summary = Table(columns, rows)
    write_csv(results.file("summary.csv"), [dict(zip(columns, r, strict=True)) for r in rows], columns)
    opt_text = "; ".join(s.describe() for s in c.specs)
    intro = (
        f"{c.model} on {c.dataset}, {c.epochs} epochs of batch size {c.batch_size}, trained from one "
        f"initialization (seed {c.seed}) with {opt_text}. {resumed_sentence(ctx)}"
    )
    from tfescape.experiments.findings import findings_section

    opening = findings_section(ctx)
    report = Report(
        f"{' vs '.join(styles[n].label for n in names)}: {c.model} on {c.dataset}",
        summary=summary,
        sections=sections,
        intro=intro,
        metadata={k: v for k, v in c.to_dict().items()},
        opening=() if opening is None else (opening,),
    )
    return write_report(report, results.path)


def resumed_sentence(ctx) -> str:
    """Whether the run was resumed: how many processes computed it, and which stages earlier ones did."""
    from tfescape.experiments.compare import stage_list

    processes = ctx.results.processes()
    if len(processes) <= 1:
        return "This run was computed in one process (never resumed)."
    last = processes[-1]["process"]
    earlier = [
        s.name
        for s in stage_list(ctx.config)
        if (info := ctx.results.stage_info(s.name)) is not None and info.get("process") != last
    ]
    times = len(processes) - 1
    return (
        f"This run was resumed {times} time{'s' if times > 1 else ''}; "
        + (
            f"stages {', '.join(earlier)} were computed in an earlier process."
            if earlier
            else "every stage was finished by the last process."
        )
    )


def _outcome(ctx, name: str, diverged: dict) -> str | None:
    """The training-outcome cell of run ``name``: "finished", "diverged (epoch N)" or None (not run)."""
    if name in diverged:
        return "diverged (epoch " + diverged[name].split("epoch ", 1)[1].split(":", 1)[0] + ")"
    return "finished" if ctx.results.has_marker(f"train_{name}") else None


def _divergence_note(diverged: dict, styles) -> str:
    """Sentences on the runs whose training diverged (empty when none did)."""
    from tfescape.experiments.training import DIVERGENCE_FACTOR

    if not diverged:
        return ""
    runs = "; ".join(f"{styles[n].label} {why}" for n, why in diverged.items())
    return (
        f"\n\nDiverged: {runs}. Training stops when its loss is not finite or exceeds "
        f"{DIVERGENCE_FACTOR:g} times the initial loss; a diverged run's weights are no minimum, so its "
        "gradient noise, sharpness and escape times are not measured (blank in the table)."
    )


def _last(values, scale=1.0):
    if values is None or len(values) == 0:
        return None
    return float(values[-1]) * scale


def _last_int(values):
    if values is None or len(values) == 0:
        return None
    return int(values[-1])
