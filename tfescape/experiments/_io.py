"""Results-folder plumbing of the experiments: atomic JSON/CSV/NPZ files, stage markers, progress.

A results folder holds one experiment. Each finished stage leaves ``stages/<name>.json`` (written
atomically, last thing the stage does), so a second run skips it; ``config.json`` records the configuration
the folder was made with, and a run with a different configuration is refused instead of mixing results.
"""

from __future__ import annotations

import contextlib
import csv
import io
import json
import logging
import math
import os
import time
from collections.abc import Iterator, Mapping, Sequence

import numpy as np

from tfescape._atomic import atomic_write
from tfescape._progress import progress  # noqa: F401  (the pipelines import it from here)
from tfescape.report import write_text_atomic

logger = logging.getLogger(__name__)


def write_json(path: str | os.PathLike, data) -> str:
    """Write ``data`` as indented JSON atomically (NaN/inf become null; NumPy values become Python ones)."""
    return write_text_atomic(path, json.dumps(_jsonable(data), indent=2, sort_keys=False) + "\n")


def read_json(path: str | os.PathLike):
    """Read a JSON file written by :func:`write_json` (null stays None)."""
    with open(path, encoding="utf-8") as handle:
        return json.load(handle)


def write_csv(
    path: str | os.PathLike, rows: Sequence[Mapping[str, object]], columns: Sequence[str] | None = None
) -> str:
    """Write a list of dict rows as CSV atomically (columns: ``columns`` or the first row's keys)."""
    if columns is None:
        columns = list(dict.fromkeys(k for row in rows for k in row))
    buffer = io.StringIO()
    writer = csv.DictWriter(buffer, fieldnames=list(columns), extrasaction="ignore", lineterminator="\n")
    writer.writeheader()
    for row in rows:
        writer.writerow({k: _csv_cell(row.get(k)) for k in columns})
    return write_text_atomic(path, buffer.getvalue())


def read_csv(path: str | os.PathLike) -> list[dict[str, float | str]]:
    """Read a CSV written by :func:`write_csv`; cells that parse as numbers become floats."""
    with open(path, encoding="utf-8", newline="") as handle:
        return [{k: _parse_cell(v) for k, v in row.items()} for row in csv.DictReader(handle)]


def csv_columns(rows: Sequence[Mapping[str, object]]) -> dict[str, np.ndarray]:
    """Rows of a CSV as columns (NumPy arrays; non-numeric columns stay object arrays)."""
    keys = list(dict.fromkeys(k for row in rows for k in row))
    out = {}
    for key in keys:
        values = [row.get(key) for row in rows]
        try:
            out[key] = np.asarray([np.nan if v in (None, "") else float(v) for v in values], float)
        except (TypeError, ValueError):
            out[key] = np.asarray(values, object)
    return out


def write_npz(path: str | os.PathLike, **arrays) -> str:
    """Save arrays to ``path`` (.npz) atomically."""
    with atomic_write(path) as handle:
        np.savez_compressed(handle, **arrays)
    return os.fspath(path)


