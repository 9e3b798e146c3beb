"""End to end: the real `dvc repro` / `dvc exp run` on tiny data in a copy of the repository."""

from __future__ import annotations

import json
from pathlib import Path

import mlflow
import pandas as pd
import pytest
from mlflow import MlflowClient

from mlgate.adapters.tracking import file_md5
from tests.e2e.conftest import BIN, SAMPLE_ROWS, Repo, load

pytestmark = pytest.mark.e2e

STAGES = ["ingest", "validate", "split", "train", "evaluate", "register", "drift"]
MODEL = "mlgate-randhie"


def ran(output: str) -> list[str]:
    """Stages DVC actually ran (not skipped or restored from the run-cache)."""
    return [s for s in STAGES if f"Running stage '{s}'" in output]


def report(repo: Repo, name: str) -> dict:
    return json.loads((repo.path / "reports" / name).read_text())


def registry(repo: Repo) -> tuple[list[str], str]:
    """(all versions, champion version) of the registered model."""
    client = MlflowClient(tracking_uri=repo.tracking_uri(), registry_uri=repo.tracking_uri())
    versions = sorted(str(v.version) for v in client.search_model_versions(f"name='{MODEL}'"))
    return versions, str(client.get_model_version_by_alias(MODEL, "champion").version)


def check_first_run(repo: Repo, out: str) -> None:
    assert ran(out) == STAGES, out
    for rel in ("data/raw/dataset.parquet", "data/processed/train.parquet", "models/model.pkl",
                "reports/drift.html", "reports/plots/roc.json", "reports/plots/confusion.csv",
                "reports/figures/shap_summary.png", "reports/figures/roc.png"):
        assert (repo.path / rel).stat().st_size > 0, rel
    parts = [load(repo, f"data/processed/{p}.parquet") for p in ("train", "test", "current")]
    assert sum(map(len, parts)) == SAMPLE_ROWS and all("year" not in p for p in parts)
    metrics = report(repo, "metrics.json")
    assert 0.6 < metrics["roc_auc"] <= 1.0
    gate = report(repo, "gate.json")
    assert gate["decision"] == "champion" and gate["registered_version"] == "1"
    drift = report(repo, "drift.json")
    assert drift["n_columns"] == 30 and "binexp" not in drift["columns"]
    assert (repo.path / "mlartifacts").is_dir() and not (repo.path / "mlruns").exists()


def pipeline_runs(repo: Repo) -> list:
    """Top-level MLflow runs (one per pipeline execution), newest first."""
    client = MlflowClient(tracking_uri=repo.tracking_uri())
    exp = client.get_experiment_by_name("mlgate")
    return [r for r in client.search_runs([exp.experiment_id])
            if "mlflow.parentRunId" not in r.data.tags]


def check_mlflow_run(repo: Repo) -> None:
    client = MlflowClient(tracking_uri=repo.tracking_uri())
    runs = pipeline_runs(repo)
    assert len(runs) == 1, "train, evaluate, register and drift share one MLflow run"
    run = runs[0]
    assert run.data.params["train.fold"] == "3" and run.data.params["data.target"] == "binexp"
    for key in ("cv_auc", "test_roc_auc", "test_log_loss", "drift_share_drifted"):
        assert key in run.data.metrics, key
    assert run.data.tags["mlgate.gate"] == "champion"
    assert {f"mlgate.stage.{s}" for s in ("train", "evaluate", "register", "drift")} <= set(
        run.data.tags)
    assert {"mlgate.md5.train_data", "mlgate.md5.params_yaml", "git.commit"} <= set(run.data.tags)
    nested = client.search_runs([run.info.experiment_id],
                                f"tags.`mlflow.parentRunId` = '{run.info.run_id}'")
    children = [c for c in nested if "mlgate.candidate" in c.data.tags]
    # MLflow's evaluation of the baseline predictor (no champion yet) has a run of its own
    assert [c.info.run_name for c in nested if c.data.tags.get("mlgate.role") == "comparison"
            ] == ["baseline predictor on this test set"]
    assert sorted(c.data.tags["mlgate.candidate"] for c in children) == ["dt", "lr"]
    assert [c.data.tags.get("mlgate.selected") for c in children].count("true") == 1
    assert all("cv_auc" in c.data.metrics for c in children)
    artifacts = {a.path for a in client.list_artifacts(run.info.run_id)}
    assert {"params.yaml", "figures", "leaderboard.csv"} <= artifacts
    # MLflow's evaluator logs its figures; mlgate's SHAP figures and explanation beside them
    assert {"roc_curve_plot.png", "confusion_matrix.png", "explain.json"} <= artifacts
    figures = {a.path for a in client.list_artifacts(run.info.run_id, "figures")}
    assert {"figures/shap_summary.png", "figures/feature_importance.png"} <= figures
    contexts = {i.dataset.name: {t.key: t.value for t in i.tags}
                for i in run.inputs.dataset_inputs}
    assert {k: v["mlflow.data.context"] for k, v in contexts.items()} == {
        "train": "training", "test": "evaluation", "current": "scoring"}
    assert contexts["test"]["dvc.md5"] == file_md5(repo.path / "data/processed/test.parquet")
    card = client.get_model_version(MODEL, "1").description
    assert card.startswith("**Decision: champion.**") and "### Top features" in card
    assert "| roc_auc_min |" in card and "| mlflow |" in card
    mlflow.set_tracking_uri(repo.tracking_uri())
    model = mlflow.pyfunc.load_model(f"models:/{MODEL}@champion")
    test = load(repo, "data/processed/test.parquet")
    assert len(model.predict(test.drop(columns=["binexp"]))) == len(test)


