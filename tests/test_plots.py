"""tfescape.plots: fixed optimizer colors, labelled axes and legends, atomic PNG + SVG files."""

import os

import numpy as np
import pytest
from matplotlib.colors import to_hex

from tfescape import plots


def _history(scale):
    epochs = np.arange(1, 5)
    return {
        "epoch": epochs,
        "loss": scale / epochs,
        "val_loss": 1.2 * scale / epochs,
        "accuracy": 1 - 0.5 / epochs,
        "val_accuracy": 1 - 0.6 / epochs,
    }


def _band(offset):
    x = np.array([0.0, 10.0, 20.0])
    y = np.array([1.2, 1.3, 1.4]) + offset
    return plots.Band(x, y, y - 0.1, y + 0.1)


def _all_figures():
    rng = np.random.default_rng(0)
    grid = np.linspace(-5, 5, 101)
    gauss = np.exp(-(grid**2) / 2) / np.sqrt(2 * np.pi)
    return {
        "training_curves": plots.training_curves({"sgd": _history(2.0), "adam": _history(1.0)}),
        "tail_index": plots.tail_index_over_training({"sgd": _band(0), "adam": _band(0.2)}, confidence=0.95),
        "effective_lr": plots.effective_learning_rates({"sgd": _band(0), "adam": _band(0.1)}),
        "noise": plots.noise_histograms(
            {"sgd": rng.standard_cauchy(500), "adam": rng.standard_normal(500)},
            {
                "sgd": [plots.Curve("Gaussian fit", grid, gauss)],
                "adam": [plots.Curve("Gaussian fit", grid, gauss)],
            },
        ),
        "density": plots.spectral_densities({"sgd": (grid, gauss), "adam": (grid, gauss / 2)}),
        "eigs": plots.top_eigenvalues({"sgd": [5.0, 3.0, 1.0], "adam": [9.0, 4.0, 2.0]}),
        "landscape": plots.loss_landscapes_1d({"sgd": (grid, grid**2), "adam": (grid, 2 * grid**2)}),
        "escape": plots.escape_times(
            [
                plots.EscapeBar("sgd", "sgd", 10.0, 12.0, 11.0, 13.0),
                plots.EscapeBar("sgd", "adam", 30.0, 28.0, 25.0, 31.0),
                plots.EscapeBar("adam", "sgd", 5.0),
                plots.EscapeBar("adam", "adam", 15.0),
            ]
        ),
        "scaling": plots.exit_time_scaling(
            np.array([0.1, 0.2]),
            {
                "sgd": plots.Band(
                    np.array([0.1, 0.2]), np.array([10.0, 3.0]), np.array([9.0, 2.5]), np.array([11.0, 3.5])
                )
            },
            {"sgd": np.array([10.5, 3.1])},
            xlabel="noise scale eps (dimensionless)",
            title="exit time vs eps",
        ),
    }


def test_sgd_and_adam_keep_their_colors():
    assert plots.optimizer_color("sgd") == plots.PALETTE[0]
    assert plots.optimizer_color("Adam") == plots.PALETTE[3]
    assert plots.optimizer_color("SGD (lr 0.1)") == plots.optimizer_color("sgd")
    assert plots.optimizer_color("sgd") != plots.optimizer_color("adam")
    assert plots.optimizer_color("rmsprop") not in (plots.PALETTE[0], plots.PALETTE[3])
    assert plots.optimizer_color("some-new-optimizer") == plots.optimizer_color("some-new-optimizer")


def test_every_figure_has_labelled_axes_a_legend_and_fixed_colors():
    colors = {plots.optimizer_color("sgd"), plots.optimizer_color("adam")}
    for name, fig in _all_figures().items():
        for ax in fig.axes:
            assert ax.get_xlabel(), f"{name}: x axis has no label"
            assert ax.get_ylabel(), f"{name}: y axis has no label"
            assert "(" in ax.get_ylabel(), f"{name}: y label states no unit"
            assert ax.get_legend() is not None or fig.legends, f"{name}: no legend"
        labels_to_colors = {}
        for ax in fig.axes:
            for line in ax.get_lines():
                label = line.get_label()
                if label.startswith(("SGD", "Adam")):
                    labels_to_colors.setdefault(label.split()[0], set()).add(to_hex(line.get_color()))
        for who, found in labels_to_colors.items():
            assert found == {plots.optimizer_color(who)}, f"{name}: {who} drawn in {found}"
            assert found <= colors


def test_training_curves_draw_train_and_test_for_each_optimizer():
    fig = plots.training_curves({"sgd": _history(2.0), "adam": _history(1.0)})
    loss_ax, acc_ax = fig.axes
    assert sorted(line.get_label() for line in loss_ax.get_lines()) == [
        "Adam test",
        "Adam train",
        "SGD test",
        "SGD train",
    ]
    train = [line for line in acc_ax.get_lines() if line.get_label() == "SGD train"][0]
    np.testing.assert_allclose(train.get_ydata(), 100 * _history(2.0)["accuracy"])  # percent


def test_save_figure_writes_png_and_svg_atomically(tmp_path):
    fig = plots.top_eigenvalues({"sgd": [3.0, 2.0]})
    paths = plots.save_figure(fig, tmp_path / "sub" / "eigs.png")  # extension is replaced, folder created
    assert paths == [str(tmp_path / "sub" / "eigs.png"), str(tmp_path / "sub" / "eigs.svg")]
    with open(paths[0], "rb") as handle:
        assert handle.read(8) == b"\x89PNG\r\n\x1a\n"
    with open(paths[1], encoding="utf-8") as handle:
        assert "<svg" in handle.read()
    assert sorted(os.listdir(tmp_path / "sub")) == ["eigs.png", "eigs.svg"]  # no temporary files left
    mask = os.umask(0o022)
    os.umask(mask)
    assert os.stat(paths[0]).st_mode & 0o777 == 0o666 & ~mask  # as a plain open() would create it


def test_bad_input_says_what_to_do():
    with pytest.raises(ValueError, match="at least one optimizer"):
        plots.training_curves({})
    with pytest.raises(ValueError, match="lacks column 'loss'"):
        plots.training_curves({"sgd": {"epoch": [1]}})
    with pytest.raises(ValueError, match="no finite value"):
        plots.noise_histograms({"sgd": np.array([np.nan, np.inf])})
    with pytest.raises(ValueError, match="at least one format"):
        plots.save_figure(plots.top_eigenvalues({"sgd": [1.0]}), "x", formats=())


def test_figures_show_as_png_images_in_notebooks():
    from IPython.core.formatters import DisplayFormatter

    fig = plots.training_curves({"sgd": _history(1.0)})
    data, _ = DisplayFormatter().format(fig)  # what Jupyter and Colab receive for display(fig)
    png = data["image/png"]
    assert png.startswith(b"\x89PNG")
    width, height = int.from_bytes(png[16:20], "big"), int.from_bytes(png[20:24], "big")  # the IHDR chunk
    assert (width, height) == (round(fig.get_figwidth() * plots.DPI), round(fig.get_figheight() * plots.DPI))
