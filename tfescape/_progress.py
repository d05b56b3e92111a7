"""Progress of long loops: a tqdm bar on a terminal or in a notebook, else a log line every few seconds."""

from __future__ import annotations

import logging
import sys
import time
from collections.abc import Iterable, Iterator

logger = logging.getLogger(__name__)

PROGRESS_LINE_SECONDS = 8.0
"""Without a progress bar, a progress line is logged at most this often (seconds)."""

_last_update = 0.0


def last_update() -> float:
    """time.monotonic() when a progress bar last advanced (0.0 before the first); log lines do not count."""
    return _last_update


def _touch() -> None:
    global _last_update
    _last_update = time.monotonic()


def progress(
    iterable: Iterable, *, total: int | None = None, desc: str = "", enabled: bool = True
) -> Iterator:
    """Iterate with progress shown: a tqdm bar on a terminal or in a notebook, else progress lines.

    Without a terminal (output to a file or a pipe, a CI log), a line ``desc: i/total (t s)`` is logged at
    INFO at most every :data:`PROGRESS_LINE_SECONDS` seconds, so a log gets a few lines instead of a bar's
    carriage returns.

    Args:
        iterable: what to iterate over.
        total: its length, when ``iterable`` has none.
        desc: what is being done, e.g. "train sgd".
        enabled: False iterates silently.
    """
    if not enabled:
        yield from iterable
        return
    if total is None and hasattr(iterable, "__len__"):
        total = len(iterable)
    bar = _progress_bar()
    if bar is not None:
        with bar(iterable, total=total, desc=desc, leave=False, dynamic_ncols=True) as items:
            for item in items:
                _touch()
                yield item
        return
    start = last = time.monotonic()
    for i, item in enumerate(iterable, 1):
        yield item
        now = time.monotonic()
        if now - last >= PROGRESS_LINE_SECONDS and i != total:
            last = now
            logger.info("%s: %d/%s (%.0f s)", desc, i, total if total is not None else "?", now - start)


def _progress_bar():
    """tqdm's bar where one can be drawn (a terminal, a notebook kernel), else None."""
    try:
        from tqdm.auto import tqdm
    except ImportError:  # tqdm is a dependency, but keep working without it
        return None
    in_notebook = "ipykernel" in sys.modules
    on_terminal = hasattr(sys.stderr, "isatty") and sys.stderr.isatty()
    return tqdm if in_notebook or on_terminal else None