def test_pipeline_end_to_end(repo: Repo):
    check_first_run(repo, repo.dvc("repro").stdout)
    check_mlflow_run(repo)
    assert registry(repo) == (["1"], "1")

    again = repo.dvc("repro")
    assert ran(again.stdout) == [] and "Data and pipelines are up to date" in again.stdout

    drift_only = repo.dvc("exp", "run", "-S", "drift.drift_share=0.99")
    assert ran(drift_only.stdout) == ["drift"], drift_only.stdout
    assert report(repo, "drift.json")["drift_share_threshold"] == 0.99
    check_monitoring(repo)
    newest, first = pipeline_runs(repo)
    assert newest.data.tags["mlgate.model_run_id"] == first.info.run_id, (
        "an experiment that reuses the model still gets its own MLflow row, linked to it")
    assert newest.data.tags["dvc.exp_name"] == newest.info.run_name
    assert "drift_share_drifted" in newest.data.metrics and "cv_auc" in newest.data.metrics

    strict = repo.dvc("exp", "run", "-S", "gate.thresholds.roc_auc.min=0.999")
    assert "train" not in ran(strict.stdout) and "register" in ran(strict.stdout)
    gate = report(repo, "gate.json")
    assert gate["decision"] == "rejected" and "roc_auc" in gate["reasons"][0]
    assert registry(repo) == (["1"], "1"), "a rejected model must not touch the registry"
    check_run_cache_restore(repo, first.info.run_id)


def check_monitoring(repo: Repo) -> None:
    """The pipeline's batch is one main snapshot; the experiment's is tagged and kept apart."""
    def history(*flags: str) -> list[dict]:
        return json.loads(repo.run(str(BIN / "mlgate"), "monitor", "history", "--json",
                                   *flags).stdout)

    main = history()
    assert [(r["batch"], r["model_version"], r["experiment"]) for r in main] == [
        ("year >= 4", "1", "")]
    assert main[0]["action"] in ("none", "retrain", "investigate")
    assert main[0]["metric"].startswith("accuracy "), "the current batch is labelled"
    every = history("--experiments")
    assert len(every) == 2 and every[1]["experiment"], every
    assert (repo.path / "monitoring").is_dir(), "the workspace is at the repository root"


def check_run_cache_restore(repo: Repo, first_run_id: str) -> None:
    """An experiment DVC restores from its run-cache still points to the run that produced it."""
    retrained = repo.dvc("exp", "run", "-S", "train.fold=2")
    assert "train" in ran(retrained.stdout)
    assert json.loads((repo.path / "models/run.json").read_text())["run_id"] != first_run_id
    restored = repo.dvc("exp", "run")  # back to the committed params
    assert "Stage 'train' is cached" in restored.stdout, restored.stdout
    assert "train" not in ran(restored.stdout)
    assert json.loads((repo.path / "models/run.json").read_text())["run_id"] == first_run_id
    mlflow.set_tracking_uri(repo.tracking_uri())
    assert mlflow.pyfunc.load_model(f"runs:/{first_run_id}/model").metadata.signature


def test_bad_dtype_fails_at_validate_and_registry_is_untouched(ran_repo: Repo):
    repo = ran_repo
    csv = repo.path / "data/external/tiny.csv"
    df = pd.read_csv(csv).astype({"income": object})
    df.loc[0, "income"] = "unknown"
    df.to_csv(csv, index=False)
    bad = repo.dvc("repro", check=False)
    assert bad.returncode != 0
    assert "income: dtype (expected numeric, found object)" in bad.stderr + bad.stdout
    assert ran(bad.stdout) == ["ingest", "validate"]
    assert registry(repo) == (["1"], "1")


