"""Unit tests for mlgate.core.drift: Evidently drift summary, config, errors and HTML output."""

from __future__ import annotations

import dataclasses
import json
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from mlgate.core.drift import (
    ColumnRule,
    DriftConfig,
    DriftError,
    decide_action,
    fails,
    run_drift,
    save_html,
    select_columns,
    share_action,
    verdict_line,
)
from tests.defaults import drift_config, drift_with

# Category frequencies of the integer-coded "region" column.
REGION_P = [0.30, 0.20, 0.15, 0.10, 0.10, 0.05, 0.05, 0.05]
NUMERIC = ["x1", "x2", "x3", "x4"]
# 2,400 rows -> 1,200 per half: above Evidently's 1,000-row switch, so its per-type defaults are
# distance measures (normed Wasserstein for numeric, Jensen-Shannon for categorical), as in
# production; `SMALL` exercises the p-value regime (K-S / chi-square) below that switch.
N_ROWS = 2400
SMALL = 800

RANDHIE_EXCLUDE = ["year", "zper", "binexp", "outpdol", "drugdol", "suppdol", "mentdol", "inpdol",
                   "meddol", "totadm", "inpmis", "mentvis", "mdvis", "notmdvis", "lnmeddol"]
RANDHIE_CATEGORICAL = ["plan", "site"]  # integer codes of the insurance plan and the study site


def _table(n: int = N_ROWS, seed: int = 7) -> pd.DataFrame:
    """Four numeric columns of different shapes plus one integer-coded categorical column."""
    rng = np.random.default_rng(seed)
    return pd.DataFrame({"x1": rng.normal(0.0, 1.0, n), "x2": rng.normal(5.0, 2.0, n),
                         "x3": rng.exponential(1.0, n), "x4": rng.uniform(0.0, 10.0, n),
                         "region": rng.choice(len(REGION_P), size=n, p=REGION_P)})


def _halves(df: pd.DataFrame, seed: int = 1) -> tuple[pd.DataFrame, pd.DataFrame]:
    """Split a table into two random halves (reference, current)."""
    idx = np.random.default_rng(seed).permutation(len(df))
    half = len(df) // 2
    return (df.iloc[idx[:half]].reset_index(drop=True),
            df.iloc[idx[half:]].reset_index(drop=True))


@pytest.fixture(scope="module")
def halves() -> tuple[pd.DataFrame, pd.DataFrame]:
    """Reference and current drawn from the same distribution."""
    return _halves(_table())


@pytest.fixture(scope="module")
def shifted(halves: tuple[pd.DataFrame, pd.DataFrame]) -> tuple[pd.DataFrame, pd.DataFrame]:
    """Current with x1 shifted by +1.5 reference standard deviations."""
    ref, cur = halves
    cur = cur.copy()
    cur["x1"] += 1.5 * ref["x1"].std()
    return ref, cur


def _drifted(summary: dict) -> list[str]:
    return [c for c, v in summary["columns"].items() if v["drifted"]]


# 1. Same distribution -----------------------------------------------------------------------

@pytest.mark.parametrize("n", [N_ROWS, SMALL * 2], ids=["distance-regime", "p-value-regime"])
def test_random_halves_no_drift(n: int) -> None:
    ref, cur = _halves(_table(n=n))
    summary, _ = run_drift(ref, cur, drift_with(categorical=["region"]))
    assert summary["dataset_drift"] is False
    assert summary["verdict"] == "no_drift"
    assert _drifted(summary) == []
    assert summary["n_drifted"] == 0 and summary["share_drifted"] == 0.0
    assert summary["n_columns"] == 5
    assert list(summary["columns"]) == [*NUMERIC, "region"]


# 2. One shifted column ----------------------------------------------------------------------

def test_shifted_column_is_named_with_score(shifted: tuple[pd.DataFrame, pd.DataFrame]) -> None:
    summary, _ = run_drift(*shifted, drift_with(categorical=["region"]))
    assert _drifted(summary) == ["x1"]
    x1 = summary["columns"]["x1"]
    assert x1["method"] == "Wasserstein distance (normed)"  # Evidently's default above 1,000 rows
    assert x1["threshold"] == pytest.approx(0.1)
    assert x1["score"] == pytest.approx(1.5, abs=0.15)  # normed Wasserstein ~ mean shift / std
    assert all(summary["columns"][c]["score"] < 0.1 for c in ["x2", "x3", "x4"])
    assert summary["n_drifted"] == 1


