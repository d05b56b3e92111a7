"""The tfescape command: subcommands, option mapping onto the configuration, clear errors."""

import dataclasses
import json
import re

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


def _command_parser(name):
    import argparse

    parser = argparse.ArgumentParser(prog=name)
    cli.COMMANDS[name].add_arguments(parser)
    return parser


def _option_helps(parser):
    return {a.option_strings[-1]: a.help for a in parser._actions if a.option_strings}


def test_help_of_every_command_loads_no_tensorflow_and_prints_no_log_line():
    import os
    import subprocess
    import sys

    code = (
        "import sys, contextlib, io\n"
        "from tfescape import cli\n"
        "for argv in ([], ['compare'], ['tail-index'], ['escape-time'], ['sharpness']):\n"
        "    with contextlib.redirect_stdout(io.StringIO()) as out:\n"
        "        try:\n"
        "            cli.main([*argv, '--help'])\n"
        "        except SystemExit as exit:\n"
        "            assert exit.code == 0, argv\n"
        "    assert out.getvalue().startswith('usage: tfescape'), argv\n"
        "for name, command in cli.COMMANDS.items():\n"
        "    with contextlib.redirect_stdout(io.StringIO()) as out:\n"
        "        try:\n"
        "            cli.script_main(name, ['--help'])\n"
        "        except SystemExit as exit:\n"
        "            assert exit.code == 0, name\n"
        "    assert out.getvalue().startswith('usage: ' + command.script), name\n"
        "heavy = ('tensorflow', 'keras', 'matplotlib')\n"
        "loaded = sorted(m for m in sys.modules if m.split('.')[0] in heavy)\n"
        "print(loaded)\n"
    )
    root = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
    env = dict(os.environ, PYTHONPATH=root)
    run = subprocess.run([sys.executable, "-c", code], cwd=root, env=env, capture_output=True, text=True)
    assert run.returncode == 0, run.stderr
    assert run.stdout.strip() == "[]"  # what made --help take seconds: TensorFlow, Keras, matplotlib
    assert run.stderr == ""


def test_each_command_lists_only_its_own_options_with_help_and_defaults():
    compare = _option_helps(_command_parser("compare"))
    tail = _option_helps(_command_parser("tail-index"))
    assert "(default: " in compare["--optimizer"]
    for field in dataclasses.fields(CompareConfig):
        if field.name == "optimizers":  # one repeatable --optimizer NAME[:key=value,...]
            continue
        flag = "--" + field.name.replace("_", "-")
        text = compare[flag]
        assert "(default: " in text, flag
        assert text.split(" (default")[0] not in (field.name, field.name.replace("_", " ")), flag
    assert "--epochs" in tail and "--noise-batches" in tail and "--samples" in tail and "--force" in tail
    unused = (
        "--hessian-k",
        "--lanczos-iters",
        "--escape-paths",
        "--basin-height",
        "--sharpness-steps",
        "--only",
    )
    assert not set(unused) & set(tail)
    assert "--samples" not in compare and "--force" not in compare
    assert "(default: 40; --quick: 12)" in compare["--epochs"]

    sharpness = _option_helps(_command_parser("sharpness"))
    assert "--quick" in sharpness and "(default: 5; --quick: 3)" in sharpness["--k"]
    escape = _option_helps(_command_parser("escape-time"))
    assert "(default: 0.05 0.1 0.2 0.4; --quick: 0.1 0.2 0.4)" in escape["--eps-values"]
    for helps in (compare, tail, sharpness, escape):
        assert all(text for text in helps.values())


def test_sharpness_quick_takes_compare_quick_probe_sizes(monkeypatch, tmp_path):
    seen = {}

    def fake(models, out_dir, **kwargs):
        seen.update(kwargs)
        raise ValueError("stop")

    monkeypatch.setattr("tfescape.experiments.sharpness.run_sharpness", fake)
    assert cli.main(["sharpness", "m.keras", "--quick", "--k", "4", "--no-progress"]) == 2
    quick = CompareConfig.preset("quick")
    assert seen["k"] == 4 and seen["lanczos_iters"] == quick.lanczos_iters
    assert seen["trace_samples"] == quick.trace_samples and seen["epsilon"] == quick.sharpness_epsilon
    assert seen["show_progress"] is False
    assert cli.main(["sharpness", "m.keras"]) == 2
    assert seen["lanczos_iters"] == CompareConfig().lanczos_iters and seen["show_progress"] is True


