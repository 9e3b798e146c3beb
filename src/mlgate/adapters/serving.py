"""Serve a registered model with `mlflow models serve` on loopback; health-check; stop by pid."""

from __future__ import annotations

import logging
import os
import signal
import socket
import subprocess
import sys
import tempfile
import time
import urllib.error
import urllib.request
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from mlgate.base.errors import MlgateError
from mlgate.base.processes import group_alive, signal_group, wait_until
from mlgate.core.inference_log import InferenceLogConfig

log = logging.getLogger(__name__)

HOST = "127.0.0.1"
START_TIMEOUT_S = 180.0
STOP_TIMEOUT_S = 20.0


def free_port() -> int:
    """A TCP port on 127.0.0.1 that is free right now."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind((HOST, 0))
        return int(sock.getsockname()[1])


def mlflow_command() -> list[str]:
    """The `mlflow` script beside this interpreter (the venv's), else `python -m mlflow`."""
    script = Path(sys.executable).parent / "mlflow"
    return [str(script)] if script.exists() else [sys.executable, "-m", "mlflow"]


@dataclass
class ModelServer:
    """A running `mlflow models serve` process group (its leader's pid is the group id)."""

    process: subprocess.Popen
    url: str
    log_path: Path
    name: str = "mlflow models serve"

    @property
    def pid(self) -> int:
        """The pid of the `mlflow models serve` process (and its process group)."""
        return self.process.pid

    def log_tail(self, lines: int = 20) -> str:
        """The last lines the server wrote (stdout and stderr)."""
        text = self.log_path.read_text(encoding="utf-8", errors="replace")
        return "\n".join(text.splitlines()[-lines:])

    def stop(self, timeout: float = STOP_TIMEOUT_S) -> None:
        """Stop the server by its pid: SIGTERM to its process group, SIGKILL if it lingers."""
        for sig in (signal.SIGTERM, signal.SIGKILL):
            signal_group(self.pid, sig)
            try:
                self.process.wait(timeout=timeout)  # reaps the leader
            except subprocess.TimeoutExpired:
                continue
            if wait_until(lambda: not group_alive(self.pid), timeout):
                return
        log.warning("server process group %d still alive after SIGKILL", self.pid)

    def __enter__(self) -> ModelServer:
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop()


def run_in_foreground(start: Callable[[], ModelServer],
                      describe: Callable[[ModelServer], str]) -> None:
    """Start a server, print `describe(server)`, wait until Ctrl-C or SIGTERM, stop it by pid.

    SIGTERM is handled like Ctrl-C (installed before the start), so `kill PID` of the command
    stops the server's process group too instead of leaving it running.
    """
    def interrupted(signum: int, frame: Any) -> None:
        raise KeyboardInterrupt

    signal.signal(signal.SIGTERM, interrupted)
    server = None
    try:
        server = start()  # interrupted while starting: launch() stops what it started
        sys.stdout.write(describe(server) + "; Ctrl-C stops it\n")
        sys.stdout.flush()
        server.process.wait()
    except KeyboardInterrupt:
        pass
    finally:
        if server is not None:
            server.stop()


def start_server(model_uri: str, tracking_uri: str, port: int | None = None,
                 timeout: float = START_TIMEOUT_S, workers: int = 1) -> ModelServer:
    """Start `mlflow models serve -m MODEL_URI --env-manager local` on 127.0.0.1; wait for it."""
    port = port or free_port()
    cmd = [*mlflow_command(), "models", "serve", "-m", model_uri, "--env-manager", "local",
           "-h", HOST, "-p", str(port), "-w", str(workers)]
    server = launch(cmd, port, tracking_uri, "/ping", timeout, "mlflow models serve")
    log.info("serving %s at %s (pid %d)", model_uri, server.url, server.pid)
    return server


def start_logged_server(model_uri: str, version: str, tracking_uri: str, folder: Path,
                        cfg: InferenceLogConfig, shadow: tuple[str, str] | None = None,
                        port: int | None = None, timeout: float = START_TIMEOUT_S,
                        workers: int = 1) -> ModelServer:
    """Start MLflow's scoring server with the inference log (`mlgate.adapters.
    inference_server`) for MODEL_URI on 127.0.0.1, `shadow` = (uri, version) scored on the
    side; wait for /ping."""
    port = port or free_port()
    cmd = [sys.executable, "-m", "mlgate.adapters.inference_server", "--model-uri", model_uri,
           "--version", str(version), "--folder", str(folder), "--rotate-rows",
           str(cfg.rotate_rows), "--rotate-s", str(cfg.rotate_s), "--host", HOST, "--port",
           str(port), "--workers", str(workers)]
    if shadow is not None:
        cmd += ["--shadow-uri", shadow[0], "--shadow-version", str(shadow[1])]
    server = launch(cmd, port, tracking_uri, "/ping", timeout, "mlgate inference server")
    log.info("serving %s with its inference log in %s at %s (pid %d)", model_uri, folder,
             server.url, server.pid)
    return server


def start_ui(tracking_uri: str, port: int | None = None,
             timeout: float = START_TIMEOUT_S) -> ModelServer:
    """Start the MLflow UI (`mlflow ui`) for `tracking_uri` on 127.0.0.1; wait for /health."""
    port = port or free_port()
    cmd = [*mlflow_command(), "ui", "--backend-store-uri", tracking_uri, "--host", HOST,
           "--port", str(port)]
    server = launch(cmd, port, tracking_uri, "/health", timeout, "mlflow ui")
    log.info("MLflow UI for %s at %s (pid %d)", tracking_uri, server.url, server.pid)
    return server


def start_monitor_ui(workspace: Path, port: int | None = None,
                     timeout: float = START_TIMEOUT_S) -> ModelServer:
    """Start Evidently's UI (`evidently ui`) on the monitoring workspace, 127.0.0.1 only,
    telemetry off; wait for /api/version."""
    port = port or free_port()
    script = Path(sys.executable).parent / "evidently"
    cmd = [str(script) if script.exists() else sys.executable, *([] if script.exists() else
           ["-m", "evidently"]), "ui", "--host", HOST, "--port", str(port), "--workspace",
           str(workspace)]
    server = launch(cmd, port, None, "/api/version", timeout, "evidently ui")
    log.info("Evidently UI for %s at %s (pid %d)", workspace, server.url, server.pid)
    return server


def launch(cmd: list[str], port: int, tracking_uri: str | None, health: str, timeout: float,
           name: str) -> ModelServer:
    """Start `cmd` in its own process group, logging to a temp file; wait until healthy."""
    fd, log_name = tempfile.mkstemp(prefix="mlgate-server-", suffix=".log")
    bin_dir = str(Path(sys.executable).parent)  # the servers exec `uvicorn` from PATH
    env = {**os.environ, "DO_NOT_TRACK": "1",  # Evidently's telemetry calls out
           "PATH": f"{bin_dir}{os.pathsep}{os.environ.get('PATH', '')}"}
    if tracking_uri is not None:
        env["MLFLOW_TRACKING_URI"] = tracking_uri
    with os.fdopen(fd, "w") as out:
        process = subprocess.Popen(cmd, env=env, stdout=out, stderr=subprocess.STDOUT,
                                   stdin=subprocess.DEVNULL, start_new_session=True)
    server = ModelServer(process, f"http://{HOST}:{port}", Path(log_name), name)
    try:
        wait_healthy(server, timeout, health)
    except BaseException:
        server.stop()
        raise
    return server


def wait_healthy(server: ModelServer, timeout: float = START_TIMEOUT_S,
                 health: str = "/ping") -> None:
    """Poll GET `health` until it answers 200; MlgateError if the server dies or times out."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if server.process.poll() is not None:
            raise MlgateError(f"`{server.name}` exited with code "
                              f"{server.process.returncode}:\n{server.log_tail()}")
        try:
            with urllib.request.urlopen(f"{server.url}{health}", timeout=2) as resp:
                if resp.status == 200:
                    return
        except (urllib.error.URLError, ConnectionError, TimeoutError):
            pass
        time.sleep(0.5)
    raise MlgateError(f"server at {server.url} not healthy after {timeout:.0f} s:\n"
                      f"{server.log_tail()}")