def test_method_and_threshold_are_honoured(shifted: tuple[pd.DataFrame, pd.DataFrame]) -> None:
    cfg = drift_with(categorical=["region"], method="psi", threshold=0.1)
    summary, _ = run_drift(*shifted, cfg)
    for col, res in summary["columns"].items():
        assert (res["method"], res["threshold"]) == ("psi", 0.1), col
        assert res["drifted"] == (res["score"] >= 0.1), col
    assert _drifted(summary) == ["x1"]
    assert summary["columns"]["x1"]["score"] > 1.0


def test_p_value_threshold_is_honoured(shifted: tuple[pd.DataFrame, pd.DataFrame]) -> None:
    ref, cur = shifted
    summary, _ = run_drift(ref, cur, drift_with(columns=NUMERIC, method="ks", threshold=0.01))
    assert {r["method"] for r in summary["columns"].values()} == {"ks"}
    assert summary["columns"]["x1"]["threshold"] == 0.01
    assert summary["columns"]["x1"]["score"] < 1e-10  # a p-value: small means drift
    assert _drifted(summary) == ["x1"]


# 3. drift_share decides the verdict ---------------------------------------------------------

@pytest.mark.parametrize(("share", "verdict"),
                         [(0.2, "drift"), (0.25, "drift"), (0.5, "no_drift")])
def test_drift_share_decides_verdict(shifted: tuple[pd.DataFrame, pd.DataFrame],
                                     share: float, verdict: str) -> None:
    summary, _ = run_drift(*shifted, drift_with(columns=NUMERIC, drift_share=share))
    assert summary["share_drifted"] == pytest.approx(0.25)  # 1 of 4 columns
    assert (summary["n_drifted"], summary["n_columns"]) == (1, 4)
    assert summary["drift_share_threshold"] == share
    assert summary["verdict"] == verdict
    assert summary["dataset_drift"] is (verdict == "drift")


# 4. Integer-coded categorical column -------------------------------------------------------

@pytest.mark.parametrize(("n", "cat_method", "num_method"),
                         [(N_ROWS, "Jensen-Shannon distance", "Wasserstein distance (normed)"),
                          (SMALL * 2, "chi-square p_value", "K-S p_value")])
def test_categorical_column_uses_categorical_test(n: int, cat_method: str, num_method: str) -> None:
    ref, cur = _halves(_table(n=n))
    as_cat, _ = run_drift(ref, cur, drift_with(categorical=["region"]))
    as_num, _ = run_drift(ref, cur, drift_with())
    assert as_cat["columns"]["region"]["method"] == cat_method
    assert as_num["columns"]["region"]["method"] == num_method  # 8 integer codes look numeric
    assert as_cat["columns"]["x1"]["method"] == num_method


def test_category_frequency_change_is_caught(halves: tuple[pd.DataFrame, pd.DataFrame]) -> None:
    ref, cur = halves
    cur = cur.copy()
    moved = [0.10, 0.20, 0.15, 0.10, 0.10, 0.05, 0.05, 0.25]  # 20 points from code 0 to code 7
    cur["region"] = np.random.default_rng(3).choice(len(moved), size=len(cur), p=moved)
    summary, _ = run_drift(ref, cur, drift_with(categorical=["region"]))
    assert _drifted(summary) == ["region"]
    assert summary["columns"]["region"]["method"] == "Jensen-Shannon distance"
    assert summary["columns"]["region"]["score"] >= 0.1


# 5. Bad input and config --------------------------------------------------------------------

def test_missing_configured_column_is_named(halves: tuple[pd.DataFrame, pd.DataFrame]) -> None:
    ref, cur = halves
    both = r"`income` \(not in reference\).*`income` \(not in current\)"
    with pytest.raises(DriftError, match=both):
        select_columns(ref, cur, drift_with(columns=["x1", "income"]))
    with pytest.raises(DriftError, match=r"`x2` \(not in current\)") as info:
        run_drift(ref, cur.drop(columns="x2"), drift_with(columns=["x1", "x2"]))
    assert "reference" not in str(info.value)


