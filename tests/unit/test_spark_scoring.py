"""score.engine=spark: the same batch scored by pandas and by Spark gives the same frame."""

from __future__ import annotations

import sys
from pathlib import Path

import mlflow.sklearn
import numpy as np
import pandas as pd
import pytest
from mlflow.models import infer_signature
from sklearn.impute import SimpleImputer
from sklearn.linear_model import LinearRegression, LogisticRegression
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import StandardScaler

from mlgate.base.errors import ConfigError, MlgateError
from mlgate.core.scoring import (
    LOCAL_CONF,
    PREDICTION,
    PROBABILITY,
    profile_from_frame,
    score_batch,
)
from mlgate.engines.spark_scoring import build_session, engine_model
from tests.defaults import score_config, score_with, spark_config

FEATURES = ["age", "income", "region", "member"]
SPARK = score_with(engine="spark")


def _table(n: int = 240, seed: int = 0) -> pd.DataFrame:
    """Floats (income with gaps), an integer-coded category, a 0/1 integer, three targets."""
    rng = np.random.default_rng(seed)
    df = pd.DataFrame({"age": rng.normal(40, 10, n), "income": rng.lognormal(9, 0.5, n),
                       "region": rng.choice([1, 2, 3], n), "member": rng.integers(0, 2, n)})
    df.loc[rng.random(n) < 0.1, "income"] = np.nan
    score = df["age"] + rng.normal(0, 5, n)
    df["binary"] = (score > 40).astype("int8")  # int8 labels, as a PyCaret pipeline predicts
    df["tier"] = np.where(score > 45, "high", np.where(score > 35, "mid", "low"))
    df["spend"] = 0.05 * df["age"] + df["member"] + rng.normal(0, 0.3, n)
    return df


CASES = {  # target -> (task, estimator)
    "binary": ("classification", LogisticRegression(max_iter=500)),
    "tier": ("classification", LogisticRegression(max_iter=500)),  # multiclass, string labels
    "spend": ("regression", LinearRegression()),
}


def save_model(target: str, data: pd.DataFrame, path: Path) -> tuple[object, str]:
    """Fit the case's estimator (with an imputer) and save it as the pipeline logs models."""
    X, y = data[FEATURES], data[target]
    model = make_pipeline(SimpleImputer(), StandardScaler(), CASES[target][1]).fit(X, y)
    mlflow.sklearn.save_model(
        model, str(path), serialization_format=mlflow.sklearn.SERIALIZATION_FORMAT_CLOUDPICKLE,
        signature=infer_signature(X.head(100), model.predict(X.head(100))))
    return model, str(path)


@pytest.fixture(scope="module")
def spark(tmp_path_factory):
    """One local Spark session for the module, stopped at the end."""
    pytest.importorskip("pyspark")
    with pytest.MonkeyPatch.context() as mp:  # nothing may touch the repository's store
        mp.setenv("MLFLOW_TRACKING_URI", f"sqlite:///{tmp_path_factory.mktemp('mlflow')}/m.db")
        session = build_session(spark_config({"conf": {"spark.ui.enabled": False}}))
        yield session
        session.stop()


@pytest.mark.parametrize("target", list(CASES))
def test_spark_engine_matches_pandas(spark, target: str, tmp_path: Path) -> None:
    data = _table()
    train, batch = data.iloc[:160], data.iloc[160:]
    task = CASES[target][0]
    model, uri = save_model(target, train, tmp_path / "model")
    profile = profile_from_frame(train[[*FEATURES, target]], target, ["region"], task)
    batch = batch[[target, *FEATURES[::-1]]]  # columns in another order: aligned by name
    expected, _ = score_batch(model, batch, profile, score_with(), "b", uri)
    with engine_model(SPARK, model, uri) as spark_model:
        assert spark_model is not model and spark_model.session is spark
        scored, _ = score_batch(spark_model, batch, profile, SPARK, "b", uri)
    pd.testing.assert_frame_equal(scored, expected, check_exact=True)
    assert scored["income"].isna().any() and scored[PREDICTION].notna().all()
    assert (PROBABILITY in scored) == (task == "classification")
    assert spark.range(3).count() == 3  # the active session is left running


def test_spark_engine_needs_a_logged_model(spark, tmp_path: Path) -> None:
    pickle = tmp_path / "model.pkl"
    pickle.write_bytes(b"not an MLflow model")
    with pytest.raises(MlgateError, match=r"model\.pkl is not one that can be loaded"), \
            engine_model(SPARK, object(), str(pickle)):
        pass


def test_pandas_engine_is_the_model_itself() -> None:
    model = object()
    with engine_model(score_with(), model, "models:/m/1") as scoring:
        assert scoring is model


def test_missing_pyspark_names_the_extra(monkeypatch) -> None:
    monkeypatch.setitem(sys.modules, "pyspark.sql", None)  # `from pyspark.sql import` fails
    with pytest.raises(ConfigError, match=r"pip install -e \.\[spark\]"), \
            engine_model(SPARK, object(), "models:/m/1"):
        pass


@pytest.mark.parametrize(("section", "message"), [
    ({"engine": "dask"}, r"`score\.engine` must be one of \['pandas', 'spark'\], got 'dask'"),
    ({"spark": {"mastr": "local"}}, r"`score\.spark\.mastr`"),
    ({"spark": {"master": ""}}, r"`score\.spark\.master` must be a non-empty string"),
    ({"spark": {"conf": {"spark.executor.memory": None}}},
     r"`score\.spark\.conf\.spark\.executor\.memory` must be a string"),
    ({"spark": {"conf": ["spark.ui.enabled=false"]}}, r"`score\.spark\.conf` must be a mapping"),
])
def test_engine_config_errors_name_the_key(section: dict, message: str) -> None:
    with pytest.raises(ConfigError, match=message):
        score_config(section)


def test_spark_conf_is_flattened_and_local_binds_loopback() -> None:
    cfg = spark_config({"conf": {"spark": {"executor": {"memory": "2g"}},
                                            "spark.ui.enabled": False,
                                            "spark.sql.shuffle.partitions": 2}})
    assert cfg.conf == {"spark.executor.memory": "2g", "spark.ui.enabled": "false",
                        "spark.sql.shuffle.partitions": "2"}
    assert cfg.properties() == {**LOCAL_CONF, **cfg.conf}
    cluster = spark_config({"master": "spark://head:7077", "conf": {}})
    assert not cluster.local and cluster.properties() == {}  # executors must reach the driver
