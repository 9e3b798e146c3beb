"""Train: PyCaret compare + finalize on a small sample; config errors named."""

import numpy as np
import pytest
from sklearn.metrics import roc_auc_score

from mlgate.errors import ConfigError, DataError
from mlgate.evaluation import predict_scores
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
