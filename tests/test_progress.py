"""tfescape._progress.progress: a bar where one can be drawn, else a line at most every N seconds."""

import logging
import sys

from tfescape import _progress as _io


class _Clock:
    def __init__(self):
        self.now = 0.0

    def __call__(self):
        return self.now


def test_without_a_terminal_a_line_is_logged_at_most_every_period(monkeypatch, caplog):
    clock = _Clock()
    monkeypatch.setattr(_io.time, "monotonic", clock)
    monkeypatch.setattr(_io, "PROGRESS_LINE_SECONDS", 10.0)
    monkeypatch.delitem(
        sys.modules, "ipykernel", raising=False
    )  # not in a notebook; pytest's stderr is no tty
    caplog.set_level(logging.INFO, logger="tfescape._progress")
    for step in _io.progress(range(10), desc="work"):
        clock.now += 4.0 if step < 5 else 11.0  # five items of 4 s, then five of 11 s
    lines = [r.getMessage() for r in caplog.records]
    # After 12 s (item 3), 24 s (item 6), then one line per 11-s item except the last (the caller reports it).
    assert lines == [
        "work: 3/10 (12 s)",
        "work: 6/10 (31 s)",
        "work: 7/10 (42 s)",
        "work: 8/10 (53 s)",
        "work: 9/10 (64 s)",
    ]


def test_disabled_progress_is_silent_and_yields_everything(caplog):
    caplog.set_level(logging.DEBUG)
    assert list(_io.progress(iter("abc"), desc="x", enabled=False)) == ["a", "b", "c"]
    assert caplog.records == []
