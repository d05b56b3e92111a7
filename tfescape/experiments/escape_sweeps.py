"""Escape-time experiments on a synthetic anisotropic quadratic basin: mean exit time of the SGD and Adam
Levy-driven SDEs against the noise level eps, the tail index alpha and the basin height, simulated
(tfescape.sde.first_exit_times) and predicted by the exit law (tfescape.sde.theory).

The basin: F(x) = 1/2 x^T H x, H = diag(hessian), escape set {1/2 x^T H x >= h}. SGD: dx = -H x dt +
eps Sigma dL. Adam: tfescape.sde.AdamSDE with noise_power p = sigma^2, so that at the minimum its
preconditioner settles at Q = sqrt(p) + epsilon = Sigma (+ epsilon) and its noise matrix eps Q^-1 Sigma is
isotropic: the paper's mechanism (Adam removes the anisotropy of the gradient noise; with the sharp direction
also the noisy one, SGD escapes faster). Adam starts "after training" (t0 large: bias corrections 1).
"""

from __future__ import annotations

import dataclasses
import logging
import math
import time
from dataclasses import dataclass

import numpy as np

from tfescape.experiments._io import ResultsDir, csv_columns, progress, read_csv, write_csv
from tfescape.sde.processes import SDE_MODELS

logger = logging.getLogger(__name__)

SWEEPS = ("eps", "alpha", "height")



@dataclass(frozen=True)
class SweepRecord:
    """Points (rows) simulated by one sweep."""

    points: int


@dataclass(frozen=True)
class EscapeSweepConfig:
    """Configuration of the escape-time sweeps.

    Attributes:
        hessian: diagonal of H (sharp direction first).
        sigma: diagonal of the noise matrix Sigma (same length as hessian).
        alpha, eps, height: the values held fixed while another is swept.
        eps_values, alphas, heights: the sweeps.
        beta_1, beta_2: AdamSDE's continuous-time rates; epsilon: its epsilon.
        num_paths: Monte Carlo paths per point.
        dt_scale: dt = dt_scale / (largest drift rate).
        horizon_factor: simulate up to this many predicted mean exit times (later exits censored).
        seed: simulation seed.
        sweeps: which sweeps to run, a subset of ("eps", "alpha", "height").
    """

    hessian: tuple[float, ...] = (4.0, 1.0)
    sigma: tuple[float, ...] = (2.0, 0.5)
    alpha: float = 1.5
    eps: float = 0.1
    height: float = 0.5
    eps_values: tuple[float, ...] = (0.05, 0.1, 0.2, 0.4)
    alphas: tuple[float, ...] = (1.2, 1.5, 1.8)
    heights: tuple[float, ...] = (0.25, 0.5, 1.0, 2.0)
    beta_1: float = 5.0
    beta_2: float = 1.0
    epsilon: float = 1e-8
    num_paths: int = 1000
    dt_scale: float = 0.05
    horizon_factor: float = 12.0
    seed: int = 0
    sweeps: tuple[str, ...] = SWEEPS

    def __post_init__(self):
        for name in ("hessian", "sigma", "eps_values", "alphas", "heights"):
            values = tuple(float(v) for v in getattr(self, name))
            if not values or any(not (math.isfinite(v) and v > 0) for v in values):
                raise ValueError(f"{name} must be a non-empty list of positive numbers, got {values}.")
            object.__setattr__(self, name, values)
        object.__setattr__(self, "sweeps", tuple(self.sweeps))
        if not self.sweeps or any(w not in SWEEPS for w in self.sweeps):
            raise ValueError(f"sweeps must be a non-empty subset of {SWEEPS}, got {self.sweeps}.")
        if len(self.hessian) != len(self.sigma):
            raise ValueError(f"hessian and sigma need the same length, got {self.hessian} and {self.sigma}.")
        if any(a > 2 for a in (*self.alphas, self.alpha)):
            raise ValueError("tail indices must be in (0, 2].")
        if not isinstance(self.num_paths, int) or self.num_paths < 2:
            raise ValueError(f"num_paths must be an integer >= 2, got {self.num_paths!r}.")

    @classmethod
    def preset(cls, name: str = "default", **overrides) -> EscapeSweepConfig:
        """ "default", "quick" (under a minute) or "smoke" (seconds; for tests), with overrides."""
        presets = {
            "default": {},
            "quick": dict(num_paths=300, eps_values=(0.1, 0.2, 0.4), heights=(0.25, 0.5, 1.0)),
            "smoke": dict(num_paths=64, eps_values=(0.2, 0.4), sweeps=("eps",)),
        }
        if name not in presets:
            raise ValueError(f"unknown preset {name!r}; choose one of {', '.join(presets)}.")
        return cls(**{**presets[name], **overrides})