class ResultsDir:
    """A results folder with stage markers.

    Args:
        path: the folder (created).
        config: JSON-able configuration of the experiment; stored in ``config.json``.
        resume: when False, existing stage markers are ignored (every stage runs again).

    Raises:
        ValueError: the folder already holds results of a different configuration.
    """

    def __init__(self, path: str | os.PathLike, config: Mapping[str, object], *, resume: bool = True):
        self.path = os.fspath(path)
        self.resume = resume
        os.makedirs(os.path.join(self.path, "stages"), exist_ok=True)
        config = _jsonable(dict(config))
        config_path = self.file("config.json")
        if os.path.exists(config_path) and resume:
            old = read_json(config_path)
            if old != config:
                changed = sorted(k for k in set(old) | set(config) if old.get(k) != config.get(k))
                raise ValueError(
                    f"{self.path!r} holds results of a different configuration "
                    f"(changed: {', '.join(changed)}). "
                    "Choose another output folder, or pass --no-resume to recompute everything here."
                )
        if not (os.path.exists(config_path) and read_json(config_path) == config):
            write_json(config_path, config)  # unchanged: not rewritten (a finished run may be read-only)
        self.config = config
        self.run_id = None  # set by start_process

    def file(self, *parts: str) -> str:
        """Path of a file inside the folder (its parent folder is created)."""
        path = os.path.join(self.path, *parts)
        os.makedirs(os.path.dirname(path), exist_ok=True)
        return path

    def rel(self, path: str) -> str:
        """``path`` relative to the folder, with forward slashes (for links in the report)."""
        return os.path.relpath(path, self.path).replace(os.sep, "/")

    def marker(self, stage: str) -> str:
        return os.path.join(self.path, "stages", f"{stage}.json")

    def has_marker(self, stage: str) -> bool:
        """Whether ``stage`` has finished in this folder (whatever the resume flag)."""
        return os.path.exists(self.marker(stage))

    def is_done(self, stage: str) -> bool:
        """Whether ``stage`` finished in an earlier run (and resuming is on)."""
        return self.resume and os.path.exists(self.marker(stage))

    def mark_done(self, stage: str, *, seconds: float, **info) -> None:
        """Record that ``stage`` finished (atomically; the last thing a stage does)."""
        write_json(
            self.marker(stage),
            {
                "stage": stage,
                "process": self.run_id,
                "seconds": round(seconds, 3),
                "finished_at": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
                **info,
            },
        )

    def stage_info(self, stage: str) -> dict | None:
        """The marker of a finished stage (None when absent, or unreadable: the stage then runs again)."""
        path = self.marker(stage)
        if not os.path.exists(path):
            return None
        try:
            info = read_json(path)
        except (ValueError, UnicodeDecodeError):
            logger.warning("%s is unreadable; stage %s runs again", path, stage)
            return None
        return info if isinstance(info, dict) else None

    def start_process(self) -> None:
        """Record that this process computes into the folder (``runs.json``): one entry per process.

        The report counts them to say whether, and how often, the run was resumed; each stage marker names
        the process that finished it.
        """
        path = self.file("runs.json")
        runs = self.processes() if self.resume else []
        self.run_id = len(runs) + 1
        runs.append(
            {
                "process": self.run_id,
                "pid": os.getpid(),
                "started_at": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
            }
        )
        write_json(path, runs)

    def processes(self) -> list[dict]:
        """The processes that computed into this folder (``runs.json``), oldest first ([] before any)."""
        path = os.path.join(self.path, "runs.json")
        try:
            runs = read_json(path)
        except FileNotFoundError:
            return []
        except (ValueError, UnicodeDecodeError):
            logger.warning("%s is unreadable; the count of resumed processes starts over", path)
            return []
        return runs if isinstance(runs, list) else []


@contextlib.contextmanager
def results_lock(path: str | os.PathLike) -> Iterator[None]:
    """Hold ``<path>/.lock`` (created exclusively, with this process id) while the block runs.

    A second process that tries to write into the same folder gets a ValueError that names the holder. A
    lock left by a process that no longer runs (killed) is taken over.
    """
    lock = os.path.join(os.fspath(path), ".lock")
    for _ in range(2):
        try:
            fd = os.open(lock, os.O_CREAT | os.O_EXCL | os.O_WRONLY, 0o644)
            break
        except FileExistsError:
            holder = _lock_holder(lock)
            if holder is not None and _process_alive(holder):
                raise ValueError(
                    f"{os.fspath(path)!r} is in use by another run (process {holder}); wait for it to finish "
                    "or choose another output folder."
                ) from None
            with contextlib.suppress(FileNotFoundError):
                os.remove(lock)  # stale: its process is gone
    else:
        raise ValueError(f"could not lock {os.fspath(path)!r}; remove {lock!r} if no run uses the folder.")
    with os.fdopen(fd, "w") as handle:
        handle.write(str(os.getpid()))
    try:
        yield
    finally:
        with contextlib.suppress(FileNotFoundError):
            os.remove(lock)


def remove_stale_temporaries(path: str | os.PathLike) -> list[str]:
    """Delete the temporary files (``.tmp-*``, tfescape._atomic) that a killed run left in ``path``.

    Call it only while holding :func:`results_lock`: no other process then writes into the folder.

    Returns:
        The paths removed.
    """
    removed = []
    for folder, _, files in os.walk(os.fspath(path)):
        for file in files:
            if file.startswith(".tmp-"):
                with contextlib.suppress(FileNotFoundError):
                    os.remove(os.path.join(folder, file))
                    removed.append(os.path.join(folder, file))
    if removed:
        logger.info("removed %d temporary file(s) left by an interrupted run", len(removed))
    return removed


def _lock_holder(lock: str) -> int | None:
    try:
        with open(lock, encoding="utf-8") as handle:
            return int(handle.read().strip() or 0) or None
    except (OSError, ValueError):
        return None


def _process_alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def _csv_cell(value):
    if value is None:
        return ""
    if isinstance(value, float | np.floating) and not math.isfinite(float(value)):
        return "nan" if math.isnan(float(value)) else ("inf" if value > 0 else "-inf")
    if isinstance(value, np.generic):
        return value.item()
    return value


def _parse_cell(text):
    if text is None or text == "":
        return float("nan")
    try:
        return float(text)
    except ValueError:
        return text


def _jsonable(value):
    if isinstance(value, Mapping):
        return {str(k): _jsonable(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [_jsonable(v) for v in value]
    if isinstance(value, np.ndarray):
        return _jsonable(value.tolist())
    if isinstance(value, np.generic):
        value = value.item()
    if isinstance(value, float) and not math.isfinite(value):
        return None
    return value
