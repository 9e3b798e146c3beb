"""Unit tests for mlgate.core.scoring (batch and prediction checks) and `mlgate retrain`."""

from __future__ import annotations

import json

import numpy as np
import pandas as pd
import pytest
import yaml
from sklearn.linear_model import LinearRegression, LogisticRegression

from mlgate.adapters.experiments import retrain_command
from mlgate.base.errors import ConfigError, DataError, MlgateError
from mlgate.cli import main as cli
from mlgate.core.scoring import (
    MODEL_URI,
    PREDICTION,
    PROBABILITY,
    Profile,
    ScoringError,
    check_batch,
    check_predictions,
    check_probabilities,
    profile_from_frame,
    profile_from_signature,
    reference_sample,
    score_batch,
    score_report,
)
from tests.defaults import score_config, score_with

FEATURES = ["age", "income", "region", "member"]


def _table(n: int = 200, seed: int = 0) -> pd.DataFrame:
    """Float, float, integer-coded category, 0/1 integer, and a binary target `y`."""
    rng = np.random.default_rng(seed)
    df = pd.DataFrame({"age": rng.normal(40, 10, n), "income": rng.lognormal(9, 0.5, n),
                       "region": rng.choice([1, 2, 3], n), "member": rng.integers(0, 2, n)})
    df["y"] = (df["age"] + rng.normal(0, 5, n) > 40).astype(int)
    return df


@pytest.fixture(scope="module")
def train() -> pd.DataFrame:
    return _table()


@pytest.fixture(scope="module")
def profile(train: pd.DataFrame) -> Profile:
    return profile_from_frame(train, "y", ["region"])


@pytest.fixture(scope="module")
def model(train: pd.DataFrame) -> LogisticRegression:
    """A fitted classifier with feature_names_in_ (as a PyCaret pipeline has)."""
    return LogisticRegression(max_iter=500).fit(train[FEATURES], train["y"])


CFG = score_with()


# 1. Profile ---------------------------------------------------------------------------------

def test_profile_from_training_frame(profile: Profile, train: pd.DataFrame) -> None:
    assert profile.features == {"age": "float", "income": "float", "region": "integer",
                                "member": "integer"}
    assert profile.categories == {"region": [1, 2, 3]}
    assert set(profile.ranges) == {"age", "income", "member"}  # categorical: no range
    assert profile.ranges["age"] == [train["age"].min(), train["age"].max()]
    assert profile.labels == [0, 1] and profile.target_range is None
    assert Profile.from_dict(json.loads(json.dumps(profile.to_dict()))) == profile


def test_profile_errors_name_the_column(train: pd.DataFrame) -> None:
    with pytest.raises(DataError, match="`target`"):
        profile_from_frame(train, "target", [])
    with pytest.raises(ConfigError, match=r"data\.categorical.*'zone'"):
        profile_from_frame(train, "y", ["zone"])


def test_regression_profile_has_target_range(train: pd.DataFrame) -> None:
    prof = profile_from_frame(train, "income", [], task="regression")
    assert prof.labels is None
    assert prof.target_range == [train["income"].min(), train["income"].max()]


def test_profile_from_signature_uses_stored_categories(profile: Profile) -> None:
    inputs = [{"name": "age", "type": "double"}, {"name": "region", "type": "long"},
              {"name": "member", "type": "long"}, {"name": "income", "type": "double"}]
    bare = profile_from_signature(inputs, None, "y", "classification")
    assert bare.features == {"age": "float", "region": "integer", "member": "integer",
                             "income": "float"}
    assert bare.categories == {} and bare.labels is None
    full = profile_from_signature(inputs, profile, "y", "classification")
    assert list(full.features) == ["age", "region", "member", "income"]  # signature order
    assert full.categories == {"region": [1, 2, 3]} and full.labels == [0, 1]


# 2. Batch checks ----------------------------------------------------------------------------

def test_reordered_columns_are_aligned(profile: Profile, train: pd.DataFrame) -> None:
    batch = check_batch(train[["y", *FEATURES[::-1]]], profile, CFG, "batch.csv")
    assert list(batch.features.columns) == FEATURES
    assert batch.labels is not None and batch.labels.name == "y"
    pd.testing.assert_frame_equal(batch.features, train[FEATURES])


def test_labels_are_optional(profile: Profile, train: pd.DataFrame) -> None:
    assert check_batch(train[FEATURES], profile, CFG, "b").labels is None


