"""Seaborn figures of the SGD-vs-Adam analyses, in one style, saved atomically as PNG and SVG.

Every figure here:

- uses one style (seaborn "whitegrid", "notebook" context) applied through context managers, so importing
  or calling this module never changes global matplotlib state;
- draws with the colorblind-safe seaborn "colorblind" palette, and SGD and Adam keep their colors in every
  figure (:func:`optimizer_color`): SGD blue, Adam vermillion; other optimizers get the remaining colors in
  a fixed order;
- labels its axes with units and carries a legend;
- is a ``matplotlib.figure.Figure`` built without pyplot (no backend, no global figure registry) that shows
  itself as a PNG image in Jupyter and Colab (``display(fig)``, or as a cell's last value); write it with
  :func:`save_figure`.

The functions take plain data (arrays, mappings from optimizer name to arrays, small frozen dataclasses);
computing what they draw is the job of the analysis modules.

Example:
    >>> fig = training_curves({"sgd": {"epoch": [1, 2], "loss": [1.0, 0.5], "accuracy": [0.6, 0.8]}})
    >>> paths = save_figure(fig, "results/training_curves")  # results/training_curves.png and .svg
"""

from __future__ import annotations

import contextlib
import io
import logging
import os
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass

import matplotlib
import matplotlib.ticker as mticker
import numpy as np
import seaborn as sns
from matplotlib.figure import Figure

from tfescape._atomic import atomic_write

logger = logging.getLogger(__name__)

PALETTE = tuple(sns.color_palette("colorblind", 10).as_hex())
"""The ten colors of seaborn's colorblind-safe palette, as hex strings."""

REFERENCE_COLOR = "#333333"
"""Color of reference curves and lines (fitted densities, theory) that belong to no optimizer."""

FIGURE_WIDTH = 7.0
"""Width in inches of a full-width figure; at 150 dpi it is 1050 pixels, readable in a report column."""

DPI = 150
FORMATS = ("png", "svg")


@dataclass(frozen=True)
class OptimizerStyle:
    """How one optimizer run looks in every figure: its legend label and color (hex)."""

    label: str
    color: str


Styles = Mapping[str, OptimizerStyle]
"""Run key -> OptimizerStyle; every figure function takes ``styles=`` (default: from the key itself)."""


def optimizer_styles(specs) -> dict[str, OptimizerStyle]:
    """Styles of the runs of a comparison (tfescape.optimizers.specs.OptimizerSpec, keyed by ``spec.key``)."""
    return {s.key: OptimizerStyle(s.label, s.color) for s in specs}


def optimizer_color(name: str) -> str:
    """The color an optimizer has in every figure (hex string).

    Resolved through the optimizer registry (tfescape.optimizers.specs.FAMILIES): a family name ("sgd" is
    blue, "adam" vermillion) gets its family color, and the n-th run of a family in a comparison
    ("sgd_2", "adam_3") a shade of it; the first word of a label counts ("SGD (lr 0.1)" is "sgd").
    Unknown names are gray.

    Args:
        name: optimizer run key, family name or label.

    Returns:
        "#rrggbb" string.
    """
    from tfescape.optimizers.specs import family_color

    family, variant = _family_and_variant(name)
    return family_color(family, variant)


def optimizer_label(name: str) -> str:
    """Display name from the registry: "sgd" -> "SGD", "adam_2" -> "Adam #2"; other names unchanged."""
    from tfescape.optimizers.specs import FAMILIES

    family, variant = _family_and_variant(name)
    if family not in FAMILIES:
        return str(name)
    if str(name).strip().lower().replace("-", "_") not in (family, f"{family}_{variant + 1}"):
        return str(name)
    return FAMILIES[family].label + (f" #{variant + 1}" if variant else "")


def _family_and_variant(name) -> tuple[str, int]:
    text = str(name).strip().lower()
    key = text.split()[0].replace("-", "_") if text else ""
    head, _, tail = key.rpartition("_")
    if head and tail.isdigit() and int(tail) >= 2:
        return head, int(tail) - 1
    return key, 0


