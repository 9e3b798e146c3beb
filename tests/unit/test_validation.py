"""Validate: every rule fails with the column and rule named, and passes on good data."""

import numpy as np
import pytest

from mlgate.base.errors import ConfigError
from mlgate.core.validation import Schema, describe_failures, validate
from tests.defaults import schema_config

COLUMNS = {"x": "numeric", "code": "integer", "city": "string", "year": "integer",
           "y": "integer"}


def schema(**kw) -> Schema:
    return schema_config("y", {"columns": COLUMNS, "target_values": [0, 1],
                                    "min_rows": 10, **kw})


def failures(report):
    return {(f["column"], f["rule"]) for f in report["failures"]}


def test_good_table_passes(tiny):
    report = validate(tiny, schema())
    assert report["passed"] and report["failures"] == [] and report["n_rows"] == 20


def test_every_problem_is_reported_at_once(tiny):
    bad = tiny.drop(columns=["city"]).assign(code=tiny["code"] + 0.5, y=2)
    bad.loc[0, "x"] = np.inf
    report = validate(bad.head(5), schema())
    assert not report["passed"]
    assert failures(report) == {("*", "min_rows"), ("city", "required"), ("code", "dtype"),
                                ("x", "finite"), ("y", "target_values"), ("y", "target_classes")}
    text = describe_failures(report)
    assert "city: required" in text and "code: dtype (expected integer" in text


def test_missing_target_is_named(tiny):
    report = validate(tiny.drop(columns=["y"]), schema())
    assert ("y", "required") in failures(report)


def test_null_share_limits_and_overrides(tiny):
    df = tiny.astype({"x": float})
    df.loc[:3, "x"] = np.nan  # 20% nulls
    assert ("x", "max_null_share") in failures(validate(df, schema()))
    assert validate(df, schema(null_share={"x": 0.25}))["passed"]


def test_integer_column_with_nulls_is_still_integer(tiny):
    df = tiny.astype({"code": float})
    df.loc[0, "code"] = np.nan
    assert validate(df, schema(null_share={"code": 0.1}))["passed"]


def test_target_nulls_never_allowed(tiny):
    df = tiny.astype({"y": float})
    df.loc[0, "y"] = np.nan
    assert ("y", "max_null_share") in failures(validate(df, schema(max_null_share=0.5)))


def test_extra_columns_rejected_when_not_allowed(tiny):
    report = validate(tiny.assign(extra=1), schema(allow_extra_columns=False))
    assert failures(report) == {("extra", "unexpected")}


def test_bad_schema_config_is_named():
    with pytest.raises(ConfigError, match="unknown kind"):
        schema_config("y", {"columns": {"x": "decimal"}})
    with pytest.raises(ConfigError, match="validate.min_row"):
        schema_config("y", {"min_row": 3})


def test_randhie_passes_the_committed_schema(randhie, params):
    df = randhie.drop(columns=params["data"]["drop_columns"])
    report = validate(df, Schema.from_params("binexp", params["validate"]))
    assert report["passed"], describe_failures(report)


def test_declared_categories_catch_new_values(tiny):
    report = validate(tiny.assign(city=["a", "b", "zz", "a"] * 5), schema(
        categories={"city": ["a", "b"], "code": ["0", "1", "2"]}))
    assert failures(report) == {("city", "categories")}
    assert "5 value(s) outside the declared categories, e.g. ['zz']" in describe_failures(report)


@pytest.mark.parametrize(("section", "match"), [
    ({"min_rows": 0}, "validate.min_rows"),
    ({"max_null_share": 1.5}, r"`validate.max_null_share` must be a number in \[0, 1\]"),
    ({"null_share": {"x": -0.1}}, "validate.null_share.x"),
    ({"categories": {"city": []}}, "validate.categories.city"),
])
def test_numeric_schema_keys_are_range_checked(section, match):
    with pytest.raises(ConfigError, match=match):
        schema(**section)
