"""Crash safety: `dvc repro` killed with SIGKILL in train, in register and in drift recovers.

One repository copy, one chain of runs (three kills, one full training): the first `dvc repro`
is killed while train is running, the second while register smoke-tests the version it has
just created, the third while drift writes its HTML report; each next `dvc repro` completes
the killed stage, and the last one the whole pipeline. After every kill no output exists
half-written under its real name and no alias points at an unverified version; at the end
`dvc status` is clean, the model was registered once (the interrupted registration resumed),
and every registered version loads.
"""

from __future__ import annotations

import hashlib
import json
import os
import signal
import subprocess
import time
from collections.abc import Callable
from pathlib import Path
from socket import gethostname

import mlflow
import pandas as pd
import pytest
import yaml
from mlflow import MlflowClient
from sklearn.linear_model import LogisticRegression

from tests.defaults import NO_BASELINE_NOR_LATENCY, gate_config
from tests.e2e.conftest import BIN, Repo, load

pytestmark = pytest.mark.e2e

MODEL = "mlgate-randhie"
STAGES = ["ingest", "validate", "split", "train", "evaluate", "register", "score", "drift"]


def start_repro(repo: Repo, log: Path) -> subprocess.Popen:
    """`dvc repro` in its own process group: killing the group kills DVC and the launcher."""
    with log.open("w") as out:
        return subprocess.Popen([str(BIN / "dvc"), "repro"], cwd=repo.path, env=repo.env,
                                stdout=out, stderr=subprocess.STDOUT, start_new_session=True)


def kill_when(proc: subprocess.Popen, ready: Callable[[], bool], what: str, log: Path,
              repo: Repo) -> None:
    """Poll `ready` until it holds, then SIGKILL the whole process group.

    The stage itself runs in a child of the preload server (`python -m mlgate.supervise.launch`
    is the stage cmd); the server must kill it, and its children, as soon as the launcher dies.
    """
    deadline = time.monotonic() + 600
    while time.monotonic() < deadline:
        if ready():
            os.killpg(proc.pid, signal.SIGKILL)
            proc.wait()
            stage_gone(repo, what)
            return
        if proc.poll() is not None:
            raise AssertionError(f"dvc repro exited {proc.returncode} before {what}:\n"
                                 f"{log.read_text()[-3000:]}")
        time.sleep(0.05)
    os.killpg(proc.pid, signal.SIGKILL)
    raise AssertionError(f"timed out waiting for {what}")


def stage_gone(repo: Repo, what: str) -> None:
    """Within 5 s of the kill no process works in the copy any more (stage, smoke test)."""
    deadline = time.monotonic() + 5
    while left := repo_processes(repo):
        if time.monotonic() > deadline:
            raise AssertionError(f"still running after the kill at {what}: {left}")
        time.sleep(0.05)


def repo_processes(repo: Repo, needle: str = "") -> dict[int, str]:
    """{pid: command line} of live processes whose cwd is the copy, with `needle` in it."""
    found = {}
    for entry in Path("/proc").iterdir():
        try:
            if entry.name.isdigit() and Path(os.readlink(entry / "cwd")) == repo.path:
                cmd = (entry / "cmdline").read_bytes().replace(b"\0", b" ").decode()
                if needle in cmd:
                    found[int(entry.name)] = cmd
        except OSError:
            continue  # ended meanwhile, a zombie, or not ours
    return found


def ran(log: Path) -> list[str]:
    return [s for s in STAGES if f"Running stage '{s}'" in log.read_text()]


def client(repo: Repo) -> MlflowClient:
    return MlflowClient(tracking_uri=repo.tracking_uri(), registry_uri=repo.tracking_uri())


def registry(repo: Repo) -> tuple[dict[str, dict], dict[str, str]]:
    """({version: tags}, {alias: version}) of the pipeline's registered model."""
    c = client(repo)
    versions = {str(v.version): dict(v.tags) for v in c.search_model_versions(f"name = '{MODEL}'")}
    aliases = {k: str(v) for k, v in c.get_registered_model(MODEL).aliases.items()}
    return versions, aliases


def locked_outputs(repo: Repo, stages: list[str]) -> dict[str, str]:
    """{file: md5} of the file outputs dvc.lock records for `stages` (directories aside)."""
    lock = yaml.safe_load((repo.path / "dvc.lock").read_text())["stages"]
    return {o["path"]: o["md5"] for s in stages for o in lock[s].get("outs", [])
            if not o["md5"].endswith(".dir")}


def check_recorded_outputs_intact(repo: Repo, upto: str) -> None:
    """What DVC recorded for the stages completed so far (up to `upto`) is exactly what is on
    disk: no partial file. (The copy's dvc.lock holds the source repository's entries for the
    stages not rerun yet.)"""
    for rel, digest in locked_outputs(repo, STAGES[:STAGES.index(upto) + 1]).items():
        path = repo.path / rel
        assert path.exists() and hashlib.md5(path.read_bytes()).hexdigest() == digest, rel


