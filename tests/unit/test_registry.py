"""Registry operations on a real (temporary) SQLite MLflow store: history, rollback, errors, CLI."""

from __future__ import annotations

import subprocess
import sys

import mlflow
import numpy as np
import pandas as pd
import pytest
import yaml
from sklearn.linear_model import LogisticRegression

from mlgate.adapters.locks import lock_path, registry_lock
from mlgate.adapters.registry import (
    champion_score,
    current_version,
    get_version,
    history,
    logged_model_meta,
    register_version,
    require_alias,
    rollback,
    set_alias,
    set_champion,
)
from mlgate.adapters.shadow import record_batch
from mlgate.adapters.tracking import log_model
from mlgate.base.errors import DataError, MlgateError
from mlgate.cli import main as cli
from tests.defaults import NO_BASELINE_NOR_LATENCY, conf_section, gate_config


@pytest.fixture(scope="module")
def data() -> pd.DataFrame:
    rng = np.random.default_rng(1)
    df = pd.DataFrame({"a": rng.normal(size=200), "b": rng.normal(size=200)})
    df["y"] = (df.a + rng.normal(scale=0.7, size=200) > 0).astype(int)
    return df


@pytest.fixture(scope="module")
def store(tmp_path_factory, data):
    """A fresh SQLite store with one logged model (with signature and input example)."""
    root = tmp_path_factory.mktemp("store")
    uri = f"sqlite:///{root / 'mlflow.db'}"
    with pytest.MonkeyPatch.context() as mp:
        mp.delenv("MLFLOW_TRACKING_URI", raising=False)
        mp.setenv("DVC_ROOT", str(root))
        mlflow.set_tracking_uri(uri)
        exp = mlflow.create_experiment("unit", artifact_location=(root / "art").as_uri())
        model = LogisticRegression().fit(data[["a", "b"]], data.y)
        with mlflow.start_run(experiment_id=exp):
            info = log_model(model, data[["a", "b"]])
            bare = mlflow.sklearn.log_model(model, name="bare", serialization_format="cloudpickle")
        try:
            yield {"root": root, "uri": uri, "model_uri": info.model_uri,
                   "bare_uri": bare.model_uri}
        finally:
            mlflow.set_tracking_uri(None)


def versions(store, name: str, n: int, status: str = "passed") -> list[str]:
    """Register the logged model `n` times under `name`."""
    return [register_version(store["model_uri"], name, {"validation_status": status})
            for _ in range(n)]


def test_champion_history_and_rollback_chain(store):
    v = versions(store, "m-history", 3)
    for version in v:
        set_champion("m-history", version, "champion", "challenger")
    assert history("m-history", "champion") == ["1", "2", "3"]
    assert rollback("m-history", "champion") == ("3", "2")
    assert rollback("m-history", "champion") == ("2", "1")
    assert str(current_version("m-history", "champion").version) == "1"
    with pytest.raises(MlgateError, match="no previous champion to roll back to"):
        rollback("m-history", "champion")
    assert history("m-history", "champion") == ["1"]


def test_promoting_the_challenger_drops_its_challenger_alias(store):
    versions(store, "m-chal", 2)
    set_champion("m-chal", "1", "champion", "challenger")
    set_alias("m-chal", "2", "challenger")
    set_champion("m-chal", "2", "champion", "challenger")
    assert current_version("m-chal", "challenger") is None
    assert history("m-chal", "champion") == ["1", "2"]


def test_alias_moved_outside_mlgate_keeps_the_chain(store):
    versions(store, "m-manual", 3)
    set_champion("m-manual", "1", "champion", "challenger")
    mlflow.MlflowClient().set_registered_model_alias("m-manual", "champion", "2")  # via the UI
    set_champion("m-manual", "3", "champion", "challenger")
    assert history("m-manual", "champion") == ["1", "2", "3"]
    assert rollback("m-manual", "champion") == ("3", "2")


def test_unknown_model_version_and_alias_are_named(store):
    versions(store, "m-known", 2)
    with pytest.raises(MlgateError, match=r"registered model 'm-nope' not found in sqlite"):
        get_version("m-nope", "1")
    with pytest.raises(MlgateError, match=r"version 7 of 'm-known' not found \(versions: 2, 1\)"):
        get_version("m-known", "7")
    with pytest.raises(MlgateError, match="model version must be a number, got 'x'"):
        get_version("m-known", "x")
    with pytest.raises(MlgateError, match=r"'m-known' has no alias 'champion'"):
        require_alias("m-known", "champion")
    with pytest.raises(MlgateError, match=r"'m-known' has no alias 'champion'"):
        rollback("m-known", "champion")


