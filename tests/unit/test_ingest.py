"""Ingest: built-in source, file sources, leakage columns, empty tables."""

import pytest

from mlgate.base.errors import ConfigError, DataError
from mlgate.core.ingest import ingest, load_source, resolve_source


def test_builtin_randhie_has_the_documented_shape(tmp_path):
    df = load_source("randhie", tmp_path)
    assert df.shape == (20190, 45)
    assert set(df["year"].unique()) == {1, 2, 3, 4, 5}
    assert set(df["binexp"].unique()) == {0, 1}


def test_relative_path_is_resolved_against_root(tmp_path, tiny):
    (tmp_path / "data").mkdir()
    tiny.to_csv(tmp_path / "data" / "t.csv", index=False)
    assert resolve_source("data/t.csv", tmp_path) == tmp_path / "data" / "t.csv"
    assert load_source("data/t.csv", tmp_path).shape == tiny.shape


def test_missing_file_names_key_and_path(tmp_path):
    with pytest.raises(DataError, match=r"data.source: file not found: .*missing.csv"):
        load_source("missing.csv", tmp_path)


def test_ingest_drops_leakage_columns(tiny):
    out = ingest(tiny, ["x"])
    assert "x" not in out.columns and len(out) == 20


def test_ingest_rejects_unknown_drop_column_and_empty_table(tiny):
    with pytest.raises(ConfigError, match=r"data.drop_columns.*\['nope'\]"):
        ingest(tiny, ["nope"])
    with pytest.raises(DataError, match="table is empty"):
        ingest(tiny.iloc[0:0], [])


def test_filter_keeps_matching_rows_before_dropping(tiny):
    out = ingest(tiny, ["year"], "year >= 3")
    assert len(out) == 10 and "year" not in out.columns


@pytest.mark.parametrize(("rule", "error", "match"), [
    ("nope == 1", ConfigError, "data.filter"),
    ("x * 2", ConfigError, "True/False"),
    ("year > 99", DataError, "leaves no rows"),
])
def test_bad_filter_is_named(tiny, rule, error, match):
    with pytest.raises(error, match=match):
        ingest(tiny, [], rule)


def test_declared_datetime_columns_are_parsed(tiny):
    df = tiny.assign(signup=["2022-10-26", "26/10/2022"] * 10)
    with pytest.raises(DataError, match=r"data.datetime.signup`: 10 value\(s\) do not match "
                                        r"format 'ISO 8601', e.g. '26/10/2022'"):
        ingest(df, [], None, {"signup": None})
    out = ingest(df.assign(signup=["26/10/2022", None] * 10), [], "signup >= '2022-01-01'",
                 {"signup": "%d/%m/%Y"})
    assert str(out.signup.dtype) == "datetime64[ns]" and len(out) == 10
    with pytest.raises(ConfigError, match=r"data.datetime` names column\(s\) not in the data"):
        ingest(tiny, [], None, {"when": None})