def test_tail_index_of_samples_is_not_overwritten_without_force(tmp_path, capsys):
    np.save(tmp_path / "x.npy", np.random.default_rng(0).standard_cauchy(4000))
    argv = [
        "tail-index",
        "--samples",
        str(tmp_path / "x.npy"),
        "--out",
        str(tmp_path / "o"),
        "--method",
        "hill",
    ]
    assert cli.main(argv) == 0
    first = (tmp_path / "o" / "tail_index.json").read_text()
    (tmp_path / "o" / "tail_index.json").write_text("kept")
    assert cli.main(argv) == 2
    assert "--force" in capsys.readouterr().err
    assert (tmp_path / "o" / "tail_index.json").read_text() == "kept"
    assert cli.main([*argv, "--force"]) == 0
    assert (tmp_path / "o" / "tail_index.json").read_text() == first


def test_repeated_warnings_are_shown_once():
    import logging

    once = cli._OnceEach()

    def record(message, level=logging.WARNING, name="tfescape.hessian.lanczos"):
        return logging.LogRecord(name, level, __file__, 1, message, None, None)

    assert once.filter(record("Lanczos: 2 of 2 eigenpairs not converged to tol=0.001 after 6 products."))
    assert not once.filter(record("Lanczos: 1 of 3 eigenpairs not converged to tol=0.001 after 40 products."))
    assert once.filter(record("another warning"))
    assert once.filter(record("stage escape", level=logging.INFO))
    assert once.filter(record("stage escape", level=logging.INFO))


_NATIVE_LINE = re.compile(r"^(WARNING: All log messages before absl|[IWEF]\d{4} )", re.MULTILINE)


def test_a_run_prints_no_tensorflow_start_up_lines_unless_verbose(tmp_path):
    """TensorFlow's C++/absl lines reach the terminal only with -v; tfescape's own output always does."""
    import os
    import subprocess
    import sys

    np.save(tmp_path / "x.npy", np.random.default_rng(1).standard_cauchy(2000))
    root = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
    env = {k: v for k, v in os.environ.items() if k != "TF_CPP_MIN_LOG_LEVEL"}
    env["PYTHONPATH"] = root

    def start(out, *flags):
        argv = ["tail-index", "--samples", str(tmp_path / "x.npy"), "--out", str(tmp_path / out), *flags]
        return subprocess.Popen(
            [sys.executable, "-m", "tfescape.cli", *argv],
            cwd=root,
            env=env,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )

    def finish(process):
        stdout, stderr = process.communicate(timeout=300)
        return subprocess.CompletedProcess(process.args, process.returncode, stdout, stderr)

    # The two runs are independent processes: start both, then wait (their start-ups overlap).
    verbose_process, quiet_process = start("v", "-v"), start("q")
    verbose, quiet = finish(verbose_process), finish(quiet_process)
    assert verbose.returncode == 0 and quiet.returncode == 0, verbose.stderr + quiet.stderr
    assert '"alpha"' in quiet.stdout and "tail-index: loading TensorFlow" in verbose.stderr
    if not _NATIVE_LINE.search(verbose.stderr):
        pytest.skip("TensorFlow printed no start-up lines on this machine, so there is nothing to hide")
    assert not _NATIVE_LINE.search(quiet.stderr), quiet.stderr
    own = re.compile(r"\d\d:\d\d:\d\d (INFO|WARNING) tfescape")  # tfescape's own log lines
    assert all(own.match(line) for line in quiet.stderr.splitlines()), quiet.stderr
    assert "tail-index: loading TensorFlow" in quiet.stderr


