"""Resuming changes nothing: `tfescape compare --smoke` killed inside a stage and rerun gives the
uninterrupted run's summary.csv byte for byte, and leaves no temporary file behind.

Every run here is a separate process started the way a user starts it (``python -m tfescape.cli``), so
a kill is a real SIGINT or SIGKILL. The uninterrupted run is made once per module and shared.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time

import pytest

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))


def compare_command(out, *extra: str) -> list[str]:
    return [
        sys.executable,
        "-m",
        "tfescape.cli",
        "compare",
        "--smoke",
        "--out",
        str(out),
        "--no-progress",
        *extra,
    ]


def cli_env() -> dict:
    return {**os.environ, "PYTHONPATH": ROOT, "TFESCAPE_OFFLINE": "1"}


def run_cli(out, *extra: str) -> subprocess.CompletedProcess:
    return subprocess.run(
        compare_command(out, *extra), cwd=ROOT, env=cli_env(), capture_output=True, text=True, timeout=900
    )


def run_until(out, sig: int, ready: str, *, timeout: float = 600) -> subprocess.CompletedProcess:
    """Run compare into ``out`` and send ``sig`` as soon as the file ``out/ready`` exists."""
    process = subprocess.Popen(
        compare_command(out),
        cwd=ROOT,
        env=cli_env(),
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    deadline = time.monotonic() + timeout
    while not os.path.exists(os.path.join(out, ready)):
        if process.poll() is not None:
            raise AssertionError(f"the run ended before {ready} appeared:\n{process.stderr.read()}")
        if time.monotonic() > deadline:
            process.kill()
            raise AssertionError(f"{ready} did not appear within {timeout} s")
        time.sleep(0.02)
    process.send_signal(sig)
    stdout, stderr = process.communicate(timeout=300)
    return subprocess.CompletedProcess(process.args, process.returncode, stdout, stderr)


def temporaries(out) -> list[str]:
    return [
        os.path.join(folder, f)
        for folder, _, files in os.walk(out)
        for f in files
        if f.startswith(".tmp-") or f.endswith(".tmp")
    ]


@pytest.fixture(scope="module")
def uninterrupted(tmp_path_factory):
    """A finished smoke run (one process, never interrupted): its folder."""
    out = tmp_path_factory.mktemp("uninterrupted") / "run"
    done = run_cli(out)
    assert done.returncode == 0, done.stderr
    return out


def summary_bytes(out) -> bytes:
    with open(os.path.join(out, "summary.csv"), "rb") as handle:
        return handle.read()


# Where a run is stopped: a file that exists only once the pipeline is inside that stage.
KILL_POINTS = {
    "training": "train/sgd/checkpoint.json",  # SGD between its first checkpoint and the end of training
    "noise": "stages/noise_sgd.json",  # inside noise_adam
    "escape": "stages/sharpness_adam.json",  # inside escape (its simulations take most of a smoke run)
    "observed": "stages/escape.json",  # inside observed
}


@pytest.mark.slow
@pytest.mark.parametrize(
    ("sig", "where"),
    [
        (signal.SIGINT, "training"),
        (signal.SIGKILL, "training"),
        (signal.SIGKILL, "noise"),
        (signal.SIGINT, "escape"),
        (signal.SIGKILL, "observed"),
    ],
    ids=["sigint-training", "sigkill-training", "sigkill-noise", "sigint-escape", "sigkill-observed"],
)
def test_a_killed_and_resumed_run_writes_the_uninterrupted_summary(uninterrupted, tmp_path, sig, where):
    out = tmp_path / "run"
    killed = run_until(out, sig, KILL_POINTS[where])
    assert killed.returncode != 0
    assert not os.path.exists(out / "summary.csv"), "the run finished before it was stopped"
    resumed = run_cli(out)
    assert resumed.returncode == 0, resumed.stderr
    assert summary_bytes(out) == summary_bytes(uninterrupted)
    assert temporaries(out) == []
    assert not os.path.exists(out / ".lock")
