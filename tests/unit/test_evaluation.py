"""Evaluate: metrics agree with sklearn on a known model, curves are well-formed."""

import numpy as np
import pandas as pd
import pytest
from sklearn.linear_model import LinearRegression, LogisticRegression
from sklearn.metrics import roc_auc_score

from mlgate.core.evaluation import MAX_CURVE_POINTS, TASK_METRICS, evaluate


@pytest.fixture(scope="module")
def data():
    rng = np.random.default_rng(1)
    X = pd.DataFrame({"a": rng.normal(size=3000), "b": rng.normal(size=3000)})
    y = (X.a + 0.5 * rng.normal(size=3000) > 0).astype(int)
    return X, y


def test_metrics_match_sklearn_and_are_informative(data):
    X, y = data
    model = LogisticRegression().fit(X, y)
    result = evaluate(model, X.assign(t=y), "t")
    m = result["metrics"]
    assert set(m) == set(TASK_METRICS["classification"])
    assert m["roc_auc"] == pytest.approx(roc_auc_score(y, model.predict_proba(X)[:, 1]), abs=1e-6)
    assert m["roc_auc"] > 0.9 and m["log_loss"] < 0.4


def test_curves_are_thinned_monotone_and_bounded(data):
    X, y = data
    result = evaluate(LogisticRegression().fit(X, y), X.assign(t=y), "t")
    roc = pd.DataFrame(result["roc"])
    assert 2 < len(roc) <= MAX_CURVE_POINTS
    assert roc.fpr.is_monotonic_increasing and roc.tpr.is_monotonic_increasing
    assert (roc.iloc[0].fpr, roc.iloc[-1].tpr) == (0.0, 1.0)
    assert len(result["pr"]) <= MAX_CURVE_POINTS
    assert list(result["confusion"].columns) == ["actual", "predicted"]
    assert len(result["confusion"]) == len(X)


def test_random_model_scores_near_chance(data):
    X, y = data
    noise = X.assign(a=np.random.default_rng(2).normal(size=len(X)), b=0.0)
    m = evaluate(LogisticRegression().fit(noise, y), noise.assign(t=y), "t")["metrics"]
    assert 0.4 < m["roc_auc"] < 0.6


def test_multiclass_metrics_are_macro_averaged_without_curves():
    rng = np.random.default_rng(3)
    X = pd.DataFrame({"a": rng.normal(size=900), "b": rng.normal(size=900)})
    y = pd.Series(np.digitize(X.a + 0.3 * rng.normal(size=900), [-0.5, 0.5]))
    result = evaluate(LogisticRegression().fit(X, y), X.assign(t=y), "t")
    assert result["metrics"]["roc_auc"] > 0.85 and "roc" not in result
    assert set(result["confusion"].predicted) == {0, 1, 2}


def test_regression_metrics_and_residuals():
    rng = np.random.default_rng(4)
    X = pd.DataFrame({"signal": rng.normal(size=1500), "noise": rng.normal(size=1500)})
    y = 3 * X.signal + 0.5 * rng.normal(size=1500)
    model = LinearRegression().fit(X, y)
    result = evaluate(model, X.assign(t=y), "t", task="regression")
    m = result["metrics"]
    assert set(m) == set(TASK_METRICS["regression"]) and m["r2"] > 0.95
    assert m["rmse"] == pytest.approx(0.5, abs=0.05)
    rows = pd.DataFrame(result["predictions"])
    assert np.allclose(rows.actual - rows.predicted, rows.residual, atol=1e-5)


@pytest.mark.parametrize(("metric", "y", "pred", "labels", "why"), [
    ("accuracy", [1, 1], [1, 0], [0, 1], None),
    ("log_loss", [1, 1], [1, 0], [0, 1], None),
    ("roc_auc", [1, 1], [1, 0], [0, 1], "class(es) [0] absent from the labels"),
    ("recall", [0, 0], [1, 0], [0, 1], "class(es) [1] absent from the labels"),
    ("recall", [1, 0], [0, 0], [0, 1], None),
    ("precision", [1, 0], [0, 0], [0, 1], "class(es) [1] never predicted"),
    ("f1", [0, 0], [0, 0], [0, 1], "class(es) [1] neither among the labels nor predicted"),
    ("f1", [0, 0], [1, 0], [0, 1], None),
    ("recall", ["a", "b"], ["a", "b"], ["a", "b", "c"],
     "class(es) ['c'] absent from the labels"),
    ("balanced_accuracy", ["a", "a"], ["a", "b"], ["a", "b", "c"], None),
    ("rmse", [1.0], [2.0], None, None),
    ("r2", [1.0, 1.0], [2.0, 1.0], None, "a constant target: R2 is undefined"),
    ("accuracy", [], [], [0, 1], "no rows"),
])
def test_a_metric_is_undefined_only_where_its_formula_is(metric, y, pred, labels, why):
    from mlgate.core.evaluation import undefined_reason

    assert undefined_reason(metric, pd.Series(y, dtype=object if y and isinstance(y[0], str)
                                              else None), np.asarray(pred), labels) == why


def test_balanced_accuracy_is_a_test_metric(data):
    from sklearn.metrics import balanced_accuracy_score

    X, y = data
    model = LogisticRegression().fit(X, y)
    m = evaluate(model, X.assign(t=y), "t")["metrics"]
    assert m["balanced_accuracy"] == pytest.approx(balanced_accuracy_score(y, model.predict(X)),
                                                   abs=1e-6)