def test_a_quiet_step_still_shows_a_line_every_few_seconds(monkeypatch):
    import logging
    import time

    from tfescape import _progress
    from tfescape._progress import progress

    class Keep(logging.Handler):
        def __init__(self):
            super().__init__(logging.INFO)
            self.lines = []

        def emit(self, record):
            self.lines.append(record.getMessage())

    keep = Keep()
    root = logging.getLogger()
    monkeypatch.setattr(root, "handlers", [keep])
    monkeypatch.setattr(cli, "HEARTBEAT_SECONDS", 0.6)
    monkeypatch.setattr(logging.getLogger("tfescape"), "level", logging.INFO)

    class Bar:  # a progress bar that draws nothing; advancing it counts as showing progress
        def __init__(self, iterable, **options):
            self.iterable = iterable

        def __enter__(self):
            return iter(self.iterable)

        def __exit__(self, *exc):
            return False

    monkeypatch.setattr(_progress, "_progress_bar", lambda: Bar)
    with cli._heartbeat(enabled=True):
        logging.getLogger("tfescape.demo").info("stage demo: one long step")
        time.sleep(1.5)  # nothing shown: the heartbeat speaks
        beats = len(keep.lines) - 1
        for _ in progress(range(8), desc="loop", enabled=True):
            time.sleep(0.2)  # a bar that advances: no heartbeat
        during_loop = len(keep.lines) - 1 - beats
    assert beats >= 1 and keep.lines[1].startswith("still working: stage demo: one long step")
    assert during_loop == 0, keep.lines
    assert keep.filters == []  # the heartbeat removed itself


def test_tail_index_methods_offered_are_the_librarys():
    from tfescape.stable.tail_index import METHODS

    assert cli._TAIL_INDEX_METHODS == METHODS
    method = next(a for a in _command_parser("tail-index")._actions if "--method" in a.option_strings)
    assert tuple(method.choices) == METHODS


def test_ctrl_c_is_one_line_that_says_how_to_resume_and_exit_130(capsys, monkeypatch, tmp_path):
    def interrupted(args):
        raise KeyboardInterrupt

    command = dataclasses.replace(cli.COMMANDS["compare"], run=interrupted)
    monkeypatch.setitem(cli.COMMANDS, "compare", command)
    assert cli.main(["compare", "--smoke", "--out", str(tmp_path), "--no-progress"]) == 130
    captured = capsys.readouterr()
    assert captured.err.splitlines() == [
        f"tfescape: interrupted; rerun the same command to resume from {tmp_path}"
    ]


def _one_error_line(capsys) -> str:
    lines = capsys.readouterr().err.splitlines()
    assert len(lines) == 1 and lines[0].startswith("tfescape: error: "), lines
    return lines[0]


def test_a_folder_in_use_by_another_run_is_one_line_and_exit_2(capsys, tmp_path):
    import os

    (tmp_path / ".lock").write_text(str(os.getppid()))  # a live process holds the folder
    assert cli.main(["compare", "--smoke", "--out", str(tmp_path), "--no-progress"]) == 2
    assert "is in use by another run" in _one_error_line(capsys)


def test_file_system_errors_are_one_line_naming_the_file_and_exit_2(capsys, tmp_path):
    blocker = tmp_path / "file"
    blocker.write_text("")
    assert cli.main(["compare", "--smoke", "--out", str(blocker / "out"), "--no-progress"]) == 2
    assert str(blocker) in _one_error_line(capsys)
    missing = tmp_path / "missing.npy"
    argv = ["tail-index", "--samples", str(missing), "--out", str(tmp_path / "ti"), "--no-progress"]
    assert cli.main(argv) == 2
    assert str(missing) in _one_error_line(capsys)
    corrupt = tmp_path / "corrupt.npy"
    corrupt.write_bytes(b"\x93NUMPY\x01\x00garbage")
    assert cli.main([*argv[:2], str(corrupt), *argv[3:]]) == 2
    _one_error_line(capsys)


def test_a_multi_line_error_message_is_printed_on_one_line():
    assert cli._one_line(ValueError("first\n  second")) == "first second"
    io_error = OSError(5, "Input/output error", "/x/y.h5")
    assert cli._one_line(io_error) == "[Errno 5] Input/output error: '/x/y.h5'"
    assert cli._one_line(OSError("unable to open file")) == "unable to open file"