def test_missing_and_extra_columns_are_named(profile: Profile, train: pd.DataFrame) -> None:
    bad = train.drop(columns=["income"]).assign(comment="x")
    with pytest.raises(ScoringError, match=r"batch\.csv: missing column\(s\).*`income`.*"
                                           r"not trained on: `comment`"):
        check_batch(bad, profile, CFG, "batch.csv")
    dropping = score_with(extra_columns="drop")
    assert list(check_batch(train.assign(comment="x"), profile, dropping, "b").features) == \
        FEATURES


def test_wrong_dtype_is_named_with_an_example(profile: Profile, train: pd.DataFrame) -> None:
    bad = train.astype({"income": object})
    bad.loc[3, "income"] = "unknown"
    with pytest.raises(ScoringError, match=r"`income`: expected float, found object "
                                           r"\(e\.g\. 'unknown'\)"):
        check_batch(bad, profile, CFG, "batch.csv")


def test_integer_column_read_as_float(profile: Profile, train: pd.DataFrame) -> None:
    whole = check_batch(train.astype({"region": float}), profile, CFG, "b")
    assert whole.features["region"].dtype == np.int64
    with pytest.raises(ScoringError, match=r"`region`: expected integer, found float \(e\.g\. "
                                           r"\d\.5\)"):
        check_batch(train.assign(region=train["region"] + 0.5), profile, CFG, "b")


def test_unseen_category_is_named(profile: Profile, train: pd.DataFrame) -> None:
    bad = train.copy()
    bad.loc[[0, 5], "region"] = [7, 9]
    with pytest.raises(ScoringError, match=r"`region`: unseen categories 7, 9 \(trained on "
                                           r"1, 2, 3\)"):
        check_batch(bad, profile, CFG, "b")
    warned = check_batch(bad, profile, score_with(unseen_categories="warn"), "b")
    assert warned.unseen == {"region": [7, 9]}
    assert "unseen categories 7, 9" in warned.warnings[0]


def test_every_problem_is_reported_at_once(profile: Profile, train: pd.DataFrame) -> None:
    bad = train.drop(columns=["age"]).astype({"member": str})
    bad.loc[0, "region"] = 4
    with pytest.raises(ScoringError) as info:
        check_batch(bad, profile, CFG, "b")
    message = str(info.value)
    for part in ("`age`", "`member`: expected integer, found object", "`region`: unseen"):
        assert part in message


def test_empty_batch_is_rejected(profile: Profile, train: pd.DataFrame) -> None:
    with pytest.raises(ScoringError, match="b: the batch has no rows"):
        check_batch(train.head(0), profile, CFG, "b")


# 3. Scoring ---------------------------------------------------------------------------------

def test_score_batch_outputs(model: LogisticRegression, profile: Profile,
                             train: pd.DataFrame) -> None:
    batch = train.sample(50, random_state=1)[[*FEATURES[::-1], "y"]]
    scored, checked = score_batch(model, batch, profile, CFG, "b", "models:/m/3")
    assert list(scored.columns) == [*FEATURES, "y", PREDICTION, PROBABILITY, MODEL_URI]
    assert len(scored) == 50 and (scored[MODEL_URI] == "models:/m/3").all()
    expected = model.predict_proba(batch[FEATURES])[:, 1]
    np.testing.assert_allclose(scored[PROBABILITY], expected)
    assert set(scored[PREDICTION]) <= {0, 1}
    report = score_report(scored, checked, profile)
    assert report["n_rows"] == 50 and report["has_labels"] is True
    assert sum(report["prediction_share"].values()) == pytest.approx(1.0)
    assert report["probability_mean"] == pytest.approx(expected.mean(), abs=1e-6)


def test_regression_scoring_checks_range(train: pd.DataFrame) -> None:
    prof = profile_from_frame(train, "income", ["region"], task="regression")
    features = [c for c in train.columns if c != "income"]
    reg = LinearRegression().fit(train[features], train["income"])
    scored, _ = score_batch(reg, train.drop(columns=["income"]), prof, CFG, "b", "u")
    assert PROBABILITY not in scored and scored[PREDICTION].notna().all()
    far = train.assign(age=train["age"] * 1000)  # extrapolates far beyond the target range
    with pytest.raises(ScoringError, match=r"`prediction`: \d+ value\(s\) outside"):
        score_batch(reg, far.drop(columns=["income"]), prof, CFG, "b", "u")


