"""End to end: the score and drift stages, `mlgate predict` / `drift` / `retrain`, bad batches."""

from __future__ import annotations

import hashlib
import json
import re

import mlflow
import pandas as pd
import pytest
import yaml
from mlflow import MlflowClient

from mlgate.core.drift import ACTIONS, DriftConfig, decide_action
from mlgate.core.scoring import MODEL_URI, PREDICTION, PROBABILITY
from tests.e2e.conftest import BIN, Repo, load

pytestmark = pytest.mark.e2e

MODEL = "mlgate-randhie"
CURRENT = "data/processed/current.parquet"
SCORED = "data/predictions/current.parquet"


def report(repo: Repo, name: str) -> dict:
    return json.loads((repo.path / "reports" / name).read_text())


def mlgate(repo: Repo, *args: str, check: bool = True):
    return repo.run(str(BIN / "mlgate"), *args, check=check)


def digest(repo: Repo, rel: str) -> str:
    return hashlib.md5((repo.path / rel).read_bytes()).hexdigest()


def client(repo: Repo) -> MlflowClient:
    return MlflowClient(tracking_uri=repo.tracking_uri(), registry_uri=repo.tracking_uri())


def champion(repo: Repo):
    """The version holding @champion, or None."""
    try:
        return client(repo).get_model_version_by_alias(MODEL, "champion")
    except Exception:  # no registered model or no alias yet
        return None


def check_scored(repo: Repo, score: dict) -> None:
    current, scored = load(repo, CURRENT), load(repo, SCORED)
    assert len(scored) == len(current) == score["n_rows"] > 0
    assert list(scored.columns[-3:]) == [PREDICTION, PROBABILITY, MODEL_URI]
    assert list(scored.columns[:-3]) == list(current.columns)  # 30 features + the label
    assert set(scored[PREDICTION]) <= {0, 1} and scored[PROBABILITY].between(0, 1).all()
    assert (scored[MODEL_URI] == score["model_uri"]).all()
    reference = load(repo, "data/predictions/reference.parquet")
    assert len(reference) == len(load(repo, "data/processed/train.parquet"))


def check_drift(repo: Repo, params: dict, stderr: str) -> dict:
    drift = report(repo, "drift.json")
    assert drift["n_columns"] == 30 and "binexp" not in drift["columns"]
    assert set(drift["prediction_drift"]) == {PREDICTION, PROBABILITY}
    assert set(drift["target_drift"]) == {"binexp"}  # the current batch has labels
    cfg = DriftConfig.from_params(params["drift"])
    assert drift["action"] in ACTIONS
    assert (drift["action"], drift["action_reasons"]) == decide_action(drift, cfg)
    logged = [ln for ln in stderr.splitlines() if " mlgate" in ln]
    assert f"drift verdict: {drift['verdict']}, action: {drift['action']}" in logged[-1]
    return drift


def check_tracking(repo: Repo, drift: dict) -> None:
    run_id = json.loads((repo.path / "models/run.json").read_text())["run_id"]
    run = client(repo).get_run(run_id)
    assert run.data.tags["mlgate.drift_action"] == drift["action"]
    assert run.data.metrics["drift_action_level"] == ACTIONS.index(drift["action"])
    assert {"drift.html", "drift.json", "score.json", "reference"} <= {
        a.path for a in client(repo).list_artifacts(run_id)}
    stored = {a.path for a in client(repo).list_artifacts(run_id, "reference")}
    assert stored == {"reference/reference.parquet", "reference/profile.json"}


def ensure_champion(repo: Repo) -> str:
    """The champion's version; registers the trained model when the tiny-data gate refused it."""
    mv = champion(repo)
    if mv is None:
        mlflow.set_tracking_uri(repo.tracking_uri())
        model_uri = json.loads((repo.path / "models/run.json").read_text())["model_uri"]
        mv = mlflow.register_model(model_uri, MODEL)
        client(repo).set_registered_model_alias(MODEL, "champion", mv.version)
        repo.dvc("repro", "--single-item", "-f", "score")
        repo.dvc("repro")  # drift follows the new scores
    return str(mv.version)


