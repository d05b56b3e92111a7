"""The main job: any set of optimizers on one model from one initialization, end to end, resumable.

Stages (tfescape.experiments.stages; each skipped when its marker ``stages/<name>.json`` exists):

1. ``train_<run>``: train a copy of the same initial model with each optimizer run, wrapped in
   tfescape.optimizers.RecordingOptimizer (tfescape.experiments.training).
2. ``noise_<run>``: gradient noise and its tail index at every weight snapshot
   (tfescape.experiments.noise_tail).
3. ``sharpness_<run>``: Hessian probes of each final minimum (tfescape.experiments.sharpness).
4. ``escape``: predicted and simulated escape of every run from each minimum's basin
   (tfescape.experiments.escape; it needs every run's noise and sharpness).
5. ``observed``: real training of every run restarted at every minimum, first exits from its basin
   (tfescape.experiments.observed_escape).
6. the findings (tfescape.claims), the figures, summary.csv and the report (report.md, report.html),
   rebuilt on every run from the saved data (tfescape.experiments.compare_report).

A run is named by its optimizer key ("sgd", "adam", "sgd_2", ...; tfescape.optimizers.specs).

Example:
    >>> config = CompareConfig.preset("quick", optimizers=("sgd:lr=0.1", "sgd:lr=0.1,momentum=0.9",
    ...                                                    "adam:lr=1e-3"))
    >>> result = run_compare(config, "results/digits-quick")
    >>> result.report_md
    'results/digits-quick/report.md'
"""

from __future__ import annotations

import logging
import os
import time
from collections.abc import Sequence
from dataclasses import dataclass

from tfescape.experiments._io import ResultsDir, remove_stale_temporaries, results_lock
from tfescape.experiments.config import DEFAULT_OPTIMIZERS, DISTRIBUTE, PRESETS, CompareConfig
from tfescape.experiments.context import CompareContext
from tfescape.experiments.stages import Stage, run_stages

logger = logging.getLogger(__name__)

__all__ = [
    "CompareConfig",
    "CompareResult",
    "DEFAULT_OPTIMIZERS",
    "DISTRIBUTE",
    "PRESETS",
    "STAGES",
    "run_compare",
    "stage_list",
]

STAGES = ("train", "noise", "sharpness", "escape", "observed")
"""Names of the analysis stages the pipeline runs, in order (all but escape run once per optimizer)."""


@dataclass(frozen=True)
class CompareResult:
    """What :func:`run_compare` did: the folder, the report files, and which stages ran or were skipped."""

    out_dir: str
    report_md: str
    report_html: str
    ran: tuple[str, ...]
    skipped: tuple[str, ...]
    seconds: float
    diverged: tuple[str, ...] = ()
    """One sentence per run whose training diverged (its later stages were skipped)."""


def stage_list(config: CompareConfig) -> list[Stage]:
    """The pipeline's stages for ``config``, in order."""
    from tfescape.experiments.escape import escape_stage
    from tfescape.experiments.noise_tail import noise_stage
    from tfescape.experiments.observed_escape import observed_stage
    from tfescape.experiments.sharpness import sharpness_stage
    from tfescape.experiments.training import train_stage

    labels = {s.key: s.label for s in config.specs}
    per_run = (
        ("train", train_stage, "train with {}", (), ("train/init.weights.h5", "train/{}/**")),
        (
            "noise",
            noise_stage,
            "gradient-noise tail index along {} training",
            ("train",),
            ("noise/{}/tail_index.csv", "noise/{}/samples/**"),
        ),
        (
            "sharpness",
            sharpness_stage,
            "Hessian probes of the {} minimum",
            ("train",),
            tuple(
                f"sharpness/{{}}{end}"
                for end in (".json", "_density.npz", "_eigenvectors.npz", "_landscape.csv")
            ),
        ),
    )
    stages = [
        Stage(
            f"{kind}_{key}",
            text.format(labels[key]),
            (lambda ctx, fn=fn, key=key: fn(ctx, key)) if kind == "train" else _unless_diverged(fn, key),
            tuple(f"{n}_{key}" for n in needs),
            tuple(pattern.format(key) for pattern in outputs),
        )
        for kind, fn, text, needs, outputs in per_run
        for key in config.keys
    ]
    stages.append(
        Stage(
            "escape",
            "escape times of every optimizer from each minimum's basin",
            escape_stage,
            tuple(f"{kind}_{key}" for kind in ("noise", "sharpness") for key in config.keys),
            ("escape/basin_*.json", "escape/escape_times.csv"),
        )
    )
    stages.append(
        Stage(
            "observed",
            "real training restarted at every minimum until it leaves the basin",
            observed_stage,
            tuple(f"sharpness_{key}" for key in config.keys),
            ("escape/observed.csv", "escape/observed_*.npz"),
        )
    )
    return stages


