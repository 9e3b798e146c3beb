"""Concurrency: queued experiments on 2 workers against one SQLite MLflow store.

8 experiments (the issue's scenario, 3-5 min on 2 cores) are opt-in (`make test-slow`); the
same test with 2 experiments (~70 s) runs in `make test`, so every run of the suite has both
workers writing runs, models and registry decisions to one store at the same time.

Each experiment trains (a different `train.seed`), so each is a full pipeline execution with
its own MLflow run, logged model and registry decision, and the two workers write to the same
store and registry at the same time. None may be lost or corrupted.
"""

from __future__ import annotations

import json
import sqlite3
import warnings

import mlflow
import pytest
from mlflow import MlflowClient

from tests.e2e.conftest import BIN, Repo

pytestmark = pytest.mark.e2e

MODEL = "mlgate-randhie"


def experiments(repo: Repo) -> dict[str, dict]:
    """{experiment name: its train params} from `dvc exp show --json`."""
    out = {}
    for baseline in json.loads(repo.dvc("exp", "show", "--json").stdout):
        for exp in baseline.get("experiments") or []:
            rev = exp["revs"][0]
            out[rev["name"]] = rev["data"]["params"]["params.yaml"]["data"]["train"]
    return out


# Both opt-in since issue 18 (100 s for 2 in make test): make test keeps the registry race on
# two workers (tests/e2e/test_registry.py) and the dataset race's retry (test_tracking.py).
@pytest.mark.slow
@pytest.mark.parametrize("n", [2, 8])
def test_queued_experiments_on_two_workers(repo: Repo, n: int):
    repo.run(str(BIN / "mlgate"), "init-store")  # a brand-new SQLite store must exist first
    seeds = ",".join(str(s) for s in range(1, n + 1))
    repo.dvc("exp", "run", "--queue", "-S", "train.estimators=[lr]", "-S", f"train.seed={seeds}")
    repo.dvc("queue", "start", "-j", "2")
    status = rerun_lost_to_dvc(repo, repo.wait_for_queue(timeout=1800, poll=5), n)
    assert "Failed" not in status and status.count("Success") == n, status
    exps = experiments(repo)
    assert sorted(p["seed"] for p in exps.values()) == list(range(1, n + 1)), exps

    uri = repo.tracking_uri()
    client = MlflowClient(tracking_uri=uri, registry_uri=uri)
    exp_id = client.get_experiment_by_name("mlgate").experiment_id
    runs = {r.info.run_name: r for r in client.search_runs([exp_id])
            if "mlflow.parentRunId" not in r.data.tags}
    assert set(runs) == set(exps), "one MLflow run per experiment, named after it"
    check_runs(uri, exps, runs)
    check_registry(client, runs)
    with sqlite3.connect(repo.path / "mlflow.db") as db:
        assert db.execute("PRAGMA integrity_check").fetchall() == [("ok",)]
    check_snapshots(repo, set(exps))


def check_snapshots(repo: Repo, names: set[str]) -> None:
    """Each queued experiment's drift snapshot is in the repository root's workspace (not in
    the temporary copy it ran in), tagged with it and kept off the main dashboard."""
    def history(*flags: str) -> list[dict]:
        return json.loads(repo.run(str(BIN / "mlgate"), "monitor", "history", "--json",
                                   *flags).stdout)

    assert history() == [], "experiments never reach the main dashboard"
    assert sorted(r["experiment"] for r in history("--experiments")) == sorted(names)


def rerun_lost_to_dvc(repo: Repo, status: str, n: int) -> str:
    """Requeue, once and on one worker, the experiments DVC's queue lost before they started.

    With `-j 2`, DVC's queue sometimes fails a task before its first stage, without output
    logs (treeverse/dvc#10673, #8763: two workers racing for git refs). Such a task never ran
    mlgate code: it left no MLflow run and wrote nothing to the store, so it proves nothing
    about concurrent pipelines. Any other failure fails the test with the task's logs.
    """
    failed = [line.split() for line in status.splitlines() if line.split()[-1:] == ["Failed"]]
    if not failed:
        return status
    uri = repo.tracking_uri()
    named = {r.info.run_name for r in MlflowClient(tracking_uri=uri).search_runs(
        [MlflowClient(tracking_uri=uri).get_experiment_by_name("mlgate").experiment_id])}
    for task in failed:
        logs = repo.dvc("queue", "logs", task[0], check=False)
        ran = task[1] in named or (logs.returncode == 0 and bool(logs.stdout.strip()))
        if ran:
            return status  # it ran mlgate code: reported with its logs by the assertion
    seeds = sorted(set(range(1, n + 1)) - {p["seed"] for p in experiments(repo).values()})
    warnings.warn(f"DVC's queue lost {len(failed)} task(s) before they started "
                  f"(treeverse/dvc#10673); requeued seeds {seeds} on one worker", stacklevel=2)
    repo.dvc("queue", "remove", "--failed")
    repo.dvc("exp", "run", "--queue", "-S", "train.estimators=[lr]",
             "-S", f"train.seed={','.join(map(str, seeds))}")
    repo.dvc("queue", "start", "-j", "1")
    return repo.wait_for_queue(timeout=1800, poll=5)


def check_runs(uri: str, exps: dict, runs: dict) -> None:
    """Every run finished with its seed, CV and test metrics, gate tag and a loadable model."""
    mlflow.set_tracking_uri(uri)
    try:
        for name, train in exps.items():
            run = runs[name]
            assert run.info.status == "FINISHED", name
            assert run.data.params["train.seed"] == str(train["seed"])
            assert {"cv_auc", "test_roc_auc", "drift_share_drifted"} <= set(run.data.metrics)
            assert run.data.tags["mlgate.gate"] in ("champion", "challenger", "rejected")
            model = mlflow.pyfunc.load_model(f"runs:/{run.info.run_id}/model")
            assert model.metadata.signature is not None
    finally:
        mlflow.set_tracking_uri(None)


def check_registry(client: MlflowClient, runs: dict) -> None:
    """One passed version per registered run, no version twice, exactly one champion."""
    versions = client.search_model_versions(f"name = '{MODEL}'")
    registered = {r.info.run_id for r in runs.values() if r.data.tags["mlgate.gate"] != "rejected"}
    assert sorted(v.tags["run_id"] for v in versions) == sorted(registered)
    assert {v.tags["validation_status"] for v in versions} <= {"passed"}
    if registered:
        champion = client.get_model_version_by_alias(MODEL, "champion")
        assert champion.tags["run_id"] in registered
