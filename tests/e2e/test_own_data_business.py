"""Your own data: a churn-style business table and a regression in its own units."""

import pandas as pd
import pytest

from mlgate.adapters.tracking import feature_steps
from mlgate.base.io import read_model
from tests.e2e.conftest import Repo, check_champion_and_selection, load, onboard_and_run
from tests.tables import churn, diabetes

pytestmark = pytest.mark.e2e


def add_features(profile: dict) -> None:
    """What a user adds to the written profile: the signup date's parts (signup leaves
    split.drop_columns: the model takes it), grouped plans, a ratio; no code."""
    assert profile["features"] == {"derive": {}, "group_rare": {}, "date_parts": {}}
    profile["split"]["drop_columns"].remove("signup")
    profile["features"] = {"date_parts": {"signup": ["month", "weekday"]},
                           "group_rare": {"plan": {"top": 2}},
                           "derive": {"tenure_years": "tenure_months / 12"}}


def test_business_table_with_id_date_text_categoricals_and_gaps(repo: Repo):
    """An id, a date stored as text, string categoricals with missing values, yes/no labels;
    the user adds features to the written profile."""
    out = onboard_and_run(repo, "churn", churn(), "churned", edit=add_features)
    data = out["params"]["data"]
    assert set(data["drop_columns"]) == {"customer_id", "source_system", "notes"}
    assert data["datetime"] == {"signup": None} and data["categorical"] == ["region", "plan"]
    assert out["params"]["split"]["current"].startswith("signup >= '2022-")
    check_champion_and_selection(out, "churn", "AUC", "Accuracy")
    raw = load(repo, "data/raw/dataset.parquet")
    assert str(raw.signup.dtype) == "datetime64[ns]" and raw.region.isna().sum() > 200
    scored = load(repo, "data/predictions/current.parquet")
    assert scored.region.isna().any() and scored.prediction.isin(["no", "yes"]).all()
    assert "signup" in scored.columns, "the model takes the raw date and makes its parts"
    model = read_model(repo.path / "models/model.pkl")
    steps = feature_steps(model)
    assert [r["key"] for r in steps.rules] == ["features.derive.tenure_years",
                                               "features.group_rare.plan",
                                               "features.date_parts.signup"]
    assert len(steps.fitted_["features.group_rare.plan"]) == 2
    assert "signup" in model.feature_names_in_
    # explained per model input: the one-hot levels of `region` are one feature; declared
    # features keep their names and say what they are made from
    features = {f["feature"]: f for f in out["explain"]["features"]}
    assert "region" in features and not any(n.startswith("region_") for n in features)
    assert features["tenure_years"]["engineered"]
    assert features["tenure_years"]["uses"] == ["tenure_months"]
    parts = {n: f for n, f in features.items()
             if f["made_by"] == "features.date_parts.signup"}
    assert set(parts) == {"signup_month", "signup_weekday"}
    assert all(f["uses"] == ["signup"] and f["engineered"] for f in parts.values())
    assert not features["plan"]["engineered"]  # grouped in place: still the input `plan`
    slices = [c for c in out["gate"]["checks"] if c["kind"] == "slice"]
    assert slices and all(c["metric"] == "accuracy" for c in slices)
    assert {c["status"] for c in slices} <= {"pass", "fail", "unchecked"}


def test_regression_in_its_own_units(repo: Repo):
    """Diabetes progression: RMSE ~55, judged against the mean predictor, not RAND HIE's 1.5."""
    out = onboard_and_run(repo, "diabetes", diabetes(), "target")
    assert out["params"]["task"]["type"] == "regression"
    assert out["params"]["gate"]["thresholds"] == {}
    check_champion_and_selection(out, "diabetes", "RMSE", "R2")
    baseline = out["gate"]["baseline"]["metrics"]
    assert out["metrics"]["rmse"] < 0.95 * baseline["rmse"] and baseline["rmse"] > 40
    assert pd.Series(out["score"]).get("prediction_mean", 0) > 50
