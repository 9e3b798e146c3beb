"""The gate against a real MLflow registry: `stages/register.py` run as DVC runs it.

Each pipeline workspace sits where `dvc queue` puts one (<root>/.dvc/tmp/exps/<name>) with
DVC_ROOT pointing at the repository root that holds the SQLite store. The candidate models are
small scikit-learn pipelines (logged exactly as the train stage logs a model) so that the
scenarios cost seconds, not PyCaret minutes; the gate does not care what is inside the model.
"""

from __future__ import annotations

import json
import subprocess
import sys
from contextlib import contextmanager
from pathlib import Path

import joblib
import mlflow
import pandas as pd
import pytest
import yaml
from mlflow import MlflowClient
from sklearn.compose import ColumnTransformer
from sklearn.dummy import DummyClassifier
from sklearn.ensemble import HistGradientBoostingClassifier
from sklearn.impute import SimpleImputer
from sklearn.linear_model import LogisticRegression
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import StandardScaler

from mlgate.adapters.registry import register_version, set_champion
from mlgate.adapters.tracking import log_model, pipeline_run
from mlgate.core.evaluation import evaluate
from tests.defaults import conf_section
from tests.e2e.conftest import clean_env

pytestmark = pytest.mark.e2e

ROOT = Path(__file__).resolve().parents[2]
PYTHON = str(Path(sys.executable).parent / "python")
TARGET = "binexp"
MODEL = "mlgate-e2e"
GATE = conf_section("gate", {"model_name": MODEL, "baseline": {},  # the policy's baseline: off
        "alias": "champion", "challenger_alias": "challenger",
        "thresholds": {"roc_auc": {"min": 0.6}, "log_loss": {"max": 0.6}},
        "improvement": {"metric": "roc_auc", "min_delta": 0.01, "min_relative": None},
        "latency": {"max_ms_per_1000_rows": 60000},
        "slices": {"female": {"roc_auc": {"min": 0.55}}},
        "slice_min_rows": 30, "fail_on_reject": False, "allow_unvalidated": False})


def build(kind: str):
    """Candidates of known quality on this data: dummy < 0.6 AUC <= weak < linear < boosted."""
    return {
        "dummy": lambda: DummyClassifier(strategy="prior"),
        "weak": lambda: make_pipeline(
            ColumnTransformer([("keep", "passthrough", ["female", "xage", "linc"])]),
            LogisticRegression()),
        "linear": lambda: make_pipeline(SimpleImputer(), StandardScaler(),
                                        LogisticRegression(max_iter=1000)),
        "boosted": lambda: HistGradientBoostingClassifier(max_iter=60, random_state=0),
    }[kind]()


def split_frames(randhie: pd.DataFrame, params: dict) -> tuple[pd.DataFrame, pd.DataFrame]:
    """(train, test) from the real table, prepared as ingest + split prepare it."""
    df = randhie.drop(columns=[*params["data"]["drop_columns"], "year"])
    df = df.sample(3000, random_state=0).reset_index(drop=True)
    return df.iloc[:2000], df.iloc[2000:]


def fit(kind: str, train: pd.DataFrame):
    """One candidate of the given kind, fitted on `train`."""
    return build(kind).fit(train.drop(columns=[TARGET]), train[TARGET])


@pytest.fixture(scope="module")
def frames(randhie, params) -> tuple[pd.DataFrame, pd.DataFrame]:
    return split_frames(randhie, params)


@pytest.fixture(scope="module")
def fitted(frames) -> dict:
    """Every candidate kind, fitted once."""
    return {k: fit(k, frames[0]) for k in ("dummy", "weak", "linear", "boosted")}


@contextmanager
def in_store(root: Path):
    """Point this process's MLflow at `root`'s store as a stage under DVC would; undo after."""
    with pytest.MonkeyPatch.context() as mp:
        mp.delenv("MLFLOW_TRACKING_URI", raising=False)
        mp.setenv("DVC_ROOT", str(root))
        try:
            yield
        finally:
            mlflow.set_tracking_uri(None)


