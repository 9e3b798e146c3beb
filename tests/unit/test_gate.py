"""The gate: thresholds, slices, latency, artifacts, improvement over the champion, the report."""

import json

import numpy as np
import pandas as pd
import pytest
from sklearn.linear_model import LogisticRegression

from mlgate.base.errors import ConfigError
from mlgate.core.evidence import measure_latency, score_slices, task_type
from mlgate.core.gate import (
    CHALLENGER,
    CHAMPION,
    REJECTED,
    SMOKE_FAILED,
    ChampionScore,
    Evidence,
    GateConfig,
    Outcome,
    SliceScore,
    check_rows,
    decide,
    gate_report,
    tag_key,
    version_tags,
)
from tests.defaults import NO_BASELINE_NOR_LATENCY, gate_config

GOOD = {"roc_auc": 0.80, "accuracy": 0.8, "f1": 0.88, "precision": 0.82, "recall": 0.94,
        "log_loss": 0.42}


def gate(**kw) -> GateConfig:
    base = {"model_name": "m", "thresholds": {"roc_auc": {"min": 0.7}, "log_loss": {"max": 0.5}},
            "improvement": {"metric": "roc_auc", "min_delta": 0.01},
            **NO_BASELINE_NOR_LATENCY}  # the tests that check them set their own
    return gate_config({**base, **kw})


def champ(**metrics) -> ChampionScore:
    return ChampionScore("3", {**GOOD, **metrics})


def test_first_run_passes_absolute_thresholds_and_takes_champion():
    d = decide(GOOD, None, gate())
    assert d.passed and d.role == CHAMPION
    assert [c.name for c in d.checks] == ["signature", "input_example", "roc_auc_min",
                                          "log_loss_max"]
    assert [(c.name, c.status) for c in d.improvement] == [("improvement", "skip")]


def test_threshold_violation_fails_with_reason():
    d = decide({**GOOD, "log_loss": 0.6}, None, gate())
    assert not d.passed and d.role == REJECTED
    assert d.reasons == ["log_loss = 0.6 violates <= 0.5"]


def test_improvement_decides_champion_or_challenger_not_registration():
    better = decide(GOOD, champ(roc_auc=0.785), gate())
    assert better.passed and better.role == CHAMPION
    worse = decide(GOOD, champ(roc_auc=0.795), gate())
    assert worse.passed and worse.role == CHALLENGER
    assert "improves on champion v3 by 0.005" in worse.reasons[0]


def test_lower_is_better_metric_improvement_sign():
    cfg = gate(improvement={"metric": "log_loss", "min_delta": 0.02})
    assert decide(GOOD, champ(log_loss=0.45), cfg).role == CHAMPION
    assert decide(GOOD, champ(log_loss=0.43), cfg).role == CHALLENGER


def test_relative_improvement_is_checked_alongside_absolute():
    cfg = gate(improvement={"metric": "roc_auc", "min_delta": 0.0, "min_relative": 0.05})
    d = decide(GOOD, champ(roc_auc=0.78), cfg)  # +0.02 absolute, +2.56 % relative
    assert [(c.name, c.status) for c in d.improvement] == [
        ("improvement", "pass"), ("improvement_relative", "fail")]
    assert d.improvement[1].value == pytest.approx(0.025641) and d.role == CHALLENGER
    assert decide(GOOD, champ(roc_auc=0.75), cfg).role == CHAMPION


def test_champion_that_cannot_be_scored_makes_a_challenger():
    d = decide(GOOD, ChampionScore("2", None, "DataError: input lacks column(s)"), gate())
    assert d.passed and d.role == CHALLENGER
    assert "champion v2 could not be compared" in d.reasons[0]


def test_without_improvement_metric_a_champion_is_never_replaced_automatically():
    cfg = gate(improvement={"metric": None})
    assert decide(GOOD, None, cfg).role == CHAMPION
    d = decide(GOOD, champ(roc_auc=0.5), cfg)
    assert d.role == CHALLENGER and "mlgate models promote" in d.reasons[0]


def test_no_thresholds_refused_unless_allowed():
    d = decide(GOOD, None, gate(thresholds={}))
    assert not d.passed and "no thresholds declared" in d.reasons[0]
    allowed = decide(GOOD, None, gate(thresholds={}, allow_unvalidated=True))
    assert allowed.passed and allowed.checks[-1].status == "skip"


def test_missing_metric_fails_the_check():
    d = decide({"roc_auc": 0.9}, None, gate())
    assert not d.passed and "log_loss = None" in d.reasons[0]


