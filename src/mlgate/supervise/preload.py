"""Preloading fork server: stage processes that skip the ~2-5 s of heavy imports each.

One server per venv and import-relevant environment imports MLflow, PyCaret,
LightGBM, Evidently and matplotlib once and forks a child per stage
(`python -m mlgate.supervise.launch stages/<stage>.py`, the dvc.yaml cmd). It listens from its
first second: a caller that comes while it preloads gets a child with what is loaded so far.
The child takes over the caller's cwd, environment, umask, argv and stdin/stdout/stderr,
forgets every `mlgate` module (stage
code is imported fresh, as in a new process), resets what the imports changed in shared
state (environment defaults, matplotlib settings, pandas options) and runs the script as
`__main__`. The server reports the exit status back, kills the child's process group the
moment its caller disappears (a `kill -9` of `dvc repro` still stops the stage), exits after
`MLGATE_PRELOAD_IDLE` seconds without work (default 900), and is stopped by pid
(`python -m mlgate.supervise.preload stop`).
Only the standard library is imported at module level: the launcher imports this module.
"""

from __future__ import annotations

import argparse
import atexit
import contextlib
import fcntl
import hashlib
import importlib
import json
import logging
import os
import runpy
import select
import signal
import socket
import struct
import subprocess
import sys
import sysconfig
import tempfile
import threading
import time
import traceback
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from mlgate.base.files import write_text_atomic
from mlgate.base.processes import alive, signal_group, wait_until

log = logging.getLogger("mlgate.preload")

# What the stages import that costs time, in pipeline order (train's first, Evidently's
# last); mlgate's own modules are never preloaded. pycaret.classification imports
# yellowbrick, which restyles matplotlib (rcParams and the colour codes): Pristine undoes it.
MODULES = ("pandas", "numpy", "pyarrow.parquet", "sklearn", "joblib", "lightgbm", "mlflow",
           "mlflow.sklearn", "mlflow.pyfunc", "mlflow.store.tracking.sqlalchemy_store",
           "pycaret.internal.pipeline", "pycaret.classification", "pycaret.regression",
           "evidently", "evidently.presets", "matplotlib.pyplot", "sqlalchemy", "alembic")
# Environment read at import time by the interpreter or the preloaded libraries: a server
# only serves callers whose values are equal (its socket name hashes them).
KEY_PREFIXES = ("PYTHON", "OMP_", "MKL_", "OPENBLAS_", "BLIS_", "NUMEXPR_", "VECLIB_",
                "KMP_", "GOTO_", "MPL", "LC_", "MLGATE_PRELOAD_MODULES")
KEY_VARS = ("LANG", "TZ", "HOME", "XDG_CONFIG_HOME", "XDG_CACHE_HOME",
            "MLFLOW_LOGGING_LEVEL", "MLFLOW_CONFIGURE_LOGGING", "PYCARET_CUSTOM_LOGGING_PATH")
# Set with os.environ.setdefault by sklearn and joblib on import: a caller that has them at
# these values gets the same preloaded state as one without them.
IMPLIED = {"KMP_DUPLICATE_LIB_OK": "True", "KMP_INIT_AT_FORK": "FALSE"}
HEADER = struct.Struct("!I")
DONE = b"done"  # a caller's last word: it got the exit status
DEFAULT_IDLE_S = 900.0


def runtime_dir() -> Path:
    """This user's private directory for server sockets, pidfiles and logs."""
    base = os.environ.get("XDG_RUNTIME_DIR") or tempfile.gettempdir()
    path = Path(base) / f"mlgate-preload-{os.getuid()}"
    path.mkdir(mode=0o700, exist_ok=True)
    info = path.stat()
    if info.st_uid != os.getuid() or info.st_mode & 0o077:
        raise PermissionError(f"{path} must be owned by uid {os.getuid()} with mode 0700")
    return path


