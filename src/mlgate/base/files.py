"""Atomic file writes: a reader sees the old file or the whole new one, never a part.
Standard library only: the preload server and the launcher use it too."""

from __future__ import annotations

import os
import tempfile
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any


@contextmanager
def atomic_path(path: Path | str, mode: int | None = None) -> Iterator[Path]:
    """Yield a temporary path beside `path`; move it into place only if the block succeeds.

    The file gets `mode`, or the usual mode of a new file (0666 minus the umask). The
    temporary file is created 0600, so a private file (mode 0o600) is never readable by others.
    """
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    os.close(fd)
    try:
        yield Path(tmp)
        os.chmod(tmp, 0o666 & ~umask() if mode is None else mode)
        os.replace(tmp, path)
    finally:
        if os.path.exists(tmp):
            os.unlink(tmp)


def umask() -> int:
    """The process umask (read by setting and restoring it)."""
    mask = os.umask(0)
    os.umask(mask)
    return mask


def write_atomic(path: Path | str, writer: Callable[[Path], Any], mode: int | None = None) -> None:
    """Call writer(tmp_path) and atomically move the result to `path`."""
    with atomic_path(path, mode) as tmp:
        writer(tmp)


def write_text_atomic(path: Path | str, text: str, mode: int | None = None) -> None:
    """Write `text` (UTF-8) to `path` atomically."""
    write_atomic(path, lambda tmp: tmp.write_text(text, encoding="utf-8"), mode)