def test_logged_model_metadata_is_read_from_the_store(store):
    assert logged_model_meta(store["model_uri"]) == (True, True)
    assert logged_model_meta(store["bare_uri"]) == (False, False)
    with pytest.raises(DataError, match=r"models/run.json: model_uri 'models:/m-missing'"):
        logged_model_meta("models:/m-missing")


def test_champion_score_on_the_same_data_or_why_not(store, data):
    assert champion_score("m-none", "champion", data, "y") is None
    versions(store, "m-score", 1)
    set_champion("m-score", "1", "champion", "challenger")
    scored = champion_score("m-score", "champion", data, "y")
    assert scored.version == "1" and scored.metrics["roc_auc"] > 0.7 and scored.error is None
    broken = champion_score("m-score", "champion", data.drop(columns=["b"]), "y")
    assert broken.metrics is None and "missing" in broken.error and "- b" in broken.error


@pytest.fixture
def repo(store, tmp_path, monkeypatch, params):
    """A repository root whose params.yaml points at the store (for the CLI)."""
    conf = {**params, "tracking": conf_section("tracking", {"uri": store["uri"],
                                                            "experiment": "unit"}),
            "gate": {**params["gate"], "model_name": "m-cli",
                     "shadow": conf_section("gate")["shadow"]}}  # the policy's: accuracy
    (tmp_path / "dvc.yaml").write_text("stages: {}\n")
    (tmp_path / "params.yaml").write_text(yaml.safe_dump(conf))
    monkeypatch.chdir(tmp_path)
    monkeypatch.delenv("DVC_ROOT", raising=False)
    monkeypatch.delenv("MLFLOW_TRACKING_URI", raising=False)
    yield tmp_path
    mlflow.set_tracking_uri(store["uri"])


def run_cli(*args: str) -> int:
    try:
        cli.main(["models", *args])
    except SystemExit as exc:
        return int(exc.code)
    return 0


def test_cli_list_promote_rollback(store, repo, capsys, caplog):
    versions(store, "m-cli", 2)
    register_version(store["model_uri"], "m-cli", {"validation_status": "failed"})
    assert run_cli("promote", "1") == 0  # no champion yet: no shadow evidence needed
    assert run_cli("promote", "2") == 1
    assert ("not promoting m-cli v2: there is no labelled shadow traffic to judge it on "
            "(gate.shadow); use --force") in caplog.text
    assert str(current_version("m-cli", "champion").version) == "1"
    better = {"rows": 50, "agreement": 0.9, "labelled_rows": 50, "champion_version": "1",
              "metrics": {"champion": {"accuracy": 0.8}, "challenger": {"accuracy": 0.85}}}
    record_batch("m-cli", "2", "batch1", better)
    record_batch("m-cli", "2", "batch1", better)  # the same batch again: kept once
    assert run_cli("promote", "2") == 0
    out = capsys.readouterr().out
    assert "m-cli v1 is now @champion" in out and "m-cli v2 is now @champion" in out
    assert ("shadow evidence of v2 against champion v1: 1 batch(es), 50 rows, agreement 90.0%"
            in out and "challenger 0.8500 vs champion 0.8000 (not worse" in out)
    worse = {**better, "champion_version": "2",
             "metrics": {"champion": {"accuracy": 0.8}, "challenger": {"accuracy": 0.7}}}
    record_batch("m-cli", "1", "batch2", worse)
    assert run_cli("promote", "1") == 1
    assert "not promoting m-cli v1: it did worse than the champion on labelled" in caplog.text
    assert "more than gate.shadow.max_metric_drop=0.02 allows" in capsys.readouterr().out
    assert run_cli("promote", "3") == 1
    assert "version 3 of 'm-cli' has validation_status 'failed'; use --force" in caplog.text
    assert run_cli("list") == 0
    table = capsys.readouterr().out.splitlines()
    assert table[1].split()[:3] == ["version", "aliases", "status"]
    assert table[2].split()[:3] == ["3", "-", "failed"] and table[3].split()[:2] == ["2",
                                                                                    "champion"]
    assert table[-1] == "champion history: 1 -> 2"
    assert run_cli("rollback") == 0 and "@champion: v2 -> v1" in capsys.readouterr().out
    assert run_cli("promote", "3", "--force") == 0
    assert str(current_version("m-cli", "champion").version) == "3"