def server_key(env: dict[str, str]) -> str:
    """Hash of what a preloaded process depends on: interpreter, packages, this file, env."""
    stamps = [sys.executable, sys.prefix, sys.version, _stamp(Path(__file__)),
              _stamp(Path(sysconfig.get_paths()["purelib"]))]
    env_part = sorted(f"{k}={v}" for k, v in env.items()
                      if (k in KEY_VARS or k.startswith(KEY_PREFIXES)) and IMPLIED.get(k) != v)
    return hashlib.sha256("\0".join(stamps + env_part).encode()).hexdigest()[:16]


def _stamp(path: Path) -> str:
    info = path.stat()
    return f"{path}:{info.st_mtime_ns}:{info.st_size}"


def files(key: str) -> dict[str, Path]:
    """Socket, pidfile, start lock and log of the server for `key`."""
    base = runtime_dir() / key
    return {ext: base.with_suffix(f".{ext}") for ext in ("sock", "pid", "lock", "log")}


def send_message(sock: socket.socket, payload: dict[str, Any], fds: list[int] = ()) -> None:
    """One length-prefixed JSON message, with file descriptors attached."""
    data = json.dumps(payload).encode()
    socket.send_fds(sock, [HEADER.pack(len(data)) + data], list(fds))


def read_message(stream: Any) -> dict[str, Any] | None:
    """The next message from a buffered reader (`sock.makefile("rb")`); None at end of stream."""
    head = stream.read(HEADER.size)
    if len(head) < HEADER.size:
        return None
    (size,) = HEADER.unpack(head)
    data = stream.read(size)
    if len(data) < size:
        raise ConnectionError("preload connection closed mid-message")
    return json.loads(data)


def recv_message(sock: socket.socket, max_fds: int = 0) -> tuple[dict[str, Any] | None, list]:
    """The caller's one message and its descriptors; (None, []) at end of stream."""
    chunk, fds, _, _ = socket.recv_fds(sock, 1 << 16, max_fds)
    if not chunk:
        return None, fds
    while len(chunk) < HEADER.size:
        chunk += _recv_some(sock)
    (size,), chunk = HEADER.unpack(chunk[:HEADER.size]), chunk[HEADER.size:]
    while len(chunk) < size:
        chunk += _recv_some(sock)
    return json.loads(chunk[:size]), fds


def _recv_some(sock: socket.socket) -> bytes:
    more = sock.recv(1 << 16)
    if not more:
        raise ConnectionError("preload connection closed mid-message")
    return more


def read_state(pidfile: Path) -> dict[str, Any]:
    """The pidfile's record ({} if none): pid, state (starting, ready, failed), prefix, at."""
    try:
        return json.loads(pidfile.read_text())
    except (OSError, ValueError):
        return {}


def write_state(pidfile: Path, pid: int, state: str, **extra: Any) -> None:
    """Replace the pidfile's record atomically."""
    write_text_atomic(pidfile, json.dumps({"pid": pid, "state": state, "prefix": sys.prefix,
                                           "at": time.time(), **extra}))


def mark_failed(pidfile: Path, exc: Exception) -> None:
    """Record that this server could not start or preload (callers then run stages here)."""
    write_state(pidfile, os.getpid(), "failed", error=f"{type(exc).__name__}: {exc}")


def _ours_and_live(pidfile: Path) -> bool:
    """The pidfile is this server's and does not record a failure."""
    state = read_state(pidfile)
    return state.get("pid") == os.getpid() and state.get("state") != "failed"


# --- server -------------------------------------------------------------------------------

