"""MLflow's evaluation gives the test metrics of record: the same numbers as mlgate's formulas
(binary, multiclass with string labels and macro averaging, regression), its figures under
mlgate's names, the baseline and champion in runs of their own."""

import mlflow
import numpy as np
import pandas as pd
import pytest
from sklearn.dummy import DummyClassifier
from sklearn.linear_model import LinearRegression, LogisticRegression

from mlgate.adapters.evaluation import (
    evaluate_estimator,
    evaluate_model,
    evaluator_config,
    save_figures,
)
from mlgate.core.evaluation import class_labels
from mlgate.core.evaluation import evaluate as mlgate_evaluate
from tests.tables import breast_cancer, diabetes, wine


@pytest.fixture
def store(tmp_path, monkeypatch):
    """A fresh SQLite store with one experiment (never made the process's active one: later
    tests in this worker start runs in their own stores)."""
    monkeypatch.delenv("MLFLOW_TRACKING_URI", raising=False)
    mlflow.set_tracking_uri(f"sqlite:///{tmp_path / 'mlflow.db'}")
    exp = mlflow.create_experiment("unit", artifact_location=(tmp_path / "art").as_uri())
    yield tmp_path, exp
    mlflow.set_tracking_uri(None)


def fitted(name):
    """(model, test frame, target, task) for one of the bundled tables."""
    if name == "diabetes":
        df = diabetes()
        X, y = df.drop(columns=["target"]), df["target"]
        return LinearRegression().fit(X[:300], y[:300]), df.iloc[300:], "target", "regression"
    df, target = (breast_cancer(), "target") if name == "breast_cancer" else (wine(), "cultivar")
    df = df.sample(frac=1.0, random_state=0).reset_index(drop=True)
    X, y = df.drop(columns=[target]), df[target]
    model = LogisticRegression(max_iter=5000).fit(X[:120], y[:120])
    return model, df.iloc[120:], target, "classification"


@pytest.mark.parametrize("name", ["breast_cancer", "wine", "diabetes"])
def test_mlflow_metrics_equal_mlgates_formulas(store, name):
    model, test, target, task = fitted(name)
    labels = None if task == "regression" else class_labels(model, test[target])
    root, exp = store
    with mlflow.start_run(experiment_id=exp):
        ours, result = evaluate_model(_logged(model, test.drop(columns=[target])), test,
                                      target, task, labels)
    expected = mlgate_evaluate(model, test, target, task)["metrics"]
    assert set(ours) == set(expected)
    for metric, value in expected.items():
        assert ours[metric] == pytest.approx(value, abs=2e-6), metric
    if task == "classification":
        assert {"roc_curve_plot", "confusion_matrix"} <= set(result.artifacts)
        written = {p.name for p in save_figures(result, root / "figs")}
        assert {"roc.png", "confusion_matrix.png"} <= written
        assert all((root / "figs" / w).stat().st_size > 1000 for w in written)


def _logged(model, X):
    """Log `model` in the active run; its URI."""
    return mlflow.sklearn.log_model(model, name="m", serialization_format="cloudpickle",
                                    input_example=X.head(3)).model_uri


def test_evaluator_averages_as_reports_metrics_json_does():
    assert evaluator_config("classification", ["no", "yes"])["pos_label"] == "yes"
    assert evaluator_config("classification", ["a", "b", "c"])["average"] == "macro"
    assert evaluator_config("regression", None) == {"log_model_explainability": False}


def test_the_baseline_is_evaluated_in_its_own_run_not_the_candidates(store):
    df = breast_cancer()
    dummy = DummyClassifier(strategy="prior").fit(df.drop(columns=["target"]), df.target)
    _, exp = store
    with mlflow.start_run(experiment_id=exp) as parent:
        metrics = evaluate_estimator(dummy, df, "target", "classification", [0, 1],
                                     "baseline predictor on this test set")
    assert metrics["roc_auc"] == pytest.approx(0.5)
    assert metrics["balanced_accuracy"] == pytest.approx(0.5)
    assert np.isfinite(metrics["log_loss"])
    assert mlflow.get_run(parent.info.run_id).data.metrics == {}  # nothing in the parent
    children = mlflow.search_runs([exp], filter_string=f"tags.mlflow.parentRunId = "
                                                       f"'{parent.info.run_id}'")
    assert len(children) == 1
    assert children.iloc[0]["tags.mlflow.runName"] == "baseline predictor on this test set"
    assert children.iloc[0]["metrics.accuracy_score"] == pytest.approx(
        float((df.target == 1).mean()))
    assert isinstance(children, pd.DataFrame)