def test_empty_frames_and_selection_rejected(halves: tuple[pd.DataFrame, pd.DataFrame]) -> None:
    ref, cur = halves
    with pytest.raises(DriftError, match="current table is empty"):
        run_drift(ref, cur.iloc[:0], drift_with())
    with pytest.raises(DriftError, match="reference table is empty"):
        run_drift(ref.iloc[:0], cur, drift_with())
    with pytest.raises(DriftError, match="no columns left"):
        select_columns(ref, cur, drift_with(exclude=[*NUMERIC, "region"]))
    with pytest.raises(DriftError, match="no columns left"):
        select_columns(ref[["x1"]], cur[["x2"]], drift_with())


def test_all_missing_column_is_named(halves: tuple[pd.DataFrame, pd.DataFrame]) -> None:
    ref, cur = halves
    cur = cur.assign(x3=np.nan)
    with pytest.raises(DriftError, match=r"`x3` \(current\)"):
        run_drift(ref, cur, drift_with())


def test_method_not_applicable_to_categorical(halves: tuple[pd.DataFrame, pd.DataFrame]) -> None:
    with pytest.raises(DriftError, match=r"drift\.method='ks'.*isn't applicable"):
        run_drift(*halves, drift_with(categorical=["region"], method="ks"))


def test_select_columns_defaults_and_exclude(halves: tuple[pd.DataFrame, pd.DataFrame]) -> None:
    ref, cur = halves
    assert select_columns(ref, cur.drop(columns="x4"), drift_with(exclude=["x2"])) == [
        "x1", "x3", "region"]
    assert select_columns(ref, cur, drift_with(columns=["x3", "x1"], exclude=["x1"])) == ["x3"]


def test_from_params() -> None:
    section = {"columns": None, "exclude": ["y"], "categorical": ["region"], "method": "psi",
               "threshold": 0.2, "drift_share": 0.3}
    cfg = drift_config(section)
    assert cfg == drift_with(exclude=["y"], categorical=["region"], method="psi",
                              threshold=0.2, drift_share=0.3)
    assert drift_config({"exclude": None}) == drift_with()  # null: no columns excluded
    with pytest.raises(ValueError, match=r"drift\.drift_share"):  # no default in code
        drift_config({"drift_share": None})
    with pytest.raises(ValueError, match=r"drift\.treshold") as info:
        drift_config({"method": None, "treshold": 0.1})
    assert "drift.method" not in str(info.value)


@pytest.mark.parametrize("section", [{"drift_share": 0}, {"drift_share": 1.5}, {"threshold": -1},
                                     {"columns": "x1"}, {"threshold": "0.1"}, {"method": 3}])
def test_from_params_rejects_bad_values(section: dict) -> None:
    key = next(iter(section))
    with pytest.raises(ValueError, match=rf"drift\.{key}"):
        drift_config(section)


# 6. Outputs ---------------------------------------------------------------------------------

def _is_plain(value: object) -> bool:
    """True when value is built only from dict/list/str/bool/int/float (no numpy types)."""
    if isinstance(value, dict):
        return all(type(k) is str and _is_plain(v) for k, v in value.items())
    if isinstance(value, list):
        return all(_is_plain(v) for v in value)
    return type(value) in (str, bool, int, float)


def test_summary_shape_and_json_round_trip(shifted: tuple[pd.DataFrame, pd.DataFrame]) -> None:
    summary, _ = run_drift(*shifted, drift_with(categorical=["region"]))
    assert set(summary) == {"dataset_drift", "verdict", "share_drifted", "n_drifted", "n_columns",
                            "drift_share_threshold", "columns", "prediction_drift",
                            "target_drift", "quality", "action", "action_reasons"}
    assert summary["prediction_drift"] == {} and summary["target_drift"] == {}
    for res in summary["columns"].values():
        assert set(res) == {"score", "method", "threshold", "drifted"}
    assert type(summary["n_drifted"]) is int and type(summary["share_drifted"]) is float
    assert _is_plain(summary)
    assert json.loads(json.dumps(summary, allow_nan=False)) == summary


def test_save_html_is_atomic(tmp_path: Path, shifted: tuple[pd.DataFrame, pd.DataFrame]) -> None:
    _, snapshot = run_drift(*shifted, drift_with(categorical=["region"]))
    out = tmp_path / "reports" / "drift.html"
    save_html(snapshot, out)
    assert out.stat().st_size > 1000
    assert out.stat().st_mode & 0o044 == 0o044  # group/other readable, unlike a raw mkstemp file
    assert "<html" in out.read_text(encoding="utf-8")[:2000].lower()
    assert sorted(p.name for p in out.parent.iterdir()) == ["drift.html"]
    save_html(snapshot, out)  # overwriting also leaves nothing behind
    assert sorted(p.name for p in out.parent.iterdir()) == ["drift.html"]


