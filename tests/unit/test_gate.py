"""The gate: declared thresholds, improvement over the champion, refusal without thresholds."""

import pytest

from mlgate.errors import ConfigError
from mlgate.gate import GateConfig, decide, gate_report, version_tags

GOOD = {"roc_auc": 0.80, "accuracy": 0.8, "f1": 0.88, "precision": 0.82, "recall": 0.94,
        "log_loss": 0.42}


def gate(**kw) -> GateConfig:
    base = {"model_name": "m", "thresholds": {"roc_auc": {"min": 0.7}, "log_loss": {"max": 0.5}},
            "improvement": {"metric": "roc_auc", "min_delta": 0.01}}
    return GateConfig.from_params({**base, **kw})


def test_first_run_passes_absolute_thresholds_without_champion():
    d = decide(GOOD, None, gate())
    assert d.passed
    assert [c.name for c in d.checks] == ["roc_auc_min", "log_loss_max", "improvement"]


def test_threshold_violation_fails_with_reason():
    d = decide({**GOOD, "log_loss": 0.6}, None, gate())
    assert not d.passed
    assert d.reasons == ["log_loss = 0.6 violates <= 0.5"]


def test_improvement_needs_declared_margin():
    assert decide(GOOD, {**GOOD, "roc_auc": 0.785}, gate()).passed
    d = decide(GOOD, {**GOOD, "roc_auc": 0.795}, gate())
    assert not d.passed and "improves on champion by 0.005" in d.reasons[0]


def test_lower_is_better_metric_improvement_sign():
    cfg = gate(improvement={"metric": "log_loss", "min_delta": 0.02})
    assert decide(GOOD, {**GOOD, "log_loss": 0.45}, cfg).passed
    assert not decide(GOOD, {**GOOD, "log_loss": 0.43}, cfg).passed


def test_no_thresholds_refused_unless_allowed():
    d = decide(GOOD, None, gate(thresholds={}))
    assert not d.passed and "no thresholds declared" in d.reasons[0]
    assert decide(GOOD, None, gate(thresholds={}, allow_unvalidated=True)).passed


def test_missing_metric_fails_the_check():
    d = decide({"roc_auc": 0.9}, None, gate())
    assert not d.passed and "log_loss = None" in d.reasons[0]


@pytest.mark.parametrize(("section", "match"), [
    ({"thresholds": {"auc": {"min": 0.5}}}, "gate.thresholds.auc"),
    ({"thresholds": {"roc_auc": {"minimum": 0.5}}}, "gate.thresholds.roc_auc"),
    ({"improvement": {"metric": "r2"}}, "gate.improvement.metric"),
    ({"treshold": {}}, "gate.treshold"),
])
def test_bad_gate_config_is_named(section, match):
    with pytest.raises(ConfigError, match=match):
        GateConfig.from_params({"model_name": "m", **section})


def test_report_and_tags_are_machine_readable():
    cfg = gate()
    d = decide(GOOD, {**GOOD, "roc_auc": 0.7}, cfg)
    report = gate_report(d, cfg, GOOD, ("3", {**GOOD, "roc_auc": 0.7}), "4", "run1")
    assert report["decision"] == "registered" and report["alias"] == "champion"
    assert report["previous_champion"]["version"] == "3"
    assert report["thresholds"]["roc_auc"] == {"min": 0.7, "max": None}
    rejected = gate_report(decide({**GOOD, "roc_auc": 0.5}, None, cfg), cfg, GOOD, (None, None),
                           None, "run1")
    assert rejected["decision"] == "rejected" and rejected["alias"] is None
    tags = version_tags(d, GOOD, "run1")
    assert tags["validation_status"] == "passed" and tags["metric.roc_auc"] == "0.8"
