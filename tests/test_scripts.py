"""The scripts end to end (smoke configuration): results folder, report, figures, resuming."""

import os
import runpy
import sys

import numpy as np
import pytest

from tfescape.experiments import compare
from tfescape.experiments._io import read_csv, read_json

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
SCRIPTS = ["compare_sgd_adam.py", "sharpness.py", "tail_index.py", "escape_time.py"]


def _run_script(name, *args):
    """Run scripts/<name> as __main__ in this process (no second TensorFlow start-up); its exit code."""
    argv = sys.argv
    sys.argv = [name, *args]
    try:
        runpy.run_path(os.path.join(ROOT, "scripts", name), run_name="__main__")
    except SystemExit as stop:
        return stop.code
    finally:
        sys.argv = argv
    raise AssertionError(f"{name} did not exit through SystemExit")


@pytest.mark.parametrize("name", SCRIPTS)
def test_scripts_have_help(name, capsys):
    assert _run_script(name, "--help") == 0
    assert "--out" in capsys.readouterr().out


def _sharpness_of_saved_model(compare_out, tmp_path):
    """scripts/sharpness.py on a model the compare script saved: its own report with the probe."""
    out = tmp_path / "sharp"
    tiny = [
        "--k",
        "2",
        "--lanczos-iters",
        "6",
        "--density-starts",
        "1",
        "--trace-samples",
        "4",
        "--landscape-points",
        "5",
        "--sharpness-steps",
        "1",
        "--max-train",
        "256",
    ]
    model = compare_out / "train" / "adam" / "final.keras"
    assert _run_script("sharpness.py", f"adam={model}", "--out", str(out), "--no-progress", *tiny) == 0
    probe = read_json(out / "sharpness" / "adam.json")
    assert probe["num_params"] > 0 and len(probe["top_eigenvalues"]) == 2
    assert probe["top_eigenvalues"][0] >= probe["top_eigenvalues"][1]
    md = (out / "report.md").read_text()
    assert "| quantity | Adam |" in md and "top Hessian eigenvalue" in md


def test_compare_smoke_end_to_end_then_resumes(tmp_path):
    out = tmp_path / "results"
    assert _run_script("compare_sgd_adam.py", "--smoke", "--out", str(out), "--no-progress") == 0
    stage_names = [s.name for s in compare.stage_list(compare.CompareConfig.preset("smoke"))]
    assert sorted(os.listdir(out / "stages")) == sorted(f"{s}.json" for s in stage_names)

    md = (out / "report.md").read_text()
    assert "## Summary" in md and "| quantity | SGD | Adam |" in md
    figures = [line.split("](")[1].rstrip(")") for line in md.splitlines() if line.startswith("![")]
    assert figures, "the report shows no figure"
    for fig in figures:
        assert (out / fig).is_file()
        assert (out / fig).with_suffix(".svg").is_file()
    assert "<table>" in (out / "report.html").read_text()
    summary = read_csv(out / "summary.csv")
    assert summary[0]["quantity"] == "final train accuracy (%)"
    _same_numbers_as_the_reference(summary)
    _histogram_fit_and_alpha_share_one_pool(out)
    for name in ("sgd", "adam"):
        history = read_csv(out / "train" / name / "history.csv")
        assert [row["epoch"] for row in history] == [1.0, 2.0]

    # Second invocation (in process, same configuration): every stage is skipped, the report is rebuilt.
    result = compare.run_compare(compare.CompareConfig.preset("smoke"), out, show_progress=False)
    assert result.ran == () and sorted(result.skipped) == sorted(stage_names)
    assert os.path.exists(result.report_html)

    _sharpness_of_saved_model(out, tmp_path)


def _same_numbers_as_the_reference(summary):
    """The smoke run reproduces its recorded values (tests/data/compare_smoke_summary.csv).

    A regression guard: the redesign into stages reproduced the previous pipeline's numbers (the default
    run to 3e-16); a change of any number since must be deliberate and comes with a new reference file.
    """
    reference = read_csv(os.path.join(ROOT, "tests", "data", "compare_smoke_summary.csv"))
    rows = {r["quantity"]: r for r in summary}
    compared = 0
    for ref in reference:
        row = rows.get(ref["quantity"])
        assert row is not None, f"summary row {ref['quantity']!r} is gone"
        for column in ("SGD", "Adam"):
            want, got = ref[column], row[column]
            if isinstance(want, float) and np.isfinite(want):
                assert got == pytest.approx(want, rel=1e-6), (ref["quantity"], column)
                compared += 1
            else:
                assert str(got) == str(want) or (not isinstance(got, str) and not np.isfinite(got))
    assert compared >= 25


