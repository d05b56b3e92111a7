"""Every figure at the report's size: no text outside the canvas, no legend over the data.

The figures are drawn from data shaped like a report's (two optimizers as in the default run, four as in
a k-optimizer comparison), rendered, and checked with matplotlib's window extents.
"""

import numpy as np
import pytest
from matplotlib.backends.backend_agg import FigureCanvasAgg
from matplotlib.patches import Rectangle
from matplotlib.transforms import Bbox

from tfescape import plots
from tfescape.optimizers.specs import parse_optimizer_specs

TWO = ("sgd:lr=0.1", "adam:lr=1e-3")
FOUR = ("sgd:lr=0.1", "sgd:lr=0.1,momentum=0.9", "adam:lr=1e-3", "rmsprop:lr=1e-3")


def _figures(specs):
    rng = np.random.default_rng(0)
    styles = plots.optimizer_styles(specs)
    keys = [s.key for s in specs]
    steps = np.arange(0, 541, 90.0)
    grid = np.linspace(-30, 30, 201)
    gauss = np.exp(-(grid**2) / 50) / np.sqrt(50 * np.pi)
    bands = {
        k: plots.Band(
            steps,
            1.3 + 0.05 * i + 0.02 * np.sin(steps),
            1.25 + 0.05 * i + 0 * steps,
            1.36 + 0.05 * i + 0 * steps,
        )
        for i, k in enumerate(keys)
    }
    lr = {
        k: plots.Band(steps, 1e-3 * (i + 1) + 0 * steps, 1e-5 + 0 * steps, 1e-1 + 0 * steps)
        for i, k in enumerate(keys)
    }
    history = {
        k: {
            "epoch": np.arange(1, 41),
            "loss": (1 + i) / np.arange(1, 41),
            "val_loss": 1.2 * (1 + i) / np.arange(1, 41),
            "accuracy": 1 - 0.5 / np.arange(1, 41),
            "val_accuracy": 1 - 0.6 / np.arange(1, 41),
        }
        for i, k in enumerate(keys)
    }
    bars = [
        plots.EscapeBar(
            b,
            k,
            50.0 * (i + 1),
            45.0 * (i + 1),
            40.0 * (i + 1),
            50.0 * (i + 1),
            *((np.inf, 1000.0, np.inf) if (i + j) % 2 else (30.0, 25.0, 36.0)),
        )
        for j, b in enumerate(keys)
        for i, k in enumerate(keys)
    ]
    return {
        "training_curves": plots.training_curves(history, styles=styles),
        "tail_index": plots.tail_index_over_training(bands, confidence=0.95, styles=styles),
        "effective_learning_rate": plots.effective_learning_rates(lr, styles=styles),
        "noise_histograms": plots.noise_histograms(
            {k: rng.standard_t(1.5, 4000) for k in keys},
            {
                k: [plots.Curve("Gaussian fit", grid, gauss), plots.Curve("SaS fit", grid, gauss)]
                for k in keys
            },
            styles=styles,
        ),
        "spectral_density": plots.spectral_densities(
            {k: (np.linspace(-1, 6, 400), np.exp(-(np.linspace(-1, 6, 400) ** 2))) for k in keys},
            styles=styles,
        ),
        "top_eigenvalues": plots.top_eigenvalues(
            {k: [5.0 - i, 3.0, 1.0] for i, k in enumerate(keys)}, styles=styles
        ),
        "landscape": plots.loss_landscapes_1d(
            {k: (grid / 30, (i + 1) * (grid / 30) ** 2) for i, k in enumerate(keys)}, styles=styles
        ),
        "escape_times": plots.escape_times(bars, time_unit="iterations", styles=styles),
    }


def _data_boxes(ax, renderer):
    """Display-space boxes of what an axes shows: line vertices (as points) and bar rectangles."""
    points, boxes = [], []
    for line in ax.get_lines():
        xy = np.column_stack(line.get_data()).astype(float)
        xy = xy[np.all(np.isfinite(xy), axis=1)]
        if xy.size:
            points.append(ax.transData.transform(xy))
    for patch in ax.patches:
        if isinstance(patch, Rectangle) and patch.get_height() > 0 and patch.get_width() > 0:
            box = Bbox.intersection(patch.get_window_extent(renderer), ax.bbox)  # what is drawn (clipped)
            if box is not None:
                boxes.append(box)
    return (np.concatenate(points) if points else np.empty((0, 2))), boxes


@pytest.mark.parametrize("runs", [TWO, FOUR], ids=["two optimizers", "four optimizers"])
def test_labels_lie_inside_the_canvas_and_legends_leave_the_data_visible(runs):
    specs = parse_optimizer_specs(runs)
    for name, fig in _figures(specs).items():
        canvas = FigureCanvasAgg(fig)
        canvas.draw()
        renderer = canvas.get_renderer()
        frame = fig.bbox
        for ax in fig.axes:
            if not ax.get_visible():
                continue
            drawn = ax.get_tightbbox(renderer)  # everything the axes draws: ticks, labels, title, legend
            inside = (
                drawn.x0 >= frame.x0 - 1
                and drawn.y0 >= frame.y0 - 1
                and drawn.x1 <= frame.x1 + 1
                and drawn.y1 <= frame.y1 + 1
            )
            assert inside, f"{name}: a label or legend of {ax.get_title()!r} lies outside the canvas"
            for text in (ax.title, ax.xaxis.label, ax.yaxis.label):
                assert not text.get_text() or text.get_window_extent(renderer).x1 <= frame.x1 + 1, name
        for legend in [ax.get_legend() for ax in fig.axes if ax.get_legend()] + list(fig.legends):
            lbox = legend.get_window_extent(renderer)
            assert lbox.x0 >= frame.x0 - 1 and lbox.x1 <= frame.x1 + 1 and lbox.y0 >= frame.y0 - 1, (
                f"{name}: legend is clipped by the canvas edge"
            )
            for ax in fig.axes:
                _assert_uncovered(name, lbox, ax, renderer)


def _assert_uncovered(name, lbox, ax, renderer):
    """No more than 2% of the visible line vertices and no visible bar of ``ax`` lie under the legend."""
    points, boxes = _data_boxes(ax, renderer)
    if points.size:
        area = ax.bbox
        visible = (
            (points[:, 0] >= area.x0)
            & (points[:, 0] <= area.x1)
            & (points[:, 1] >= area.y0)
            & (points[:, 1] <= area.y1)
        )
        points = points[visible]
        covered = (
            (points[:, 0] > lbox.x0)
            & (points[:, 0] < lbox.x1)
            & (points[:, 1] > lbox.y0)
            & (points[:, 1] < lbox.y1)
        )
        assert not points.size or covered.mean() < 0.02, f"{name}: the legend covers the data"
    for bar in boxes:
        overlap_x = min(bar.x1, lbox.x1) - max(bar.x0, lbox.x0)
        overlap_y = min(bar.y1, lbox.y1) - max(bar.y0, lbox.y0)
        assert not (overlap_x > 1 and overlap_y > 1), f"{name}: the legend covers a bar"