def test_prediction_checks(profile: Profile) -> None:
    check_predictions(pd.Series([0, 1, 1]), profile, CFG)
    with pytest.raises(ScoringError, match="1 missing prediction"):
        check_predictions(pd.Series([0, None, 1]), profile, CFG)
    with pytest.raises(ScoringError, match=r"label\(s\) 2 outside the training label set"):
        check_predictions(pd.Series([0, 2, 1]), profile, CFG)


@pytest.mark.parametrize(("proba", "message"), [
    (np.array([[0.2, 0.8], [0.5, 0.6]]), "do not sum to 1"),
    (np.array([[1.2, -0.2], [0.5, 0.5]]), "outside"),
    (np.array([[np.nan, 1.0]]), "missing"),
    (np.array([[0.2, 0.3, 0.5]]), "3 probability columns for 2 labels"),
])
def test_probability_checks(proba: np.ndarray, message: str) -> None:
    with pytest.raises(ScoringError, match=message):
        check_probabilities(proba, [0, 1])


def test_reference_sample_is_capped_and_seeded(train: pd.DataFrame) -> None:
    assert reference_sample(train, score_with(reference_rows=500)) is train
    a = reference_sample(train, score_with(reference_rows=50, seed=1))
    b = reference_sample(train, score_with(reference_rows=50, seed=1))
    assert len(a) == 50 and a.index.equals(b.index) and a.index.is_monotonic_increasing


# 4. Config ----------------------------------------------------------------------------------

def test_score_config_from_params() -> None:
    assert score_config({"unseen_categories": "warn", "seed": 7}) == score_with(
        unseen_categories="warn", seed=7)
    with pytest.raises(ConfigError, match=r"score\.unseen"):
        score_config({"unseen": "warn"})


@pytest.mark.parametrize("section", [{"unseen_categories": "ignore"}, {"extra_columns": "keep"},
                                     {"range_margin": -1}, {"reference_rows": 0},
                                     {"seed": 1.5}])
def test_score_config_rejects_bad_values(section: dict) -> None:
    with pytest.raises(ConfigError, match=rf"score\.{next(iter(section))}"):
        score_config(section)


# 5. mlgate retrain --------------------------------------------------------------------------

OVERRIDES = ["split.current='year >= 5'"]


def test_retrain_command_folds_the_batch_in() -> None:
    assert retrain_command("retrain", OVERRIDES) == [
        "dvc", "exp", "run", "-S", "split.current='year >= 5'"]
    assert retrain_command("retrain", [*OVERRIDES, "train=fast"], queue=True) == [
        "dvc", "exp", "run", "-S", "split.current='year >= 5'", "-S", "train=fast", "--queue"]


@pytest.mark.parametrize(("action", "message"), [("none", "nothing to retrain"),
                                                 ("investigate", "too large")])
def test_retrain_refuses_other_actions(action: str, message: str) -> None:
    with pytest.raises(MlgateError, match=message):
        retrain_command(action, OVERRIDES)
    assert retrain_command(action, OVERRIDES, force=True)[:3] == ["dvc", "exp", "run"]


def test_retrain_needs_a_fold_in_rule() -> None:
    with pytest.raises(MlgateError, match=r"drift\.retrain\.overrides"):
        retrain_command("retrain", [])


def _repo(tmp_path, params: dict, action: str):
    (tmp_path / "dvc.yaml").write_text("stages: {}\n")
    (tmp_path / "params.yaml").write_text(yaml.safe_dump(params))
    (tmp_path / "reports").mkdir()
    (tmp_path / "reports/drift.json").write_text(json.dumps({"action": action}))


def test_mlgate_retrain_dry_run(tmp_path, monkeypatch, capsys, params) -> None:
    _repo(tmp_path, {"drift": params["drift"]}, "retrain")
    monkeypatch.setenv("DVC_ROOT", str(tmp_path))
    cli.main(["retrain", "--dry-run"])
    assert capsys.readouterr().out.strip() == "dvc exp run -S \"split.current='year >= 5'\""


def test_mlgate_retrain_nothing_to_do(tmp_path, monkeypatch, capsys, params) -> None:
    _repo(tmp_path, {"drift": params["drift"]}, "none")
    monkeypatch.setenv("DVC_ROOT", str(tmp_path))
    cli.main(["retrain"])  # no dvc call: the action says there is nothing to do
    assert "nothing to retrain" in capsys.readouterr().out
