"""The tfescape command: subcommands, option mapping onto the configuration, clear errors."""

import json

import numpy as np
import pytest

from tfescape import cli
from tfescape.experiments.compare import CompareConfig, CompareResult


def test_subcommands_mirror_the_scripts():
    assert cli.COMMANDS["compare"].script == "compare_sgd_adam.py"
    for command in cli.COMMANDS.values():
        assert command.script.endswith(".py")


def test_help_lists_every_subcommand(capsys):
    with pytest.raises(SystemExit) as exit_info:
        cli.main(["--help"])
    assert exit_info.value.code == 0
    out = capsys.readouterr().out
    for name in cli.COMMANDS:
        assert name in out


def test_compare_options_map_onto_the_config(monkeypatch):
    seen = {}

    def fake_run(config, out_dir, **kwargs):
        seen.update(config=config, out_dir=out_dir, **kwargs)
        raise ValueError("stop here")

    monkeypatch.setattr("tfescape.experiments.compare.run_compare", fake_run)
    status = cli.main(
        [
            "compare",
            "--quick",
            "--epochs",
            "3",
            "--optimizer",
            "adam:lr=0.01",
            "--optimizer",
            "sgd:lr=0.1,momentum=0.9",
            "--out",
            "somewhere",
            "--no-resume",
            "--no-progress",
        ]
    )
    assert status == 2  # the ValueError became an error message and exit status 2
    expected = CompareConfig.preset("quick", epochs=3, optimizers=("adam:lr=0.01", "sgd:lr=0.1,momentum=0.9"))
    assert seen["config"] == expected
    assert seen["out_dir"] == "somewhere"
    assert seen["resume"] is False and seen["show_progress"] is False


def test_script_main_takes_the_same_options(monkeypatch, capsys):
    seen = {}

    def fake_run(config, out_dir, **kwargs):
        seen["config"] = config
        return CompareResult(out_dir, "r.md", "r.html", ("train_sgd",), ("train_adam",), 1.0)

    monkeypatch.setattr("tfescape.experiments.compare.run_compare", fake_run)
    assert cli.script_main("compare", ["--smoke", "--seed", "7"]) == 0
    assert seen["config"] == CompareConfig.preset("smoke", seed=7)
    out = capsys.readouterr().out
    assert "r.md" in out and "stages run: train_sgd" in out and "skipped (done before): train_adam" in out


def test_bad_values_exit_with_a_message(capsys, tmp_path):
    assert cli.main(["compare", "--epochs", "0", "--out", str(tmp_path)]) == 2
    assert "epochs must be a positive integer" in capsys.readouterr().err
    with pytest.raises(SystemExit):
        cli.main(["compare", "--distribute", "tpu"])  # argparse rejects unknown choices


def test_unavailable_dataset_is_a_clear_error(capsys, tmp_path):
    # conftest sets TFESCAPE_OFFLINE=1 and CIFAR-10 is not in the Keras cache of a test machine.
    status = cli.main(
        [
            "compare",
            "--smoke",
            "--dataset",
            "cifar10",
            "--model",
            "alexnet",
            "--out",
            str(tmp_path / "out"),
            "--no-progress",
        ]
    )
    assert status == 2
    assert "not available" in capsys.readouterr().err


def test_tail_index_of_samples_drawn_by_scipy(tmp_path, capsys):
    from scipy import stats

    x = stats.levy_stable.rvs(1.5, 0.0, size=20_000, random_state=np.random.default_rng(3))
    np.save(tmp_path / "x.npy", x)
    assert cli.main(["tail-index", "--samples", str(tmp_path / "x.npy"), "--out", str(tmp_path / "o")]) == 0
    result = json.loads((tmp_path / "o" / "tail_index.json").read_text())
    # Block-sum estimator on 20,000 exact SaS(1.5) draws: standard error about 0.03, so 0.15 is ~5 sigma.
    assert abs(result["alpha"] - 1.5) < 0.15
    assert result["ci_low"] < result["alpha"] < result["ci_high"]
    assert '"alpha"' in capsys.readouterr().out


def test_escape_time_options_map_onto_the_config(monkeypatch):
    from tfescape.experiments.escape_sweeps import EscapeSweepConfig

    seen = {}

    def fake(config, out_dir, **kwargs):
        seen["config"] = config
        raise ValueError("stop")

    monkeypatch.setattr("tfescape.experiments.escape_sweeps.run_escape_sweeps", fake)
    argv = ["escape-time", "--quick", "--alphas", "1.3", "1.7", "--num-paths", "50", "--sweeps", "alpha"]
    assert cli.main(argv) == 2
    assert seen["config"] == EscapeSweepConfig.preset(
        "quick", alphas=(1.3, 1.7), num_paths=50, sweeps=("alpha",)
    )