def _unless_diverged(stage_fn, key: str):
    """``stage_fn(ctx, key)``, or nothing (a marker without a record) when run ``key``'s training diverged."""

    def run(ctx):
        why = ctx.divergence(key)
        if why:
            logger.warning("%s: skipped, its training %s", ctx.config.spec(key).label, why)
            return None
        return stage_fn(ctx, key)

    return run


def run_compare(
    config: CompareConfig | None = None,
    out_dir: str | os.PathLike = "results/compare",
    *,
    resume: bool = True,
    show_progress: bool = True,
    only: Sequence[str] | None = None,
) -> CompareResult:
    """Run (or resume) the comparison into ``out_dir`` and write its report.

    Args:
        config: the configuration (default: ``CompareConfig()``, SGD vs Adam).
        out_dir: results folder; created; a folder with results of another configuration is refused.
        resume: skip stages whose marker exists; False recomputes everything.
        show_progress: progress bars (tqdm if installed, else log lines).
        only: run only the stages whose names start with one of these prefixes (e.g. ("train",));
            the report is written from whatever has been computed.

    Returns:
        CompareResult with the report paths and the stages run and skipped.

    Raises:
        ValueError: bad configuration, ``out_dir`` holds another configuration's results or is in use by
            another running comparison, or ``only`` asks for a stage whose inputs have not been computed.
        tfescape.data.DatasetUnavailableError: the dataset is neither cached nor downloadable.
    """
    from tfescape.experiments.compare_report import build_report

    config = config or CompareConfig()
    if config.distribute == "multiworker":  # only the chief writes into out_dir
        from tfescape._distribute import worker_output_dir

        out_dir = worker_output_dir(out_dir)
    tick = time.monotonic()
    results = ResultsDir(out_dir, config.to_dict(), resume=resume)
    ctx = CompareContext(config, results, show_progress=show_progress)
    if not _writable(results.path):
        md, html = finished_report(results, stage_list(config))
        logger.info("%s is read-only: its run is finished and intact; the report stands", results.path)
        names = tuple(s.name for s in stage_list(config))
        return CompareResult(results.path, md, html, (), names, time.monotonic() - tick, _diverged(ctx))
    with results_lock(results.path):
        remove_stale_temporaries(results.path)
        outcome = run_stages(stage_list(config), results, ctx, only=only)
        logger.info("figures and report: drawing from the saved data")
        md, html = build_report(ctx)
    return CompareResult(
        results.path, md, html, outcome.ran, outcome.skipped, time.monotonic() - tick, _diverged(ctx)
    )


def _writable(folder: str) -> bool:
    return os.access(folder, os.W_OK)


def _diverged(ctx) -> tuple[str, ...]:
    return tuple(f"{s.label} {ctx.divergence(s.key)}" for s in ctx.config.specs if ctx.divergence(s.key))


def finished_report(results: ResultsDir, stages: Sequence[Stage]) -> tuple[str, str]:
    """The report of a finished run whose folder cannot be written: checked, not rebuilt.

    Returns:
        The paths of report.md and report.html.

    Raises:
        ValueError: a stage has not finished, one of its outputs is missing or damaged, or the report is
            missing; the message names the stage or the file.
    """
    from tfescape.experiments.stages import damaged_output

    for stage in stages:
        info = results.stage_info(stage.name)
        if info is None:
            raise ValueError(
                f"{results.path!r} is read-only and stage {stage.name} has not finished there; make the "
                "folder writable to resume the run."
            )
        damage = damaged_output(results, info)
        if damage is not None:
            raise ValueError(f"{damage}; the folder is read-only: make it writable to recompute it.")
    md, html = (os.path.join(results.path, f"report.{ext}") for ext in ("md", "html"))
    for path in (md, html):
        if not os.path.exists(path):
            raise ValueError(f"{path} is missing and the folder is read-only: make it writable to write it.")
    return md, html
