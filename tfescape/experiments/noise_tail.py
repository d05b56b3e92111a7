"""Gradient noise along training: the tail index alpha (with its interval) at saved weight snapshots, and
histograms of the noise with fitted Gaussian and symmetric alpha-stable densities.

The measurement is tfescape.callbacks.GradientNoiseProbe (``measure``) run at each snapshot: the full
gradient over the training split, ``num_batches`` minibatch gradients at the training batch size, the noise
w = grad F - grad f_S, pooled two ways (tfescape.noise.pool_noise: "standardized", each coordinate divided
by its median |w|, and "raw", the paper's recipe), and tfescape.stable.tail_index (Mohammadi et al.'s
block-sum estimator) on each pool. For optimizers with a first-moment average (Adam's beta_1) it also
measures the smoothed noise of that average. The histogram and the fits of the report are drawn from the
very pool the tail index was estimated from (tfescape.noise.load_pool of the saved samples).
"""

from __future__ import annotations

import logging
import math
import os
from dataclasses import dataclass

import numpy as np

from tfescape.experiments._io import csv_columns, read_csv, write_csv, write_json

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
    for pool in record.pools[1:]:
        row.update(
            {
                f"{pool.pooling}_alpha": pool.alpha,
                f"{pool.pooling}_ci_low": pool.ci_low,
                f"{pool.pooling}_ci_high": pool.ci_high,
                f"{pool.pooling}_num_samples": pool.num_samples,
                f"{pool.pooling}_dropped_coordinates": pool.dropped_coordinates,
            }
        )
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
    pooling: tuple[str, ...] = ("standardized", "raw"),
    keep_all_samples: bool = False,
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
        samples_dir: where the probe writes the sampled noise (.npz) of the last snapshot (of every snapshot
            with ``keep_all_samples``).
        smoothed_beta_1: also measure Adam's smoothed noise with this beta_1.
        pooling: poolings of the probe (the first fills the ``alpha`` column; others get prefixed ones).
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
        pooling=pooling,
        confidence=confidence,
        samples_dir=samples_dir,
        seed=seed,
    )
    probe.set_model(model)
    todo = [s for s in snapshots if s not in done]
    last = max(snapshots) if len(snapshots) else None
    for step in progress(todo, total=len(todo), desc="noise", enabled=show_progress):
        load_snapshot(step)
        # The report draws the last snapshot's pool; the others' samples are not kept unless asked for.
        probe.samples_dir = samples_dir if (keep_all_samples or step == last) else None
        record = probe.measure(step)
        if not math.isfinite(record.global_noise.alpha):
            raise ValueError(
                f"no tail index at step {step}: the estimator failed (see the log). Increase noise_batches."
            )
        rows.append(record_row(record))
        rows.sort(key=lambda r: r["step"])
        write_csv(csv_path, rows)
    return rows


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


def tail_index_bands(csv_paths: dict[str, str], *, smoothed: bool = False, prefix: str | None = None):
    """tfescape.plots.Band per optimizer from the noise CSVs (x = step, y = alpha, band = interval).

    ``prefix`` selects a column family ("smoothed_", "raw_"); ``smoothed=True`` is ``prefix="smoothed_"``.
    """
    from tfescape import plots

    if prefix is None:
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


# ------------------------------------------------------------------------------------------ the pipeline


@dataclass(frozen=True)
class NoiseRecord:
    """The last measurement of one run: step, tail index and its interval, both poolings."""

    measurements: int
    step: int
    alpha: float
    ci_low: float
    ci_high: float
    raw_alpha: float


def noise_folder(results, key: str) -> str:
    """Folder of run ``key``'s noise measurements (tail_index.csv, samples/)."""
    return os.path.join(results.path, "noise", key)


def noise_stage(ctx, key: str) -> NoiseRecord:
    """Tail index of the gradient noise at every weight snapshot of run ``key`` (resumes per snapshot)."""
    from tfescape.experiments.context import load_snapshot, snapshot_steps

    c, results = ctx.config, ctx.results
    model = ctx.compiled_model(key)
    folder = noise_folder(results, key)
    rows = measure_along_training(
        model,
        snapshot_steps(results, key),
        load_snapshot=lambda step: load_snapshot(results, key, step, model),
        full_data=ctx.train_eval,
        minibatches=ctx.fresh_train(),  # the same minibatch sequence for every optimizer
        loss=ctx.loss(),
        num_batches=c.noise_batches,
        confidence=c.confidence,
        csv_path=os.path.join(folder, "tail_index.csv"),
        samples_dir=os.path.join(folder, "samples"),
        smoothed_beta_1=c.spec(key).smoothing_decay,
        keep_all_samples=c.keep_noise_samples,
        seed=c.seed,
        show_progress=ctx.show_progress,
    )
    last = rows[-1]
    return NoiseRecord(
        len(rows),
        int(last["step"]),
        float(last["alpha"]),
        float(last["ci_low"]),
        float(last["ci_high"]),
        float(last.get("raw_alpha", float("nan"))),
    )


def final_alpha(results, key: str) -> float:
    """The tail index of run ``key``'s noise at its last snapshot (primary pooling)."""
    rows = read_csv(os.path.join(noise_folder(results, key), "tail_index.csv"))
    return float(rows[-1]["alpha"])


