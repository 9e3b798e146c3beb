"""Split: the current-batch rule, stratification, seeding, dropped columns."""

import pandas as pd
import pytest

from mlgate.base.errors import ConfigError, DataError
from mlgate.core.split import SplitConfig, split_all, split_current
from tests.defaults import split_config


def cfg(**kw) -> SplitConfig:
    return split_config({"current": "year >= 4", "drop_columns": ["year"],
                                    "test_size": 0.25, "seed": 1, **kw})


def test_rule_separates_current_batch(tiny):
    model, current = split_current(tiny, "year >= 4")
    assert (model["year"] <= 3).all() and (current["year"] >= 4).all()
    assert len(model) + len(current) == len(tiny)


def test_split_is_stratified_seeded_and_drops_columns(randhie):
    a = split_all(randhie, "binexp", cfg())
    b = split_all(randhie, "binexp", cfg())
    pd.testing.assert_frame_equal(a["train"], b["train"])
    assert all("year" not in part.columns for part in a.values())
    share = randhie[randhie.year <= 3].binexp.mean()
    for part in ("train", "test"):
        assert abs(a[part].binexp.mean() - share) < 0.005
    assert len(a["current"]) == (randhie.year >= 4).sum()


@pytest.mark.parametrize(("rule", "error", "match"), [
    ("nope > 1", ConfigError, "split.current"),
    ("year + 1", ConfigError, "must give True/False"),
    ("year >= 99", DataError, "0 current rows"),
])
def test_bad_rules_are_named(tiny, rule, error, match):
    with pytest.raises(error, match=match):
        split_current(tiny, rule)


def test_config_errors(tiny):
    with pytest.raises(ConfigError, match="test_size"):
        cfg(test_size=1.5)
    with pytest.raises(ConfigError, match="split.shuffle"):
        cfg(shuffle=True)
    with pytest.raises(ConfigError, match=r"split.drop_columns.*\['zz'\]"):
        split_all(tiny, "y", cfg(drop_columns=["zz"]))


def test_regression_split_is_stratified_on_target_deciles(randhie):
    spend = randhie[randhie.binexp == 1]
    parts = split_all(spend, "lnmeddol", cfg(), task="regression")
    medians = [parts[p].lnmeddol.median() for p in ("train", "test")]
    assert abs(medians[0] - medians[1]) < 0.05
    assert len(parts["train"]) + len(parts["test"]) == (spend.year <= 3).sum()


def test_current_batch_by_seeded_share_shrinks_to_a_subset(tiny):
    big = split_all(tiny, "y", split_config({"current_share": 0.4, "seed": 3,
                                                          "stratify": False}))
    small = split_all(tiny, "y", split_config({"current_share": 0.2, "seed": 3,
                                                            "stratify": False}))
    assert len(big["current"]) == 8 and len(small["current"]) == 4
    key = ["x", "code"]
    assert set(map(tuple, small["current"][key].values)) <= set(map(tuple,
                                                                     big["current"][key].values))


@pytest.mark.parametrize(("section", "match"), [
    ({"current": "year >= 4", "current_share": 0.2}, "exactly one of `split.current`"),
    ({}, "exactly one of `split.current`"),
    ({"current_share": 1.0}, r"`split.current_share` must be a number in \(0, 1\)"),
    ({"current": "year >= 4", "test_size": 0}, "split.test_size"),
    ({"current": "year >= 4", "seed": -2}, "split.seed"),
])
def test_split_keys_are_checked(section, match):
    with pytest.raises(ConfigError, match=match):
        split_config(section)