# 7. Actions, outputs, quality, per-column overrides -------------------------------------------

def _summary(share: float, drifted: tuple[str, ...] = (), outputs: tuple[str, ...] = (),
             target: tuple[str, ...] = ()) -> dict:
    """A drift summary with the given share and drifted feature/output/target columns."""
    cols = {c: {"drifted": c in drifted} for c in ("a", "b", "c", *drifted)}
    return {"share_drifted": share, "n_drifted": len(drifted), "n_columns": len(cols),
            "columns": cols, "prediction_drift": {c: {"drifted": True} for c in outputs},
            "target_drift": {c: {"drifted": True} for c in target}}


ACTION_CFG = drift_with(actions={"retrain": 0.1, "investigate": 0.3},
                         per_column={"a": ColumnRule(important=True)})


@pytest.mark.parametrize(("share", "action"), [(0.0, "none"), (0.099, "none"), (0.1, "retrain"),
                                               (0.29, "retrain"), (0.3, "investigate"),
                                               (1.0, "investigate")])
def test_share_maps_to_action(share: float, action: str) -> None:
    assert share_action(share, ACTION_CFG) == action
    assert decide_action(_summary(share), ACTION_CFG)[0] == action


def test_important_column_alone_triggers_retrain() -> None:
    action, reasons = decide_action(_summary(0.05, drifted=("a",)), ACTION_CFG)
    assert action == "retrain" and reasons == ["important column(s) drifted: a"]
    assert decide_action(_summary(0.05, drifted=("b",)), ACTION_CFG)[0] == "none"
    assert decide_action(_summary(0.5, drifted=("a",)), ACTION_CFG)[0] == "investigate"


def test_output_and_target_drift_escalate_as_configured() -> None:
    assert decide_action(_summary(0.0, outputs=("probability",)), ACTION_CFG) == (
        "retrain", ["prediction drift: probability"])
    quiet = dataclasses.replace(ACTION_CFG, on_prediction_drift="none",
                                on_target_drift="investigate")
    assert decide_action(_summary(0.0, outputs=("probability",)), quiet)[0] == "none"
    assert decide_action(_summary(0.0, target=("y",)), quiet)[0] == "investigate"


@pytest.mark.parametrize(("action", "fail_on", "fails_"), [
    ("investigate", "never", False), ("none", "retrain", False), ("retrain", "retrain", True),
    ("investigate", "retrain", True), ("retrain", "investigate", False),
    ("investigate", "investigate", True)])
def test_fail_on(action: str, fail_on: str, fails_: bool) -> None:
    assert fails(action, fail_on) is fails_


def _scored(frame: pd.DataFrame, seed: int, shift: float = 0.0) -> pd.DataFrame:
    """Add a label, a prediction and a probability (shifted by `shift`) to a table."""
    rng = np.random.default_rng(seed)
    proba = np.clip(1 / (1 + np.exp(-frame["x1"].to_numpy())) + shift, 0, 1)
    return frame.assign(y=(rng.random(len(frame)) < proba).astype(int),
                        prediction=(proba > 0.5).astype(int), probability=proba,
                        model_uri="models:/m/1")


def test_prediction_and_target_drift(halves: tuple[pd.DataFrame, pd.DataFrame]) -> None:
    ref, cur = _scored(halves[0], 1), _scored(halves[1], 2, shift=0.3)
    summary, _ = run_drift(ref, cur, drift_with(categorical=["region"]), target="y")
    assert summary["n_columns"] == 5  # prediction, probability, model_uri, y are not features
    assert set(summary["prediction_drift"]) == {"prediction", "probability"}
    assert summary["prediction_drift"]["probability"]["drifted"] is True
    assert summary["prediction_drift"]["prediction"]["method"] == "Jensen-Shannon distance"
    assert summary["target_drift"]["y"]["drifted"] is True  # more positives in the batch
    assert summary["action"] == "retrain" and _drifted(summary) == []
    assert summary["action_reasons"] == ["prediction drift: prediction, probability",
                                         "target drift: y"]


