"""Declared features travel with the model: a PyCaret pipeline trained with every rule kind
(and a custom function) is registered, then given raw rows by a fresh process without mlgate,
by `mlflow models serve` over HTTP and by the Spark UDF; all agree with the training-time
pipeline run on rows engineered from the training split. The fresh virtual environment that
has only the model's logged requirements is the opt-in (slow) test."""

from __future__ import annotations

import json
import pickle
import subprocess
import sys
import textwrap
from pathlib import Path

import mlflow
import numpy as np
import pandas as pd
import pytest

from mlgate.adapters.serving import start_server
from mlgate.adapters.tracking import feature_steps, log_model, pipeline_run
from mlgate.core.model_steps import FeatureSteps
from mlgate.engines.selection import train_model
from mlgate.engines.training import with_features
from tests.defaults import conf_section, train_config
from tests.e2e.conftest import clean_env
from tests.e2e.test_registry import Store, in_store
from tests.e2e.test_serving import post

pytestmark = pytest.mark.e2e

TARGET = "binexp"
NAME = "mlgate-features"
DATA = {"target": TARGET, "categorical": ["plan", "site"]}
CUSTOM = '''
import numpy as np


def build(df):
    """Row-wise: is the family in the lowest income band, and the log of its size."""
    out = df.copy()
    out["low_income"] = (out["income_per_person"] < 1500).astype(float)
    out["log_num"] = np.log(out["num"].clip(lower=1))
    return out
'''
RULES = {
    "lookup": {"cost_sharing": {"column": "coins", "file": "data/mappings/coins_tier.csv"}},
    "derive": {"income_per_person": "income / num"},
    "interact": {"site_x_female": ["site", "female"], "age_x_disea": ["xage", "disea"]},
    "group_rare": {"plan": {"min_share": 0.03}},
    "bin": {"age_band": {"column": "xage", "bins": 4}},
    "date_parts": {"visit": ["year", "month", "weekday"]},
    "custom": "features.e2e_rules:build",
    "drop": ["num"],
}
# Blocks every import of mlgate and of the repository's features/ package: what a serving
# image without either sees.
BLOCK = textwrap.dedent('''
    import importlib.abc, sys
    class Block(importlib.abc.MetaPathFinder):
        def find_spec(self, name, path, target=None):
            if name.split(".")[0] in ("mlgate", "features", "tests"):
                raise ImportError(f"{name} is not installed here")
    sys.meta_path.insert(0, Block())
''')


def with_visits(df: pd.DataFrame) -> pd.DataFrame:
    """RAND HIE rows with a visit date in their study year (a datetime column, as ingest
    parses `data.datetime`)."""
    rng = np.random.default_rng(0)
    days = (df["year"] - 1) * 365 + rng.integers(0, 365, len(df))
    return df.assign(visit=pd.Timestamp("1975-01-01") + pd.to_timedelta(days, unit="D"))


@pytest.fixture(scope="module")
def project(tmp_path_factory, repo_root) -> Path:
    """A repository root with the mapping file and a features/ package (custom function)."""
    root = tmp_path_factory.mktemp("project")
    (root / "data/mappings").mkdir(parents=True)
    (root / "data/mappings/coins_tier.csv").write_text(
        (repo_root / "data/mappings/coins_tier.csv").read_text())
    (root / "features").mkdir()
    (root / "features/__init__.py").write_text("")
    (root / "features/e2e_rules.py").write_text(CUSTOM)
    yield root
    for name in [m for m in sys.modules if m == "features" or m.startswith("features.")]:
        del sys.modules[name]
    if str(root) in sys.path:
        sys.path.remove(str(root))


@pytest.fixture(scope="module")
def frames(randhie, params) -> tuple[pd.DataFrame, pd.DataFrame]:
    """(train, scored rows): raw columns, a datetime, missing values in a text-free table."""
    df = with_visits(randhie).drop(columns=[*params["data"]["drop_columns"], "year"])
    df = df.sample(1800, random_state=1).reset_index(drop=True)
    return df.iloc[:1500], df.iloc[1500:].drop(columns=[TARGET])


@pytest.fixture(scope="module")
def trained(frames, project, tmp_path_factory, params):
    """The pipeline trained with every rule kind, logged and registered as version 1."""
    train, _ = frames
    cfg = with_features(train_config(DATA, {"estimators": ["lr"], "fold": 2}),
                        conf_section("features", RULES), train, {"visit": None}, project)
    result = train_model(train, cfg)
    store = Store(tmp_path_factory.mktemp("store"), params)
    with in_store(store.root), pipeline_run(store.params["tracking"], "train"):
        info = log_model(result.model, train.drop(columns=[TARGET]))
        mlflow.register_model(info.model_uri, NAME)
    return result.model, cfg.features.steps, store


def engineered_prediction(model, steps: FeatureSteps, train: pd.DataFrame,
                          X: pd.DataFrame) -> np.ndarray:
    """The training-time pipeline on engineered rows: the rules fitted on the training split
    (here, afresh), then every step PyCaret put after them, then the estimator."""
    names = [name for name, _ in model.steps]
    start = names.index("features")
    fresh = FeatureSteps(**steps.get_params()).fit(train.drop(columns=[TARGET]))
    rows = fresh.transform(model.steps[0][1].transform(X))
    for _, step in model.steps[start + 1:-1]:
        rows = step.transform(rows)
    return model.steps[-1][1].predict_proba(rows)


