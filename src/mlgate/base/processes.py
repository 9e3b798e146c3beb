"""Processes on this machine (Linux /proc): alive or not, process groups, stopping them, and
who owns a run or a registration. Standard library only: the launcher imports it.

A zombie counts as gone everywhere: it runs no code and holds no port.
"""

from __future__ import annotations

import contextlib
import os
import signal
import socket
import time
from collections.abc import Callable
from pathlib import Path


def _stat(pid: int) -> list[str] | None:
    """Fields of /proc/PID/stat after the command name (state, ppid, pgrp, ...); None if gone."""
    try:
        text = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return None
    return text.rsplit(")", 1)[1].split()  # the name may itself hold ") "


def alive(pid: int | None) -> bool:
    """True while process `pid` runs."""
    fields = _stat(pid) if pid else None
    return bool(fields) and fields[0] not in ("Z", "X")


def group_pids(pgid: int) -> list[int]:
    """Running processes of process group `pgid`."""
    pids = [int(p.name) for p in Path("/proc").iterdir() if p.name.isdigit()]
    return [pid for pid in pids
            if (f := _stat(pid)) and f[2] == str(pgid) and f[0] not in ("Z", "X")]


def group_alive(pgid: int) -> bool:
    """True while any process of group `pgid` runs."""
    return bool(group_pids(pgid))


def command_line(pid: int) -> str:
    """The command line of `pid` ('' when it is gone)."""
    try:
        return Path(f"/proc/{pid}/cmdline").read_bytes().replace(b"\0", b" ").decode()
    except OSError:
        return ""


def signal_group(pgid: int, sig: int) -> None:
    """Send `sig` to process group `pgid` (already gone: nothing to do)."""
    with contextlib.suppress(ProcessLookupError):
        os.killpg(pgid, sig)


def wait_until(check: Callable[[], bool], timeout: float, poll: float = 0.1) -> bool:
    """Poll `check()` until it is true or `timeout` seconds pass; its last value."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if check():
            return True
        time.sleep(poll)
    return check()


def escalate(send: Callable[[int], None], signals: tuple[int, ...],
             gone: Callable[[], bool], timeout: float) -> bool:
    """Send each signal in turn until `gone()`; True once it is, False if it never is."""
    for sig in signals:
        try:
            send(sig)
        except ProcessLookupError:
            return True
        if wait_until(gone, timeout, poll=0.2):
            return True
    return False


def stop_group(pgid: int, timeout: float) -> bool:
    """SIGTERM, then SIGKILL, to process group `pgid`; True once none of it runs."""
    return escalate(lambda sig: os.killpg(pgid, sig), (signal.SIGTERM, signal.SIGKILL),
                    lambda: not group_alive(pgid), timeout)


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
    return not alive(int(pid))