class Store:
    """A repository root with its SQLite MLflow store, and pipeline workspaces inside it."""

    def __init__(self, root: Path, params: dict, **gate):
        self.root = root
        self.params = {**params, "gate": {**GATE, **gate},
                       "tracking": conf_section("tracking", {"experiment": "e2e"})}
        (root / "dvc.yaml").write_text("stages: {}\n")
        (root / "params.yaml").write_text(yaml.safe_dump(self.params, sort_keys=False))

    @property
    def uri(self) -> str:
        return f"sqlite:///{self.root / 'mlflow.db'}"

    def client(self) -> MlflowClient:
        return MlflowClient(tracking_uri=self.uri, registry_uri=self.uri)

    def workspace(self, name: str, model, frames, exp_name: str | None = None, **gate) -> Path:
        """A pipeline workspace after train + evaluate: model, run.json, metrics, data."""
        ws = self.root / ".dvc" / "tmp" / "exps" / name
        for sub in ("data/processed", "models", "reports"):
            (ws / sub).mkdir(parents=True, exist_ok=True)
        train, test = frames
        train.to_parquet(ws / "data/processed/train.parquet", index=False)
        test.to_parquet(ws / "data/processed/test.parquet", index=False)
        joblib.dump(model, ws / "models/model.pkl")
        params = {**self.params, "gate": {**self.params["gate"], **gate}}
        (ws / "params.yaml").write_text(yaml.safe_dump(params, sort_keys=False))
        (ws / "models/run.json").write_text(json.dumps(self.log(model, train, exp_name)))
        metrics = evaluate(model, test, TARGET)["metrics"]
        (ws / "reports/metrics.json").write_text(json.dumps(metrics))
        return ws

    def log(self, model, train: pd.DataFrame, exp_name: str | None) -> dict:
        """Log `model` in a new run exactly as the train stage does."""
        with in_store(self.root), pipeline_run(self.params["tracking"], "train") as run:
            if exp_name:
                mlflow.set_tag("dvc.exp_name", exp_name)
            info = log_model(model, train.drop(columns=[TARGET]))
        return {"run_id": run.info.run_id, "experiment_id": run.info.experiment_id,
                "model_uri": info.model_uri}

    def stage_env(self, exp_name: str | None = None) -> dict[str, str]:
        env = {**clean_env(self.root), "DVC_ROOT": str(self.root)}
        return {**env, "DVC_EXP_NAME": exp_name} if exp_name else env

    def run_stage(self, ws: Path) -> subprocess.CompletedProcess:
        """`python stages/register.py` in `ws`, as DVC runs it."""
        return subprocess.run([PYTHON, str(ROOT / "stages/register.py")], cwd=ws,
                              env=self.stage_env(), capture_output=True, text=True, timeout=600)

    def register(self, ws: Path, check: bool = True) -> tuple[subprocess.CompletedProcess, dict]:
        """Run the register stage in `ws`; return the process and reports/gate.json."""
        proc = self.run_stage(ws)
        if check and proc.returncode != 0:
            raise AssertionError(f"register exited {proc.returncode}:\n{proc.stderr[-4000:]}")
        return proc, json.loads((ws / "reports/gate.json").read_text())

    def cli(self, *args: str, check: bool = True) -> subprocess.CompletedProcess:
        """Run `mlgate models ...` at the repository root, as a user would."""
        proc = subprocess.run([PYTHON, "-m", "mlgate.cli.main", "models", *args], cwd=self.root,
                              env=clean_env(self.root), capture_output=True, text=True,
                              timeout=300)
        if check and proc.returncode != 0:
            raise AssertionError(f"mlgate models {args} exited {proc.returncode}:\n"
                                 f"{proc.stderr[-3000:]}")
        return proc

    def state(self) -> dict:
        """Everything the gate may change: versions with tags, aliases, model tags."""
        c = self.client()
        try:
            model = c.get_registered_model(MODEL)
        except mlflow.exceptions.MlflowException:
            return {}
        versions = {str(v.version): dict(v.tags)
                    for v in c.search_model_versions(f"name = '{MODEL}'")}
        return {"versions": versions, "aliases": dict(model.aliases), "tags": dict(model.tags)}

    def aliases(self) -> dict[str, str]:
        return {k: str(v) for k, v in self.state().get("aliases", {}).items()}

    def history(self) -> list[str]:
        return json.loads(self.state()["tags"]["champion_history"])