@dataclass
class Pristine:
    """Shared state as a new process has it, taken before preloading; restored in each child."""

    env: dict[str, str]
    rc: dict[str, Any]  # matplotlib settings
    colors: dict[str, Any]  # matplotlib's colour names and codes ("k", "b", ...)
    pandas: dict[str, Any]  # pandas options

    @classmethod
    def take(cls) -> Pristine:
        """Import matplotlib (Agg) and pandas, then snapshot environment, rcParams, options."""
        import matplotlib  # lazy: the launcher's path imports only the standard library
        import matplotlib.colors  # lazy: the launcher's path imports only the standard library

        matplotlib.use("Agg")
        return cls(dict(os.environ), matplotlib.rcParams.copy(),
                   dict(matplotlib.colors._colors_full_map), _pandas_options())

    def set_by_imports(self) -> dict[str, str]:
        """Variables the imports set so far (sklearn, joblib: `setdefault`): a child's defaults."""
        return {k: v for k, v in os.environ.items()
                if self.env.get(k) != v and not k.startswith("_")}

    def restore(self) -> None:
        """In a child: matplotlib settings and pandas options as before the imports."""
        import matplotlib  # lazy: the launcher's path imports only the standard library
        import matplotlib.colors  # lazy: the launcher's path imports only the standard library
        import pandas as pd  # lazy: the launcher's path imports only the standard library

        rc, colors = matplotlib.rcParams, matplotlib.colors._colors_full_map
        rc.update({k: v for k, v in self.rc.items() if k != "backend" and rc[k] != v})
        if dict(colors) != self.colors:
            colors.clear()
            colors.update(self.colors)
            colors.cache.clear()
        for name, value in _pandas_options().items():
            if self.pandas.get(name, value) != value:
                pd.set_option(name, self.pandas[name])


def check_fork_safe() -> None:
    """Refuse to fork from a process that has threads besides the main one."""
    extra = [t.name for t in threading.enumerate() if t is not threading.main_thread()]
    if extra:
        raise RuntimeError(f"preloading started threads {extra}: forking would be unsafe")


def _pandas_options() -> dict[str, Any]:
    import warnings  # lazy: the launcher's path imports only the standard library

    import pandas as pd  # lazy: the launcher's path imports only the standard library

    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # deprecated options warn when read
        return {k: pd.get_option(k) for k in pd._config.config._registered_options}


def bind(paths: dict[str, Path]) -> socket.socket:
    """Listen on the key's socket path, replacing a stale one atomically."""
    tmp = paths["sock"].with_suffix(f".{os.getpid()}.tmp")
    with contextlib.suppress(FileNotFoundError):
        tmp.unlink()
    listener = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    listener.bind(str(tmp))
    listener.listen(64)
    os.replace(tmp, paths["sock"])
    return listener