def check_commands(repo: Repo, drift_stage: dict) -> None:
    """predict and drift --current agree with the stages (same model, same stored reference)."""
    out = mlgate(repo, "predict", "--input", CURRENT, "--output", "preds.csv")
    assert "scored" in out.stdout and "preds.csv" in out.stdout
    pd.testing.assert_frame_equal(pd.read_csv(repo.path / "preds.csv"), load(repo, SCORED),
                                  check_dtype=False)
    checked = mlgate(repo, "drift", "--current", CURRENT, "--json", "adhoc.json")
    adhoc = json.loads((repo.path / "adhoc.json").read_text())
    for key in ("share_drifted", "n_drifted", "verdict", "action"):
        assert adhoc[key] == drift_stage[key], key
    assert checked.stdout.strip().splitlines()[-1].startswith(
        f"drift verdict: {adhoc['verdict']}, action: {adhoc['action']}")
    failing = mlgate(repo, "drift", "--current", CURRENT, "--fail-on", "retrain", check=False)
    assert failing.returncode == (1 if adhoc["action"] != "none" else 0)
    snapshots = json.loads(mlgate(repo, "monitor", "history", "--json").stdout)
    by_name = {row["batch"]: row for row in snapshots}
    assert set(by_name) == {"year >= 4", "current.parquet"}, (
        "the stage's batch and the checked file's; checking the file twice replaced it")
    assert by_name["current.parquet"]["action"] == adhoc["action"]
    assert by_name["current.parquet"]["model_version"] == str(adhoc["model_version"])


BAD_BATCHES = [
    (lambda df: df.drop(columns=["income"]),
     "missing column(s) the model was trained on: `income`"),
    (lambda df: df.assign(site=df["site"].where(df.index > 2, 99)), "`site`: unseen category 99"),
    (lambda df: df.assign(income=df["income"].astype(str).where(df.index > 0, "unknown")),
     "`income`: expected float, found object (e.g. 'unknown')"),
    # the model's own feature rule (features.lookup, unmapped: error) refuses the batch
    (lambda df: df.assign(coins=df["coins"].where(df.index > 0, 33)),
     "`features.lookup.cost_sharing`: 1 value(s) of `coins` are not in "
     "data/mappings/coins_tier.csv, e.g. ['33']"),
]


def check_bad_batches(repo: Repo) -> None:
    """Bad batches fail the score stage naming the column and leave the predictions alone."""
    good, before = load(repo, CURRENT), digest(repo, SCORED)
    for mutate, message in BAD_BATCHES:
        mutate(good).to_parquet(repo.path / CURRENT, index=False)
        bad = repo.dvc("repro", "--single-item", "score", check=False)
        assert bad.returncode != 0
        assert message in bad.stderr + bad.stdout
        assert "Traceback" not in bad.stderr, bad.stderr[-2000:]
        # DVC removes a stage's outputs before running it: gone or untouched, never partial
        scored = repo.path / SCORED
        assert not scored.exists() or digest(repo, SCORED) == before
        assert [p.name for p in scored.parent.iterdir() if p.suffix == ".tmp"] == []
    good[good.columns[::-1]].to_parquet(repo.path / CURRENT, index=False)
    repo.dvc("repro", "--single-item", "score")
    pd.testing.assert_frame_equal(load(repo, SCORED), pd.read_csv(repo.path / "preds.csv"),
                                  check_dtype=False)  # reordered columns are aligned
    good.assign(note="x").to_csv(repo.path / "extra.csv", index=False)
    extra = mlgate(repo, "predict", "--input", "extra.csv", "--output", "x.csv", check=False)
    assert extra.returncode == 1 and "not trained on: `note`" in extra.stderr
    assert not (repo.path / "x.csv").exists()