def test_cli_errors_exit_1_naming_what_is_wrong(store, repo, caplog):
    assert run_cli("list", "--model", "m-absent") == 1
    assert "registered model 'm-absent' not found" in caplog.text
    versions(store, "m-cli-err", 1)
    assert run_cli("promote", "5", "--model", "m-cli-err") == 1
    assert "version 5 of 'm-cli-err' not found (versions: 1)" in caplog.text
    assert run_cli("rollback", "--model", "m-cli-err") == 1
    assert "'m-cli-err' has no alias 'champion'" in caplog.text


HOLD = "from filelock import FileLock; import sys, time; l = FileLock(sys.argv[1]); l.acquire(); " \
       "print('held', flush=True); time.sleep(60)"


def test_registry_lock_is_exclusive_across_processes(tmp_path, monkeypatch):
    monkeypatch.setenv("DVC_ROOT", str(tmp_path))
    path = lock_path()
    assert path == tmp_path / ".dvc/tmp/mlgate-registry.lock"
    with registry_lock(timeout=5):
        assert path.exists()
    path.parent.mkdir(parents=True, exist_ok=True)
    holder = subprocess.Popen([sys.executable, "-c", HOLD, str(path)], stdout=subprocess.PIPE,
                              text=True)
    try:
        assert holder.stdout.readline().strip() == "held"
        with (pytest.raises(MlgateError, match=r"registry lock .*mlgate-registry.lock still held"),
              registry_lock(timeout=0.5)):
            pass
    finally:
        holder.kill()
        holder.wait()
    with registry_lock(timeout=5):
        pass


def test_recheck_compares_again_when_the_champion_moved(store):
    from mlgate.adapters.promotion import GateCandidate, recheck
    from mlgate.core.gate import ChampionScore, decide

    versions(store, "m-cas", 2)
    set_champion("m-cas", "1", "champion", "challenger")
    cfg = gate_config({**NO_BASELINE_NOR_LATENCY, "model_name": "m-cas",
                       "thresholds": {"roc_auc": {"min": 0.5}},
                       "improvement": {"metric": "roc_auc", "min_delta": 0.01}})
    cand = GateCandidate("models:/x", "run", {"roc_auc": 0.80})
    seen = decide(cand.metrics, ChampionScore("1", {"roc_auc": 0.70}), cfg)
    rescored = []

    def rescore() -> ChampionScore:
        rescored.append(1)
        return ChampionScore("2", {"roc_auc": 0.80})

    assert recheck(seen, cfg, cand, rescore) is seen and not rescored, "champion unchanged"
    set_champion("m-cas", "2", "champion", "challenger")  # another worker won meanwhile
    again = recheck(seen, cfg, cand, rescore)
    assert rescored and again.champion.version == "2" and again.role == "challenger"
    assert seen.role == "champion"


def test_the_same_logged_model_is_never_registered_twice(store, monkeypatch):
    from mlgate.adapters.promotion import GateCandidate, run_gate
    from mlgate.core.gate import CHAMPION

    monkeypatch.setattr("mlgate.adapters.promotion.smoke_test", lambda uri, tracking: SmokeOk())
    cfg = gate_config({**NO_BASELINE_NOR_LATENCY, "model_name": "m-dedup",
                       "thresholds": {"roc_auc": {"min": 0.5}},
                       "improvement": {"metric": "roc_auc", "min_delta": 0.01}})
    cand = GateCandidate(store["model_uri"], "run", {"roc_auc": 0.80})
    first = run_gate(cfg, cand, lambda: None, store["uri"])[1]
    assert (first.decision, first.version) == (CHAMPION, "1")
    again = run_gate(cfg, cand, lambda: None, store["uri"])[1]  # e.g. only gate params changed
    assert (again.decision, again.version, again.alias) == (CHAMPION, "1", "champion")
    assert "already the champion" in again.detail
    assert [str(v.version) for v in mlflow.MlflowClient().search_model_versions(
        "name='m-dedup'")] == ["1"]


class SmokeOk:
    """A passing smoke-test result (the real one starts a fresh process: tested elsewhere)."""

    ok = True
    detail = "ok"
