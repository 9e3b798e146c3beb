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
import logging
import os
import signal
import socket
import sys

from mlgate.base.processes import signal_group
from mlgate.supervise import preload

log = logging.getLogger("mlgate.launch")
FORWARDED = (signal.SIGINT, signal.SIGTERM, signal.SIGHUP, signal.SIGQUIT)


def delegate(sock: socket.socket, argv: list[str]) -> int:
    """Send the script, cwd, env, umask and stdio; forward signals; return its exit status."""
    umask = os.umask(0)
    os.umask(umask)
    request = {"argv": argv, "cwd": os.getcwd(), "env": dict(os.environ), "umask": umask}
    with sock, sock.makefile("rb") as replies:
        preload.send_message(sock, request, [0, 1, 2])
        started = preload.read_message(replies)
        if not started or "pid" not in started:
            raise preload.Unavailable(f"the preload server refused the stage: {started}")
        pid = started["pid"]
        for sig in FORWARDED:
            signal.signal(sig, lambda signum, _frame: signal_group(pid, signum))
        try:
            ended = preload.read_message(replies)
        except OSError:
            ended = None
        with contextlib.suppress(OSError):  # the server may have closed already
            sock.sendall(preload.DONE)
    if ended is None:
        signal_group(pid, signal.SIGKILL)
        log.error("the preload server ended before stage %s did (pid %d)", argv[0], pid)
        return 1
    return ended["exit"]


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
        code = delegate(preload.wait_for_server(preload.server_key(dict(os.environ))), argv)
    except (preload.Unavailable, OSError) as exc:
        logging.basicConfig(format="%(name)s %(levelname)s %(message)s")
        log.warning("%s; running %s without preloading", exc, argv[0])
        return preload.run_as_main(argv)
    exit_as(code)


if __name__ == "__main__":
    main()
