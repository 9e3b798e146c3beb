"""Train: PyCaret compare + finalize on a small sample; config errors named."""

import copy

import numpy as np
import pandas as pd
import pytest
from sklearn.metrics import roc_auc_score

from mlgate.errors import ConfigError, DataError
from mlgate.evaluation import predict_scores
from mlgate.scoring import labels_and_proba, predicts_by_argmax
from mlgate.training import TrainConfig, metric_name, train_model

DATA = {"target": "binexp", "categorical": ["plan", "site"]}


@pytest.fixture(scope="module")
def sample(randhie, params):
    df = randhie.drop(columns=[*params["data"]["drop_columns"], "year"])
    return df.sample(1200, random_state=0).reset_index(drop=True)


@pytest.fixture(scope="module")
def trained(sample):
    cfg = TrainConfig.from_params(DATA, {"estimators": ["lr", "dt"], "fold": 2, "seed": 1})
    return train_model(sample.iloc[:900], cfg)


def test_compare_picks_best_by_sort_metric(trained):
    board = trained.leaderboard
    assert set(board.index) == {"lr", "dt"}
    assert trained.best_id == board["AUC"].idxmax()
    assert trained.cv_metrics["cv_auc"] == board.loc[trained.best_id, "AUC"]
    assert all(k.replace("_", "").isalnum() for k in trained.cv_metrics)


def test_finalized_model_predicts_raw_rows_better_than_chance(trained, sample):
    holdout = sample.iloc[900:]
    X = holdout.drop(columns=["binexp"])
    proba = trained.model.predict_proba(X)[:, 1]
    assert set(np.unique(trained.model.predict(X))) <= {0, 1}
    assert roc_auc_score(holdout.binexp, proba) > 0.6



def check_one_pass_scoring(model, X):
    """labels_and_proba (preprocessing once) == the pipeline's own predict / predict_proba."""
    labels, proba = labels_and_proba(model, X)
    np.testing.assert_array_equal(labels, model.predict(X))
    np.testing.assert_array_equal(proba, model.predict_proba(X))


def test_one_pass_scoring_equals_predict_and_predict_proba(trained, sample):
    check_one_pass_scoring(trained.model, sample.iloc[900:].drop(columns=["binexp"]))


ESTIMATORS = {  # final estimator -> labels taken from predict_proba's argmax?
    "DecisionTreeClassifier": True, "RandomForestClassifier": True,
    "ExtraTreesClassifier": True, "LGBMClassifier": True, "LogisticRegression": False,
    "SVC": False,
}


def make_estimator(name):
    """A small, seeded instance of one final estimator."""
    from lightgbm import LGBMClassifier
    from sklearn import ensemble, linear_model, svm, tree

    return {"DecisionTreeClassifier": lambda: tree.DecisionTreeClassifier(random_state=0),
            "RandomForestClassifier": lambda: ensemble.RandomForestClassifier(20, random_state=0),
            "ExtraTreesClassifier": lambda: ensemble.ExtraTreesClassifier(20, random_state=0),
            "LGBMClassifier": lambda: LGBMClassifier(n_estimators=30, verbose=-1),
            "LogisticRegression": lambda: linear_model.LogisticRegression(max_iter=500),
            "SVC": lambda: svm.SVC(probability=True, random_state=0)}[name]()


@pytest.mark.parametrize("name", ESTIMATORS)
def test_one_pass_scoring_is_exact_for_every_final_estimator(trained, sample, name):
    """Labels by argmax only where predict is argmax by construction; same outputs either way."""
    model = copy.deepcopy(trained.model)
    model.steps[-1] = (model.steps[-1][0], make_estimator(name))
    model.fit(sample.iloc[:900].drop(columns=["binexp"]), sample.binexp.iloc[:900])
    assert predicts_by_argmax(model.steps[-1][1]) is ESTIMATORS[name]
    check_one_pass_scoring(model, sample.drop(columns=["binexp"]))


def test_scoring_is_independent_of_column_order(trained, sample):
    X = sample.iloc[900:].drop(columns=["binexp"])
    _, proba = predict_scores(trained.model, X, "binexp")
    _, shuffled = predict_scores(trained.model, X[X.columns[::-1]], "binexp")
    np.testing.assert_allclose(shuffled, proba)
    with pytest.raises(DataError, match=r"lacks column\(s\).*'income'"):
        predict_scores(trained.model, X.drop(columns=["income"]), "binexp")