class PreloadServer:
    """The select loop: accept callers, fork stages, watch callers, reap and report."""

    def __init__(self, listener: socket.socket, paths: dict[str, Path], idle_s: float,
                 pristine: Pristine):
        self.listener, self.paths, self.idle_s, self.pristine = listener, paths, idle_s, pristine
        self.sock_ino = paths["sock"].stat().st_ino
        self.children: dict[int, socket.socket] = {}  # pid -> its caller's connection
        self.stopping = False
        self.idle_since = time.monotonic()
        self.wake_r, self.wake_w = os.pipe()
        os.set_blocking(self.wake_w, False)
        signal.set_wakeup_fd(self.wake_w)
        self.killed: set[int] = set()
        for sig in (signal.SIGCHLD, signal.SIGTERM, signal.SIGINT, signal.SIGHUP):
            signal.signal(sig, self._on_signal)

    def _on_signal(self, signum: int, _frame: Any) -> None:
        if signum != signal.SIGCHLD:
            self.stopping = True

    def preload(self, modules: tuple[str, ...]) -> None:
        """Import the modules one by one, serving in between: a caller gets what is loaded."""
        started = time.perf_counter()
        try:
            for name in modules:
                importlib.import_module(name)
                check_fork_safe()
                self.step(0)
                if self.stopping:
                    return
        except Exception as exc:
            log.error("preloading failed: %s", exc)
            mark_failed(self.paths["pid"], exc)
            self.stopping = True
            return
        log.info("preloaded %d modules in %.1f s", len(modules), time.perf_counter() - started)
        write_state(self.paths["pid"], os.getpid(), "ready")

    def serve(self) -> None:
        """Run until stopped or idle for idle_s; stop listening at once, end after the stages."""
        while True:
            if self.stopping or self._idle():
                self.close_listener()
                if not self.children:
                    return
            self.step(1.0)

    def step(self, timeout: float) -> None:
        """Wait up to `timeout` s; reap ended stages, kill orphaned ones, fork new ones."""
        watched = [self.wake_r, *(c for p, c in self.children.items() if p not in self.killed)]
        if self.listener.fileno() != -1:
            watched.append(self.listener)
        ready, _, _ = select.select(watched, [], [], timeout)
        if self.wake_r in ready:
            os.read(self.wake_r, 512)
        self._reap()
        for conn in [c for c in ready if c in self.children.values()]:
            self._caller_gone(conn)
        if self.listener in ready:
            self._accept()

    def close_listener(self) -> None:
        """Remove the socket path (unless a newer server owns it now) and stop accepting."""
        if self.listener.fileno() == -1:
            return
        with contextlib.suppress(OSError):
            if self.paths["sock"].stat().st_ino == self.sock_ino:
                self.paths["sock"].unlink()
        self.listener.close()
        if _ours_and_live(self.paths["pid"]):
            write_state(self.paths["pid"], os.getpid(), "stopping")  # callers start a new one

    def _idle(self) -> bool:
        if self.children:
            self.idle_since = time.monotonic()
        return time.monotonic() - self.idle_since > self.idle_s

    def _accept(self) -> None:
        conn, _ = self.listener.accept()
        try:
            conn.settimeout(10)
            request, fds = recv_message(conn, max_fds=3)
            conn.settimeout(None)
            if request is None or len(fds) != 3:
                raise ConnectionError(f"bad request: {request!r} with {len(fds)} fds")
        except (OSError, ValueError) as exc:
            log.warning("dropped a caller: %s", exc)
            conn.close()
            return
        self._fork(conn, request, fds)

    def _fork(self, conn: socket.socket, request: dict[str, Any], fds: list[int]) -> None:
        for stream in (sys.stdout, sys.stderr):
            stream.flush()  # or the child would write the server's buffered lines again
        pid = os.fork()
        if pid == 0:
            os._exit(self._child(conn, request, fds))
        with contextlib.suppress(OSError):
            os.setpgid(pid, pid)
        for fd in fds:
            os.close(fd)
        self.children[pid] = conn
        log.info("pid %d: %s in %s", pid, " ".join(request["argv"]), request["cwd"])
        self._tell(conn, {"pid": pid})

    def _child(self, conn: socket.socket, request: dict[str, Any], fds: list[int]) -> int:
        """In the forked child: become the stage; 70 (EX_SOFTWARE) if taking over failed."""
        try:
            signal.set_wakeup_fd(-1)
            os.close(self.wake_r)
            os.close(self.wake_w)
            for sock in (self.listener, *self.children.values()):
                sock.close()
            report_exit_to(conn)
            return become_stage(request, fds, self.pristine)
        except BaseException:
            traceback.print_exc()
            return 70

    def _caller_gone(self, conn: socket.socket) -> None:
        """A caller's connection became readable: its `done` (it has the stage's status from
        the stage itself), else it died or hung up mid-stage: kill the stage's group."""
        pid = next(p for p, c in self.children.items() if c is conn)
        self.killed.add(pid)  # either way, stop watching this connection
        try:
            done = conn.recv(16) == DONE
        except OSError:
            done = False
        if not done:
            log.warning("pid %d: caller gone, killing its process group", pid)
            signal_group(pid, signal.SIGKILL)

    def _reap(self) -> None:
        while self.children:
            try:
                pid, status = os.waitpid(-1, os.WNOHANG)
            except ChildProcessError:
                return
            if pid == 0:
                return
            conn = self.children.pop(pid, None)
            self.killed.discard(pid)
            if conn is not None:
                code = os.waitstatus_to_exitcode(status)
                log.info("pid %d: exit %d", pid, code)
                self._tell(conn, {"exit": code})
                conn.close()

    @staticmethod
    def _tell(conn: socket.socket, payload: dict[str, Any]) -> None:
        with contextlib.suppress(OSError):
            send_message(conn, payload)


# --- the forked child ---------------------------------------------------------------------

def report_exit_to(conn: socket.socket) -> None:
    """Make this process tell its caller its exit status itself, the moment it exits.

    The server reports it too, after reaping, but not before the import it may be running
    (during the preload) returns; a stage killed by a signal is reported only that way.
    Wraps `os._exit`, which a stage and `run_script` end with; only this process reports.
    """
    pid, real_exit = os.getpid(), os._exit

    def _exit(code: int) -> None:
        if os.getpid() == pid:
            with contextlib.suppress(OSError):
                send_message(conn, {"exit": code})
        real_exit(code)

    os._exit = _exit


