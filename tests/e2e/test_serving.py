"""Serving the champion: `mlflow models serve` started by mlgate on loopback, stopped by pid."""

from __future__ import annotations

import json
import re
import signal
import socket
import subprocess
import urllib.request
from pathlib import Path

import mlflow
import numpy as np
import pytest

from mlgate.adapters.serving import HOST, free_port, start_server
from mlgate.base.errors import MlgateError
from mlgate.base.processes import group_alive, wait_until
from tests.e2e.conftest import clean_env
from tests.e2e.test_registry import (
    MODEL,
    PYTHON,
    TARGET,
    Store,
    champion_v1,
    fit,
    in_store,
    split_frames,
)

pytestmark = pytest.mark.e2e


def post(url: str, payload: dict) -> dict:
    """POST JSON, return the decoded JSON answer."""
    req = urllib.request.Request(url, data=json.dumps(payload).encode(), method="POST",
                                 headers={"Content-Type": "application/json"})
    with urllib.request.urlopen(req, timeout=60) as resp:
        assert resp.status == 200
        return json.loads(resp.read())


def test_served_champion_answers_over_http_and_stops_by_pid(tmp_path, params, randhie):
    frames = split_frames(randhie, params)
    model = fit("boosted", frames[0])
    store = Store(tmp_path, params)
    champion_v1(store, model, frames)
    rows = frames[1].dropna().head(25)
    X = rows.drop(columns=[TARGET])
    server = start_server(f"models:/{MODEL}@champion", store.uri)
    try:
        assert server.url.startswith(f"http://{HOST}:")
        payload = {"dataframe_split": json.loads(X[X.columns[::-1]].to_json(orient="split"))}
        answer = post(f"{server.url}/invocations", payload)
    finally:
        server.stop()
    assert server.process.poll() is not None and not group_alive(server.pid), (
        "the server and its workers must be gone after stop()")
    served = np.asarray(answer["predictions"])
    assert served.shape == (len(X),)
    np.testing.assert_array_equal(served, model.predict(X))
    with in_store(tmp_path):
        mlflow.set_tracking_uri(store.uri)
        local = mlflow.pyfunc.load_model(f"models:/{MODEL}@champion").predict(X)
    np.testing.assert_array_equal(served, local)


def test_server_that_cannot_start_is_reported_and_cleaned_up(tmp_path):
    uri = f"sqlite:///{tmp_path / 'mlflow.db'}"
    with pytest.raises(MlgateError, match=r"mlflow models serve` exited with code") as info:
        start_server("models:/no-such-model@champion", uri, timeout=120)
    assert "no-such-model" in str(info.value)


def descendants(pid: int) -> set[int]:
    """Every live process below `pid` (read from /proc: children, their children, ...)."""
    parents: dict[int, list[int]] = {}
    for stat in Path("/proc").glob("[0-9]*/stat"):
        try:
            fields = stat.read_text().rsplit(")", 1)[1].split()
        except OSError:  # the process ended while we read
            continue
        parents.setdefault(int(fields[1]), []).append(int(stat.parent.name))
    found, todo = set(), [pid]
    while todo:
        for child in parents.get(todo.pop(), []):
            if child not in found:
                found.add(child)
                todo.append(child)
    return found


def port_free(port: int) -> bool:
    """True when nothing listens on 127.0.0.1:port any more."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        return sock.connect_ex((HOST, port)) != 0


def test_mlgate_models_serve_runs_until_terminated(tmp_path, params, randhie):
    """SIGTERM (what kill, systemd or a container runtime sends) stops the whole server, as
    Ctrl-C does (one handler turns both into KeyboardInterrupt): the port is free and no
    process it started is left."""
    sig = signal.SIGTERM
    frames = split_frames(randhie, params)
    store = Store(tmp_path, params)
    champion_v1(store, fit("linear", frames[0]), frames)
    port = free_port()
    proc = subprocess.Popen([PYTHON, "-m", "mlgate.cli.main", "models", "serve",
                             "--port", str(port)],
                            cwd=tmp_path, env=clean_env(tmp_path), stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE, text=True)
    try:
        line = proc.stdout.readline()
        assert f"serving {MODEL} v1 (@champion) at http://{HOST}:{port}/invocations" in line, (
            line + proc.stderr.read() if proc.poll() is not None else line)
        pid = int(re.search(r"\(pid (\d+)\)", line).group(1))
        X = frames[1].dropna().drop(columns=[TARGET]).head(5)
        answer = post(f"http://{HOST}:{port}/invocations",
                      {"dataframe_split": json.loads(X.to_json(orient="split"))})
        assert len(answer["predictions"]) == 5
        started = descendants(proc.pid)
        assert pid in started and len(started) >= 2  # mlflow models serve and its workers
    finally:
        proc.send_signal(sig)
        proc.wait(timeout=60)
    assert proc.returncode == 0 and not group_alive(pid)
    assert wait_until(lambda: not any(Path(f"/proc/{p}").exists() for p in started), 30), (
        f"left running: {sorted(p for p in started if Path(f'/proc/{p}').exists())}")
    assert port_free(port)