def _style(name: str, styles: Styles | None) -> tuple[str, str]:
    """(color, label) of a run: from ``styles`` when it has the key, else from the registry."""
    if styles and name in styles:
        return styles[name].color, styles[name].label
    return optimizer_color(name), optimizer_label(name)


@contextlib.contextmanager
def figure_style() -> Iterator[None]:
    """Context manager applying tfescape's one style (seaborn whitegrid, notebook context)."""
    rc = {"axes.titleweight": "bold", "legend.frameon": True, "svg.fonttype": "none"}
    with sns.axes_style("whitegrid", rc=rc), sns.plotting_context("notebook", font_scale=0.9, rc=rc):
        with matplotlib.rc_context(rc):
            yield


class NotebookFigure(Figure):
    """A Figure that Jupyter and Colab display as an image.

    Figures made without pyplot have no IPython formatter (the inline backend registers one only once pyplot
    is imported), so a notebook would print ``<Figure size ...>``; IPython uses ``_repr_png_`` instead.
    """

    def _repr_png_(self) -> bytes:
        buffer = io.BytesIO()
        self.savefig(buffer, format="png", dpi=self.dpi)
        return buffer.getvalue()


def new_figure(ncols: int = 1, nrows: int = 1, *, height: float = 3.4, width: float = FIGURE_WIDTH):
    """A styled Figure with an ``nrows x ncols`` grid of axes (returns ``fig, axes`` with axes 2-D)."""
    _check_positive_int(ncols, "ncols")
    _check_positive_int(nrows, "nrows")
    with figure_style():
        fig = NotebookFigure(figsize=(width, height * nrows), dpi=DPI, layout="constrained")
        axes = np.asarray(fig.subplots(nrows, ncols, squeeze=False))
    return fig, axes


@dataclass(frozen=True)
class Band:
    """A curve with a confidence band: y[i] with interval [low[i], high[i]] at x[i] (1-D, equal length)."""

    x: np.ndarray
    y: np.ndarray
    low: np.ndarray
    high: np.ndarray


@dataclass(frozen=True)
class Curve:
    """A labelled curve (x, y: 1-D arrays of equal length) drawn in a reference style."""

    label: str
    x: np.ndarray
    y: np.ndarray
    linestyle: str = "-"


# --------------------------------------------------------------------------------------------- figures


def training_curves(
    histories: Mapping[str, Mapping[str, Sequence[float]]], *, styles: Styles | None = None
) -> Figure:
    """Loss and accuracy per epoch for each optimizer; training solid, test dashed.

    Args:
        histories: optimizer name -> columns. Needs "epoch" and "loss"; draws "val_loss", "accuracy" and
            "val_accuracy" when present (accuracies as fractions in [0, 1], shown in percent).

    Returns:
        Figure with two panels (loss, accuracy).

    Raises:
        ValueError: empty mapping or a history without "epoch"/"loss".
    """
    _check_nonempty(histories, "histories")
    fig, axes = new_figure(2)
    loss_ax, acc_ax = axes[0]
    with figure_style():
        for name, hist in histories.items():
            for key in ("epoch", "loss"):
                if key not in hist:
                    raise ValueError(f"history of {name!r} lacks column {key!r}; it has {sorted(hist)}.")
            epoch = np.asarray(hist["epoch"], float)
            color, label = _style(name, styles)
            for prefix, style, split in (("", "-", "train"), ("val_", "--", "test")):
                if prefix + "loss" in hist:
                    loss_ax.plot(epoch, hist[prefix + "loss"], style, color=color, label=f"{label} {split}")
                if prefix + "accuracy" in hist:
                    acc = 100 * np.asarray(hist[prefix + "accuracy"], float)
                    acc_ax.plot(epoch, acc, style, color=color, label=f"{label} {split}")
        loss_ax.set(xlabel="epoch", ylabel="cross-entropy loss (nats)", title="Loss")
        _log_scale_if_wide(loss_ax)
        acc_ax.set(xlabel="epoch", ylabel="accuracy (%)", title="Accuracy")
        for ax in (loss_ax, acc_ax):
            ax.xaxis.set_major_locator(mticker.MaxNLocator(integer=True))
            if ax.lines:
                _legend_below(ax, ncols=2)
    return fig