@pytest.mark.parametrize(("mutate", "stage", "message"), [
    (lambda df: df.drop(columns=["binexp"]), "validate", "binexp: required (column is missing)"),
    (lambda df: df.head(0), "ingest", "table is empty"),
    (None, "ingest", "data.source: file not found"),
])
def test_bad_input_fails_early_with_clear_message(repo: Repo, randhie, mutate, stage, message):
    csv = repo.path / "data/external/tiny.csv"
    if mutate is None:
        csv.unlink()
    else:
        mutate(randhie.sample(600, random_state=1)).to_csv(csv, index=False)
    bad = repo.dvc("repro", check=False)
    assert bad.returncode != 0
    assert message in bad.stderr + bad.stdout
    assert ran(bad.stdout)[-1] == stage
    assert not (repo.path / "mlflow.db").exists(), "nothing may reach MLflow or the registry"


def test_regression_task_end_to_end(repo: Repo):
    out = repo.dvc("exp", "run", "-S", "task=regression")
    assert {"train", "evaluate", "register"} <= set(ran(out.stdout)), out.stdout
    metrics = report(repo, "metrics.json")
    assert set(metrics) == {"rmse", "mae", "r2", "mape"} and metrics["rmse"] > 0
    assert report(repo, "train.json")["task"] == "regression"
    assert {p.name for p in (repo.path / "reports/figures").iterdir()} == {
        "residuals.png", "actual_vs_predicted.png", "feature_importance.png", "shap_summary.png"}
    assert report(repo, "explain.json")["classes"] is None
    train = load(repo, "data/processed/train.parquet")
    assert "binexp" not in train and train.lnmeddol.notna().all()
    run = pipeline_runs(repo)[0]
    assert run.data.params["task.type"] == "regression" and "test_rmse" in run.data.metrics
    # the logged model loads with pyfunc in a fresh process and predicts on a DataFrame
    script = (
        "import sys, mlflow, pandas as pd\n"
        "mlflow.set_tracking_uri(sys.argv[1])\n"
        "m = mlflow.pyfunc.load_model(f'runs:/{sys.argv[2]}/model')\n"
        "X = pd.read_parquet('data/processed/test.parquet').drop(columns=['lnmeddol'])\n"
        "p = m.predict(X.iloc[:, ::-1])\n"
        "print(len(p), float(p.mean()))\n")
    fresh = repo.run(str(BIN / "python"), "-c", script, repo.tracking_uri(), run.info.run_id)
    n, mean = fresh.stdout.split()
    test = load(repo, "data/processed/test.parquet")
    assert int(n) == len(test) and abs(float(mean) - test.lnmeddol.mean()) < 0.5


def test_classification_model_exposes_probabilities_from_the_run(ran_repo: Repo):
    repo = ran_repo
    run_id = json.loads((repo.path / "models/run.json").read_text())["run_id"]
    mlflow.set_tracking_uri(repo.tracking_uri())
    model = mlflow.pyfunc.load_model(f"runs:/{run_id}/model")
    X = load(repo, "data/processed/test.parquet").drop(columns=["binexp"])
    proba = model.get_raw_model().predict_proba(X)
    assert proba.shape == (len(X), 2) and abs(proba.sum(axis=1) - 1).max() < 1e-9
    assert set(model.predict(X)) <= {0, 1}


def test_feature_changes_rerun_training_and_sweep_like_any_param(ran_repo: Repo):
    """A changed mapping file is a changed dep of train only; `dvc exp run -S features...`
    adds and removes rules, and the MLflow run records them."""
    repo = ran_repo
    mapping = repo.path / "data/mappings/coins_tier.csv"
    mapping.write_text(mapping.read_text().replace("95,high", "95,partial"))
    status = repo.dvc("status").stdout
    assert "train:" in status and "modified:           data/mappings" in status, status
    assert not any(f"{s}:" in status for s in ("ingest", "validate", "split")), status
    repo.commit("coins 95 % is partial cost sharing")
    out = repo.dvc("exp", "run", "-S", "features.derive.income_per_person=null",
                   "-S", "+features.derive.income_k='income / 1000'").stdout
    assert ran(out)[:1] == ["train"], out
    run_id = json.loads((repo.path / "models/run.json").read_text())["run_id"]
    client = MlflowClient(tracking_uri=repo.tracking_uri())
    params = client.get_run(run_id).data.params
    assert params["features.derive.income_k"] == "income / 1000"
    assert params["features.derive.income_per_person"] == "None"
    logged = client.download_artifacts(run_id, "features.json", str(repo.path / "tmp"))
    rules = json.loads(Path(logged).read_text())["rules"]
    assert [r["key"] for r in rules] == ["features.lookup.cost_sharing",
                                         "features.derive.income_k", "features.group_rare.plan"]
