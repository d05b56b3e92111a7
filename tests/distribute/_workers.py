"""Run a Python script as a small MultiWorkerMirroredStrategy cluster of local processes.

Every worker is a fresh interpreter with its own ``TF_CONFIG`` naming free ports on 127.0.0.1. The
script receives the output folder as its only argument and writes its results there; the harness
waits for all workers with a deadline and kills the ones still running when it passes.
"""

from __future__ import annotations

import json
import os
import socket
import subprocess
import sys
import time
from dataclasses import dataclass
from pathlib import Path

REPO_ROOT = Path(__file__).resolve().parents[2]


@dataclass(frozen=True)
class WorkerRun:
    """What one worker process did.

    Attributes:
        index: the worker's task index (0 is the chief).
        returncode: its exit status; None when it was killed at the deadline.
        seconds: how long it ran.
        log: its stdout and stderr together.
    """

    index: int
    returncode: int | None
    seconds: float
    log: str


def free_ports(count: int) -> list[int]:
    """``count`` distinct ports that were free on 127.0.0.1 a moment ago (bound to port 0)."""
    sockets = []
    try:
        for _ in range(count):
            s = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
            s.bind(("127.0.0.1", 0))
            sockets.append(s)
        return [s.getsockname()[1] for s in sockets]
    finally:
        for s in sockets:
            s.close()


def tf_config(ports: list[int], index: int) -> str:
    """The TF_CONFIG of worker ``index`` in a cluster of local workers on ``ports``."""
    cluster = {"worker": [f"127.0.0.1:{p}" for p in ports]}
    return json.dumps({"cluster": cluster, "task": {"type": "worker", "index": index}})


def worker_env(ports: list[int], index: int, extra: dict | None = None) -> dict:
    env = dict(os.environ)
    env.update(
        TF_CONFIG=tf_config(ports, index),
        KERAS_BACKEND="tensorflow",
        TF_CPP_MIN_LOG_LEVEL="2",
        CUDA_VISIBLE_DEVICES="",
        TFESCAPE_OFFLINE="1",
        PYTHONPATH=os.pathsep.join(filter(None, [str(REPO_ROOT), env.get("PYTHONPATH")])),
    )
    env.update(extra or {})
    return env


def run_workers(
    command: list[str],
    out_dir: str | os.PathLike,
    *,
    num_workers: int = 2,
    timeout: float = 120.0,
    extra_env: dict | None = None,
) -> list[WorkerRun]:
    """Start ``num_workers`` processes ``python <command...> <out_dir>`` and wait for them.

    Args:
        command: the script path (and any arguments before the output folder).
        out_dir: folder the workers write to (also holds their logs).
        num_workers: cluster size.
        timeout: seconds for the whole cluster; workers still running then are killed.
        extra_env: per-run environment additions (e.g. a fault to inject).

    Returns:
        one WorkerRun per worker, in task order.
    """
    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    ports = free_ports(num_workers)
    procs, logs, starts = [], [], []
    for index in range(num_workers):
        log = open(out_dir / f"worker{index}.log", "w+")  # noqa: SIM115 (closed below)
        procs.append(
            subprocess.Popen(
                [sys.executable, *command, str(out_dir)],
                env=worker_env(ports, index, extra_env),
                cwd=REPO_ROOT,
                stdout=log,
                stderr=subprocess.STDOUT,
            )
        )
        logs.append(log)
        starts.append(time.monotonic())
    deadline = time.monotonic() + timeout
    ended = [None] * num_workers
    killed = [False] * num_workers
    try:
        while time.monotonic() < deadline:
            for i, p in enumerate(procs):
                if ended[i] is None and p.poll() is not None:
                    ended[i] = time.monotonic()
            if all(e is not None for e in ended):
                break
            time.sleep(0.1)
    finally:
        for i, p in enumerate(procs):
            if p.poll() is None:
                p.kill()
                killed[i] = True
        for p in procs:
            p.wait()
    runs = []
    for i, (p, log) in enumerate(zip(procs, logs, strict=True)):
        finished = ended[i] if ended[i] is not None else time.monotonic()
        log.seek(0)
        runs.append(WorkerRun(i, None if killed[i] else p.returncode, finished - starts[i], log.read()))
        log.close()
    return runs


def describe(runs: list[WorkerRun], tail: int = 3000) -> str:
    """The exit status and the end of each worker's log, for assertion messages."""
    parts = [f"--- worker {r.index}: rc={r.returncode}, {r.seconds:.1f}s\n{r.log[-tail:]}" for r in runs]
    return "\n".join(parts)
