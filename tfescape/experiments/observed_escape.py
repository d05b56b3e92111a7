"""Observed-escape stage: every run's real optimizer restarted at every run's minimum (tfescape.observed).

At its own minimum a run continues with its own end-of-training optimizer state; at another run's minimum
its optimizer starts fresh and is warmed for ``observed_warmup`` steps at learning rate 0 (the moments fill
at that minimum, the weights stay). Results: ``escape/observed.csv`` (one row per basin and optimizer, exit
steps in iterations) and ``escape/observed_<basin>_<optimizer>.npz`` (per-replica exit steps).
"""

from __future__ import annotations

import os
from dataclasses import dataclass

import numpy as np

from tfescape.experiments._io import read_csv, write_csv, write_npz


@dataclass(frozen=True)
class ObservedRecord:
    """How many (basin, optimizer) observations were made and how many replicas escaped in all."""

    observations: int
    escaped: int


def observed_stage(ctx) -> ObservedRecord:
    """Restart every run's optimizer at every run's minimum in replicas; record their first exits."""
    from tfescape.experiments.sharpness import load_eigenvectors, load_probe
    from tfescape.observed import MinimumBasin, observe_escape

    c, results = ctx.config, ctx.results
    folder = os.path.join(results.path, "sharpness")
    x, y = ctx.train_arrays
    rows, escaped = [], 0
    keys = ctx.analysed_keys  # a run whose training diverged has no minimum
    if not keys:
        return ObservedRecord(0, 0)
    for basin_key in keys:
        model = ctx.trained_model(basin_key)
        basin = MinimumBasin.of(
            model,
            load_probe(folder, basin_key).top_eigenvalues,
            load_eigenvectors(folder, basin_key),
            height=c.basin_height,
        )
        for key in keys:
            own = key == basin_key
            seen = observe_escape(
                model,
                ctx.loss(),
                (x, y),
                optimizer=model.optimizer if own else c.spec(key).build(),
                basin=basin,
                num_replicas=c.observed_replicas,
                batch_size=c.batch_size,
                max_steps=c.observed_steps,
                warmup_steps=0 if own else c.observed_warmup,
                seed=c.seed,
            )
            escaped += int(seen.escaped.sum())
            write_npz(
                results.file("escape", f"observed_{basin_key}_{key}.npz"),
                exit_steps=seen.exit_steps,
                escaped=seen.escaped,
                loss_exit_steps=seen.loss_exit_steps,
                loss_escaped=seen.loss_escaped,
                final_loss=seen.final_loss,
            )
            rows.append(
                {
                    "basin": basin_key,
                    "optimizer": key,
                    "mean": seen.mean.value,
                    "low": seen.mean.low,
                    "high": seen.mean.high,
                    "escaped_fraction": seen.escaped_fraction,
                    "loss_mean": seen.loss_mean.value,
                    "loss_low": seen.loss_mean.low,
                    "loss_high": seen.loss_mean.high,
                    "loss_escaped_fraction": float(np.mean(seen.loss_escaped)),
                    "replicas": seen.num_replicas,
                    "max_steps": seen.max_steps,
                    "warmup_steps": 0 if own else c.observed_warmup,
                    "diverged": int(np.sum(~np.isfinite(seen.final_loss))),
                }
            )
    write_csv(results.file("escape", "observed.csv"), rows)
    return ObservedRecord(len(rows), escaped)


def load_observed(results) -> list[dict]:
    """The rows of ``escape/observed.csv`` ([] before the stage ran)."""
    path = os.path.join(results.path, "escape", "observed.csv")
    return read_csv(path) if os.path.exists(path) else []