def noise_section(ctx, rows: list, sections: list) -> None:
    """Summary rows, figures and the report section of the noise measurements."""
    from tfescape import noise, plots
    from tfescape.report import ReportFigure, Section

    c, results = ctx.config, ctx.results
    keys, styles = c.keys, plots.optimizer_styles(c.specs)
    csv_paths = {k: os.path.join(noise_folder(results, k), "tail_index.csv") for k in keys}
    bands = tail_index_bands(csv_paths)
    if not bands:
        return
    ci = f"{100 * c.confidence:g}%"
    tail_fig = plots.save_figure(
        plots.tail_index_over_training(bands, confidence=c.confidence, styles=styles),
        results.file("figures", "tail_index"),
    )[0]
    figures = [ReportFigure(results.rel(tail_fig), "Tail index of the gradient noise along training.")]

    def final(fn):
        return tuple(fn(bands[k], -1) if k in bands else None for k in keys)

    rows.append(("tail index alpha, final", *final(lambda b, i: float(b.y[i]))))
    rows.append((f"alpha {ci} CI, final", *final(lambda b, i: f"[{b.low[i]:.3f}, {b.high[i]:.3f}]")))
    rows.append(("tail index alpha, mean over training", *final(lambda b, i: float(np.mean(b.y)))))
    raw = tail_index_bands(csv_paths, prefix="raw_")
    if raw:
        rows.append(
            (
                "tail index alpha, raw pooling (paper), final",
                *(float(raw[k].y[-1]) if k in raw else None for k in keys),
            )
        )
        raw_fig = plots.save_figure(
            plots.tail_index_over_training(
                raw,
                confidence=c.confidence,
                styles=styles,
                title="Tail index, raw pooling (the paper's recipe)",
            ),
            results.file("figures", "tail_index_raw"),
        )[0]
        figures.append(
            ReportFigure(results.rel(raw_fig), "Tail index of the raw (unscaled) noise pool along training.")
        )
    smoothed = tail_index_bands(csv_paths, smoothed=True)
    if smoothed:
        rows.append(
            (
                "alpha of the smoothed (first-moment) noise, final",
                *(float(smoothed[k].y[-1]) if k in smoothed else None for k in keys),
            )
        )

    samples, densities, fitted, notes = {}, {}, {}, []
    for k in bands:
        step = int(bands[k].x[-1])
        path = noise.samples_path(os.path.join(noise_folder(results, k), "samples"), step)
        if not os.path.exists(path):
            continue
        pool = noise.load_pool(path, pooling="standardized")
        samples[k] = pool.values
        try:
            fits, curves = density_fits(pool.values, seed=c.seed)
        except (ImportError, AttributeError) as err:  # the stable-law fit is not in this install
            notes.append(f"SaS density not drawn for {k}: {err}.")
            logger.warning("SaS fit unavailable: %s", err)
            continue
        densities[k] = curves
        fitted[k] = fits
        write_json(
            results.file("noise", k, "final_fits.json"),
            {
                "step": step,
                "pooling": pool.pooling,
                "pool_size": int(pool.values.size),
                "tail_index_alpha": float(bands[k].y[-1]),
                **fits,
            },
        )
    if samples:
        hist = plots.save_figure(
            plots.noise_histograms(samples, densities, styles=styles),
            results.file("figures", "noise_histograms"),
        )
        caption = (
            "Gradient noise at the last snapshot: the standardized pool the tail index was estimated from, "
            "with a Gaussian fit and a symmetric alpha-stable fit (characteristic-function method, a second "
            "estimator of alpha on the same values). "
            + "; ".join(
                f"{styles[k].label}: {samples[k].size} values, tail index {float(bands[k].y[-1]):.3f}, "
                f"SaS fit alpha {f['stable']['alpha']:.3f} and scale {f['stable']['scale']:.3g}, "
                f"Gaussian std {f['gaussian']['std']:.3g}"
                for k, f in fitted.items()
            )
        )
        figures.append(ReportFigure(results.rel(hist[0]), caption.rstrip() + "."))
    text = (
        "Gradient noise w = grad F - grad f_S (full-batch minus minibatch gradient, tfescape.noise) at "
        f"weight snapshots along training, {c.noise_batches} minibatches of size {c.batch_size} per "
        "snapshot, measured by tfescape.callbacks.GradientNoiseProbe on a uniform random subset of the "
        "model's coordinates and estimated by tfescape.stable.tail_index (Mohammadi et al.'s block-sum "
        f"estimator, {ci} asymptotic intervals). alpha = 2 is Gaussian noise; smaller is heavier tailed.\n\n"
        "Two poolings of the (batches x coordinates) noise matrix are reported. The standardized pool "
        "(the table's alpha) divides every coordinate by its median |w| over the batches, so each "
        "coordinate's own tail is measured on a common scale. The raw pool is the paper's recipe "
        "(Simsekli et al. 2019, Zhou et al. 2020): all values as they are; coordinates that never move "
        "are dropped. Gradient-noise scales differ by orders of magnitude across coordinates, and a "
        "pool of such different scales is a scale mixture, which the estimator reads as a heavier tail: "
        "the raw alpha is lower than the standardized one when the scales are spread, and the two agree "
        "when they are not."
    )
    stored = sum(
        os.path.getsize(os.path.join(folder, f))
        for folder in (os.path.join(noise_folder(results, k), "samples") for k in keys)
        if os.path.isdir(folder)
        for f in os.listdir(folder)
    )
    text += (
        f"\n\nSampled noise kept in noise/<run>/samples: {stored / 2**20:.1f} MB, "
        + ("every snapshot." if c.keep_noise_samples else "the last snapshot of each run (drawn here).")
    )
    if notes:
        text += "\n\n" + " ".join(notes)
    sections.append(Section("Gradient noise and its tail index", text, figures=figures))