def bands_over_training(
    series: Mapping[str, Band],
    *,
    ylabel: str,
    title: str,
    xlabel: str = "training iteration (steps)",
    band_label: str = "CI",
    reference: tuple[float, str] | None = None,
    log_y: bool = False,
    styles: Styles | None = None,
) -> Figure:
    """A quantity along training with a band per optimizer (e.g. alpha and its confidence interval).

    Args:
        series: optimizer name -> Band(x, y, low, high).
        ylabel: y-axis label with unit.
        title: panel title.
        xlabel: x-axis label with unit.
        band_label: what the band is, for the legend (e.g. "95% CI").
        reference: optional (y value, label) of a horizontal reference line.
        log_y: logarithmic y axis.

    Returns:
        Figure with one panel.
    """
    _check_nonempty(series, "series")
    fig, axes = new_figure(1, height=3.6)
    ax = axes[0, 0]
    with figure_style():
        for name, band in series.items():
            color, label = _style(name, styles)
            ax.plot(band.x, band.y, "-o", color=color, markersize=3.5, label=label)
            ax.fill_between(
                band.x,
                band.low,
                band.high,
                color=color,
                alpha=0.2,
                linewidth=0,
                label=f"{label} {band_label}",
            )
        if reference is not None:
            ax.axhline(reference[0], color=REFERENCE_COLOR, linestyle=":", linewidth=1, label=reference[1])
        if log_y:
            ax.set_yscale("log")
        ax.set(xlabel=xlabel, ylabel=ylabel, title=title)
        _legend_below(ax, ncols=2)
    return fig


def tail_index_over_training(
    series: Mapping[str, Band],
    *,
    confidence: float | None = None,
    styles: Styles | None = None,
    title: str = "Tail index of the gradient noise",
) -> Figure:
    """The paper's tail-index figure: alpha of the gradient noise along training, with its interval.

    Args:
        series: optimizer name -> Band(x=iteration, y=alpha, low, high).
        confidence: confidence level of the bands (e.g. 0.95), written into the legend.

    Returns:
        Figure with one panel; alpha = 2 (Gaussian noise) is marked.
    """
    return bands_over_training(
        series,
        ylabel="tail index alpha (dimensionless)",
        title=title,
        band_label=f"{100 * confidence:g}% CI" if confidence else "CI",
        reference=(2.0, "Gaussian (alpha = 2)"),
        styles=styles,
    )


def effective_learning_rates(series: Mapping[str, Band], *, styles: Styles | None = None) -> Figure:
    """Per-coordinate effective learning rate lr / Q along training: median with its 5-95% range."""
    return bands_over_training(
        series,
        xlabel="training iteration (steps)",
        ylabel="effective learning rate lr / Q (per step)",
        title="Effective per-coordinate learning rate",
        band_label="5-95% of coordinates",
        log_y=True,
        styles=styles,
    )