def predicted_time(
    config: EscapeSweepConfig, optimizer: str, *, alpha: float, eps: float, height: float
) -> float:
    """1 / nu(W) of the basin (tfescape.sde.theory.predict_optimizer_escape): Q = I for the SGD SDE and
    Q = Sigma + epsilon, where AdamSDE's preconditioner settles at the minimum, for the Adam SDE."""
    from tfescape.sde import theory

    sigma = np.asarray(config.sigma)
    return theory.predict_optimizer_escape(
        alpha=alpha,
        noise_scale=sigma,
        hessian=np.asarray(config.hessian),
        height=height,
        eps=eps,
        preconditioner=sigma + config.epsilon if optimizer == SDE_MODELS[1] else None,
    ).mean_exit_time


def simulate(
    config: EscapeSweepConfig, optimizer: str, *, alpha: float, eps: float, height: float, seed: int
):
    """Monte Carlo exit times of one optimizer's SDE from the basin; returns tfescape.sde.ExitTimes."""
    import tensorflow as tf

    from tfescape.sde import SGDSDE, AdamSDE, Ellipsoid, first_exit_times

    h = np.asarray(config.hessian)
    sigma = np.asarray(config.sigma)
    h_tf = tf.constant(h, tf.float32)

    def grad(x):
        return x * h_tf

    if optimizer == SDE_MODELS[0]:
        process = SGDSDE(grad, alpha=alpha, eps=eps, sigma=sigma)
        rate = float(h.max())
        init = None
    else:
        process = AdamSDE(
            grad,
            alpha=alpha,
            eps=eps,
            sigma=sigma,
            beta_1=config.beta_1,
            beta_2=config.beta_2,
            epsilon=config.epsilon,
            noise_power=sigma**2,
        )
        rate = float(max(config.beta_1, config.beta_2, (h / (sigma + config.epsilon)).max()))
        init = {"t0": 1e3 / min(config.beta_1, config.beta_2)}
    dt = config.dt_scale / rate
    horizon = config.horizon_factor * predicted_time(config, optimizer, alpha=alpha, eps=eps, height=height)
    return first_exit_times(
        process,
        x0=np.zeros(h.size),
        basin=Ellipsoid(center=np.zeros(h.size), hessian=h, height=height),
        dt=dt,
        num_paths=config.num_paths,
        max_time=horizon,
        seed=seed,
        init_kwargs=init,
    )


def sweep_points(config: EscapeSweepConfig, sweep: str) -> list[dict]:
    """The (alpha, eps, height) points of one sweep."""
    base = {"alpha": config.alpha, "eps": config.eps, "height": config.height}
    values = {"eps": config.eps_values, "alpha": config.alphas, "height": config.heights}[sweep]
    return [{**base, sweep: v} for v in values]


def run_sweep(config: EscapeSweepConfig, sweep: str, *, show_progress: bool = True) -> list[dict]:
    """Simulate and predict every point of ``sweep`` for SGD and Adam; one row per (point, optimizer)."""
    rows = []
    points = [(p, o) for p in sweep_points(config, sweep) for o in SDE_MODELS]
    for i, (point, optimizer) in enumerate(
        progress(points, total=len(points), desc=f"sweep {sweep}", enabled=show_progress)
    ):
        tick = time.monotonic()
        result = simulate(config, optimizer, seed=config.seed + i, **point)
        mean = result.mean
        rows.append(
            {
                "sweep": sweep,
                **point,
                "optimizer": optimizer,
                "predicted": predicted_time(config, optimizer, **point),
                "simulated": mean.value,
                "low": mean.low,
                "high": mean.high,
                "escaped_fraction": result.num_escaped / result.num_paths,
                "dt": result.dt,
                "horizon": result.horizon,
                "seconds": time.monotonic() - tick,
            }
        )
    return rows


def loglog_slope(x, y) -> float:
    """Least-squares slope of log y against log x (finite positive points only)."""
    x, y = np.asarray(x, float), np.asarray(y, float)
    keep = np.isfinite(x) & np.isfinite(y) & (x > 0) & (y > 0)
    if keep.sum() < 2:
        return float("nan")
    return float(np.polyfit(np.log(x[keep]), np.log(y[keep]), 1)[0])


