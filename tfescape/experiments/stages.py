"""The stage framework every pipeline runs on: declared stages, typed records, one resumable runner.

A pipeline is a list of :class:`Stage`. A stage has a name, a one-line description, the names of the
stages whose outputs it reads (``needs``) and a ``run(context)`` function that computes, saves its files
through the module that owns their format, and returns a *record*: a frozen dataclass of the scalars
that describe the result (or None). The runner writes the record into the stage's marker
``stages/<name>.json`` as the last thing the stage does, so a stage either finished (marker present) or
runs again; :func:`read_record` reads a record back as its dataclass.

Example:
    >>> stages = [Stage("train_sgd", "train with SGD", lambda ctx: train(ctx, "sgd"))]
    >>> outcome = run_stages(stages, results, ctx, only=None)
    >>> outcome.ran, outcome.skipped
"""

from __future__ import annotations

import dataclasses
import logging
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
    """

    name: str
    description: str
    run: Callable[[Any], Any]
    needs: tuple[str, ...] = ()


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
        ValueError: duplicate stage names, or a stage whose needed stage has not finished (e.g. excluded by
            ``only`` in a fresh folder); the message names both.
    """
    names = [s.name for s in stages]
    if len(set(names)) != len(names):
        raise ValueError(f"stage names must be unique, got {names}.")
    ran, skipped = [], []
    for stage in stages:
        if only is not None and not any(stage.name.startswith(p) for p in only):
            continue
        if results.is_done(stage.name):
            logger.info("stage %s: done in an earlier run, skipped", stage.name)
            skipped.append(stage.name)
            continue
        missing = [n for n in stage.needs if n not in ran and not results.has_marker(n)]
        if missing:
            raise ValueError(
                f"stage {stage.name!r} needs the outputs of {', '.join(missing)}, which have not run; run "
                f"those stages first (drop --only, or add them to it)."
            )
        logger.info("stage %s: %s", stage.name, stage.description)
        start = time.monotonic()
        record = stage.run(context)
        results.mark_done(stage.name, seconds=time.monotonic() - start, **record_fields(record))
        ran.append(stage.name)
    return StagesOutcome(tuple(ran), tuple(skipped))


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
