"""Onboarding: what `mlgate data add` infers about a table, on small frames built here."""

import numpy as np
import pandas as pd
import pytest
import yaml

from mlgate.base.errors import ConfigError, DataError
from mlgate.base.frames import row_mask
from mlgate.core.onboard import infer_profile, looks_like_dates, prepared
from mlgate.core.profile_file import render, scalar

N = 400


@pytest.fixture
def table() -> pd.DataFrame:
    """A business-like table: id, date text, categoricals with gaps, constant, text, label."""
    rng = np.random.default_rng(0)
    df = pd.DataFrame({
        "id": [f"u{i:05d}" for i in rng.permutation(N)],
        "row": np.arange(N),
        "signup": (pd.Timestamp("2022-01-01")
                   + pd.to_timedelta(rng.integers(0, 365, N), unit="D")).strftime("%Y-%m-%d"),
        "region": rng.choice(["north", "south", "east"], N).astype(object),
        "score": rng.normal(size=N),
        "visits": rng.integers(0, 40, N),
        "member": rng.choice([True, False], N),
        "source": "crm",
        "empty": np.nan,
        "comment": [f"note {i} about {rng.integers(1e6)}" for i in range(N)],
    })
    df.loc[rng.choice(N, 20, replace=False), "region"] = None
    df["label"] = np.where(df.score + rng.normal(scale=0.5, size=N) > 0.3, "yes", "no")
    return df


def roles(prof) -> dict[str, str]:
    return {name: col.role for name, col in prof.columns.items()}


def test_kinds_roles_and_reasons(table):
    prof = infer_profile(table, "label", "t", "data/external/t.csv")
    assert roles(prof) == {"id": "identifier", "row": "identifier", "signup": "datetime",
                           "region": "feature", "score": "feature", "visits": "feature",
                           "member": "feature", "source": "constant", "empty": "constant",
                           "comment": "text", "label": "target"}
    c = prof.columns
    assert (c["score"].kind, c["visits"].kind, c["member"].kind, c["signup"].kind) == (
        "numeric", "integer", "bool", "datetime")
    assert c["region"].categories == ["east", "north", "south"]
    assert c["region"].null_share == pytest.approx(20 / N)
    assert c["visits"].categories is None, "an integer count is not a category"
    assert "unique in every row" in c["id"].reason and "'crm'" in c["source"].reason
    assert c["empty"].reason == "every value is missing"
    assert prof.categorical == ["region", "member"]


def test_target_task_labels_and_balance(table):
    prof = infer_profile(table, "label", "t", "t.csv")
    assert (prof.task, prof.labels) == ("classification", ["no", "yes"])
    assert sum(prof.label_shares.values()) == pytest.approx(1.0, abs=1e-3)
    assert prof.label_shares["yes"] == pytest.approx((table.label == "yes").mean(), abs=1e-4)


