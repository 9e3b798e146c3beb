"""Explanations: each explainer's SHAP values add up to the model's output, encoded columns
are summed back to their input, engineered features keep their name, caps are enforced."""

import copy

import numpy as np
import pandas as pd
import pytest

from mlgate.base.errors import ConfigError, DataError
from mlgate.core.explain import (
    AGNOSTIC,
    LINEAR,
    TREE,
    ExplainConfig,
    explain,
    explainer_kind,
    importance_rows,
    reasons,
    summary,
    with_reasons,
)
from mlgate.engines.selection import train_model
from tests.defaults import ROOT, conf_section, train_config
from tests.tables import wine

CFG = ExplainConfig(agnostic_max_rows=60, background_rows=30, seed=0)
DATA = {"target": "binexp", "categorical": ["plan", "site"]}
FEATURES = {"derive": {"income_per_person": "income / num"}}


@pytest.fixture(scope="module")
def sample(randhie_sample):
    return randhie_sample.head(900)


@pytest.fixture(scope="module")
def trained(sample):
    """A PyCaret pipeline with a declared feature, one-hot levels and a scaler."""
    from mlgate.engines.training import with_features

    cfg = train_config(DATA, {"estimators": ["lr"], "fold": 2, "seed": 1})
    cfg = with_features(cfg, conf_section("features", FEATURES), sample.iloc[:700], None, ROOT)
    return train_model(sample.iloc[:700], cfg).model


def swapped(model, estimator, X, y):
    """The same pipeline with another final estimator, refitted."""
    out = copy.deepcopy(model)
    out.steps[-1] = (out.steps[-1][0], estimator)
    return out.fit(X, y)


def margin(model, X):
    """The estimator's raw output on X: log-odds (decision function) of the positive class."""
    Z = model.transform(X)
    est = model.steps[-1][1]
    if hasattr(est, "booster_"):
        return est.predict(Z, raw_score=True)
    return est.decision_function(Z)


def test_explainer_is_chosen_by_the_estimator():
    from lightgbm import LGBMClassifier
    from sklearn.ensemble import RandomForestRegressor
    from sklearn.linear_model import LogisticRegression
    from sklearn.naive_bayes import GaussianNB

    assert explainer_kind(LGBMClassifier()) == TREE
    assert explainer_kind(RandomForestRegressor()) == TREE
    assert explainer_kind(LogisticRegression().fit([[0], [1]], [0, 1])) == LINEAR
    assert explainer_kind(LogisticRegression()) == AGNOSTIC  # unfitted: no coef_
    assert explainer_kind(GaussianNB()) == AGNOSTIC


def test_linear_values_add_up_and_levels_sum_back_to_their_column(trained, sample):
    X = sample.iloc[700:].drop(columns=["binexp"])
    bg = sample.iloc[:700].drop(columns=["binexp"])
    expl = explain(trained, X, bg, CFG, classes=[0, 1])
    assert expl.explainer == LINEAR and expl.values.shape == (len(X), len(expl.features))
    # one-hot levels of `plan` and `site` are one feature each; the derived one keeps its name
    names = expl.names
    assert "plan" in names and "site" in names
    assert not any(n.startswith(("plan_", "site_")) for n in names)
    made = {f.name: f for f in expl.features}["income_per_person"]
    assert made.engineered and made.uses == ("income", "num")
    assert made.made_by == "features.derive.income_per_person"
    assert len(expl.columns) > len(names)  # more transformed columns than model inputs
    # additivity: the values and the expected value give the model's log-odds on every row
    total = expl.values.sum(axis=1) + expl.base[0]
    np.testing.assert_allclose(total, margin(trained, X), atol=1e-6)


def test_tree_values_add_up_to_the_log_odds(trained, sample):
    from lightgbm import LGBMClassifier

    X, y = sample.drop(columns=["binexp"]), sample.binexp
    model = swapped(trained, LGBMClassifier(n_estimators=30, verbose=-1), X.iloc[:700],
                    y.iloc[:700])
    expl = explain(model, X.iloc[700:], X.iloc[:700], CFG, classes=[0, 1])
    assert expl.explainer == TREE and expl.output == "log-odds"
    np.testing.assert_allclose(expl.values.sum(axis=1) + expl.base[0],
                               margin(model, X.iloc[700:]), atol=1e-6)