def test_candidate_without_signature_or_input_example_is_refused():
    d = decide(GOOD, None, gate(), Evidence(has_signature=False, has_input_example=False))
    assert not d.passed
    assert d.reasons == ["logged model has no signature", "logged model has no input example"]


def test_latency_budget():
    cfg = gate(latency={"max_ms_per_1000_rows": 100})
    assert decide(GOOD, None, cfg, Evidence(latency_ms=99.5)).passed
    slow = decide(GOOD, None, cfg, Evidence(latency_ms=250.0))
    assert not slow.passed and "over the budget of 100.0 ms" in slow.reasons[0]
    assert decide(GOOD, None, gate(), Evidence(latency_ms=1e6)).passed, "no budget declared"


def test_slice_floors_fail_pass_and_unchecked_with_reason():
    cfg = gate(slices={"site": {"roc_auc": {"min": 0.7}}})
    scores = (SliceScore("site", 1, 200, {**GOOD, "roc_auc": 0.75}),
              SliceScore("site", 2, 180, {**GOOD, "roc_auc": 0.61}),
              SliceScore("site", 3, 12, skipped="fewer than gate.slice_min_rows = 30 rows"))
    d = decide(GOOD, None, cfg, Evidence(slices=scores))
    rows = {c.name: c for c in d.checks if c.kind == "slice"}
    assert [c.status for c in rows.values()] == ["pass", "fail", "unchecked"]
    assert rows["slice.site.2.roc_auc_min"].value == 0.61 and not d.passed
    assert "site=3 (12 rows): roc_auc not checked: fewer than" in \
        rows["slice.site.3.roc_auc_min"].reason
    assert d.reasons == ["slice.site.2.roc_auc = 0.61 violates >= 0.7"]


@pytest.mark.parametrize(("section", "match"), [
    ({"thresholds": {"auc": {"min": 0.5}}}, "gate.thresholds.auc"),
    ({"thresholds": {"roc_auc": {"minimum": 0.5}}}, "gate.thresholds.roc_auc"),
    ({"thresholds": {"roc_auc": {"min": "high"}}}, "gate.thresholds.roc_auc.min"),
    ({"improvement": {"metric": "auc"}}, "gate.improvement.metric"),
    ({"improvement": {"metric": "roc_auc", "min_delta": None}},
     r"gate.improvement`: set `min_delta` and/or `min_relative"),
    ({"improvement": {"metric": "roc_auc", "margin": 1}}, "gate.improvement.margin"),
    ({"latency": {"max_ms": 5}}, "gate.latency.max_ms"),
    ({"latency": {"max_ms_per_1000_rows": 0}}, "gate.latency.max_ms_per_1000_rows"),
    ({"slices": {"female": {"auc": {"min": 0.6}}}}, "gate.slices.female.auc"),
    ({"slices": {"female": 0.6}}, "gate.slices.female"),
    ({"slice_min_rows": 0}, "gate.slice_min_rows"),
    ({"fail_on_reject": "yes"}, "gate.fail_on_reject"),
    ({"alias": "v2"}, "gate.alias"),
    ({"challenger_alias": "champion"}, "must differ"),
    ({"treshold": {}}, "gate.treshold"),
])
def test_bad_gate_config_is_named(section, match):
    with pytest.raises(ConfigError, match=match):
        gate_config({"model_name": "m", **section})


def test_schema_is_generic_over_metric_names():
    cfg = gate_config({**NO_BASELINE_NOR_LATENCY, "model_name": "m",
                       "thresholds": {"rmse": {"max": 1.5}},
                       "improvement": {"metric": "rmse", "min_delta": 0.1}})
    assert decide({"rmse": 1.2}, ChampionScore("1", {"rmse": 1.35}), cfg).role == CHAMPION
    assert decide({"rmse": 1.3}, ChampionScore("1", {"rmse": 1.35}), cfg).role == CHALLENGER
    assert cfg.key_metrics == ["rmse"]