@pytest.mark.parametrize(("values", "task", "expected"), [
    (np.tile([0, 1], N // 2), "auto", "classification"),
    (np.tile([True, False], N // 2), "auto", "classification"),
    (np.tile(["a", "b", "c", "d"], N // 4), "auto", "multiclass"),
    (np.tile([1, 2, 3], N // 3 + 1)[:N], "auto", "multiclass"),
    (np.linspace(0, 1, N), "auto", "regression"),
    (np.arange(N) % 100, "auto", "regression"),       # 100 integer values: a quantity
    (np.tile([1, 2, 3], N // 3 + 1)[:N], "regression", "regression"),
    (np.linspace(0, 1, N).round(1), "classification", "multiclass"),
])
def test_task_inference(values, task, expected):
    df = pd.DataFrame({"x": np.arange(N) * 0.5, "y": values})
    assert infer_profile(df, "y", "t", "t.csv", task=task).task == expected


@pytest.mark.parametrize(("values", "task", "match"), [
    (["a"] * N, "auto", "needs at least 2 distinct values"),
    ([f"c{i % 60}" for i in range(N)], "auto", "more than 50 classes"),
    (np.tile(["a", "b"], N // 2), "regression", "not numeric"),
])
def test_unusable_targets_are_named(values, task, match):
    df = pd.DataFrame({"x": np.arange(N), "y": values})
    with pytest.raises(DataError, match=match):
        infer_profile(df, "y", "t", "t.csv", task=task)


def test_missing_target_column_lists_the_columns():
    with pytest.raises(DataError, match=r"t.csv: no column `churn`.*columns: a, b"):
        infer_profile(pd.DataFrame({"a": [1, 2], "b": [3, 4]}), "churn", "t", "t.csv")


def test_unlabelled_rows_are_filtered_and_rare_classes_warned():
    df = pd.DataFrame({"x": np.arange(N) * 1.0,
                       "y": ["a"] * 200 + ["b"] * 190 + ["c"] * 4 + [None] * 6})
    prof = infer_profile(df, "y", "t", "t.csv")
    assert prof.target_filter == "y.notna()" and row_mask(df, prof.target_filter, "f").sum() == 394
    assert any("6 row(s) have no `y`" in w for w in prof.warnings)
    assert any("fewer than 10 rows: {'c': 4}" in w for w in prof.warnings)


def test_dates_in_text_need_a_date_shape_and_a_format():
    assert looks_like_dates(pd.Series(["2022-10-26", "2023-01-02"] * 10)) == (True, None)
    assert looks_like_dates(pd.Series(["26/10/2022", "13/01/2023"] * 10)) == (True, "%d/%m/%Y")
    assert looks_like_dates(pd.Series(["2022", "2023"] * 10))[0] is False
    assert looks_like_dates(pd.Series(["north", "south"] * 10))[0] is False
    assert looks_like_dates(pd.Series(["12.5", "13.25"] * 10))[0] is False


def test_current_batch_by_datetime_with_a_later_retrain_cut(table):
    prof = infer_profile(table, "label", "t", "t.csv")
    assert prof.current.startswith("signup >= '2022-") and prof.current_share is None
    mask = row_mask(prepared(table, prof.columns), prof.current, "split.current")
    assert 0.15 <= mask.mean() <= 0.25
    later = prof.retrain[0].split("=", 1)[1].strip("'").replace('"', "'")
    folded = row_mask(prepared(table, prof.columns), later, "retrain")
    assert (folded <= mask).all() and 0.05 <= folded.mean() <= 0.15


def test_current_batch_by_period_as_randhie_is_curated(randhie):
    df = randhie[["year", "xage", "income", "binexp"]]
    prof = infer_profile(df, "binexp", "r", "r.csv")
    assert prof.columns["year"].role == "period"
    assert prof.current == "year >= 4" and prof.retrain == ["split.current='year >= 5'"]


def test_current_batch_by_seeded_share_without_a_time_column():
    df = pd.DataFrame({"x": np.arange(N) * 0.1, "tenure_months": np.arange(N) % 7,
                       "y": np.tile([0, 1], N // 2)})
    prof = infer_profile(df, "y", "t", "t.csv")
    assert prof.columns["tenure_months"].role == "feature", "a duration, not a period"
    assert (prof.current, prof.current_share) == (None, 0.2)
    assert prof.retrain == ["split.current_share=0.1"]


def test_current_given_is_checked():
    df = pd.DataFrame({"x": np.arange(N) * 1.0, "y": np.tile([0, 1], N // 2)})
    assert infer_profile(df, "y", "t", "t.csv", current="x >= 300").current == "x >= 300"
    with pytest.raises(ConfigError, match="--current 'x > 1e9' selects 0 of"):
        infer_profile(df, "y", "t", "t.csv", current="x > 1e9")


def test_slices_prefer_group_names_and_big_enough_levels():
    rng = np.random.default_rng(3)
    n = 5000
    df = pd.DataFrame({"gender": rng.choice(["f", "m"], n), "flag": rng.choice([0, 1], n),
                       "stars": rng.integers(1, 6, n),
                       "tiny": rng.choice(["a", "b"], n, p=[0.97, 0.03]),
                       "x": rng.normal(size=n)})
    df["y"] = (df.x > 0).astype(int)
    prof = infer_profile(df, "y", "t", "t.csv", slice_min_rows=100)
    assert list(prof.slices) == ["gender", "flag"], \
        "hinted first; a 1-5 score is not a group; `tiny` has one level too small to check"
    assert prof.slices["gender"] == {"accuracy": {"min": 0.5}}
    small = infer_profile(df.head(400), "y", "t", "t.csv", slice_min_rows=100)
    assert small.slices == {} and "test rows" in small.slice_reason


def test_regression_slice_floor_is_the_target_spread():
    rng = np.random.default_rng(4)
    df = pd.DataFrame({"site": rng.choice(["a", "b"], 4000), "x": rng.normal(size=4000)})
    df["y"] = 10 * df.x + rng.normal(size=4000)
    prof = infer_profile(df, "y", "t", "t.csv")
    assert prof.task == "regression"
    assert prof.slices["site"]["rmse"]["max"] == pytest.approx(df.y.std(), rel=0.01)


def test_important_columns_are_the_informative_ones():
    rng = np.random.default_rng(5)
    df = pd.DataFrame({f"noise{i}": rng.normal(size=2000) for i in range(4)})
    df["signal"] = rng.normal(size=2000)
    df["y"] = np.where(df.signal > 0, "up", "down")
    assert infer_profile(df, "y", "t", "t.csv").important[0] == "signal"


def test_rendered_profile_is_valid_yaml_with_every_value(table):
    table = table.rename(columns={"score": "my score"})
    prof = infer_profile(table, "label", "shop", "data/external/shop.csv")
    text = render(prof, "mlgate data add data/external/shop.csv --target label", "2026-12-01")
    spec = yaml.safe_load(text)
    assert spec["defaults"] == [{"override /task": "classification"}]
    assert spec["data"]["drop_columns"] == ["id", "row", "source", "empty", "comment"]
    assert spec["data"]["datetime"] == {"signup": None}
    assert spec["validate"]["target_values"] == ["no", "yes"], "quoted: YAML 1.1 booleans"
    assert spec["validate"]["columns"]["my score"] == "numeric"
    assert spec["validate"]["null_share"] == {"region": 0.1}
    assert spec["split"]["drop_columns"] == ["signup"]
    assert spec["gate"]["model_name"] == "mlgate-shop"
    assert spec["gate"]["shadow"] == {"metric": "roc_auc"}  # binary: judged on ROC AUC
    assert spec["drift"]["retrain"]["overrides"] == prof.retrain
    assert "# not features: why, per column, below" in text and "#   id: unique" in text


@pytest.mark.parametrize(("value", "text"), [
    ("no", '"no"'), ("x y", '"x y"'), ("1.5", '"1.5"'), ("${oops}", '"\\${oops}"'),
    ("data/external/t.csv", "data/external/t.csv"), (3, "3"), (None, "null"), (True, "true"),
])
def test_scalars_are_quoted_only_when_yaml_needs_it(value, text):
    assert scalar(value) == text


def test_a_feature_that_alone_predicts_the_target_is_flagged_not_dropped():
    rng = np.random.default_rng(6)
    df = pd.DataFrame({"x": rng.normal(size=1000), "spend": rng.exponential(size=1000)})
    df["any_spend"] = (rng.random(1000) < 0.7).astype(int)
    df.loc[df.any_spend == 0, "spend"] = 0.0  # measured after the target: leakage
    prof = infer_profile(df, "any_spend", "t", "t.csv")
    assert prof.leakage == {"spend": 1.0} and prof.columns["spend"].role == "feature"
    assert any(w.startswith("possible leakage: spend (ROC AUC 1.0)") for w in prof.warnings)
    assert "# measured after the target: spend (1.0)" in render(prof, "cmd", "today")
    reg = df.assign(total=df.spend * 2 + 1)
    assert "total" in infer_profile(reg, "spend", "t", "t.csv").leakage


def test_a_categorical_with_a_rare_value_is_not_checked_when_scoring():
    df = pd.DataFrame({"tier": ["gold"] * 3 + ["silver"] * 200 + ["bronze"] * 197,
                       "x": np.arange(N) * 1.0, "y": np.tile([0, 1], N // 2)})
    prof = infer_profile(df, "y", "t", "t.csv")
    assert prof.categorical == [] and prof.rare_categorical == ["tier"]
    assert prof.columns["tier"].categories == ["bronze", "gold", "silver"], "still validated"
    assert "#   not tier: its rarest value is on 3 row(s)" in render(prof, "cmd", "today")
