"""The monitoring workspace: snapshots keyed by (batch, model version, experiment), the
dashboard written idempotently, the history table, and Evidently's UI serving them."""

from __future__ import annotations

import json
import urllib.request
from datetime import datetime

import numpy as np
import pandas as pd
import pytest

from mlgate.adapters.dashboard import dashboard_model
from mlgate.adapters.monitoring import (
    Batch,
    MonitorConfig,
    add_snapshot,
    batch_time,
    find_project,
    history,
    open_workspace,
)
from mlgate.adapters.serving import start_monitor_ui
from mlgate.base.errors import ConfigError
from mlgate.base.processes import group_alive
from mlgate.core.drift import ColumnRule, run_drift
from tests.defaults import conf_section, drift_with

MODEL = "mlgate-monitor-test"


def frames(shift: float, seed: int) -> tuple[pd.DataFrame, pd.DataFrame]:
    """(reference, current) with two numeric columns; `x` shifted by `shift` in current."""
    rng = np.random.default_rng(seed)
    ref = pd.DataFrame({"x": rng.normal(0, 1, 600), "z": rng.normal(0, 1, 600)})
    cur = pd.DataFrame({"x": rng.normal(shift, 1, 300), "z": rng.normal(0, 1, 300)})
    return ref, cur


@pytest.fixture(scope="module")
def checks() -> dict[str, tuple[dict, object]]:
    """Three drift checks: none, a small shift, a large one (summary, snapshot)."""
    cfg = drift_with(per_column={"x": ColumnRule(important=True)})
    return {name: run_drift(*frames(shift, i), cfg)
            for i, (name, shift) in enumerate([("calm", 0.0), ("small", 0.3), ("big", 2.0)])}


@pytest.fixture
def cfg(tmp_path) -> MonitorConfig:
    return MonitorConfig.from_params(conf_section("monitor", {"workspace": str(tmp_path / "ws")}))


def add(cfg, checks, name: str, version: str = "1", day: int = 1, experiment=None) -> str:
    summary, snapshot = checks[name]
    batch = Batch(name, version, datetime(2024, 1, day), 300, experiment)
    return add_snapshot(cfg, MODEL, snapshot, batch, summary, ["x"], {"accuracy": 0.8},
                        root=cfg.path().parent)


def test_snapshot_identity_is_batch_version_and_experiment(cfg, checks):
    add(cfg, checks, "calm", day=1)
    add(cfg, checks, "big", day=3)
    add(cfg, checks, "small", day=2)
    add(cfg, checks, "small", day=2)  # the same batch again: replaced, not duplicated
    add(cfg, checks, "small", version="2", day=2)  # scored by another version: kept
    add(cfg, checks, "small", day=2, experiment="sweep-a")  # an experiment's: kept apart
    table = history(cfg, MODEL, root=cfg.path().parent)
    assert list(table.batch) == ["calm", "small", "small", "big"], "oldest batch first"
    assert list(table.model_version) == ["1", "1", "2", "1"]
    big = table.iloc[-1]
    assert big.action != "none" and big.important_drifted == "x" and big.rows == "300"
    assert big.n_drifted.endswith("/2") and big.metric == "accuracy 0.8000"
    assert table.iloc[0].important_drifted == "" and float(table.iloc[0].share_drifted) == 0.0
    everything = history(cfg, MODEL, experiments=True, root=cfg.path().parent)
    assert len(everything) == 5 and "sweep-a" in set(everything.experiment)


def test_dashboard_is_written_idempotently(cfg, checks):
    add(cfg, checks, "calm")
    ws = open_workspace(cfg, cfg.path().parent)
    project = find_project(ws, MODEL)
    first = ws.get_dashboard(project.id)
    add(cfg, checks, "big", day=2)
    again = ws.get_dashboard(project.id)
    assert again == first == dashboard_model(["x"])
    titles = [p.title for p in again.panels]
    assert titles[0] == "Share of drifted features" and "Prediction drift" in titles
    assert all(v.tags == ["main"] for p in again.panels for v in p.values)


def test_batch_time_is_the_latest_date_else_now():
    df = pd.DataFrame({"when": pd.to_datetime(["2021-03-01", "2021-05-02", None])})
    assert batch_time(df, ["when"]) == datetime(2021, 5, 2)
    assert abs((batch_time(df, []) - datetime.utcnow()).total_seconds()) < 60


def test_bad_monitor_keys_are_named(tmp_path):
    with pytest.raises(ConfigError, match="monitor.ui_port"):
        MonitorConfig.from_params(conf_section("monitor", {"ui_port": 0}))
    with pytest.raises(ConfigError, match="monitor.bogus"):
        MonitorConfig.from_params(conf_section("monitor", {"bogus": 1}))


def post(url: str, body: dict) -> dict:
    req = urllib.request.Request(url, data=json.dumps(body).encode(), method="POST",
                                 headers={"Content-Type": "application/json"})
    with urllib.request.urlopen(req, timeout=30) as resp:
        return json.loads(resp.read())


def test_ui_serves_the_dashboards_series_and_stops_by_pid(cfg, checks):
    add(cfg, checks, "calm", day=1)
    add(cfg, checks, "big", day=2)
    add(cfg, checks, "big", day=2, experiment="sweep-a")
    server = start_monitor_ui(cfg.path())
    try:
        with urllib.request.urlopen(f"{server.url}/api/projects", timeout=30) as resp:
            projects = json.loads(resp.read())
        project = next(p for p in projects if p["name"] == MODEL)
        panel = dashboard_model(["x"]).panels[0]  # share of drifted features, main only
        filters = [{"metric": v.metric, "metric_labels": v.metric_labels, "tags": v.tags,
                    "metadata": {}} for v in panel.values]
        series = post(f"{server.url}/api/v2/snapshots/{project['id']}/data_series_batch",
                      {"series_filter": filters})
    finally:
        server.stop()
    assert not group_alive(server.pid), "the UI and its workers are gone after stop()"
    shares = series["series"][0]["values"]
    assert len(shares) == 2, "two main snapshots; the experiment's is not plotted"
    assert shares[0] == 0.0 and shares[1] > 0


def test_monitor_ui_command_stops_its_server_on_sigterm(tmp_path):
    import os
    import signal
    import subprocess
    import sys
    import time

    import yaml

    from mlgate.adapters.serving import free_port
    from mlgate.base.processes import signal_group, wait_until

    (tmp_path / "dvc.yaml").write_text("stages: {}\n")
    (tmp_path / "params.yaml").write_text(yaml.safe_dump({
        "monitor": conf_section("monitor"), "gate": {"model_name": MODEL}}))
    port = free_port()
    env = {k: v for k, v in os.environ.items() if not k.startswith("DVC_")}
    proc = subprocess.Popen([sys.executable, "-m", "mlgate.cli.main", "monitor", "ui",
                             "--port", str(port)], cwd=tmp_path, env=env,
                            stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True)
    ui_pid = None
    try:
        line = proc.stdout.readline()
        assert "monitoring dashboard at http://127.0.0.1:" in line, line
        ui_pid = int(line.split("(pid ")[1].split(",")[0])  # printed once it answers
        started = time.monotonic()
        proc.send_signal(signal.SIGTERM)
        assert proc.wait(timeout=60) == 0
        assert wait_until(lambda: not group_alive(ui_pid), 30), "the UI outlived the command"
        assert time.monotonic() - started < 60
    finally:
        if proc.poll() is None:
            proc.kill()
        if ui_pid is not None and group_alive(ui_pid):  # never leave the UI behind
            signal_group(ui_pid, signal.SIGKILL)