def test_report_table_and_tags_are_machine_readable():
    cfg = gate(slices={"female": {"roc_auc": {"min": 0.6}}})
    ev = Evidence(slices=(SliceScore("female", 0, 90, {**GOOD, "roc_auc": 0.7}),), latency_ms=12.5)
    d = decide(GOOD, champ(roc_auc=0.7), cfg, ev)
    report = gate_report(d, cfg, GOOD, Outcome(CHAMPION, "4", "champion", "passed", "{}"),
                         {"run_id": "run1", "latency_ms_per_1000_rows": 12.5})
    json.dumps(report, allow_nan=False)
    assert report["decision"] == "champion" and report["alias"] == "champion"
    assert report["registered_version"] == "4" and report["previous_champion"]["version"] == "3"
    assert report["config"]["thresholds"]["roc_auc"] == {"min": 0.7, "max": None}
    assert {"value", "threshold", "status", "passed"} <= set(report["checks"][0])
    assert [r["name"] for r in check_rows(d)][-1] == "improvement"
    rejected = gate_report(decide({**GOOD, "roc_auc": 0.5}, None, cfg), cfg, GOOD,
                           Outcome(REJECTED), {"run_id": "run1"})
    assert rejected["decision"] == "rejected" and rejected["alias"] is None
    assert rejected["registered_version"] is None and rejected["reasons"]
    smoke = gate_report(d, cfg, GOOD, Outcome(SMOKE_FAILED, "5", None, "failed", "boom"), {})
    assert smoke["reasons"] == ["boom"] and smoke["smoke_test"]["status"] == "failed"
    tags = version_tags(d, GOOD, "run1", ev)
    assert tags["validation_status"] == "passed" and tags["metric.roc_auc"] == "0.8"
    assert tags["check.slice.female.0.roc_auc_min"] == "0.7 vs 0.6: pass"
    assert tags["latency_ms_per_1000_rows"] == "12.5" and tags["compared_with_champion"] == "3"
    assert tag_key("check.slice.site=a,b") == "check.slice.site_a_b"


@pytest.fixture(scope="module")
def fitted():
    rng = np.random.default_rng(0)
    df = pd.DataFrame({"x": rng.normal(size=400), "site": np.repeat([1, 2, 3, 4], 100)})
    df["y"] = (df.x + rng.normal(scale=0.5, size=400) > 0).astype(int)
    df.loc[df.site == 3, "y"] = 1  # a single-class slice
    return LogisticRegression().fit(df[["x", "site"]], df.y), df


def test_slices_are_scored_and_unscorable_ones_say_why(fitted):
    model, df = fitted
    df = df[(df.site != 4) | (df.index % 10 == 0)]  # site 4 keeps 10 rows
    cfg = gate(slices={"site": {"roc_auc": {"min": 0.6}}}, slice_min_rows=30)
    scores = {s.value: s for s in score_slices(model, df, "y", cfg)}
    assert scores[1].skipped is None and scores[1].metrics["roc_auc"] > 0.8
    assert scores[3].undefined["roc_auc"].startswith("a single target class")
    assert scores[4].skipped == "fewer than gate.slice_min_rows = 30 rows" and scores[4].rows == 10
    d = decide(GOOD, None, cfg, Evidence(slices=tuple(scores.values())))
    assert d.passed and [c.status for c in d.checks if c.kind == "slice"] == [
        "pass", "pass", "unchecked", "unchecked"]


def test_slice_column_must_exist_and_be_categorical(fitted):
    model, df = fitted
    with pytest.raises(ConfigError, match=r"gate.slices.plan`: column 'plan' is not in the test"):
        score_slices(model, df, "y", gate(slices={"plan": {"roc_auc": {"min": 0.6}}}))
    with pytest.raises(ConfigError, match=r"gate.slices.x`: 400 distinct values"):
        score_slices(model, df, "y", gate(slices={"x": {"roc_auc": {"min": 0.6}}}))


def test_latency_is_measured_per_1000_rows(fitted):
    model, df = fitted
    calls = []

    class Counting:
        feature_names_in_ = model.feature_names_in_

        def predict(self, X):
            calls.append(len(X))
            return model.predict(X)

    assert measure_latency(Counting(), df, "y", repeats=3) > 0
    assert calls == [10, 1000, 1000, 1000], "warm-up, then 1,000-row batches"


def test_task_type_defaults_to_classification():
    assert task_type({}) == "classification"
    assert task_type({"task": {"type": "regression"}}) == "regression"


