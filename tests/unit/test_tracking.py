"""Tracking: the store is anchored at the repository root, never the cwd."""

import os
from pathlib import Path

import pytest

from mlgate.adapters.tracking import artifact_location, dvc_tags, flatten, resolve_uri, tracking_uri
from mlgate.base.errors import ConfigError
from mlgate.base.params import repo_root

CFG = {"uri": "sqlite:///mlflow.db", "artifact_root": "mlartifacts", "experiment": "e"}


def test_relative_uris_anchor_at_root():
    root = Path("/repo")
    assert resolve_uri("sqlite:///mlflow.db", root) == "sqlite:////repo/mlflow.db"
    assert resolve_uri("sqlite:////abs/x.db", root) == "sqlite:////abs/x.db"
    assert resolve_uri("http://127.0.0.1:5000", root) == "http://127.0.0.1:5000"
    assert artifact_location(CFG, root) == "file:///repo/mlartifacts"


def test_dvc_root_wins_over_cwd(monkeypatch, tmp_path):
    real = tmp_path / "real"
    temp_copy = real / ".dvc" / "tmp" / "exps" / "tmp123"
    temp_copy.mkdir(parents=True)
    (temp_copy / "dvc.yaml").write_text("stages: {}\n")
    monkeypatch.chdir(temp_copy)
    monkeypatch.delenv("MLFLOW_TRACKING_URI", raising=False)
    monkeypatch.delenv("DVC_ROOT", raising=False)
    assert repo_root() == temp_copy
    monkeypatch.setenv("DVC_ROOT", str(real))
    assert tracking_uri(CFG) == f"sqlite:///{real}/mlflow.db"


def test_env_uri_overrides_config(monkeypatch):
    monkeypatch.setenv("MLFLOW_TRACKING_URI", "http://127.0.0.1:5999")
    assert tracking_uri(CFG) == "http://127.0.0.1:5999"


def test_bad_tracking_config(monkeypatch):
    monkeypatch.delenv("MLFLOW_TRACKING_URI", raising=False)
    with pytest.raises(ConfigError, match="tracking.url"):
        tracking_uri({"url": "x"})
    with pytest.raises(ConfigError, match="tracking.uri"):
        tracking_uri({"experiment": "x"})


def test_dvc_tags_only_where_dvc_sets_them(monkeypatch):
    monkeypatch.delenv("DVC_EXP_NAME", raising=False)
    monkeypatch.delenv("DVC_EXP_BASELINE_REV", raising=False)
    assert "dvc.exp_name" not in dvc_tags("train")
    monkeypatch.setenv("DVC_EXP_NAME", "lofty-lynx")
    monkeypatch.setenv("DVC_EXP_BASELINE_REV", "abc123")
    tags = dvc_tags("drift")
    assert tags["dvc.exp_name"] == "lofty-lynx" and tags["dvc.baseline_rev"] == "abc123"
    assert tags["mlgate.stage.drift"] == "done"


def test_flatten_nested_params():
    assert flatten({"a": {"b": 1, "c": {"d": [1, 2]}}, "e": {}}) == {
        "a.b": "1", "a.c.d": "[1, 2]", "e": "{}"}


@pytest.fixture
def store(tmp_path, monkeypatch):
    """A fresh SQLite MLflow store in tmp_path, with no DVC/MLflow variables inherited."""
    for var in ("MLFLOW_TRACKING_URI", "DVC_ROOT", "DVC_EXP_NAME", "DVC_EXP_BASELINE_REV"):
        monkeypatch.delenv(var, raising=False)
    monkeypatch.chdir(tmp_path)
    (tmp_path / "dvc.yaml").write_text("stages: {}\n")
    return {"uri": "sqlite:///mlflow.db", "artifact_root": "mlartifacts", "experiment": "t"}


