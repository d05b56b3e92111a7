"""The stage framework every pipeline runs on: declared stages, typed records, one resumable runner.

A pipeline is a list of :class:`Stage`. A stage has a name, a one-line description, the names of the
stages whose outputs it reads (``needs``), the files it writes (``outputs``, glob patterns in the results
folder) and a ``run(context)`` function that computes, saves its files through the module that owns their
format, and returns a *record*: a frozen dataclass of the scalars that describe the result (or None). The
runner writes the record, with the SHA-256 of every output file, into the stage's marker
``stages/<name>.json`` as the last thing the stage does, so a stage either finished (marker present) or
runs again; :func:`read_record` reads a record back as its dataclass.

A finished stage is trusted only while its files are intact: on a rerun, a stage whose output is missing
or differs from its checksum runs again (one log line names the file), and so does every stage whose
inputs changed since it read them (each marker also keeps a digest of the output checksums of the stages
it needs). A damaged output of a stage that ``only`` leaves out is an error that names the file.

Example:
    >>> stages = [Stage("train_sgd", "train with SGD", lambda ctx: train(ctx, "sgd"))]
    >>> outcome = run_stages(stages, results, ctx, only=None)
    >>> outcome.ran, outcome.skipped
"""

from __future__ import annotations

import contextlib
import dataclasses
import fnmatch
import glob
import hashlib
import json
import logging
import os
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any, TypeVar

from tfescape.experiments._io import ResultsDir, read_json

logger = logging.getLogger(__name__)

R = TypeVar("R")


@dataclass(frozen=True)
class Stage:
    """One resumable stage of a pipeline.

    Attributes:
        name: unique name; its marker is ``stages/<name>.json``.
        description: one line for logs and progress.
        run: ``run(context)`` computes and saves the outputs; returns a frozen-dataclass record or None.
        needs: names of stages that must have finished first (their outputs are this stage's inputs).
        outputs: glob patterns (``**`` spans folders), relative to the results folder, of the files the
            stage writes; their checksums are kept in the marker and checked before the stage is skipped.
    """

    name: str
    description: str
    run: Callable[[Any], Any]
    needs: tuple[str, ...] = ()
    outputs: tuple[str, ...] = ()


@dataclass(frozen=True)
class StagesOutcome:
    """Which stages ran and which were skipped (finished in an earlier run), in pipeline order."""

    ran: tuple[str, ...]
    skipped: tuple[str, ...]


def run_stages(
    stages: Sequence[Stage], results: ResultsDir, context, *, only: Sequence[str] | None = None
) -> StagesOutcome:
    """Run each stage not yet finished, in order; skip finished ones; check what each needs.

    Args:
        stages: the pipeline.
        results: the results folder (markers, resume flag).
        context: passed to every ``stage.run``.
        only: run only stages whose names start with one of these prefixes (None: all).

    Returns:
        StagesOutcome.

    Raises:
        ValueError: duplicate stage names; a stage whose needed stage has not finished (e.g. excluded by
            ``only`` in a fresh folder), the message names both; or a finished stage left out by ``only``
            whose output is missing or damaged, the message names the file.
    """
    names = [s.name for s in stages]
    if len(set(names)) != len(names):
        raise ValueError(f"stage names must be unique, got {names}.")
    ran, skipped = [], []
    for stage in stages:
        selected = only is None or any(stage.name.startswith(p) for p in only)
        info = results.stage_info(stage.name) if results.resume else None
        damage = damaged_output(results, info) if info is not None else None
        stale_inputs = changed_inputs(results, stage, info) if info is not None else []
        if not selected:
            if damage is not None:
                raise ValueError(
                    f"{damage}, an output of the finished stage {stage.name!r}; rerun without --only (or "
                    f"add {stage.name} to it) to recompute it."
                )
            if stale_inputs:
                logger.warning(
                    "stage %s read outputs of %s that have changed since; it runs again without --only",
                    stage.name,
                    ", ".join(stale_inputs),
                )
            continue
        if info is not None and damage is None and not stale_inputs:
            logger.info("stage %s: done in an earlier run, skipped", stage.name)
            skipped.append(stage.name)
            continue
        if damage is not None:
            logger.warning("stage %s runs again: %s", stage.name, damage)
        elif stale_inputs:
            logger.info("stage %s runs again: the outputs of %s changed", stage.name, ", ".join(stale_inputs))
        if info is not None:  # recomputed from scratch: no partial result of the earlier run is reused
            remove_outputs(results, stage, info, stages)
        missing = [n for n in stage.needs if n not in ran and not results.has_marker(n)]
        if missing:
            raise ValueError(
                f"stage {stage.name!r} needs the outputs of {', '.join(missing)}, which have not run; run "
                f"those stages first (drop --only, or add them to it)."
            )
        logger.info("stage %s: %s", stage.name, stage.description)
        if results.run_id is None:
            results.start_process()  # this process computes something: count it
        start = time.monotonic()
        record = stage.run(context)
        results.mark_done(
            stage.name,
            seconds=time.monotonic() - start,
            outputs=output_checksums(results.path, stage.outputs),
            inputs=inputs_digest(results, stage.needs),
            **record_fields(record),
        )
        ran.append(stage.name)
    return StagesOutcome(tuple(ran), tuple(skipped))