def test_model_agnostic_is_capped_refused_or_sampled(trained, sample):
    from sklearn.naive_bayes import GaussianNB

    X, y = sample.drop(columns=["binexp"]), sample.binexp
    model = swapped(trained, GaussianNB(), X.iloc[:700], y.iloc[:700])
    batch = X.iloc[700:]  # 200 rows > the cap of 60
    with pytest.raises(DataError, match=r"200 rows.*explain.agnostic_max_rows = 60"):
        explain(model, batch, X.iloc[:700], CFG, classes=[0, 1])
    expl = explain(model, batch, X.iloc[:700], CFG, classes=[0, 1], sample=True)
    assert expl.explainer == AGNOSTIC and expl.sampled_from == 200 and len(expl.inputs) == 60
    # the permutation explainer is additive: values + base = P(positive) on each row
    proba = model.predict_proba(expl.inputs[list(X.columns)])[:, 1]
    np.testing.assert_allclose(expl.values.sum(axis=1) + expl.base[0], proba, atol=1e-6)


def test_multiclass_is_explained_per_class_and_rows_by_their_predicted_class():
    from sklearn.linear_model import LogisticRegression

    df = wine()
    X, y = df.drop(columns=["cultivar"]), df["cultivar"]
    model = LogisticRegression(max_iter=2000).fit(X, y)
    labels = sorted(y.unique().tolist())
    expl = explain(model, X.iloc[:40], X, CFG, classes=labels)
    assert expl.values.shape == (40, X.shape[1], len(labels)) and expl.classes == labels
    rows = importance_rows(expl)
    by_class = summary(expl)["features"][0]["by_class"]
    assert set(by_class) == {str(c) for c in labels}
    assert rows[0]["importance"] == pytest.approx(sum(by_class.values()), abs=1e-5)
    pred = model.predict(X.iloc[:40])
    found = reasons(expl, 2, pred)
    first = found.iloc[0]
    k = labels.index(pred[0])
    column = list(X.columns).index(first["reason_1"])
    assert first["reason_1_contribution"] == pytest.approx(expl.values[0, column, k], abs=1e-6)
    assert abs(first["reason_1_contribution"]) >= abs(first["reason_2_contribution"])
    with pytest.raises(ConfigError, match="predicted classes"):
        reasons(expl, 2)


def test_reasons_are_the_largest_contributions_with_their_values(trained, sample):
    X = sample.iloc[700:720].drop(columns=["binexp"]).reset_index(drop=True)
    scored = X.assign(prediction=trained.predict(X))
    out = with_reasons(scored, list(X.columns), trained, sample.drop(columns=["binexp"]), CFG,
                       "classification", 3)
    assert list(out.columns[-9:]) == [f"reason_{i}{s}" for i in (1, 2, 3)
                                      for s in ("", "_value", "_contribution")]
    expl = explain(trained, X, sample.drop(columns=["binexp"]), CFG, classes=[0, 1])
    row = 5
    top = np.argsort(-np.abs(expl.values[row]))[:3]
    assert out.loc[row, "reason_1"] == expl.names[top[0]]
    assert out.loc[row, "reason_3"] == expl.names[top[2]]
    name = out.loc[row, "reason_1"]
    assert out.loc[row, "reason_1_value"] == str(expl.inputs.loc[row, name])


@pytest.mark.parametrize("section, match", [
    ({"agnostic_max_rows": 0, "background_rows": 10, "seed": 0}, "explain.agnostic_max_rows"),
    ({"agnostic_max_rows": 10, "background_rows": "x", "seed": 0}, "explain.background_rows"),
    ({"agnostic_max_rows": 10, "background_rows": 10}, "explain.seed"),
])
def test_bad_explain_config_names_the_key(section, match):
    with pytest.raises(ConfigError, match=match):
        ExplainConfig.from_params(section)


def test_a_regression_tree_adds_up_to_the_prediction(randhie):
    from sklearn.ensemble import RandomForestRegressor

    df = randhie[["income", "xage", "educdec", "num", "mdeoff"]].dropna().head(400)
    X, y = df.drop(columns=["mdeoff"]), df["mdeoff"]
    model = RandomForestRegressor(20, random_state=0).fit(X, y)
    expl = explain(model, X.head(50), X, CFG, task="regression")
    assert expl.values.shape == (50, 4) and expl.classes is None
    np.testing.assert_allclose(expl.values.sum(axis=1) + expl.base[0],
                               model.predict(X.head(50)), rtol=1e-6, atol=1e-6)
    assert isinstance(importance_rows(expl)[0]["importance"], float)
    assert isinstance(pd.DataFrame(importance_rows(expl)), pd.DataFrame)