def test_candidates_are_child_runs_and_reused_models_get_their_own_row(store, monkeypatch):
    import mlflow
    from sklearn.tree import DecisionTreeClassifier

    from mlgate.adapters.tracking import log_candidate, pipeline_run
    from mlgate.engines.training import Candidate

    cand = Candidate("dt", "Decision Tree", DecisionTreeClassifier(max_depth=3),
                     {"AUC": 0.7}, {"AUC": 0.01}, 1.5)
    monkeypatch.setenv("DVC_EXP_NAME", "exp-a")
    with pipeline_run(store, "train") as parent:
        mlflow.log_param("train.fold", "5")
        mlflow.log_metric("cv_auc", 0.7)
        child_id = log_candidate(cand)
    client = mlflow.MlflowClient()
    child = client.get_run(child_id)
    assert child.data.tags["mlflow.parentRunId"] == parent.info.run_id
    assert child.info.experiment_id == parent.info.experiment_id, "children in the same experiment"
    assert child.data.params["max_depth"] == "3" and child.data.metrics["cv_auc_std"] == 0.01
    run_info = {"run_id": parent.info.run_id}
    with pipeline_run(store, "drift", run_info) as same:
        assert same.info.run_id == parent.info.run_id, "same experiment: same row"
    monkeypatch.setenv("DVC_EXP_NAME", "exp-b")  # train skipped in exp-b: a new, linked row
    with pipeline_run(store, "drift", run_info) as other:
        mlflow.log_metric("drift_n_drifted", 2)
    with pipeline_run(store, "register", run_info) as again:
        assert again.info.run_id == other.info.run_id
    row = client.get_run(other.info.run_id)
    assert row.info.run_name == "exp-b" and row.data.tags["mlgate.model_run_id"] == run_info[
        "run_id"]
    assert row.data.params["train.fold"] == "5" and row.data.metrics["cv_auc"] == 0.7
    exp = client.get_experiment_by_name("t")
    assert exp.artifact_location == (Path.cwd() / "mlartifacts").as_uri()


def test_missing_model_run_is_a_clear_error(store):
    from mlgate.adapters.tracking import pipeline_run

    with pytest.raises(ConfigError, match=r"'nope' \(from models/run.json\) is not in the store"), \
            pipeline_run(store, "evaluate", {"run_id": "nope"}):
        pass


def test_runs_left_running_by_a_dead_stage_are_marked_killed(tmp_path):
    import socket
    import subprocess
    import sys

    import mlflow
    from mlflow import MlflowClient

    from mlgate.adapters.tracking import RUN_OWNER_TAG, mark_killed_runs

    mlflow.set_tracking_uri(f"sqlite:///{tmp_path / 'mlflow.db'}")
    exp = mlflow.create_experiment("reap", artifact_location=(tmp_path / "a").as_uri())
    client = MlflowClient()
    dead = subprocess.run([sys.executable, "-c", "import os; print(os.getpid())"],
                          capture_output=True, text=True, check=True).stdout.strip()
    host = socket.gethostname()
    owners = {"dead": f"{host}:{dead}", "alive": f"{host}:{os.getpid()}",
              "elsewhere": f"other-host:{dead}"}
    runs = {name: client.create_run(exp, tags={RUN_OWNER_TAG: owner}).info.run_id
            for name, owner in owners.items()}
    untagged = client.create_run(exp).info.run_id

    assert mark_killed_runs(exp) == [runs["dead"]]
    status = {name: client.get_run(rid).info.status for name, rid in runs.items()}
    assert status == {"dead": "KILLED", "alive": "RUNNING", "elsewhere": "RUNNING"}
    assert client.get_run(untagged).info.status == "RUNNING"


def test_a_dataset_logged_by_two_processes_at_once_is_retried_other_errors_are_not():
    from mlflow.exceptions import MlflowException

    from mlgate.adapters.tracking import retry_dataset_race

    calls = []

    def racing():
        calls.append(1)
        if len(calls) == 1:
            raise MlflowException("(sqlite3.IntegrityError) UNIQUE constraint failed: "
                                  "datasets.experiment_id, datasets.name, datasets.digest")
        return "logged"

    assert retry_dataset_race(racing) == "logged" and len(calls) == 2
    calls.clear()

    def broken():
        calls.append(1)
        raise MlflowException("No Experiment with id=1 exists")

    with pytest.raises(MlflowException, match="No Experiment"):
        retry_dataset_race(broken)
    assert len(calls) == 1
