"""Serving the champion: `mlflow models serve` started by mlgate on loopback, stopped by pid."""

from __future__ import annotations

import json
import re
import signal
import socket
import subprocess
import urllib.error
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


def serve_cli(root: Path, *args: str) -> tuple[subprocess.Popen, str]:
    """`mlgate models serve ARGS` at `root`; the process and the line it printed."""
    proc = subprocess.Popen([PYTHON, "-m", "mlgate.cli.main", "models", "serve", *args],
                            cwd=root, env=clean_env(root), stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE, text=True)
    line = proc.stdout.readline()
    if proc.poll() is not None or "serving" not in line:
        proc.kill()
        raise AssertionError(line + proc.stderr.read())
    return proc, line


def ask(url: str, X, rid: str | None = None) -> tuple[int, dict, str]:
    """POST rows as dataframe_split: (status, answer or error, the X-Request-ID header)."""
    headers = {"Content-Type": "application/json", **({"X-Request-ID": rid} if rid else {})}
    body = json.dumps({"dataframe_split": json.loads(X.to_json(orient="split"))}).encode()
    req = urllib.request.Request(url, data=body, method="POST", headers=headers)
    try:
        with urllib.request.urlopen(req, timeout=60) as resp:
            return resp.status, json.loads(resp.read()), resp.headers["X-Request-ID"]
    except urllib.error.HTTPError as err:
        return err.code, json.loads(err.read()), err.headers["X-Request-ID"]


def test_logged_serving_keeps_every_answer_under_concurrent_load(tmp_path, params, randhie):
    """`serve --log --shadow` under 8 concurrent clients: every answered row is in the log,
    with what was answered, its request id (the response header) and the shadow's answer;
    answers are the model's own; a bad request is MLflow's error and not logged; rotation
    cuts files of rotate_rows; SIGTERM writes what is held, leaving no partial file."""
    from concurrent.futures import ThreadPoolExecutor

    import pandas as pd

    from mlgate.core import inference_log as il

    frames = split_frames(randhie, params)
    conf = {**params, "monitor": {**params["monitor"], "inference_log": {
        "folder": "served", "rotate_rows": 60, "rotate_s": 600}}}
    store = Store(tmp_path, conf)
    linear, boosted = fit("linear", frames[0]), fit("boosted", frames[0])
    champion_v1(store, linear, frames)
    info = json.loads((store.workspace("chal", boosted, frames) / "models/run.json").read_text())
    with in_store(tmp_path):
        mlflow.set_tracking_uri(store.uri)
        from mlgate.adapters.registry import register_version, set_alias
        set_alias(MODEL, register_version(info["model_uri"], MODEL,
                                          {"validation_status": "passed"}), "challenger")
    port = free_port()
    proc, line = serve_cli(tmp_path, "--log", "--shadow", "--port", str(port))
    assert "logging to" in line and "shadow v2" in line
    rows = frames[1].dropna().drop(columns=[TARGET]).reset_index(drop=True).head(200)
    chunks = [rows.iloc[i:i + n] for i, n in zip(range(0, 200, 5), [1, 3, 5, 8] * 10,
                                                 strict=False)]
    url = f"http://{HOST}:{port}/invocations"
    try:
        with ThreadPoolExecutor(8) as pool:
            answers = list(pool.map(lambda ic: ask(url, ic[1], f"req-{ic[0]}" if ic[0] % 2
                                                   else None), enumerate(chunks)))
        status, error, bad_id = ask(url, rows.drop(columns=["linc"]).head(2))
    finally:
        proc.send_signal(signal.SIGTERM)
        proc.wait(timeout=60)
    assert proc.returncode == 0
    assert status == 400 and "error_code" in error and bad_id  # MLflow's error, with an id
    assert all(a[0] == 200 for a in answers)
    ids = [a[2] for a in answers]
    assert len(set(ids)) == len(chunks) and ids[1] == "req-1" and len(ids[0]) == 32
    files = sorted((tmp_path / "served").iterdir())
    assert files and all(f.name.startswith(il.PREFIX) and f.suffix == ".parquet"
                         for f in files), files  # no partial or temporary file left
    logged = pd.concat([pd.read_parquet(f) for f in files], ignore_index=True)
    sizes = [len(pd.read_parquet(f)) for f in files]
    assert max(sizes) == 60 and sizes.count(60) == len(sizes) - 1  # cut at rotate_rows
    assert len(files) >= 3 and len(logged) == sum(len(c) for c in chunks)
    assert bad_id not in set(logged[il.REQUEST_ID])
    for (_, answer, rid), chunk in zip(answers, chunks, strict=True):
        mine = logged[logged[il.REQUEST_ID] == rid].sort_values(il.ROW)
        assert mine[il.ROW].tolist() == list(range(len(chunk)))
        assert mine[il.PREDICTION].tolist() == answer["predictions"]
        np.testing.assert_allclose(mine["linc"].to_numpy(), chunk["linc"].to_numpy())
    assert (logged[il.VERSION] == "1").all() and (logged[il.SHADOW_VERSION] == "2").all()
    by_order = logged.sort_values([il.REQUEST_ID, il.ROW])
    inputs = by_order.drop(columns=list(il.COLUMNS))[list(rows.columns)]
    np.testing.assert_array_equal(by_order[il.PREDICTION].to_numpy(), linear.predict(inputs))
    np.testing.assert_array_equal(by_order[il.SHADOW_PREDICTION].to_numpy(),
                                  boosted.predict(inputs))
