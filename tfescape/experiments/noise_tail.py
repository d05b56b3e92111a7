"""Gradient noise along training: the tail index alpha (with its interval) at saved weight snapshots, and
histograms of the noise with fitted Gaussian and symmetric alpha-stable densities.

The measurement is tfescape.callbacks.GradientNoiseProbe (``measure``) run at each snapshot: the full
gradient over the training split, ``num_batches`` minibatch gradients at the training batch size, the noise
w = grad F - grad f_S, per-coordinate standardization by the median |w| over batches, and
tfescape.stable.tail_index (Mohammadi et al.'s block-sum estimator) on the pooled values. For Adam it also
measures the smoothed noise of its moving average (beta_1).
"""

from __future__ import annotations

import logging
import math
import os

import numpy as np

from tfescape.experiments._io import csv_columns, read_csv, write_csv

logger = logging.getLogger(__name__)


def record_row(record) -> dict[str, float]:
    """A CSV row of a NoiseProbeRecord: global alpha and interval, smoothed alpha, per-layer alphas."""
    g = record.global_noise
    row = {
        "step": record.step,
        "alpha": g.alpha,
        "ci_low": g.ci_low,
        "ci_high": g.ci_high,
        "num_samples": g.num_samples,
        "full_loss": record.full_loss,
        "noise_variance_mean": g.variance_mean,
        "noise_variance_median": g.variance_median,
        "noise_variance_max": g.variance_max,
        "method": record.method,
        "confidence": record.confidence,
    }
    if record.smoothed_global is not None:
        s = record.smoothed_global
        row.update(smoothed_alpha=s.alpha, smoothed_ci_low=s.ci_low, smoothed_ci_high=s.ci_high)
    for i, layer in enumerate(record.per_layer):
        row[f"alpha_layer{i}"] = layer.alpha
    return row


def measure_along_training(
    model,
    snapshots,
    *,
    load_snapshot,
    full_data,
    minibatches,
    loss,
    num_batches: int,
    confidence: float,
    csv_path: str,
    samples_dir: str,
    smoothed_beta_1: float | None = None,
    seed: int = 0,
    show_progress: bool = True,
) -> list[dict]:
    """Measure the gradient noise at each snapshot step; rows are appended to ``csv_path`` as they come.

    Steps already in ``csv_path`` (from an interrupted run) are not measured again.

    Args:
        model: a compiled model of the architecture the snapshots belong to.
        snapshots: training steps to measure at.
        load_snapshot: callable(step) putting the snapshot's weights into ``model``.
        full_data: dataset defining F (one pass over the training split).
        minibatches: dataset of training-size minibatches S.
        loss: the training loss.
        num_batches: noise vectors per measurement.
        confidence: interval coverage.
        csv_path: where the rows go.
        samples_dir: where the probe writes the sampled noise of each step (.npz).
        smoothed_beta_1: also measure Adam's smoothed noise with this beta_1.
        seed: coordinate subset and bootstrap seed.
        show_progress: progress bar.

    Returns:
        All rows (earlier and new), ordered by step.
    """
    from tfescape.callbacks import GradientNoiseProbe
    from tfescape.experiments._io import progress

    rows = read_csv(csv_path) if os.path.exists(csv_path) else []
    done = {int(r["step"]) for r in rows}
    probe = GradientNoiseProbe(
        full_data,
        every_n_steps=None,
        at_steps=(0,),
        num_batches=num_batches,
        noise_dataset=minibatches,
        loss=loss,
        smoothed_beta_1=smoothed_beta_1,
        confidence=confidence,
        samples_dir=samples_dir,
        seed=seed,
    )
    probe.set_model(model)
    todo = [s for s in snapshots if s not in done]
    for step in progress(todo, total=len(todo), desc="noise", enabled=show_progress):
        load_snapshot(step)
        record = probe.measure(step)
        if not math.isfinite(record.global_noise.alpha):
            raise ValueError(
                f"no tail index at step {step}: the estimator failed (see the log). Increase noise_batches."
            )
        rows.append(record_row(record))
        rows.sort(key=lambda r: r["step"])
        write_csv(csv_path, rows)
    return rows


def pooled_noise(samples_path: str, *, smoothed: bool = False) -> np.ndarray:
    """Standardized noise of one measurement, pooled over variables (as the tail index saw it)."""
    from tfescape.callbacks.noise_probe import standardized_pool

    prefix = "smoothed_" if smoothed else "noise_"
    with np.load(samples_path) as data:
        parts = [standardized_pool(data[k]) for k in sorted(data.files) if k.startswith(prefix)]
    return np.concatenate(parts) if parts else np.empty(0)


def samples_path(samples_dir: str, step: int) -> str:
    """The .npz the probe wrote for ``step``."""
    return os.path.join(samples_dir, f"noise_step{int(step):08d}.npz")


def density_fits(z: np.ndarray, *, grid_points: int = 401, clip_quantile: float = 0.995, seed: int = 0):
    """Gaussian (sample mean and std) and SaS (tfescape.stable.fit) fits of ``z`` and their densities.

    Returns:
        (fits, curves): fits maps "gaussian"/"stable" to parameter dicts; curves is a list of
        tfescape.plots.Curve on a grid spanning the ``clip_quantile`` of |z|.
    """
    from tfescape import plots

    z = np.asarray(z, float)
    bound = float(np.quantile(np.abs(z), clip_quantile)) or 1.0
    grid = np.linspace(-bound, bound, grid_points)
    mean, std = float(z.mean()), float(z.std())
    gauss = np.exp(-0.5 * ((grid - mean) / std) ** 2) / (std * math.sqrt(2 * math.pi))
    stable_params, stable_pdf = _stable_fit(z, grid, seed=seed)
    fits = {"gaussian": {"mean": mean, "std": std}, "stable": stable_params}
    curves = [plots.Curve("Gaussian fit", grid, gauss)]
    curves.append(plots.Curve("SaS fit", grid, stable_pdf))
    return fits, curves


def _stable_fit(z, grid, *, seed):
    """tfescape.stable.fit (ECF) of z, drawn as the symmetric law SaS(alpha, scale) at the fitted loc."""
    from tfescape import stable

    logger.info("fitting a stable law to %d noise values", np.size(z))
    fit = stable.fit(np.asarray(z, np.float64), seed=seed)
    alpha, scale, loc = float(fit.alpha), float(fit.scale), float(fit.loc)
    dist = stable.SymmetricStable(alpha, scale=scale, loc=loc)
    pdf = np.asarray(dist.prob(grid.astype(np.float64)), float)
    params = {"alpha": alpha, "beta": float(fit.beta), "scale": scale, "loc": loc, "method": fit.method}
    return params, pdf


def tail_index_bands(csv_paths: dict[str, str], *, smoothed: bool = False):
    """tfescape.plots.Band per optimizer from the noise CSVs (x = step, y = alpha, band = interval)."""
    from tfescape import plots

    prefix = "smoothed_" if smoothed else ""
    bands = {}
    for name, path in csv_paths.items():
        if not os.path.exists(path):
            continue
        cols = csv_columns(read_csv(path))
        if prefix + "alpha" not in cols:
            continue
        bands[name] = plots.Band(
            cols["step"], cols[prefix + "alpha"], cols[prefix + "ci_low"], cols[prefix + "ci_high"]
        )
    return bands