def become_stage(request: dict[str, Any], fds: list[int], pristine: Pristine) -> int:
    """In the forked child: take over the caller's process state, run the script, exit code."""
    os.setpgid(0, 0)
    implied = pristine.set_by_imports()
    for sig in (signal.SIGCHLD, signal.SIGTERM, signal.SIGHUP):
        signal.signal(sig, signal.SIG_DFL)
    signal.signal(signal.SIGINT, signal.default_int_handler)
    for target, fd in enumerate(fds):
        os.dup2(fd, target)
        os.close(fd)
    os.chdir(request["cwd"])
    os.umask(request["umask"])
    os.environ.clear()
    os.environ.update(request["env"])
    for name, value in implied.items():
        os.environ.setdefault(name, value)  # as the preloaded imports did
    pristine.restore()
    _fresh_process_state()
    return run_script(request["argv"])


def _fresh_process_state() -> None:
    """Undo what the server did that a new process would not have done."""
    for name in [m for m in sys.modules if m == "mlgate" or m.startswith("mlgate.")]:
        del sys.modules[name]
    root = logging.getLogger()
    for logger in (root, log):
        for handler in logger.handlers[:]:
            logger.removeHandler(handler)
    root.setLevel(logging.WARNING)
    log.propagate, log.level = True, logging.NOTSET
    if "numpy" in sys.modules:
        sys.modules["numpy"].random.seed()  # the server's global RNG state is not shared
    if "mlflow.telemetry.client" in sys.modules:  # per process: session id, opt-out in env
        os.environ.pop("_MLFLOW_TELEMETRY_SESSION_ID", None)
        sys.modules["mlflow.telemetry.client"].set_telemetry_client()
    unbuffered = bool(os.environ.get("PYTHONUNBUFFERED"))
    sys.stdout.reconfigure(line_buffering=os.isatty(1), write_through=unbuffered)


def run_as_main(argv: list[str]) -> None:
    """Run `argv[0]` as `__main__` with `argv`, as `python SCRIPT ARGS` does (exits propagate)."""
    sys.argv = list(argv)
    sys.path[0] = os.path.dirname(os.path.abspath(argv[0]))
    runpy.run_path(argv[0], run_name="__main__")


def run_script(argv: list[str]) -> int:
    """`python script args...` from here: run as __main__, end as the interpreter would."""
    try:
        run_as_main(argv)
        code = 0
    except SystemExit as exc:
        code = exit_code(exc.code)
    except KeyboardInterrupt:
        sys.excepthook(*sys.exc_info())
        code = 128 + signal.SIGINT
    except BaseException:
        sys.excepthook(*sys.exc_info())
        code = 1
    return finish(code)


def exit_code(code: object) -> int:
    """The status `sys.exit(code)` gives a process."""
    if code is None:
        return 0
    if isinstance(code, int):
        return code & 0xFF
    sys.stderr.write(f"{code}\n")
    return 1


def finish(code: int) -> int:
    """End as the interpreter does (minus teardown): threads, then atexit handlers, flush."""
    threading._shutdown()  # wakes idle executor workers, joins non-daemon threads
    atexit._run_exitfuncs()
    for stream in (sys.stdout, sys.stderr):
        with contextlib.suppress(Exception):
            stream.flush()
    return code


# --- lifecycle ----------------------------------------------------------------------------

def serve(key: str) -> None:
    """Listen on the key's socket, preload while serving, serve; clean up on the way out."""
    paths = files(key)
    os.chdir("/")
    modules = tuple(m for m in os.environ.get("MLGATE_PRELOAD_MODULES", ",".join(MODULES))
                    .split(",") if m)
    try:
        pristine = Pristine.take()
        listener = bind(paths)
    except Exception as exc:
        mark_failed(paths["pid"], exc)
        raise
    write_state(paths["pid"], os.getpid(), "listening")
    idle = float(os.environ.get("MLGATE_PRELOAD_IDLE", DEFAULT_IDLE_S))
    server = PreloadServer(listener, paths, idle, pristine)
    try:
        server.preload(modules)
        server.serve()
    finally:
        server.close_listener()
        if _ours_and_live(paths["pid"]):
            paths["pid"].unlink()
        log.info("stopped")