def test_regression_outputs_are_numerical(halves: tuple[pd.DataFrame, pd.DataFrame]) -> None:
    ref, cur = (h.assign(prediction=h["x2"] * 2.0, spend=h["x3"] + 1.0) for h in halves)
    summary, _ = run_drift(ref, cur, drift_with(categorical=["region"]), target="spend",
                           task="regression")
    assert set(summary["prediction_drift"]) == {"prediction"}  # no probability in regression
    assert summary["prediction_drift"]["prediction"]["method"] == "Wasserstein distance (normed)"
    assert summary["target_drift"]["spend"]["method"] == "Wasserstein distance (normed)"
    assert summary["action"] == "none"


def test_no_output_drift_on_same_distribution(halves: tuple[pd.DataFrame, pd.DataFrame]) -> None:
    ref, cur = _scored(halves[0], 1), _scored(halves[1], 2)
    summary, _ = run_drift(ref, cur.drop(columns="y"), drift_with(categorical=["region"]),
                           target="y")
    assert summary["target_drift"] == {}  # the batch has no labels
    assert not any(v["drifted"] for v in summary["prediction_drift"].values())
    assert summary["action"] == "none"
    assert summary["action_reasons"] == ["drifted share 0.000 < retrain at 0.05"]


def test_quality_summary(halves: tuple[pd.DataFrame, pd.DataFrame]) -> None:
    ref, cur = halves
    cur = cur.assign(**{c: cur[c].clip(ref[c].min(), ref[c].max()) for c in NUMERIC})
    cur.loc[:119, "x2"] = np.nan  # 120 missing values
    cur.loc[200:204, "x3"] = ref["x3"].max() + 1.0  # 5 values above the reference maximum
    cur.loc[300:302, "region"] = 99  # 3 rows of a category the reference never had
    summary, _ = run_drift(ref, cur, drift_with(categorical=["region"]))
    quality = summary["quality"]
    assert (quality["missing_values"], quality["out_of_range_values"],
            quality["new_category_values"]) == (120, 5, 3)
    assert quality["columns"]["x2"] == {"missing_values": 120, "missing_share": 0.1,
                                        "reference_missing_share": 0.0}
    assert quality["columns"]["x3"] == {"out_of_range_values": 5}
    assert quality["columns"]["region"] == {"new_category_values": 3}
    assert set(quality["columns"]) == {"x2", "x3", "region"}


def test_per_column_method_and_threshold(shifted: tuple[pd.DataFrame, pd.DataFrame]) -> None:
    rules = {"x1": ColumnRule(threshold=5.0), "x2": ColumnRule(method="psi", threshold=0.2)}
    summary, _ = run_drift(*shifted, drift_with(categorical=["region"], per_column=rules))
    x1, x2 = summary["columns"]["x1"], summary["columns"]["x2"]
    assert x1["threshold"] == 5.0 and x1["drifted"] is False  # the 1.5-std shift is tolerated
    assert (x2["method"], x2["threshold"]) == ("psi", 0.2)
    assert summary["columns"]["x3"]["method"] == "Wasserstein distance (normed)"
    assert summary["action"] == "none"


def test_verdict_line_names_verdict_action_and_columns(
        shifted: tuple[pd.DataFrame, pd.DataFrame]) -> None:
    cfg = drift_with(categorical=["region"], per_column={"x1": ColumnRule(important=True)},
                      actions={"retrain": 0.5, "investigate": 0.8})
    summary, _ = run_drift(*shifted, cfg)
    assert summary["action"] == "retrain"
    # drift.drift_share is conf/'s 0.05 (1 of 5 drifted: dataset drift), no longer code's 0.5
    assert verdict_line(summary).startswith(
        "drift verdict: drift, action: retrain (1/5 features drifted: x1; outputs drifted: "
        "none; why: important column(s) drifted: x1)")


def test_from_params_new_keys() -> None:
    cfg = drift_config({
        "per_column": {"income": {"important": True, "threshold": 0.2}, "plan": None},
        "actions": {"retrain": 0.1, "investigate": 0.4}, "on_prediction_drift": "none",
        "fail_on": "investigate", "retrain": {"overrides": ["split.current='year >= 5'"]}})
    assert cfg.per_column == {"income": ColumnRule(None, 0.2, True), "plan": ColumnRule()}
    assert cfg.important == ["income"]
    assert cfg.actions == {"retrain": 0.1, "investigate": 0.4}
    assert (cfg.on_prediction_drift, cfg.on_target_drift, cfg.fail_on) == (
        "none", "retrain", "investigate")
    assert cfg.retrain == {"overrides": ["split.current='year >= 5'"]}