def champion_v1(store: Store, model, frames) -> None:
    """Create the store beforehand with v1 as champion (mlgate's own registry functions)."""
    info = json.loads((store.workspace("base", model, frames) / "models/run.json").read_text())
    with in_store(store.root):
        mlflow.set_tracking_uri(store.uri)
        version = register_version(info["model_uri"], MODEL, {"validation_status": "passed"})
        set_champion(MODEL, version, "champion", "challenger")
    assert store.aliases() == {"champion": "1"}


def corrupt_artifact(store: Store, model_uri: str) -> None:
    """Break the logged model's pickle in the artifact store (a failed or partial upload)."""
    model_id = model_uri.removeprefix("models:/")
    location = store.client().get_logged_model(model_id).artifact_location
    pkl = Path(location.removeprefix("file://")) / "model.pkl"
    assert pkl.exists(), pkl
    pkl.write_bytes(b"not a pickle")


def test_champion_challenger_rejection_smoke_failure_and_rollback(tmp_path, params, frames,
                                                                 fitted):
    store = Store(tmp_path, params)

    # First run: no champion yet -> the passing candidate becomes champion v1.
    _, gate = store.register(store.workspace("first", fitted["linear"], frames))
    assert (gate["decision"], gate["registered_version"], gate["alias"]) == ("champion", "1",
                                                                            "champion")
    assert gate["smoke_test"]["status"] == "passed" and gate["previous_champion"] is None
    assert {c["name"] for c in gate["checks"]} >= {"signature", "input_example", "roc_auc_min",
                                                   "slice.female.0.roc_auc_min",
                                                   "latency_ms_per_1000_rows"}
    assert store.aliases() == {"champion": "1"} and store.history() == ["1"]
    tags = store.state()["versions"]["1"]
    assert tags["validation_status"] == "passed" and tags["smoke_test"] == "passed"
    assert tags["data.test_md5"] and tags["run_id"] and tags["check.roc_auc_min"].endswith("pass")
    assert float(tags["metric.roc_auc"]) == gate["candidate"]["metrics"]["roc_auc"]

    # Below threshold: rejected, nothing registered, registry byte-for-byte as it was.
    before = store.state()
    _, gate = store.register(store.workspace("dummy", fitted["dummy"], frames))
    assert gate["decision"] == "rejected" and gate["registered_version"] is None
    assert any("roc_auc = 0.5 violates >= 0.6" in r for r in gate["reasons"])
    assert store.state() == before, "a rejected model must leave the registry unchanged"

    # Bad config: the stage fails naming the key, before MLflow is touched; no gate.json.
    ws = store.workspace("typo", fitted["boosted"], frames,
                         slices={"gender": {"roc_auc": {"min": 0.6}}})
    proc = store.run_stage(ws)
    assert proc.returncode == 1 and "`gate.slices.gender`: column 'gender'" in proc.stderr
    assert not (ws / "reports/gate.json").exists() and store.state() == before

    # Better by the declared margin: champion v2; v1 stays registered and loadable.
    _, gate = store.register(store.workspace("better", fitted["boosted"], frames))
    assert (gate["decision"], gate["registered_version"]) == ("champion", "2")
    assert gate["previous_champion"]["version"] == "1"
    assert gate["improvement"][0]["status"] == "pass" and gate["improvement"][0]["value"] > 0.01
    assert store.aliases() == {"champion": "2"} and store.history() == ["1", "2"]
    with in_store(tmp_path):
        mlflow.set_tracking_uri(store.uri)
        old = mlflow.pyfunc.load_model(f"models:/{MODEL}/1")
        test_x = frames[1].drop(columns=[TARGET])
        assert (old.predict(test_x) == fitted["linear"].predict(test_x)).all()

    # Passing but worse than the champion: challenger v3; the champion does not move.
    _, gate = store.register(store.workspace("worse", fitted["weak"], frames))
    assert (gate["decision"], gate["registered_version"], gate["alias"]) == (
        "challenger", "3", "challenger")
    assert gate["passed"] and gate["improvement"][0]["status"] == "fail"
    assert store.aliases() == {"champion": "2", "challenger": "3"}

    # Smoke test fails in a fresh process: version tagged failed, aliases untouched;
    # with gate.fail_on_reject the stage exits non-zero (after writing gate.json).
    ws = store.workspace("broken", fitted["boosted"], frames, fail_on_reject=True)
    corrupt_artifact(store, json.loads((ws / "models/run.json").read_text())["model_uri"])
    proc, gate = store.register(ws, check=False)
    assert proc.returncode == 1 and "gate.fail_on_reject is true" in proc.stderr
    assert (gate["decision"], gate["registered_version"], gate["alias"]) == (
        "smoke_failed", "4", None)
    assert "failed in a fresh process" in gate["smoke_test"]["detail"]
    assert store.aliases() == {"champion": "2", "challenger": "3"}
    assert store.state()["versions"]["4"]["validation_status"] == "failed"

    # The CLI: list, rollback to the previous champion, promote the challenger.
    listing = store.cli("list").stdout
    assert "champion history: 1 -> 2" in listing
    rows = {line.split()[0]: line.split() for line in listing.splitlines()[2:6]}
    assert rows["2"][1:3] == ["champion", "passed"] and rows["4"][1:3] == ["-", "failed"]
    assert "@champion: v2 -> v1" in store.cli("rollback").stdout
    assert store.aliases() == {"champion": "1", "challenger": "3"} and store.history() == ["1"]
    refused = store.cli("promote", "3", check=False)  # never scored in the shadow
    assert refused.returncode == 1 and "no labelled shadow traffic" in refused.stderr
    assert "Traceback" not in refused.stderr and store.aliases()["champion"] == "1"
    assert "(--force)" in store.cli("promote", "3", "--force").stdout
    assert store.aliases() == {"champion": "3"} and store.history() == ["1", "3"]


