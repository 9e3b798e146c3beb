"""One registry writer at a time: a file lock at the repository root (DVC_ROOT in queued runs).

Parallel `dvc queue` workers run in temporary copies of the repository but share the real root,
so the champion read/compare/alias-move of each worker is serialized through this lock.
"""

from __future__ import annotations

import logging
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from filelock import FileLock, Timeout

from mlgate.base import paths
from mlgate.base.errors import MlgateError
from mlgate.base.params import repo_root

log = logging.getLogger(__name__)

LOCK_TIMEOUT_S = 900.0


def lock_path(root: Path | None = None) -> Path:
    """The registry lock file of the repository at `root` (default: the real root)."""
    return (root or repo_root()) / paths.REGISTRY_LOCK


@contextmanager
def repo_lock(rel: Path, what: str, hint: str = "", root: Path | None = None,
              timeout: float = LOCK_TIMEOUT_S) -> Iterator[Path]:
    """Hold the file lock at root/`rel` for the block; MlgateError naming `what` (and `hint`)
    when it is not free within `timeout`."""
    path = (root or repo_root()) / rel
    path.parent.mkdir(parents=True, exist_ok=True)
    lock = FileLock(str(path), timeout=timeout)
    try:
        lock.acquire()
    except Timeout as exc:
        raise MlgateError(f"{what} lock {path} still held by another process after "
                          f"{timeout:.0f} s{hint}") from exc
    log.debug("holding %s lock %s", what, path)
    try:
        yield path
    finally:
        lock.release()


@contextmanager
def registry_lock(root: Path | None = None, timeout: float = LOCK_TIMEOUT_S) -> Iterator[Path]:
    """Hold the registry lock for the block; MlgateError when it is not free within `timeout`."""
    with repo_lock(paths.REGISTRY_LOCK, "registry", "; is another pipeline stuck in "
                   "`register`?", root, timeout) as path:
        yield path