def _histogram_fit_and_alpha_share_one_pool(out):
    """The report's histogram, its SaS fit and the table's alpha all describe the same pooled values."""
    from tfescape import noise, stable

    for name in ("sgd", "adam"):
        rows = read_csv(out / "noise" / name / "tail_index.csv")
        fits = read_json(out / "noise" / name / "final_fits.json")
        pool = noise.load_pool(noise.samples_path(out / "noise" / name / "samples", fits["step"]))
        assert fits["step"] == rows[-1]["step"] and fits["pool_size"] == pool.values.size
        assert pool.values.size == rows[-1]["num_samples"]
        assert fits["tail_index_alpha"] == pytest.approx(rows[-1]["alpha"], rel=1e-12)
        refit = float(stable.fit(pool.values, seed=0).alpha)
        assert fits["stable"]["alpha"] == pytest.approx(refit, rel=1e-9)
        assert np.isfinite(rows[-1]["raw_alpha"]) and rows[-1]["raw_num_samples"] > 0


def test_same_initialization_and_interrupted_training_resumes(tmp_path, monkeypatch):
    config = compare.CompareConfig.preset("smoke", optimizers=("sgd", "adam"))  # 2 epochs
    from tfescape.experiments import training

    real_state_row = training._state_row
    calls = {"n": 0}

    def crash_in_second_epoch(model):
        calls["n"] += 1
        if calls["n"] == 2:
            raise KeyboardInterrupt("simulated interruption")
        return real_state_row(model)

    monkeypatch.setattr(training, "_state_row", crash_in_second_epoch)
    with pytest.raises(KeyboardInterrupt):
        compare.run_compare(config, tmp_path, show_progress=False, only=("train_sgd",))
    assert read_json(tmp_path / "train" / "sgd" / "checkpoint.json")["epoch"] == 1
    first_row = read_csv(tmp_path / "train" / "sgd" / "history.csv")[0]
    assert not os.path.exists(tmp_path / "stages" / "train_sgd.json")

    monkeypatch.setattr(training, "_state_row", real_state_row)
    result = compare.run_compare(config, tmp_path, show_progress=False, only=("train",))
    assert result.ran == ("train_sgd", "train_adam")
    history = read_csv(tmp_path / "train" / "sgd" / "history.csv")
    assert [row["epoch"] for row in history] == [1.0, 2.0]
    assert history[0].keys() == first_row.keys()
    np.testing.assert_equal(list(history[0].values()), list(first_row.values()))  # epoch 1 not retrained
    steps_per_epoch = history[0]["step"]
    # The iteration counter continued from the checkpoint (the optimizer state was restored).
    assert [row["step"] for row in history] == [steps_per_epoch, 2 * steps_per_epoch]

    # Both optimizers started from the same weights (the step-0 snapshots are identical).
    sgd0 = np.load(tmp_path / "train" / "sgd" / "snapshots" / "step_0000000.npz")
    adam0 = np.load(tmp_path / "train" / "adam" / "snapshots" / "step_0000000.npz")
    assert sgd0.files == adam0.files
    for key in sgd0.files:
        np.testing.assert_array_equal(sgd0[key], adam0[key])

    with pytest.raises(ValueError, match="different configuration"):
        compare.run_compare(compare.CompareConfig.preset("smoke", epochs=4), tmp_path, show_progress=False)


def test_escape_time_smoke_agrees_with_theory_and_resumes(tmp_path):
    out = tmp_path / "escape"
    assert _run_script("escape_time.py", "--smoke", "--out", str(out), "--no-progress") == 0
    rows = read_csv(out / "sweeps" / "eps.csv")
    assert len(rows) == 4 and {r["optimizer"] for r in rows} == {"sgd", "adam"}
    for row in rows:
        assert row["escaped_fraction"] > 0.9
        # 64 paths: the sample mean is within ~15% of the true mean (1 sigma); the exit law is an eps -> 0
        # asymptotic that overestimates at these eps by up to ~2x (measured); a factor 3 flags real breakage.
        assert row["predicted"] / 3 < row["simulated"] < row["predicted"] * 3, row
    by = {(r["eps"], r["optimizer"]): r["simulated"] for r in rows}
    assert by[(0.2, "sgd")] > by[(0.4, "sgd")]  # less noise, longer stay
    assert by[(0.2, "adam")] > by[(0.2, "sgd")]  # Adam's isotropic noise leaves the sharp basin more slowly
    md = (out / "report.md").read_text()
    assert "| quantity | simulated | theory |" in md and "exit_time_vs_eps.png" in md
    assert (out / "figures" / "exit_time_vs_eps.svg").is_file()
    assert _run_script("escape_time.py", "--smoke", "--out", str(out), "--no-progress") == 0  # resumes
    assert sorted(os.listdir(out / "stages")) == ["eps.json"]


def test_training_under_mirrored_strategy(tmp_path):
    # conftest gives TensorFlow two logical CPU devices, so MirroredStrategy runs two replicas.
    config = compare.CompareConfig.preset("smoke", epochs=1, optimizers=("sgd",), distribute="mirrored")
    result = compare.run_compare(config, tmp_path, show_progress=False, only=("train",))
    assert result.ran == ("train_sgd",)
    history = read_csv(tmp_path / "train" / "sgd" / "history.csv")
    assert len(history) == 1 and np.isfinite(history[0]["loss"])
    assert history[0]["step"] == 8  # 256 examples / batch 32: the global batch is split, not duplicated