def test_baseline_margins_in_each_metric_direction():
    cfg = gate(baseline={"balanced_accuracy": {"min_delta": 0.05},
                         "log_loss": {"min_relative": 0.05}})
    base = {**GOOD, "balanced_accuracy": 0.5, "log_loss": 0.53}
    ok = decide({**GOOD, "balanced_accuracy": 0.62}, None, cfg, Evidence(baseline=base))
    rows = {c.name: c for c in ok.checks if c.kind == "baseline"}
    assert ok.passed and rows["baseline.balanced_accuracy"].value == pytest.approx(0.12)
    assert rows["baseline.log_loss_relative"].value == pytest.approx((0.53 - 0.42) / 0.53,
                                                                     abs=1e-6)
    weak = decide({**GOOD, "balanced_accuracy": 0.53, "log_loss": 0.52}, None, cfg,
                  Evidence(baseline=base))
    assert not weak.passed and [c.name for c in weak.checks if not c.passed] == [
        "log_loss_max", "baseline.balanced_accuracy", "baseline.log_loss_relative"]
    assert "balanced_accuracy improves on the baseline predictor (balanced_accuracy 0.5) by " \
           "0.03 (< 0.05)" in weak.reasons
    unscored = decide({**GOOD, "balanced_accuracy": 0.62}, None, cfg, Evidence())
    assert not unscored.passed and "baseline predictor is missing" in unscored.reasons[0]


def test_a_baseline_alone_validates_a_gate():
    cfg = gate_config({"model_name": "m", "baseline": {"rmse": {"min_relative": 0.1}},
                       "latency": {"max_ms_per_1000_rows": None}})
    d = decide({"rmse": 50.0}, None, cfg, Evidence(baseline={"rmse": 77.0}))
    assert d.passed and [c.name for c in d.checks if c.kind != "artifact"] == [
        "baseline.rmse_relative"]


def test_unchecked_slices_are_reported_or_fail_by_policy():
    scores = (SliceScore("island", "a", 150, {"accuracy": 0.9}, undefined={"roc_auc": "why"}),
              SliceScore("island", "b", 12, skipped="fewer than gate.slice_min_rows = 30 rows"))
    slices = {"island": {"accuracy": {"min": 0.8}, "roc_auc": {"min": 0.7}}}
    report = decide(GOOD, None, gate(slices=slices), Evidence(slices=scores))
    status = {c.name: c.status for c in report.checks if c.kind == "slice"}
    assert status == {"slice.island.a.accuracy_min": "pass", "slice.island.b.accuracy_min":
                      "unchecked", "slice.island.a.roc_auc_min": "unchecked",
                      "slice.island.b.roc_auc_min": "unchecked"}
    assert report.passed and len(report.unchecked) == 3
    out = gate_report(report, gate(slices=slices), GOOD, Outcome(CHAMPION, "1", "champion"), {})
    assert out["unchecked"]["count"] == 3 and out["config"]["unchecked_slices"] == "report"
    assert version_tags(report, GOOD, "r")["unchecked_checks"] == "3"
    strict = gate(slices=slices, unchecked_slices="fail")
    failed = decide(GOOD, None, strict, Evidence(slices=scores))
    assert not failed.passed and len(failed.reasons) == 3
    assert failed.reasons[0].endswith("(gate.unchecked_slices: fail)")


def test_accuracy_is_checked_on_a_slice_that_lacks_a_class(fitted):
    model, df = fitted  # site 3 holds one class only
    cfg = gate(slices={"site": {"accuracy": {"min": 0.6}, "roc_auc": {"min": 0.6},
                                "log_loss": {"max": 0.9}}}, slice_min_rows=30)
    scores = {s.value: s for s in score_slices(model, df, "y", cfg)}
    assert set(scores[3].metrics) == {"accuracy", "log_loss"}
    assert scores[3].undefined["roc_auc"].startswith("a single target class: 1")
    d = decide(GOOD, None, cfg, Evidence(slices=tuple(scores.values())))
    status = {c.name: c.status for c in d.checks if c.kind == "slice"}
    assert status["slice.site.3.accuracy_min"] in ("pass", "fail")
    assert status["slice.site.3.roc_auc_min"] == "unchecked"


def test_slices_can_be_switched_off_from_the_command_line():
    cfg = gate(slices={"female": None, "site": {"roc_auc": {"min": 0.6}, "recall": None}})
    assert [(s.column, s.bound.metric) for s in cfg.slices] == [("site", "roc_auc")]
    assert gate(slices=None).slices == ()


