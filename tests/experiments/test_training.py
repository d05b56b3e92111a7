"""The training stage: a checkpoint that can neither skip nor repeat an epoch, and divergence detection."""

import os

import numpy as np
import pytest

from tfescape.experiments import compare, training
from tfescape.experiments._io import read_csv, read_json

SMOKE = compare.CompareConfig.preset("smoke", optimizers=("sgd",))  # 2 epochs


def train_only(config, out):
    """Run the training stages of ``config`` into ``out`` (no report: these tests read the files)."""
    from tfescape.experiments._io import ResultsDir
    from tfescape.experiments.context import CompareContext
    from tfescape.experiments.stages import run_stages

    results = ResultsDir(out, config.to_dict())
    ctx = CompareContext(config, results, show_progress=False)
    return run_stages(compare.stage_list(config), results, ctx, only=("train",))


def _final_weights(out):
    import h5py

    values = []
    with h5py.File(os.path.join(out, "train", "sgd", "final.weights.h5"), "r") as handle:
        handle.visititems(lambda name, obj: values.append((name, obj[()])) if hasattr(obj, "shape") else None)
    return values


@pytest.mark.slow
def test_a_kill_between_the_weights_and_checkpoint_json_neither_skips_nor_repeats_an_epoch(
    tmp_path, monkeypatch
):
    train_only(SMOKE, tmp_path / "whole")

    real_write_json = training.write_json

    def killed_before_the_second_epochs_state(path, data):
        if os.path.basename(path) == "checkpoint.json" and data["epoch"] == 2:
            raise KeyboardInterrupt("killed after the weights of epoch 2 were saved")
        return real_write_json(path, data)

    monkeypatch.setattr(training, "write_json", killed_before_the_second_epochs_state)
    out = tmp_path / "killed"
    with pytest.raises(KeyboardInterrupt):
        train_only(SMOKE, out)
    folder = out / "train" / "sgd"
    assert read_json(folder / "checkpoint.json")["epoch"] == 1
    assert (folder / read_json(folder / "checkpoint.json")["weights"]).exists()

    monkeypatch.setattr(training, "write_json", real_write_json)
    train_only(SMOKE, out)
    assert [row["epoch"] for row in read_csv(folder / "history.csv")] == [1, 2]
    assert sorted(os.listdir(folder)) == ["final.keras", "final.weights.h5", "history.csv", "snapshots"]
    whole, resumed = _final_weights(tmp_path / "whole"), _final_weights(out)
    assert [name for name, _ in whole] == [name for name, _ in resumed]
    for (_, a), (_, b) in zip(whole, resumed, strict=True):
        np.testing.assert_array_equal(a, b)


@pytest.mark.parametrize(
    ("loss", "initial", "diverged"),
    [
        (2.0, 2.3, False),
        (229.0, 2.3, False),  # below 100 x the initial loss
        (231.0, 2.3, True),
        (float("nan"), 2.3, True),
        (float("inf"), 2.3, True),
    ],
)
def test_divergence_is_a_non_finite_or_exploded_loss(loss, initial, diverged):
    why = training.divergence(loss, initial, epoch=3)
    assert bool(why) == diverged
    if diverged:
        assert why.startswith("diverged at epoch 3: training loss")


def test_sgd_and_adam_see_identical_batch_sequences(tmp_path, monkeypatch):
    """Every batch each optimizer trains on, in order, fingerprinted: the two sequences are equal."""
    import hashlib

    from tfescape.experiments.context import CompareContext

    seen = {}
    real_compiled_model = CompareContext.compiled_model

    def recording_model(self, key):
        model = real_compiled_model(self, key)
        train_step = model.train_step

        def step(data):
            x, y = data[:2]
            digest = hashlib.sha256(np.asarray(x).tobytes() + np.asarray(y).tobytes()).hexdigest()
            seen.setdefault(key, []).append(digest)
            return train_step(data)

        model.train_step = step
        model.run_eagerly = True  # the batches reach Python as arrays
        return model

    monkeypatch.setattr(CompareContext, "compiled_model", recording_model)
    config = compare.CompareConfig.preset("smoke", optimizers=("sgd", "adam"))
    train_only(config, tmp_path)
    steps = int(read_csv(tmp_path / "train" / "sgd" / "history.csv")[-1]["step"])
    assert len(seen["sgd"]) == steps == 16
    assert seen["sgd"] == seen["adam"]
    per_epoch = steps // config.epochs
    assert seen["sgd"][:per_epoch] != seen["sgd"][per_epoch:]  # the order moves from epoch to epoch


@pytest.mark.slow
def test_a_diverged_optimizer_is_marked_and_the_healthy_one_still_analysed(tmp_path, capsys):
    from tfescape import cli

    argv = ["compare", "--smoke", "--optimizer", "sgd:lr=1e6", "--optimizer", "adam:lr=1e-3"]
    assert cli.main([*argv, "--out", str(tmp_path), "--no-progress"]) == 0
    assert "SGD diverged at epoch 1: training loss" in capsys.readouterr().out
    summary = {row["quantity"]: row for row in read_csv(tmp_path / "summary.csv")}
    assert summary["training outcome"]["SGD"] == "diverged (epoch 1)"
    assert summary["training outcome"]["Adam"] == "finished"
    measured = (
        "tail index alpha, final",
        "top Hessian eigenvalue",
        "predicted escape from Adam minimum (iterations)",
    )
    for quantity in measured:
        assert np.isnan(summary[quantity]["SGD"]) and np.isfinite(summary[quantity]["Adam"]), quantity
    from_sgd = [row for quantity, row in summary.items() if "escape from SGD minimum" in quantity]
    assert from_sgd and all(np.isnan(row["Adam"]) and np.isnan(row["SGD"]) for row in from_sgd)
    assert not (tmp_path / "noise" / "sgd").exists() and not (tmp_path / "sharpness" / "sgd.json").exists()
    report = (tmp_path / "report.md").read_text()
    assert "Diverged: SGD diverged at epoch 1" in report
    assert "SGD's training diverged at epoch 1" in report and "left out of the findings" in report
