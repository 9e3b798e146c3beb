"""Which process owns a run or a pending registration: `host:pid`, and whether it is gone."""

from __future__ import annotations

import os
import socket


def process_owner() -> str:
    """This process as `host:pid`."""
    return f"{socket.gethostname()}:{os.getpid()}"


def owner_gone(owner: str | None) -> bool:
    """True unless the owner may still be running: a live pid here, or another host (which
    this machine cannot check, e.g. a worker logging to a shared tracking server)."""
    host, _, pid = (owner or "").rpartition(":")
    if owner is None or not pid.isdigit():
        return True
    if host != socket.gethostname():
        return False
    try:
        os.kill(int(pid), 0)
    except ProcessLookupError:
        return True
    except PermissionError:
        return False
    return False