def test_unknown_estimator_is_named(sample):
    cfg = TrainConfig.from_params(DATA, {"estimators": ["lr", "xgboostt"], "fold": 2})
    with pytest.raises(ConfigError, match=r"unknown PyCaret model id\(s\) \['xgboostt'\]"):
        train_model(sample.iloc[:200], cfg)


@pytest.mark.parametrize(("section", "match"), [
    ({"estimators": []}, "train.estimators"),
    ({"estimators": ["lr"], "setup": {"n_jobs": 4}}, r"train.setup.*n_jobs"),
    ({"estimators": ["lr"], "folds": 3}, "train.folds"),
])
def test_bad_train_config(section, match):
    with pytest.raises(ConfigError, match=match):
        TrainConfig.from_params(DATA, section)


def test_metric_names_are_mlflow_safe():
    assert metric_name("TT (Sec)") == "cv_tt_sec" and metric_name("Prec.") == "cv_prec"


def test_regression_task_sorts_by_lower_rmse(randhie, params):
    df = randhie[randhie.binexp == 1].drop(columns=[*params["data"]["drop_columns"], "year",
                                                    "binexp"])
    df = df.assign(lnmeddol=randhie.loc[df.index, "lnmeddol"]).sample(600, random_state=0)
    cfg = TrainConfig.from_params({"target": "lnmeddol"}, {
        "estimators": ["lr", "dt"], "fold": 2, "sort": "RMSE"}, task="regression")
    result = train_model(df, cfg)
    board = result.leaderboard
    assert result.best_id == board["RMSE"].idxmin() and "R2" in board.columns
    assert np.isfinite(result.model.predict(df.drop(columns=["lnmeddol"]))).all()


def test_multiclass_with_tuning_and_candidate_callback():
    rng = np.random.default_rng(5)
    X = pd.DataFrame({"a": rng.normal(size=450), "b": rng.normal(size=450),
                      "c": rng.integers(0, 4, size=450)})
    y = np.array(["low", "mid", "high"])[np.digitize(X.a + 0.2 * rng.normal(size=450),
                                                     [-0.4, 0.4])]  # PyCaret encodes them
    seen = []
    cfg = TrainConfig.from_params({"target": "y"}, {
        "estimators": ["lr", "dt"], "fold": 2, "sort": "Accuracy",
        "tune": {"enabled": True, "n_iter": 2, "grid": {"dt": {"max_depth": [2, 3]}}}})
    result = train_model(X.assign(y=y), cfg, seen.append)
    assert [c.id for c in seen] == ["lr", "dt", f"{result.best_id}_tuned"]
    assert result.tuned is not None and "AUC" in result.tuned.cv
    assert set(result.model.predict(X)) == {"low", "mid", "high"}
    assert result.model.predict_proba(X).shape == (450, 3)
    check_one_pass_scoring(result.model, X)
    assert result.cv_metrics["cv_accuracy"] == result.tuned.cv["Accuracy"]


def test_bad_task_and_sort_are_named(sample):
    with pytest.raises(ConfigError, match="task.type"):
        TrainConfig.from_params(DATA, {"estimators": ["lr"]}, task="ranking")
    cfg = TrainConfig.from_params(DATA, {"estimators": ["lr"], "fold": 2, "sort": "RMSE"})
    with pytest.raises(ConfigError, match="train.sort"):
        train_model(sample.iloc[:300], cfg)


def test_tune_grid_that_does_not_fit_the_winner_is_named():
    rng = np.random.default_rng(6)
    X = pd.DataFrame({"a": rng.normal(size=300), "b": rng.normal(size=300)})
    cfg = TrainConfig.from_params({"target": "y"}, {
        "estimators": ["dt"], "fold": 2, "sort": "Accuracy",
        "tune": {"enabled": True, "n_iter": 2, "grid": {"dt": {"n_neighbors": [3, 5]}}}})
    with pytest.raises(ConfigError, match=r"train.tune.grid.dt"):
        train_model(X.assign(y=(X.a > 0).astype(int)), cfg)