def test_kill_9_in_train_register_and_drift_then_repro_recovers(repo: Repo, tmp_path: Path):
    # 1. Killed in train, after its MLflow run has started (params logged, CV under way).
    log = tmp_path / "repro-1.log"
    proc = start_repro(repo, log)
    kill_when(proc, lambda: any(repo.path.glob("mlartifacts/*/artifacts/params.yaml")),
              "train started its MLflow run", log, repo)
    assert ran(log)[-1] == "train", log.read_text()[-2000:]
    killed_run = next(repo.path.glob("mlartifacts/*/artifacts/params.yaml")).parents[1].name
    assert client(repo).get_run(killed_run).info.status == "RUNNING", "killed mid-run"
    for rel in ("models/model.pkl", "models/run.json", "reports/train.json"):
        assert not (repo.path / rel).exists(), f"{rel} written by a killed train"

    # 2. Train completes; killed in register while the new version is being smoke-tested.
    log = tmp_path / "repro-2.log"
    proc = start_repro(repo, log)
    kill_when(proc, lambda: bool(repo_processes(repo, "mlgate.adapters.smoke")),
              "register's smoke test", log, repo)
    assert ran(log) == ["train", "evaluate", "register"], log.read_text()[-2000:]
    run_info = json.loads((repo.path / "models/run.json").read_text())
    assert run_info["run_id"] != killed_run
    assert client(repo).get_run(killed_run).info.status == "KILLED", "the new train reaps it"
    assert client(repo).get_run(run_info["run_id"]).info.status == "RUNNING"  # register reopened
    versions, aliases = registry(repo)
    assert {v: t["validation_status"] for v, t in versions.items()} == {"1": "pending"}
    assert aliases == {}, "no alias may point at a version whose smoke test did not finish"
    assert not (repo.path / "reports/gate.json").exists()
    check_recorded_outputs_intact(repo, "evaluate")

    # 3. Register resumes v1 (no second registration); killed while drift writes its HTML.
    log = tmp_path / "repro-3.log"
    proc = start_repro(repo, log)
    kill_when(proc, lambda: any((repo.path / "reports").glob(".drift.html.*.tmp")),
              "drift writing reports/drift.html", log, repo)
    assert ran(log) == ["register", "score", "drift"], log.read_text()[-2000:]
    assert "registration was interrupted; resuming it" in log.read_text()
    gate = json.loads((repo.path / "reports/gate.json").read_text())
    assert (gate["decision"], gate["registered_version"]) == ("champion", "1")
    assert registry(repo)[1] == {"champion": "1"}
    assert not (repo.path / "reports/drift.html").exists(), "half-written HTML under its name"
    assert not (repo.path / "reports/drift.json").exists()
    check_recorded_outputs_intact(repo, "score")

    # 4. The next repro completes; DVC sees a clean, complete pipeline.
    last = repo.dvc("repro")
    assert "Running stage 'drift'" in last.stdout and "Running stage 'train'" not in last.stdout
    assert "up to date" in repo.dvc("status").stdout
    check_recorded_outputs_intact(repo, "drift")
    check_registry_loads(repo, killed_run)


def check_registry_loads(repo: Repo, killed_run: str) -> None:
    """One version, passed and @champion; every version's model loads and predicts."""
    versions, aliases = registry(repo)
    assert list(versions) == ["1"] and aliases == {"champion": "1"}
    test = load(repo, "data/processed/test.parquet").drop(columns=["binexp"])
    mlflow.set_tracking_uri(repo.tracking_uri())
    try:
        for version, tags in versions.items():
            assert tags["validation_status"] == "passed" and tags["smoke_test"] == "passed"
            assert tags["run_id"] != killed_run
            model = mlflow.pyfunc.load_model(f"models:/{MODEL}/{version}")
            assert len(model.predict(test)) == len(test)
    finally:
        mlflow.set_tracking_uri(None)


def test_an_interrupted_registration_is_resumed_and_orphans_are_marked(tmp_path, monkeypatch):
    """The registry side in isolation: `pending` versions left by dead registering processes."""
    from mlgate.adapters.promotion import GateCandidate, run_gate
    from mlgate.adapters.registry import register_version
    from mlgate.adapters.tracking import log_model
    from mlgate.core.gate import CHAMPION

    uri = f"sqlite:///{tmp_path / 'mlflow.db'}"
    monkeypatch.delenv("MLFLOW_TRACKING_URI", raising=False)
    monkeypatch.setenv("DVC_ROOT", str(tmp_path))  # the registry lock lives here
    monkeypatch.setattr("mlgate.adapters.promotion.smoke_test", lambda uri, tracking: SmokeOk())
    X = pd.DataFrame({"a": [0.0, 1.0, 2.0, 3.0], "b": [1.0, 0.0, 1.0, 0.0]})
    mlflow.set_tracking_uri(uri)
    try:
        with mlflow.start_run():
            ours, other, live = (log_model(LogisticRegression().fit(X, [0, 0, 1, 1]), X).model_uri
                                 for _ in range(3))
        for source in (other, ours):  # two registrations that died before their smoke test
            register_version(source, "m-crash", {"validation_status": "pending"})
        register_version(live, "m-crash", {"validation_status": "pending",  # still running
                                           "registration.owner": f"{gethostname()}:{os.getpid()}"})
        cfg = gate_config({**NO_BASELINE_NOR_LATENCY, "model_name": "m-crash",
                           "thresholds": {"roc_auc": {"min": 0.5}}})
        outcome = run_gate(cfg, GateCandidate(ours, "run", {"roc_auc": 0.8}), lambda: None, uri)[1]
        found = {str(v.version): v for v in MlflowClient().search_model_versions("name='m-crash'")}
        aliases = {k: str(v) for k, v in
                   MlflowClient().get_registered_model("m-crash").aliases.items()}
    finally:
        mlflow.set_tracking_uri(None)
    assert (outcome.decision, outcome.version) == (CHAMPION, "2"), "resumed, not re-registered"
    assert sorted(found) == ["1", "2", "3"] and aliases == {"champion": "2"}
    assert found["2"].tags["validation_status"] == "passed"
    assert found["1"].tags["validation_status"] == "interrupted"
    assert found["1"].tags["smoke_test"].startswith("interrupted: the registering process died")
    assert found["3"].tags["validation_status"] == "pending", "its owner is alive: left alone"


class SmokeOk:
    """A passing smoke-test result (the real one, in a fresh process, runs in the chain above)."""

    ok = True
    detail = "ok"