@dataclass(frozen=True)
class EscapeSweepRun:
    """What :func:`run_escape_sweeps` did."""

    out_dir: str
    report_md: str
    report_html: str
    ran: tuple[str, ...]
    skipped: tuple[str, ...]


_XLABELS = {
    "eps": "noise level eps (dimensionless)",
    "alpha": "tail index alpha (dimensionless)",
    "height": "basin height h (loss units)",
}


def run_escape_sweeps(
    config: EscapeSweepConfig | None = None,
    out_dir: str = "results/escape_time",
    *,
    resume: bool = True,
    show_progress: bool = True,
) -> EscapeSweepRun:
    """Run (or resume) the three sweeps and write CSVs, figures and a report into ``out_dir``."""
    from tfescape import plots
    from tfescape.experiments.stages import Stage, run_stages
    from tfescape.report import Report, ReportFigure, Section, Table, write_report

    config = config or EscapeSweepConfig()
    results = ResultsDir(out_dir, dataclasses.asdict(config), resume=resume)

    def sweep_stage(sweep):
        rows = run_sweep(config, sweep, show_progress=show_progress)
        write_csv(results.file("sweeps", f"{sweep}.csv"), rows)
        return SweepRecord(len(rows))

    stages = [
        Stage(sweep, f"exit times against {sweep}", lambda _, s=sweep: sweep_stage(s))
        for sweep in config.sweeps
    ]
    outcome = run_stages(stages, results, None)
    ran, skipped = outcome.ran, outcome.skipped

    sections, summary = [], []
    for sweep in config.sweeps:
        cols = csv_columns(read_csv(results.file("sweeps", f"{sweep}.csv")))
        simulated, predicted = {}, {}
        x = np.unique(cols[sweep])
        for opt in SDE_MODELS:
            mine = cols["optimizer"] == opt
            simulated[opt] = plots.Band(
                cols[sweep][mine], cols["simulated"][mine], cols["low"][mine], cols["high"][mine]
            )
            predicted[opt] = np.array([predicted_time(config, opt, **{**_base(config), sweep: v}) for v in x])
        fig = plots.exit_time_scaling(
            x,
            simulated,
            predicted,
            xlabel=_XLABELS[sweep],
            title=f"Mean exit time against {sweep}",
            log_x=sweep != "alpha",
        )
        path = plots.save_figure(fig, results.file("figures", f"exit_time_vs_{sweep}"))[0]
        table = Table(
            (sweep, "optimizer", "predicted", "simulated", "95% CI", "escaped share"),
            [
                (v, plots.optimizer_label(o), p, s, f"[{lo:.3g}, {hi:.3g}]", e)
                for v, o, p, s, lo, hi, e in zip(
                    cols[sweep],
                    cols["optimizer"],
                    cols["predicted"],
                    cols["simulated"],
                    cols["low"],
                    cols["high"],
                    cols["escaped_fraction"],
                    strict=True,
                )
            ],
        )
        sections.append(
            Section(
                f"Exit time against {sweep}", figures=[ReportFigure(results.rel(path), "")], tables=[table]
            )
        )
        if sweep == "eps":
            for opt in SDE_MODELS:
                summary.append(
                    (
                        f"log-log slope of exit time vs eps, {plots.optimizer_label(opt)}",
                        loglog_slope(simulated[opt].x, simulated[opt].y),
                        -config.alpha,
                    )
                )
        first, second = SDE_MODELS
        ratios = [b / a for a, b in zip(simulated[first].y, simulated[second].y, strict=True)]
        theory_ratios = predicted[second] / predicted[first]
        summary.append(
            (
                f"Adam / SGD exit-time ratio over the {sweep} sweep (mean)",
                float(np.nanmean(ratios)),
                float(np.mean(theory_ratios)),
            )
        )
    report = Report(
        "Escape times of the SGD and Adam SDEs",
        intro=(__doc__ or "").split("\n\n", 1)[1].strip() if __doc__ else "",
        summary=Table(("quantity", "simulated", "theory"), summary),
        sections=sections,
        metadata=dataclasses.asdict(config),
    )
    md, html = write_report(report, results.path)
    return EscapeSweepRun(results.path, md, html, tuple(ran), tuple(skipped))


def _base(config):
    return {"alpha": config.alpha, "eps": config.eps, "height": config.height}
