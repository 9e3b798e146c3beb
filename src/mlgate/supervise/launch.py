"""`python -m mlgate.supervise.launch SCRIPT [ARGS]`: run a stage script as `python SCRIPT`
would, faster.

The dvc.yaml cmd of every stage. It hands the script to this venv's preloading fork server
(mlgate.supervise.preload) and ends with the stage's exit status (or its signal), starting the
server when none runs (it listens within about a second and preloads while it serves). SIGINT,
SIGTERM, SIGHUP and SIGQUIT are forwarded to the stage's process group; if this process dies,
the server kills the stage. With `MLGATE_PRELOAD=0`, or when the server failed to start, the
script runs in this process: the same result, without the saving. Only the standard library
is imported before the hand-off.
"""

from __future__ import annotations

import contextlib
import fcntl
import logging
import os
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

from mlgate.supervise import preload

log = logging.getLogger("mlgate.launch")
START_TIMEOUT_S = 180.0
RETRY_FAILED_S = 600.0  # a server that failed to start is not retried before this
FORWARDED = (signal.SIGINT, signal.SIGTERM, signal.SIGHUP, signal.SIGQUIT)


class Unavailable(Exception):
    """No server could be reached or started: run in this process instead."""


def connect(path: Path) -> socket.socket | None:
    """A connection to the server listening on `path`, or None."""
    sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    try:
        sock.connect(str(path))
    except (FileNotFoundError, ConnectionRefusedError):
        sock.close()
        return None
    return sock


def connect_or_spawn(key: str) -> socket.socket | None:
    """A connection to the key's server; None while it starts (spawned here if none runs)."""
    paths = preload.files(key)
    sock = connect(paths["sock"])
    if sock:
        return sock
    with paths["lock"].open("a") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)  # one spawner at a time
        sock = connect(paths["sock"])
        if sock:
            return sock
        state = preload.read_state(paths["pid"])
        if state.get("state") == "failed" and time.time() - state["at"] < RETRY_FAILED_S:
            raise Unavailable(f"the preload server failed to start ({state['error']}); "
                              f"see {paths['log']}")
        if state.get("state") == "stopping" or not (state.get("pid")
                                                    and preload.alive(state["pid"])):
            spawn(key, paths)
    return None


def spawn(key: str, paths: dict[str, Path]) -> None:
    """Start a server in its own session, logging to its .log file; record it as starting."""
    with paths["log"].open("w") as out:
        server = subprocess.Popen([sys.executable, "-m", "mlgate.supervise.preload", "serve", key],
                                  stdin=subprocess.DEVNULL, stdout=out, stderr=out,
                                  start_new_session=True)
    preload.write_state(paths["pid"], server.pid, "starting")


def wait_for_server(key: str, timeout_s: float = START_TIMEOUT_S) -> socket.socket:
    """Start the key's server if needed; wait until it listens (about 1 s after its start)."""
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        sock = connect_or_spawn(key)
        if sock:
            return sock
        time.sleep(0.02)
    raise Unavailable(f"the preload server did not listen within {timeout_s:.0f} s; "
                      f"see {preload.files(key)['log']}")


def delegate(sock: socket.socket, argv: list[str]) -> int:
    """Send the script, cwd, env, umask and stdio; forward signals; return its exit status."""
    umask = os.umask(0)
    os.umask(umask)
    request = {"argv": argv, "cwd": os.getcwd(), "env": dict(os.environ), "umask": umask}
    with sock, sock.makefile("rb") as replies:
        preload.send_message(sock, request, [0, 1, 2])
        started = preload.read_message(replies)
        if not started or "pid" not in started:
            raise Unavailable(f"the preload server refused the stage: {started}")
        pid = started["pid"]
        for sig in FORWARDED:
            signal.signal(sig, lambda signum, _frame: _signal_group(pid, signum))
        try:
            ended = preload.read_message(replies)
        except OSError:
            ended = None
        with contextlib.suppress(OSError):  # the server may have closed already
            sock.sendall(preload.DONE)
    if ended is None:
        _signal_group(pid, signal.SIGKILL)
        log.error("the preload server ended before stage %s did (pid %d)", argv[0], pid)
        return 1
    return ended["exit"]


def _signal_group(pid: int, signum: int) -> None:
    with contextlib.suppress(ProcessLookupError):
        os.killpg(pid, signum)


def exit_as(code: int) -> None:
    """Exit with the stage's status; a stage killed by a signal kills this process likewise."""
    sys.stdout.flush()
    sys.stderr.flush()
    if code < 0:
        with contextlib.suppress(OSError):  # SIGKILL and SIGSTOP keep their default anyway
            signal.signal(-code, signal.SIG_DFL)
        os.kill(os.getpid(), -code)
        code = 128 - code  # the shell's status, should the signal not end this process
    os._exit(code)


def main(argv: list[str] | None = None) -> None:
    """Hand the script to the preload server, or run it here; exit with its status."""
    argv = sys.argv[1:] if argv is None else argv
    if not argv:
        sys.exit("usage: python -m mlgate.supervise.launch SCRIPT [ARGS...]")
    if not os.path.isfile(argv[0]):
        sys.stderr.write(f"{sys.executable}: can't open file {os.path.abspath(argv[0])!r}: "
                         "[Errno 2] No such file or directory\n")
        sys.exit(2)
    if os.environ.get("MLGATE_PRELOAD", "1").lower() in ("0", "off", "false", "no"):
        return preload.run_as_main(argv)
    try:
        code = delegate(wait_for_server(preload.server_key(dict(os.environ))), argv)
    except (Unavailable, OSError) as exc:
        logging.basicConfig(format="%(name)s %(levelname)s %(message)s")
        log.warning("%s; running %s without preloading", exc, argv[0])
        return preload.run_as_main(argv)
    exit_as(code)


if __name__ == "__main__":
    main()