def noise_histograms(
    samples: Mapping[str, np.ndarray],
    densities: Mapping[str, Sequence[Curve]] | None = None,
    *,
    xlabel: str = "noise w / median |w| (dimensionless)",
    clip_quantile: float = 0.995,
    bins: int = 80,
    styles: Styles | None = None,
) -> Figure:
    """Histograms of gradient-noise samples, one panel per optimizer, with fitted densities on top.

    The y axis is logarithmic so the tails, where the Gaussian and the stable law differ, are visible.
    Values beyond the ``clip_quantile`` of |x| are left out of the bins (their share is noted in the panel).
    Panels are laid out two per row.

    Args:
        samples: optimizer name -> 1-D samples.
        densities: optimizer name -> fitted densities to overlay (e.g. Gaussian and SaS), evaluated by the
            caller on a grid.
        xlabel: x-axis label (say the unit or the standardization).
        clip_quantile: quantile of |x| that bounds the plotted range, in (0, 1].
        bins: number of histogram bins.

    Returns:
        Figure with one panel per optimizer.
    """
    _check_nonempty(samples, "samples")
    if not 0.0 < clip_quantile <= 1.0:
        raise ValueError(f"clip_quantile must be in (0, 1], got {clip_quantile}.")
    densities = densities or {}
    ncols = min(2, len(samples))
    nrows = -(-len(samples) // ncols)
    fig, axes = new_figure(ncols, nrows, height=3.4)
    linestyles = ("--", "-", "-.", ":")
    with figure_style():
        for ax, (name, x) in zip(axes.ravel(), samples.items(), strict=False):
            color, label = _style(name, styles)
            x = np.asarray(x, float).ravel()
            x = x[np.isfinite(x)]
            if x.size == 0:
                raise ValueError(f"samples of {name!r} hold no finite value.")
            bound = float(np.quantile(np.abs(x), clip_quantile)) or 1.0
            inside = np.abs(x) <= bound
            ax.hist(
                x[inside],
                bins=bins,
                range=(-bound, bound),
                density=True,
                color=color,
                alpha=0.55,
                label="noise",
            )
            for i, curve in enumerate(densities.get(name, ())):
                keep = np.abs(np.asarray(curve.x)) <= bound
                ax.plot(
                    np.asarray(curve.x)[keep],
                    np.asarray(curve.y)[keep],
                    linestyles[i % len(linestyles)],
                    color=REFERENCE_COLOR if i == 0 else "black",
                    linewidth=1.6,
                    label=curve.label,
                )
            ax.set_yscale("log")
            left_out = 100 * (1 - inside.mean())
            ax.set(title=label, xlabel=xlabel, ylabel="probability density (1 / unit of x)")
            ax.text(
                0.98,
                0.98,
                f"largest {left_out:.1f}% of |x|\nbeyond the axis",
                transform=ax.transAxes,
                ha="right",
                va="top",
                fontsize="x-small",
            )
            _legend_below(ax, ncols=3, fontsize="x-small")
        for ax in axes.ravel()[len(samples) :]:
            ax.set_visible(False)
    return fig


def spectral_densities(
    densities: Mapping[str, tuple[np.ndarray, np.ndarray]],
    *,
    dynamic_range: float = 1e6,
    styles: Styles | None = None,
) -> Figure:
    """Hessian eigenvalue densities (stochastic Lanczos quadrature) of each optimizer's minimum.

    Args:
        densities: optimizer name -> (grid of eigenvalues, density on the grid).
        dynamic_range: the log axis spans ``max density / dynamic_range`` to the maximum; lower values are
            left blank instead of drawing the kernel's numerical floor.

    Returns:
        Figure with one panel, logarithmic density axis.
    """
    _check_nonempty(densities, "densities")
    if not dynamic_range > 1:
        raise ValueError(f"dynamic_range must be > 1, got {dynamic_range}.")
    fig, axes = new_figure(1, height=3.4)
    ax = axes[0, 0]
    top = max(float(np.nanmax(np.asarray(d, float))) for _, d in densities.values())
    floor = top / dynamic_range if top > 0 else 1e-12
    with figure_style():
        for name, (grid, density) in densities.items():
            density = np.asarray(density, float)
            density = np.where(density >= floor, density, np.nan)
            color, label = _style(name, styles)
            ax.plot(grid, density, color=color, label=f"{label} minimum")
        ax.set_yscale("log")
        ax.set_ylim(floor, top * 3 if top > 0 else 1.0)
        ax.set(
            xlabel="Hessian eigenvalue (loss units / parameter^2)",
            ylabel="spectral density (1 / eigenvalue)",
            title="Hessian spectral density at the final minimum",
        )
        _legend_below(ax, ncols=2)
    return fig


def top_eigenvalues(eigenvalues: Mapping[str, Sequence[float]], *, styles: Styles | None = None) -> Figure:
    """The top Hessian eigenvalues of each minimum against their rank."""
    _check_nonempty(eigenvalues, "eigenvalues")
    fig, axes = new_figure(1, height=3.2)
    ax = axes[0, 0]
    with figure_style():
        for name, values in eigenvalues.items():
            values = np.asarray(values, float)
            color, label = _style(name, styles)
            ax.plot(
                np.arange(1, values.size + 1),
                values,
                "-o",
                color=color,
                label=f"{label} minimum",
            )
        ax.set(
            xlabel="rank",
            ylabel="Hessian eigenvalue\n(loss units / parameter^2)",
            title="Top Hessian eigenvalues",
        )
        ax.xaxis.get_major_locator().set_params(integer=True)
        _legend_below(ax, ncols=2)
    return fig


def loss_landscapes_1d(
    curves: Mapping[str, tuple[np.ndarray, np.ndarray]], *, styles: Styles | None = None
) -> Figure:
    """Loss along a filter-normalized random direction through each minimum (t = 0 is the minimum)."""
    _check_nonempty(curves, "curves")
    fig, axes = new_figure(1, height=3.2)
    ax = axes[0, 0]
    with figure_style():
        for name, (t, loss) in curves.items():
            color, label = _style(name, styles)
            ax.plot(t, loss, color=color, label=f"{label} minimum")
        ax.axvline(0.0, color=REFERENCE_COLOR, linestyle=":", linewidth=1)
        ax.set(
            xlabel="step along a filter-normalized direction (filter-norm units)",
            ylabel="training loss (nats)",
            title="1-D loss landscape",
        )
        _legend_below(ax, ncols=2)
    return fig


@dataclass(frozen=True)
class EscapeBar:
    """One escape-time measurement: optimizer ``optimizer`` leaving the basin of minimum ``basin``.

    ``predicted`` is the theory's mean exit time; ``simulated`` the Monte Carlo mean with interval
    [``low``, ``high``] (NaN where not simulated); ``observed`` the mean first exit of real training with
    interval [``observed_low``, ``observed_high``] (NaN where not observed; inf where every replica stayed:
    drawn as an arrow from its lower bound). All in one time unit (the figure's ``time_unit``).
    """

    basin: str
    optimizer: str
    predicted: float
    simulated: float = float("nan")
    low: float = float("nan")
    high: float = float("nan")
    observed: float = float("nan")
    observed_low: float = float("nan")
    observed_high: float = float("nan")


def escape_times(
    bars: Sequence[EscapeBar], *, time_unit: str = "SDE time", styles: Styles | None = None
) -> Figure:
    """Predicted (hatched), simulated (solid) and observed (dotted outline) mean escape times, with intervals,
    per basin and optimizer; an observation where no replica left is an arrow up from its lower bound."""
    if not bars:
        raise ValueError("escape_times needs at least one EscapeBar.")
    basins = list(dict.fromkeys(b.basin for b in bars))
    optimizers = list(dict.fromkeys(b.optimizer for b in bars))
    observed = any(np.isfinite(b.observed) or np.isfinite(b.observed_low) for b in bars)
    per = 3 if observed else 2
    fig, axes = new_figure(1, height=3.6 + 0.25 * len(optimizers))
    ax = axes[0, 0]
    width = 0.8 / (per * len(optimizers))
    tips = []
    with figure_style():
        for j, opt in enumerate(optimizers):
            color, label = _style(opt, styles)
            for i, basin in enumerate(basins):
                found = [b for b in bars if b.basin == basin and b.optimizer == opt]
                if not found:
                    continue
                b = found[0]
                left = i - 0.4 + per * j * width
                ax.bar(
                    left + width / 2,
                    b.predicted,
                    width,
                    color=color,
                    alpha=0.35,
                    hatch="//",
                    edgecolor=color,
                    label=f"{label} predicted" if i == 0 else None,
                )
                if np.isfinite(b.simulated):
                    err = np.array([[b.simulated - b.low], [b.high - b.simulated]])
                    err = np.where(np.isfinite(err), np.clip(err, 0, None), 0.0)
                    ax.bar(
                        left + 1.5 * width,
                        b.simulated,
                        width,
                        color=color,
                        yerr=err,
                        capsize=3,
                        label=f"{label} simulated" if i == 0 else None,
                    )
                if observed:
                    name = f"{label} observed" if i == 0 else None
                    tips.append(_observed_bar(ax, left + 2.5 * width, width, b, color, name))
        ax.set_xticks(
            range(len(basins)),
            [_style(b, styles)[1].replace(" (", "\n(").replace(", ", ",\n") for b in basins],
            fontsize="small" if len(basins) > 2 else None,
        )
        ax.set_yscale("log")
        if tips and np.isfinite(np.nanmax(tips)):
            ax.set_ylim(top=max(ax.get_ylim()[1], 1.3 * float(np.nanmax(tips))))
        _plain_log_ticks(ax.yaxis)
        ax.set(
            xlabel="basin (around the final minimum of)",
            ylabel=f"mean escape time ({time_unit})",
            title="Escape time from each minimum's basin",
        )
        _legend_below(ax, ncols=2)
    return fig


def _observed_bar(ax, x, width, b: EscapeBar, color, label) -> float:
    """The observed mean (white bar, dotted outline, interval), or an arrow up from the lower bound where no
    replica left; returns the highest point drawn (NaN if nothing was drawn)."""
    outline = {"color": "white", "edgecolor": color, "linestyle": ":", "linewidth": 1.6, "label": label}
    if np.isfinite(b.observed):
        err = np.array([[b.observed - b.observed_low], [b.observed_high - b.observed]])
        err = np.where(np.isfinite(err), np.clip(err, 0, None), 0.0)
        ax.bar(x, b.observed, width, yerr=err, capsize=3, **outline)
        return float(b.observed_high if np.isfinite(b.observed_high) else b.observed)
    if np.isfinite(b.observed_low):
        ax.bar(x, b.observed_low, width, **outline)
        tip = 2.5 * b.observed_low
        ax.annotate(
            "", xy=(x, tip), xytext=(x, b.observed_low), arrowprops={"arrowstyle": "->", "color": color}
        )
        return float(tip)
    return float("nan")


def exit_time_scaling(
    x: np.ndarray,
    simulated: Mapping[str, Band],
    predicted: Mapping[str, np.ndarray] | None = None,
    *,
    xlabel: str,
    title: str,
    log_x: bool = True,
    time_unit: str = "SDE time",
    styles: Styles | None = None,
) -> Figure:
    """Mean exit time against a parameter (eps, alpha, basin width): simulation with intervals, theory lines.

    Args:
        x: parameter values (1-D), shared by all series of ``predicted``; the bands carry their own x.
        simulated: optimizer name -> Band of Monte Carlo mean exit times.
        predicted: optimizer name -> theory's mean exit times at ``x``.
        xlabel: x-axis label with unit.
        title: panel title.
        log_x: logarithmic x axis (exit time is always logarithmic).
        time_unit: unit of time for the y label.

    Returns:
        Figure with one panel.
    """
    _check_nonempty(simulated, "simulated")
    fig, axes = new_figure(1, height=3.6)
    ax = axes[0, 0]
    with figure_style():
        for name, band in simulated.items():
            color, label = _style(name, styles)
            err = np.stack([np.asarray(band.y) - band.low, np.asarray(band.high) - band.y])
            err = np.where(np.isfinite(err), np.clip(err, 0, None), 0.0)
            ax.errorbar(band.x, band.y, yerr=err, fmt="o", color=color, capsize=3, label=f"{label} simulated")
        for name, y in (predicted or {}).items():
            color, label = _style(name, styles)
            ax.plot(x, y, "--", color=color, label=f"{label} theory")
        ax.set_yscale("log")
        _plain_log_ticks(ax.yaxis)
        if log_x:
            ax.set_xscale("log")
            _plain_log_ticks(ax.xaxis)
        ax.set(xlabel=xlabel, ylabel=f"mean exit time ({time_unit})", title=title)
        _legend_below(ax, ncols=2)
    return fig


# ------------------------------------------------------------------------------------------------ saving


def save_figure(
    fig: Figure, path: str | os.PathLike, *, formats: Sequence[str] = FORMATS, dpi: int = DPI
) -> list[str]:
    """Write ``fig`` as ``path.png`` and ``path.svg`` (or ``formats``), each atomically.

    Each file is written to a temporary file in the same folder and moved into place with os.replace, so a
    reader never sees a half-written figure. Missing folders are created.

    Args:
        fig: the figure.
        path: output path without extension (an extension given is stripped).
        formats: file formats matplotlib knows, e.g. ("png", "svg", "pdf").
        dpi: resolution of raster formats.

    Returns:
        The written paths, in the order of ``formats``.

    Raises:
        ValueError: no formats given.
    """
    if not formats:
        raise ValueError("save_figure needs at least one format, e.g. formats=('png', 'svg').")
    stem = os.fspath(path)
    root, ext = os.path.splitext(stem)
    if ext.lower().lstrip(".") in {"png", "svg", "pdf", "jpg", "jpeg"}:
        stem = root
    folder = os.path.dirname(stem) or "."
    os.makedirs(folder, exist_ok=True)
    written = []
    for fmt in formats:
        target = f"{stem}.{fmt}"
        with atomic_write(target) as handle:
            fig.savefig(handle, format=fmt, dpi=dpi)
        written.append(target)
    logger.info("figure %s (%s)", stem, ", ".join(formats))
    return written


def _legend_below(ax, *, ncols: int = 2, fontsize: str = "small") -> None:
    """One legend for the whole figure, under its panels (outside every data area), in ``ncols`` columns.

    Entries with the same label (the same curve in several panels) appear once. The figure grows by the
    legend's rows, so the panels keep their size and no label is pushed off the canvas.
    """
    fig = ax.figure
    if getattr(fig, "_tfescape_legend", None) is not None:
        fig._tfescape_legend.remove()
    handles, labels = [], []
    for panel in fig.axes:
        for handle, label in zip(*panel.get_legend_handles_labels(), strict=True):
            if label not in labels:
                handles.append(handle)
                labels.append(label)
    if not handles:
        return
    ncols = min(ncols, len(handles))
    rows = -(-len(handles) // ncols)
    if getattr(fig, "_tfescape_legend", None) is None:
        fig.set_figheight(fig.get_figheight() + 0.2 + 0.22 * rows)
    fig._tfescape_legend = fig.legend(
        handles, labels, loc="outside lower center", ncols=ncols, fontsize=fontsize, frameon=False
    )


def _plain_log_ticks(axis) -> None:
    """Tick labels of a log axis as plain numbers (0.5, 20, 3e+04) instead of mantissa x 10^k.

    Minor ticks at 2 and 5 times a power of ten are labelled too when the axis spans under two decades.
    """

    def minor(value, _):
        low, high = sorted(axis.get_view_interval())
        if low <= 0 or high / low >= 100 or value <= 0:
            return ""
        lead = round(value / 10 ** np.floor(np.log10(value)), 6)
        return f"{value:g}" if lead in (2.0, 5.0) else ""

    axis.set_major_formatter(mticker.FuncFormatter(lambda v, _: f"{v:g}"))
    axis.set_minor_formatter(mticker.FuncFormatter(minor))


def _log_scale_if_wide(ax, *, ratio: float = 20.0) -> None:
    """Use a log y axis with plain tick labels when the positive data span more than ``ratio``."""
    values = np.concatenate([np.asarray(line.get_ydata(), float) for line in ax.lines] or [np.ones(1)])
    values = values[np.isfinite(values) & (values > 0)]
    if values.size and values.max() / values.min() > ratio:
        ax.set_yscale("log")
        ax.yaxis.set_major_formatter(mticker.FuncFormatter(lambda v, _: f"{v:g}"))
        ax.yaxis.set_minor_formatter(mticker.NullFormatter())


def _check_nonempty(mapping, name):
    if not mapping:
        raise ValueError(f"{name} is empty: pass at least one optimizer's data, e.g. {{'sgd': ...}}.")


def _check_positive_int(value, name):
    if not isinstance(value, int | np.integer) or value < 1:
        raise ValueError(f"{name} must be a positive integer, got {value!r}.")