def test_score_and_drift(repo: Repo) -> None:
    params = yaml.safe_load((repo.path / "params.yaml").read_text())
    first = repo.dvc("repro")
    assert "Running stage 'score'" in first.stdout and "Running stage 'drift'" in first.stdout
    score = report(repo, "score.json")
    mv = champion(repo)
    assert score["model_source"] == ("registry" if mv else "file")
    check_scored(repo, score)
    check_tracking(repo, check_drift(repo, params, first.stderr))

    version = ensure_champion(repo)
    score = report(repo, "score.json")
    assert (score["model_source"], score["model_version"]) == ("registry", version)
    assert score["model_uri"] == f"models:/{MODEL}/{version}"
    check_scored(repo, score)
    check_commands(repo, report(repo, "drift.json"))
    check_explained(repo, params)
    check_bad_batches(repo)
    check_fail_on(repo, params)


def check_explained(repo: Repo, params: dict) -> None:
    """score.explain.top_k adds each row's reasons; `mlgate explain` gives the same ones."""
    params = {**params, "score": {**params["score"], "explain": {"top_k": 2}}}
    (repo.path / "params.yaml").write_text(yaml.safe_dump(params, sort_keys=False))
    repo.dvc("repro", "--single-item", "score")
    scored = load(repo, SCORED)
    reasons = ["reason_1", "reason_1_value", "reason_1_contribution", "reason_2",
               "reason_2_value", "reason_2_contribution"]
    assert list(scored.columns[-6:]) == reasons
    assert (scored.reason_1_contribution.abs() >= scored.reason_2_contribution.abs()).all()
    assert set(scored.reason_1) <= set(load(repo, CURRENT).columns) | {
        "income_per_person", "cost_sharing"}  # a raw column, or a declared feature
    out = mlgate(repo, "explain", "--input", CURRENT, "--top-k", "2", "--output", "why.csv")
    assert "explained" in out.stdout
    why = pd.read_csv(repo.path / "why.csv")
    assert list(why.reason_1) == list(scored.reason_1)
    assert why.reason_1_contribution.tolist() == pytest.approx(
        scored.reason_1_contribution.tolist(), abs=1e-6)
    printed = mlgate(repo, "explain", "--input", CURRENT, "--top-k", "1", "--rows", "2")
    lines = printed.stdout.strip().splitlines()
    assert lines[0].startswith("row 0: prediction ") and len(lines) == 3
    params["score"]["explain"]["top_k"] = 0
    (repo.path / "params.yaml").write_text(yaml.safe_dump(params, sort_keys=False))
    repo.dvc("repro", "--single-item", "score")


def check_fail_on(repo: Repo, params: dict) -> None:
    """drift.fail_on=retrain fails the stage at retrain or worse, verdict and action last."""
    params["drift"]["fail_on"] = "retrain"
    (repo.path / "params.yaml").write_text(yaml.safe_dump(params, sort_keys=False))
    proc = repo.dvc("repro", "--single-item", "drift", check=False)
    drift = report(repo, "drift.json")
    assert (proc.returncode != 0) == (drift["action"] != "none")
    last = [ln for ln in proc.stderr.splitlines() if re.match(r"[\d:]{8} mlgate", ln)][-1]
    assert f"drift verdict: {drift['verdict']}, action: {drift['action']}" in last
    if proc.returncode:
        assert "stage drift failed" in last and last.endswith("[drift.fail_on=retrain]")


@pytest.mark.slow
def test_retrain_folds_the_batch_into_training(repo: Repo) -> None:
    repo.dvc("repro")
    current = len(load(repo, CURRENT))
    repo.dvc("exp", "run", "-S", "drift.actions.investigate=1.0", "-S",
             "drift.actions.retrain=0.01")  # whatever the tiny data shows: retrain
    assert report(repo, "drift.json")["action"] == "retrain"
    dry = mlgate(repo, "retrain", "--dry-run")
    assert dry.stdout.strip() == "dvc exp run -S \"split.current='year >= 5'\""
    mlgate(repo, "retrain")
    folded = load(repo, CURRENT)
    assert 0 < len(folded) < current  # year 4 left the batch for train/test
    assert "year" not in folded and len(load(repo, "data/processed/train.parquet")) > 0
    assert report(repo, "gate.json")["decision"]  # the new model met the same gate
    assert report(repo, "drift.json")["action"] in ACTIONS