@pytest.mark.parametrize(("section", "key"), [
    ({"per_column": {"x": {"importance": True}}}, r"drift\.per_column\.x\.importance"),
    ({"per_column": {"x": {"important": "yes"}}}, r"drift\.per_column\.x\.important"),
    ({"per_column": {"x": {"threshold": 0}}}, r"drift\.per_column\.x\.threshold"),
    ({"per_column": ["x"]}, r"drift\.per_column"),
    ({"actions": {"retrain": 0.5, "investigate": 0.3}}, r"drift\.actions\.retrain"),
    ({"actions": {"retrain": 0.1}}, r"drift\.actions\.investigate"),
    ({"actions": {"retrain": 0.1, "investigate": 0.3, "panic": 0.9}}, r"drift\.actions\.panic"),
    ({"fail_on": "always"}, r"drift\.fail_on"),
    ({"on_target_drift": "alert"}, r"drift\.on_target_drift"),
    ({"retrain": {"overrides": ["train"]}}, r"drift\.retrain\.overrides"),
    ({"retrain": {"set": []}}, r"drift\.retrain\.set"),
])
def test_from_params_rejects_bad_new_values(section: dict, key: str) -> None:
    with pytest.raises(ValueError, match=key):
        drift_config(section)


# Real data: RAND Health Insurance Experiment (statsmodels), with the committed drift config ---

@pytest.fixture(scope="module")
def shipped(params: dict) -> DriftConfig:
    """The committed `drift:` config plus data.categorical, as the drift stage builds it."""
    cfg = DriftConfig.from_params(params["drift"])
    return dataclasses.replace(cfg, exclude=[*cfg.exclude, *RANDHIE_EXCLUDE],
                               categorical=[*cfg.categorical, *params["data"]["categorical"]])


def test_shipped_config_names_randhie_columns(shipped: DriftConfig) -> None:
    assert set(RANDHIE_CATEGORICAL) <= set(shipped.categorical)
    assert "income" in shipped.important
    assert shipped.fail_on == "never"


def test_randhie_later_years_drift_in_income(randhie: pd.DataFrame,
                                             shipped: DriftConfig) -> None:
    ref, cur = randhie[randhie["year"] <= 3], randhie[randhie["year"] >= 4]
    summary, _ = run_drift(ref, cur, shipped, target="binexp")
    assert summary["n_columns"] == 30
    income = summary["columns"]["income"]
    assert income["drifted"] is True
    assert income["method"] == "Wasserstein distance (normed)"
    assert income["score"] >= income["threshold"] == 0.1
    assert summary["columns"]["plan"]["method"] == "Jensen-Shannon distance"
    assert {"income", "site"} <= set(_drifted(summary))
    assert summary["share_drifted"] >= shipped.actions["retrain"]
    assert summary["share_drifted"] < shipped.actions["investigate"]
    assert (summary["verdict"], summary["action"]) == ("drift", "retrain")
    assert summary["target_drift"]["binexp"]["drifted"] is False  # 77% -> 80% with spend
    line = verdict_line(summary)
    assert line.startswith("drift verdict: drift, action: retrain") and "income" in line


def test_randhie_random_halves_do_not_drift(randhie: pd.DataFrame,
                                            shipped: DriftConfig) -> None:
    ref, cur = _halves(randhie[randhie["year"] <= 3], seed=0)
    summary, _ = run_drift(ref, cur, shipped, target="binexp")
    assert summary["dataset_drift"] is False
    assert _drifted(summary) == [] and summary["target_drift"]["binexp"]["drifted"] is False
    assert summary["columns"]["income"]["score"] < 0.05
    assert (summary["verdict"], summary["action"]) == ("no_drift", "none")


@pytest.mark.parametrize(("column", "action"), [("mhi", "none"), ("income", "retrain")])
def test_randhie_synthetic_shift_is_caught_and_named(randhie: pd.DataFrame, shipped: DriftConfig,
                                                     column: str, action: str) -> None:
    ref, cur = _halves(randhie[randhie["year"] <= 3], seed=0)
    cur = cur.assign(**{column: cur[column] + 0.5 * ref[column].std()})
    summary, _ = run_drift(ref, cur, shipped)
    assert _drifted(summary) == [column]
    assert summary["columns"][column]["score"] == pytest.approx(0.5, abs=0.1)
    # one column of 30 (share 0.033) is below `retrain`; only an important column escalates
    assert summary["action"] == action
    assert f"1/30 features drifted: {column};" in verdict_line(summary)