def servers(prefix: str | None = None) -> list[tuple[Path, int]]:
    """(pidfile, pid) of every live server of this user (of one venv when prefix is given)."""
    found = []
    for pidfile in sorted(runtime_dir().glob("*.pid")):
        state = read_state(pidfile)
        if state.get("pid") and alive(state["pid"]) and prefix in (None, state.get("prefix")):
            found.append((pidfile, state["pid"]))
    return found


def stop(prefix: str | None = None, timeout_s: float = 60.0) -> list[int]:
    """SIGTERM each server (it finishes its running stages first); wait for it to exit."""
    stopped = []
    for _, pid in servers(prefix):
        with contextlib.suppress(ProcessLookupError):
            os.kill(pid, signal.SIGTERM)
            stopped.append(pid)
    wait_until(lambda: not any(alive(p) for p in stopped), timeout_s, poll=0.05)
    return stopped


# ---- the client side: reach this venv's server, starting it when none runs ----------
START_TIMEOUT_S = 180.0
RETRY_FAILED_S = 600.0  # a server that failed to start is not retried before this


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
    paths = files(key)
    sock = connect(paths["sock"])
    if sock:
        return sock
    with paths["lock"].open("a") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)  # one spawner at a time
        sock = connect(paths["sock"])
        if sock:
            return sock
        state = read_state(paths["pid"])
        if state.get("state") == "failed" and time.time() - state["at"] < RETRY_FAILED_S:
            raise Unavailable(f"the preload server failed to start ({state['error']}); "
                              f"see {paths['log']}")
        if state.get("state") == "stopping" or not (state.get("pid")
                                                    and alive(state["pid"])):
            spawn(key, paths)
    return None


def spawn(key: str, paths: dict[str, Path]) -> None:
    """Start a server in its own session, logging to its .log file; record it as starting."""
    with paths["log"].open("w") as out:
        server = subprocess.Popen([sys.executable, "-m", "mlgate.supervise.preload", "serve", key],
                                  stdin=subprocess.DEVNULL, stdout=out, stderr=out,
                                  start_new_session=True)
    write_state(paths["pid"], server.pid, "starting")


def wait_for_server(key: str, timeout_s: float = START_TIMEOUT_S) -> socket.socket:
    """Start the key's server if needed; wait until it listens (about 1 s after its start)."""
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        sock = connect_or_spawn(key)
        if sock:
            return sock
        time.sleep(0.02)
    raise Unavailable(f"the preload server did not listen within {timeout_s:.0f} s; "
                      f"see {files(key)['log']}")


def main(argv: list[str] | None = None) -> None:
    """`python -m mlgate.supervise.preload {serve KEY | start | status | stop}`."""
    parser = argparse.ArgumentParser(prog="python -m mlgate.supervise.preload", description=__doc__)
    sub = parser.add_subparsers(dest="command", required=True)
    sub.add_parser("serve", help="run a server (the launcher starts it)").add_argument("key")
    sub.add_parser("start", help="start this venv's server and wait until it has preloaded")
    sub.add_parser("status", help="list this user's live servers")
    sub.add_parser("stop", help="stop this venv's servers by pid")
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.INFO, stream=sys.stderr,
                        format="%(asctime)s %(name)s %(levelname)s %(message)s")
    if args.command == "serve":
        serve(args.key)
    elif args.command == "start":
        key = server_key(dict(os.environ))
        wait_for_server(key).close()
        while read_state(files(key)["pid"]).get("state") == "listening":
            time.sleep(0.05)  # still preloading
        log.info("%s: %s", key, read_state(files(key)["pid"]))
    elif args.command == "status":
        for pidfile, pid in servers():
            sys.stdout.write(f"{pid}\t{pidfile.read_text()}\n")
    else:
        log.info("stopped %s", stop(sys.prefix) or "nothing (no server running)")


if __name__ == "__main__":
    main()
