"""Sweeps: queued DVC experiments on two workers all land in the repository's MLflow store."""

from __future__ import annotations

import json

import mlflow
import pytest
from mlflow import MlflowClient

from tests.e2e.conftest import BIN, Repo

pytestmark = [pytest.mark.e2e, pytest.mark.slow]  # ~3 min: opt-in, `make test-slow`

SWEEP = ["-S", "train.estimators=choice([lr],[dt])", "-S", "train.fold=2,3"]



def experiments(repo: Repo) -> dict[str, dict]:
    """{experiment name: its params.yaml data} from `dvc exp show --json`."""
    rows = json.loads(repo.dvc("exp", "show", "--json").stdout)
    out = {}
    for baseline in rows:
        for exp in baseline.get("experiments") or []:
            rev = exp["revs"][0]
            out[rev["name"]] = rev["data"]
    return out


def top_level_runs(repo: Repo) -> list:
    client = MlflowClient(tracking_uri=repo.tracking_uri())
    exp = client.get_experiment_by_name("mlgate")
    return [r for r in client.search_runs([exp.experiment_id])
            if "mlflow.parentRunId" not in r.data.tags]


def test_queued_sweep_on_two_workers_lands_in_the_repository_store(repo: Repo):
    repo.run(str(BIN / "mlgate"), "init-store")
    repo.dvc("exp", "run", "--queue", *SWEEP)
    repo.dvc("queue", "start", "-j", "2")
    status = repo.wait_for_queue()
    assert "Failed" not in status, status
    exps = experiments(repo)
    assert len(exps) == 4, exps.keys()
    runs = {r.info.run_name: r for r in top_level_runs(repo)}
    assert set(exps) <= set(runs), "every DVC experiment is an MLflow run named after it"
    mlflow.set_tracking_uri(repo.tracking_uri())
    seen = set()
    for name, data in exps.items():
        run = runs[name]
        params = data["params"]["params.yaml"]["data"]["train"]
        assert run.data.params["train.fold"] == str(params["fold"])
        assert run.data.tags["dvc.exp_name"] == name and "test_roc_auc" in run.data.metrics
        seen.add((run.data.params["train.estimators"], run.data.params["train.fold"]))
        model = mlflow.pyfunc.load_model(f"runs:/{run.info.run_id}/model")
        assert model.metadata.signature is not None
    assert len(seen) == 4, "four distinct parameter combinations"
    assert not (repo.path / ".dvc/tmp/exps/mlruns").exists()