def output_checksums(folder: str, patterns: Sequence[str]) -> dict[str, str]:
    """SHA-256 of every file matching ``patterns`` in ``folder``: {relative path: hex digest}, sorted."""
    files = set()
    for pattern in patterns:
        for path in glob.glob(os.path.join(glob.escape(folder), pattern), recursive=True):
            if os.path.isfile(path) and not os.path.basename(path).startswith(".tmp-"):
                files.add(os.path.relpath(path, folder).replace(os.sep, "/"))
    return {rel: file_checksum(os.path.join(folder, rel)) for rel in sorted(files)}


def file_checksum(path: str) -> str:
    """The SHA-256 of a file's bytes (hex)."""
    digest = hashlib.sha256()
    with open(path, "rb") as handle:
        for block in iter(lambda: handle.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def remove_outputs(results: ResultsDir, stage: Stage, info: dict, stages: Sequence[Stage]) -> None:
    """Delete the outputs recorded in ``stage``'s marker that no other stage also writes."""
    others = [p for s in stages if s.name != stage.name for p in s.outputs]
    for rel in info.get("outputs") or {}:
        if not any(fnmatch.fnmatchcase(rel, pattern) for pattern in others):
            with contextlib.suppress(FileNotFoundError):
                os.remove(os.path.join(results.path, *rel.split("/")))


def inputs_digest(results: ResultsDir, needs: Sequence[str]) -> dict[str, str]:
    """For each needed stage, a digest of the output checksums in its marker: what a stage read."""
    out = {}
    for name in needs:
        outputs = (results.stage_info(name) or {}).get("outputs")
        text = json.dumps(outputs, sort_keys=True)
        out[name] = hashlib.sha256(text.encode()).hexdigest()
    return out


def changed_inputs(results: ResultsDir, stage: Stage, info: dict) -> list[str]:
    """The needed stages whose outputs changed since ``stage`` read them (a marker without inputs: [])."""
    recorded = info.get("inputs")
    if not isinstance(recorded, dict):
        return []
    now = inputs_digest(results, stage.needs)
    return [name for name in stage.needs if recorded.get(name) != now[name]]


def damaged_output(results: ResultsDir, info: dict) -> str | None:
    """The first output recorded in a stage's marker that is missing or changed, as a phrase naming the
    file (None when every output is intact, or the marker predates checksums)."""
    for rel, checksum in (info.get("outputs") or {}).items():
        path = os.path.join(results.path, *rel.split("/"))
        if not os.path.isfile(path):
            return f"{path} is missing"
        if file_checksum(path) != checksum:
            return f"{path} differs from the file the stage wrote (checksum)"
    return None


def record_fields(record) -> dict:
    """The fields of a stage record (a dataclass) as a JSON-able dict; {} for None."""
    if record is None:
        return {}
    if not dataclasses.is_dataclass(record):
        raise TypeError(f"a stage must return a dataclass record or None, got {type(record).__name__}.")
    return {"record": type(record).__name__, **dataclasses.asdict(record)}


def read_record(results: ResultsDir, stage: str, cls: type[R]) -> R | None:
    """The record ``stage`` saved in its marker, as ``cls`` (None if the stage has not finished)."""
    path = results.marker(stage)
    try:
        data = read_json(path)
    except FileNotFoundError:
        return None
    fields = {f.name for f in dataclasses.fields(cls)}
    missing = sorted(fields - set(data))
    if missing:
        raise ValueError(f"stage marker {path!r} lacks {missing}; delete it to rerun the stage {stage!r}.")
    return cls(**{k: data[k] for k in fields})