def test_two_workers_finishing_together_cannot_both_become_champion(tmp_path, params, frames,
                                                                    fitted):
    """Two queued experiments with equally good models race the champion (min_delta 0.01)."""
    store = Store(tmp_path, params)
    champion_v1(store, fitted["linear"], frames)
    workers = {name: store.workspace(name, fitted["boosted"], frames, exp_name=name)
               for name in ("exp-a", "exp-b")}
    procs = {name: subprocess.Popen([PYTHON, str(ROOT / "stages/register.py")], cwd=ws,
                                    env=store.stage_env(name), stdout=subprocess.PIPE,
                                    stderr=subprocess.PIPE, text=True)
             for name, ws in workers.items()}
    for name, proc in procs.items():
        _, err = proc.communicate(timeout=600)
        assert proc.returncode == 0, f"{name}:\n{err[-3000:]}"
    gates = {n: json.loads((ws / "reports/gate.json").read_text()) for n, ws in workers.items()}
    decisions = sorted(g["decision"] for g in gates.values())
    assert decisions == ["challenger", "champion"], gates
    winner = next(g for g in gates.values() if g["decision"] == "champion")
    loser = next(g for g in gates.values() if g["decision"] == "challenger")
    assert winner["previous_champion"]["version"] == "1"
    assert loser["previous_champion"]["version"] == winner["registered_version"], (
        "the second worker must compare with the champion the first one just set")
    assert store.aliases() == {"champion": winner["registered_version"],
                               "challenger": loser["registered_version"]}
    assert store.history() == ["1", winner["registered_version"]]
    versions = store.state()["versions"]
    assert {versions[v]["dvc.exp_name"] for v in ("2", "3")} == {"exp-a", "exp-b"}
    created = store.client().get_model_version(MODEL, loser["registered_version"])
    decided = int(versions[winner["registered_version"]]["gate.decided_at_ms"])
    assert created.creation_timestamp >= decided, (
        "registry writes must not interleave: the second worker registers only after the first "
        "has registered, smoke-tested and moved the alias")
