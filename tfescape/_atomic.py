"""Atomic file writes: a temporary file in the target's folder, moved into place with os.replace.

A reader (or a resumed run) sees either the old file or the complete new one, never a partial write;
a failed write leaves the old file untouched and removes the temporary one. Files get the mode a plainly
created file would get under the current umask (tempfile's own files are 0600).
"""

from __future__ import annotations

import contextlib
import os
import tempfile


def default_file_mode() -> int:
    """The mode a plainly created file gets under the current umask."""
    mask = os.umask(0o022)
    os.umask(mask)
    return 0o666 & ~mask


@contextlib.contextmanager
def atomic_write(path: str | os.PathLike, *, binary: bool = True):
    """Open a temporary file for ``path``; on a clean exit it replaces ``path`` atomically.

    Args:
        path: the target file; its folder is created when missing.
        binary: open in "wb" (default) or in "w" with UTF-8.

    Yields:
        The open file handle.
    """
    path = os.fspath(path)
    folder = os.path.dirname(path) or "."
    os.makedirs(folder, exist_ok=True)
    suffix = os.path.splitext(path)[1]
    fd, tmp = tempfile.mkstemp(prefix=".tmp-", suffix=suffix, dir=folder)
    with _replacing(tmp, path):
        with os.fdopen(fd, "wb" if binary else "w", **({} if binary else {"encoding": "utf-8"})) as handle:
            yield handle


def atomic_save(save, path: str | os.PathLike) -> str:
    """Call ``save(tmp)`` with a temporary path in the target's folder, then move it onto ``path``.

    For writers that insist on a file name (Keras' ``save_weights`` / ``save`` read the suffix): the
    temporary name keeps the target's suffix. On failure the temporary file is removed.
    """
    path = os.fspath(path)
    folder = os.path.dirname(path) or "."
    os.makedirs(folder, exist_ok=True)
    tmp = os.path.join(folder, f".tmp-{os.getpid()}-{os.path.basename(path)}")
    with _replacing(tmp, path):
        save(tmp)
    return path


@contextlib.contextmanager
def _replacing(tmp: str, path: str):
    """On a clean exit give ``tmp`` the default mode and move it onto ``path``; on any error remove it."""
    try:
        yield
        os.chmod(tmp, default_file_mode())
        os.replace(tmp, path)
    except BaseException:
        with contextlib.suppress(OSError):
            os.remove(tmp)
        raise