def test_model_takes_raw_columns_and_fits_rules_on_the_training_split(trained, frames):
    model, steps, _ = trained
    train, X = frames
    assert list(model.feature_names_in_[:-1]) == list(X.columns), "raw columns in, target last"
    inside = feature_steps(model)
    expected = FeatureSteps(**steps.get_params()).fit(train.drop(columns=[TARGET])).fitted_
    assert inside.fitted_ == expected
    np.testing.assert_allclose(model.predict_proba(X), engineered_prediction(
        model, steps, train, X), rtol=0, atol=1e-12)


def test_registered_model_predicts_raw_rows_in_a_fresh_process(trained, frames, tmp_path):
    model, steps, store = trained
    train, X = frames
    with in_store(store.root):
        mlflow.set_tracking_uri(store.uri)
        info = mlflow.models.get_model_info(f"models:/{NAME}/1")
    inputs = [c["name"] for c in json.loads(info.signature.to_dict()["inputs"])]
    assert inputs == list(X.columns), "the signature is the raw schema"
    (tmp_path / "rows.pkl").write_bytes(pickle.dumps(X))
    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    script = BLOCK + textwrap.dedent(f'''
        import pickle, mlflow, numpy as np
        mlflow.set_tracking_uri({store.uri!r})
        X = pickle.load(open({str(tmp_path / "rows.pkl")!r}, "rb"))
        model = mlflow.sklearn.load_model("models:/{NAME}/1")
        np.save("proba.npy", model.predict_proba(X))
        pyfunc = mlflow.pyfunc.load_model("models:/{NAME}/1")
        np.save("labels.npy", np.asarray(pyfunc.predict(X)))
    ''')
    env = {k: v for k, v in clean_env(elsewhere).items() if k != "PYTHONPATH"}
    proc = subprocess.run([sys.executable, "-c", script], cwd=elsewhere, env=env,
                          capture_output=True, text=True, timeout=300)
    assert proc.returncode == 0, proc.stderr[-3000:]
    proba = np.load(elsewhere / "proba.npy")
    np.testing.assert_allclose(proba, engineered_prediction(model, steps, train, X),
                               rtol=0, atol=1e-12)
    np.testing.assert_array_equal(np.load(elsewhere / "labels.npy"), model.predict(X))


def test_served_model_applies_the_features_over_http(trained, frames):
    model, _, store = trained
    _, X = frames
    rows = X.head(40)
    payload = {"dataframe_split": json.loads(rows.to_json(orient="split", date_format="iso"))}
    server = start_server(f"models:/{NAME}/1", store.uri)
    try:
        answer = post(f"{server.url}/invocations", payload)
    finally:
        server.stop()
    np.testing.assert_array_equal(np.asarray(answer["predictions"]), model.predict(rows))


@pytest.mark.slow  # ~26 s of Spark start-up; tests/unit/test_spark_scoring.py stays in make test
def test_spark_udf_applies_the_features(trained, frames, tmp_path):
    pytest.importorskip("pyspark")
    from mlgate.engines.spark_scoring import SparkModel, build_session
    from tests.defaults import spark_config

    model, _, store = trained
    _, X = frames
    session = build_session(spark_config({"conf": {"spark.ui.enabled": False}}))
    try:
        with in_store(store.root):
            mlflow.set_tracking_uri(store.uri)
            spark_model = SparkModel(session, f"models:/{NAME}/1", tmp_path)
            proba = spark_model.predict_proba(X)
            labels = spark_model.predict(X)
    finally:
        session.stop()
    np.testing.assert_allclose(proba, model.predict_proba(X), rtol=0, atol=1e-12)
    np.testing.assert_array_equal(labels, model.predict(X))


@pytest.mark.slow
def test_model_loads_in_a_fresh_venv_with_only_its_requirements(trained, frames, tmp_path):
    model, _, store = trained
    _, X = frames
    with in_store(store.root):
        mlflow.set_tracking_uri(store.uri)
        local = Path(mlflow.artifacts.download_artifacts(f"models:/{NAME}/1",
                                                         dst_path=str(tmp_path / "model")))
    venv = tmp_path / "venv"
    subprocess.run([sys.executable, "-m", "venv", str(venv)], check=True, timeout=300)
    pip = subprocess.run([str(venv / "bin/python"), "-m", "pip", "install", "--quiet", "-r",
                          str(local / "requirements.txt")], capture_output=True, text=True,
                         timeout=1800)
    assert pip.returncode == 0, pip.stderr[-3000:]
    (tmp_path / "rows.pkl").write_bytes(pickle.dumps(X))
    script = BLOCK + textwrap.dedent(f'''
        import pickle, cloudpickle, numpy as np
        X = pickle.load(open({str(tmp_path / "rows.pkl")!r}, "rb"))
        model = cloudpickle.load(open({str(local / "model.pkl")!r}, "rb"))
        np.save("proba.npy", model.predict_proba(X))
    ''')
    env = {k: v for k, v in clean_env(tmp_path).items() if k != "PYTHONPATH"}
    proc = subprocess.run([str(venv / "bin/python"), "-c", script], cwd=tmp_path, env=env,
                          capture_output=True, text=True, timeout=600)
    assert proc.returncode == 0, proc.stderr[-3000:]
    np.testing.assert_allclose(np.load(tmp_path / "proba.npy"), model.predict_proba(X),
                               rtol=0, atol=1e-12)
