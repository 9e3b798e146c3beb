"""Shadow comparisons, their accumulation per challenger version and the promotion verdict."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from mlgate.base.errors import ConfigError
from mlgate.core.shadow import (
    ShadowConfig,
    compare,
    evidence,
    judge,
    records,
    tag,
)
from tests.defaults import conf_section

CFG = ShadowConfig.from_params(conf_section("gate")["shadow"])


def scored(pred: list, proba: list | None = None, y: list | None = None) -> pd.DataFrame:
    """A scored frame as score_batch writes it."""
    frame = pd.DataFrame({"prediction": pred})
    if proba is not None:
        frame["probability"] = proba
    if y is not None:
        frame.insert(0, "y", y)
    return frame


def test_classification_agreement_shift_and_both_metrics_on_labels():
    y = ["a", "b", "a", "b", "a", "b", "a", "b"]
    champ = scored(["a", "b", "a", "b", "a", "b", "a", "a"], [.1, .9, .2, .8, .3, .7, .4, .6], y)
    chall = scored(["a", "b", "b", "b", "b", "b", "a", "a"], [.1, .9, .6, .8, .7, .7, .4, .6])
    r = compare(champ, chall, "y", "classification", CFG)
    assert r["rows"] == 8 and r["agreement"] == pytest.approx(6 / 8)
    assert r["labelled_rows"] == 8
    assert r["metrics"]["champion"]["accuracy"] == pytest.approx(7 / 8)
    assert r["metrics"]["challenger"]["accuracy"] == pytest.approx(5 / 8)
    assert 0 < r["shift"]["ks"] <= 1
    # label shares a: 5/8 -> 3/8, b: 3/8 -> 5/8: total variation 0.25
    assert r["shift"]["class_share_change"] == pytest.approx(0.25)


def test_unlabelled_batch_has_no_metrics_and_identical_models_agree_fully():
    champ = scored([1.0, 2.0, 3.0, 4.0])
    r = compare(champ, champ.copy(), "y", "regression", CFG)
    assert r["agreement"] == 1.0 and r["shift"]["ks"] == 0.0
    assert r["shift"]["mean_difference"] == 0.0 and "metrics" not in r


def test_regression_agreement_is_within_a_share_of_the_champions_spread():
    a = np.arange(100, dtype=float)  # std ~ 28.9: agree when |difference| <= 2.89
    b = a.copy()
    b[:10] += 10.0
    r = compare(scored(list(a), y=list(a)), scored(list(b)), "y", "regression", CFG)
    assert r["agreement"] == pytest.approx(0.9)
    assert r["metrics"]["champion"]["rmse"] == 0.0
    assert r["metrics"]["challenger"]["rmse"] == pytest.approx(np.sqrt(10.0))


def test_records_accumulate_per_batch_and_champion():
    batches = {}
    for batch_id, rows, acc_champ, acc_chall, champion in (
            ("b1", 100, 0.80, 0.79, "3"), ("b2", 300, 0.80, 0.70, "3"),
            ("b3", 50, 0.5, 0.9, "2")):
        key, value = tag(batch_id, {"rows": rows, "agreement": 0.9, "labelled_rows": rows,
                                    "champion_version": champion,
                                    "metrics": {"champion": {"accuracy": acc_champ},
                                                "challenger": {"accuracy": acc_chall}}})
        batches[key] = value
    batches["shadow.batch.bad"] = "{not json"
    batches["validation_status"] = "passed"
    held = records(batches)
    assert sorted(held) == ["b1", "b2", "b3"]
    summary = evidence(held, "3", "accuracy")
    assert summary["batches"] == 2 and summary["rows"] == 400
    assert summary["other_champions"] == 1 and summary["labelled_rows"] == 400
    assert summary["challenger"] == pytest.approx((0.79 * 100 + 0.70 * 300) / 400)
    ok, why = judge(summary, CFG)
    assert ok is False and "more than gate.shadow.max_metric_drop=0.02" in why
    ok, why = judge(evidence({"b1": held["b1"]}, "3", "accuracy"), CFG)
    assert ok is True and "not worse" not in why and "worse by 0.0100" in why


def test_no_labelled_traffic_is_neither_pass_nor_fail():
    summary = evidence({"b": {"rows": 10, "agreement": 1.0, "champion_version": "1"}}, "1",
                       "accuracy")
    ok, why = judge(summary, CFG)
    assert ok is None and "no labelled shadow traffic against champion v1" in why


def test_regression_relative_drop_and_direction():
    cfg = ShadowConfig("rmse", None, 0.05, 0.1)
    base = {"rows": 10, "agreement": 1.0, "labelled_rows": 10, "champion_version": "1"}
    within = {**base, "metrics": {"champion": {"rmse": 10.0}, "challenger": {"rmse": 10.4}}}
    beyond = {**base, "metrics": {"champion": {"rmse": 10.0}, "challenger": {"rmse": 10.6}}}
    assert judge(evidence({"a": within}, "1", "rmse"), cfg)[0] is True
    ok, why = judge(evidence({"a": beyond}, "1", "rmse"), cfg)
    assert ok is False and "max_relative_drop=0.05" in why


@pytest.mark.parametrize(("change", "key"), [
    ({"metric": "auc"}, "gate.shadow.metric"),
    ({"max_metric_drop": -1}, "gate.shadow.max_metric_drop"),
    ({"agree_within": 0}, "gate.shadow.agree_within"),
    ({"extra": 1}, "gate.shadow.extra"),
])
def test_bad_shadow_config_names_the_key(change, key):
    with pytest.raises(ConfigError, match=key.replace(".", r"\.")):
        ShadowConfig.from_params({**conf_section("gate")["shadow"], **change})