@pytest.mark.parametrize(("section", "match"), [
    ({"model_name": None}, "gate.model_name"),
    ({"baseline": {"auc": {"min_delta": 0.1}}}, "gate.baseline.auc"),
    ({"baseline": {"rmse": {}}}, r"gate.baseline.rmse`: set `min_delta"),
    ({"baseline": {"rmse": {"margin": 1}}}, "gate.baseline.rmse.margin"),
    ({"baseline": {"rmse": 0.1}}, "gate.baseline.rmse"),
    ({"unchecked_slices": "skip"}, "gate.unchecked_slices"),
    ({"thresholds": {"roc_auc": {"min": 1.5}}},
     r"`gate.thresholds.roc_auc.min` must be a number in \[0.0, 1.0\]"),
    ({"thresholds": {"rmse": {"max": -1}}}, r"`gate.thresholds.rmse.max` must be a number >= 0"),
    ({"slices": {"site": {"r2": {"min": 2}}}}, "gate.slices.site.r2.min"),
])
def test_bad_new_gate_keys_are_named(section, match):
    with pytest.raises(ConfigError, match=match):
        gate_config({"model_name": "m", **section})


def test_baseline_predictor_is_the_training_priors_or_mean(fitted):
    from mlgate.core.evidence import baseline_predictor, describe

    _, df = fitted
    dummy = baseline_predictor(df.iloc[:300], "y", "classification")
    assert describe(dummy) == "DummyClassifier(strategy='prior')"
    proba = dummy.predict_proba(df.iloc[300:].drop(columns=["y"]))
    np.testing.assert_allclose(proba[0, 1], df.y.iloc[:300].mean())
    reg = baseline_predictor(df.iloc[:300], "x", "regression")
    assert describe(reg) == "DummyRegressor(strategy='mean')"
    assert reg.predict(df.iloc[300:301].drop(columns=["x"]))[0] == pytest.approx(
        df.x.iloc[:300].mean())


def _mlflow_refuses_everything(monkeypatch):
    """Make MLflow's validation fail every threshold it is given (mlgate's checks unaffected)."""
    import mlflow
    from mlflow.models.evaluation.validation import ModelValidationFailedException

    calls = []

    def refuse(thresholds, candidate, baseline=None):
        calls.append((sorted(thresholds), baseline is not None))
        raise ModelValidationFailedException("refused by the test")

    monkeypatch.setattr(mlflow, "validate_evaluation_results", refuse)
    return calls


def test_checks_mlflow_can_express_are_decided_by_mlflow(monkeypatch):
    cfg = gate(thresholds={"roc_auc": {"min": 0.7}, "log_loss": {"max": 0.5},
                           "recall": {"min": 0.1, "max": 0.99}, "mae": {"min": 0.0}},
               baseline={"balanced_accuracy": {"min_delta": 0.05}},
               improvement={"metric": "roc_auc", "min_delta": 0.0, "min_relative": 0.01})
    metrics = {**GOOD, "balanced_accuracy": 0.7, "mae": 0.3}
    evidence = Evidence(baseline={**GOOD, "balanced_accuracy": 0.5})
    honest = decide(metrics, champ(roc_auc=0.78), cfg, evidence)
    by = {c.name: c.decided_by for c in honest.checks + honest.improvement}
    assert by == {"signature": "mlgate", "input_example": "mlgate",
                  "roc_auc_min": "mlflow", "log_loss_max": "mlflow",
                  "recall_min": "mlgate", "recall_max": "mlgate",  # a min and a max
                  "mae_min": "mlgate",  # against the metric's direction
                  "baseline.balanced_accuracy": "mlflow",
                  "improvement": "mlgate",  # a zero margin: MLflow requires > 0
                  "improvement_relative": "mlflow"}
    assert honest.passed and honest.role == CHAMPION
    calls = _mlflow_refuses_everything(monkeypatch)
    refused = decide(metrics, champ(roc_auc=0.78), cfg, evidence)
    status = {c.name: c.status for c in refused.checks + refused.improvement}
    assert [n for n, s in status.items() if s == "fail"] == [
        "roc_auc_min", "log_loss_max", "baseline.balanced_accuracy", "improvement_relative"]
    # one call per check, each with only its own metric; margins against the other result
    assert calls == [(["roc_auc"], False), (["log_loss"], False),
                     (["balanced_accuracy"], True), (["roc_auc"], True)]


def test_mlflow_is_given_python_floats_not_numpy_scalars():
    cfg = gate(thresholds={"roc_auc": {"min": 0.7}},
               improvement={"metric": "roc_auc", "min_delta": 0.01})
    metrics = {k: np.float64(v) for k, v in GOOD.items()}
    d = decide(metrics, ChampionScore("3", {k: np.float32(v) for k, v in GOOD.items()}), cfg)
    assert d.passed and d.role == CHALLENGER  # equal AUC: no 0.01 margin
    assert [c.decided_by for c in d.improvement] == ["mlflow"]
