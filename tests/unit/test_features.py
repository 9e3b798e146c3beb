"""Declared features: every rule kind on small frames, its errors naming the rule's key."""

from __future__ import annotations

import textwrap
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from mlgate.base.errors import ConfigError, is_user_error
from mlgate.core.features import DeclaredFeatures, compile_rules, engineer
from mlgate.core.model_steps import FeatureError, FeatureSteps
from tests.defaults import conf_section

TARGET = "y"
SAMPLE_ROWS = conf_section("features")["custom_sample_rows"]


@pytest.fixture
def root(tmp_path: Path) -> Path:
    """A repository with a mapping file and a features/ package."""
    (tmp_path / "data/mappings").mkdir(parents=True)
    (tmp_path / "data/mappings/city.csv").write_text("city,region\nparis,north\nnice,south\n")
    (tmp_path / "data/mappings/code.csv").write_text("code,weight\n0,1.5\n1,2.5\n2,4\n")
    (tmp_path / "features").mkdir()
    (tmp_path / "features/__init__.py").write_text("")
    return tmp_path


@pytest.fixture
def frame() -> pd.DataFrame:
    """Numbers, an integer code, a text category with a rare level, a date, the target."""
    return pd.DataFrame({
        "income": [10.0, 20.0, 30.0, np.nan, 50.0, 60.0, 70.0, 80.0, 90.0, 100.0, 110.0, 120.0],
        "num": [1, 2, 0, 2, 5, 1, 1, 2, 3, 4, 1, 2],
        "code": [0, 1, 2, 0, 1, 2, 0, 1, 2, 0, 1, 2],
        "city": ["paris", "nice", "paris", "nice", "paris", "lyon", "paris", "nice", "paris",
                 None, "nice", "paris"],
        "signup": pd.to_datetime(["2024-01-06", "2024-02-07", "2024-03-08", "2024-04-09",
                                  "2024-05-10", "2024-06-11", "2024-07-12", "2024-08-13",
                                  "2024-09-14", "2024-10-15", "2024-11-16", "2024-12-17"]),
        TARGET: [0, 1] * 6,
    })


def build(frame: pd.DataFrame, root: Path, **rules) -> FeatureSteps:
    """Compile conf/'s features defaults with `rules` over them against frame's columns."""
    section = conf_section("features", rules)
    return compile_rules(section, frame.drop(columns=[TARGET]), TARGET, ("code",),
                         {"signup": None}, root)


def run(frame: pd.DataFrame, root: Path, **rules) -> pd.DataFrame:
    """Compile, fit on frame and transform it."""
    return build(frame, root, **rules).fit_transform(frame.drop(columns=[TARGET]))


def test_no_rule_compiles_to_nothing(frame, root):
    assert build(frame, root) is None
    assert build(frame, root, derive={"x": None}) is None, "a null rule is switched off"


def test_derive_evaluates_expressions_as_floats(frame, root):
    out = run(frame, root, derive={"per_person": "income / num", "log_inc": "log1p(income)",
                                   "twice": "`per_person` * 2"})
    assert out["per_person"].iloc[0] == 10.0
    assert np.isnan(out.loc[2, "per_person"]), "division by zero is missing, not infinite"
    assert np.isnan(out.loc[3, "per_person"]), "a missing input stays missing"
    np.testing.assert_allclose(out["log_inc"].iloc[:3], np.log1p([10, 20, 30]))
    assert out["twice"].iloc[1] == 20.0, "a rule reads a column an earlier rule made"
    assert out["per_person"].dtype == np.float64


@pytest.mark.parametrize(("rules", "message"), [
    ({"derive": {"a": "income / nope"}}, "`features.derive.a` reads column(s) ['nope']"),
    ({"derive": {"a": "income / / num"}},
     "`features.derive.a` = 'income / / num' is not a valid expression"),
    ({"derive": {"a": "y * 2"}}, "`features.derive.a` reads the target `y`"),
    ({"derive": {"a": "city * 2"}}, "reads non-numeric column(s) ['city']"),
    ({"derive": {"a": "exec(income)"}}, "calls ['exec']"),
    ({"derive": {"a": "income.values"}}, "no attributes"),
    ({"derive": {"income": "num * 2"}}, "`features.derive.income` makes column `income`"),
    ({"derive": {"a": 3}}, "`features.derive.a` must be an expression"),
    ({"lookup": {"r": {"column": "city"}}}, "`features.lookup.r.file`"),
    ({"lookup": {"r": {"column": "city", "file": "elsewhere.csv"}}}, "not under data/mappings"),
    ({"lookup": {"r": {"column": "city", "file": "data/mappings/none.csv"}}}, "not found"),
    ({"lookup": {"r": {"column": "town", "file": "data/mappings/city.csv"}}},
     "`features.lookup.r` reads column(s) ['town']"),
    ({"lookup": {"r": {"column": "city", "file": "data/mappings/city.csv", "unmapped": "skip"}}},
     "`features.lookup.r.unmapped` must be one of"),
    ({"lookup": {"r": {"column": "city", "file": "data/mappings/city.csv",
                       "unmapped": "default"}}}, "set `features.lookup.r.default`"),
    ({"lookup": {"r": {"column": "city", "file": "data/mappings/city.csv", "value": "x"}}},
     "`features.lookup.r.value`: city.csv has no column `x`"),
    ({"lookup": {"r": {"column": "city", "file": "data/mappings/city.csv", "extra": 1}}},
     "`features.lookup.r.extra`"),
    ({"group_rare": {"city": {}}}, "at least one of `top`, `min_share`, `min_count`"),
    ({"group_rare": {"city": {"min_share": 2}}}, "`features.group_rare.city.min_share`"),
    ({"group_rare": {"town": {"top": 2}}}, "`features.group_rare.town` reads column(s)"),
    ({"bin": {"b": {"column": "income"}}}, "exactly one of `bins`"),
    ({"bin": {"b": {"column": "income", "edges": [3, 1]}}}, "`features.bin.b.edges` must be"),
    ({"bin": {"b": {"column": "city", "bins": 3}}}, "`features.bin.b.column`: `city` is not"),
    ({"bin": {"b": {"column": "income", "bins": 1}}}, "`features.bin.b.bins`"),
    ({"date_parts": {"income": ["year"]}}, "`features.date_parts.income`: `income` is not a "
                                           "datetime column"),
    ({"date_parts": {"signup": ["century"]}}, "unknown date part(s) ['century']"),
    ({"interact": {"i": ["income"]}}, "`features.interact.i` must list two or more"),
    ({"interact": {"i": ["income", "signup"]}}, "reads datetime column(s) ['signup']"),
    ({"drop": ["nope"]}, "`features.drop` reads column(s) ['nope']"),
    ({"custom": "elsewhere:build"}, "in the repository's features/ package"),
    ({"custom": "features.missing:build"}, "cannot import features.missing"),
    ({"custom": "no-colon"}, "must be 'module:function'"),
    ({"unmapped": "maybe"}, "`features.unmapped` must be one of"),
    ({"bogus": {}}, "`features.bogus`"),
])
def test_bad_rules_name_their_key(frame, root, rules, message):
    with pytest.raises(ConfigError) as err:
        build(frame, root, **rules)
    assert message in str(err.value)


def test_lookup_maps_values_and_keeps_the_table_inside_the_step(frame, root):
    steps = build(frame, root, lookup={
        "region": {"column": "city", "file": "data/mappings/city.csv", "unmapped": "default",
                   "default": "elsewhere"},
        "weight": {"column": "code", "file": "data/mappings/code.csv"}})
    out = steps.fit_transform(frame.drop(columns=[TARGET]))
    assert list(out["region"].iloc[:6]) == ["north", "south", "north", "south", "north",
                                            "elsewhere"]
    assert pd.isna(out.loc[9, "region"]), "a missing value is not an unmapped one"
    assert out["weight"].dtype == np.float64 and list(out["weight"].iloc[:3]) == [1.5, 2.5, 4.0]
    (root / "data/mappings/code.csv").unlink()  # the model needs no file from data/
    again = steps.transform(frame.drop(columns=[TARGET]).astype({"code": "float64"}))
    assert list(again["weight"].iloc[:3]) == [1.5, 2.5, 4.0], "3.0 reads as code 3"


def test_lookup_unmapped_policies(frame, root):
    rule = {"column": "city", "file": "data/mappings/city.csv"}
    with pytest.raises(ConfigError, match=r"`features.lookup.r`: 1 value\(s\) of `city` are "
                                          r"not in data/mappings/city.csv, e.g. \['lyon'\]"):
        engineer(DeclaredFeatures(build(frame, root, lookup={"r": rule}), SAMPLE_ROWS),
                 frame.drop(columns=[TARGET]))
    kept = run(frame, root, lookup={"r": {**rule, "unmapped": "keep"}})
    assert kept.loc[5, "r"] == "lyon"
    steps = build(frame, root, lookup={"r": rule})
    steps.fit(frame.drop(columns=[TARGET]).iloc[:5])
    with pytest.raises(FeatureError) as err:  # at scoring time: the model's own error
        steps.transform(frame.drop(columns=[TARGET]))
    assert is_user_error(err.value), "stages and the CLI report it without a traceback"


def test_lookup_refuses_a_mapping_with_duplicate_keys(frame, root):
    (root / "data/mappings/city.csv").write_text("city,region\nparis,north\nparis,south\n")
    with pytest.raises(ConfigError, match=r"`features.lookup.r.file`: city.csv maps key\(s\) "
                                          r"\['paris'\] more than once"):
        build(frame, root, lookup={"r": {"column": "city", "file": "data/mappings/city.csv"}})


def test_group_rare_keeps_frequent_levels_learned_in_fit(frame, root):
    steps = build(frame, root, group_rare={"city": {"min_count": 2, "other": "rest"}})
    X = frame.drop(columns=[TARGET])
    out = steps.fit_transform(X)
    assert steps.fitted_["features.group_rare.city"] == ["nice", "paris"]
    assert out.loc[5, "city"] == "rest" and pd.isna(out.loc[9, "city"])
    unseen = steps.transform(X.assign(city="rome"))
    assert set(unseen["city"]) == {"rest"}, "a level never seen in training is grouped"
    top = build(frame, root, group_rare={"code": {"top": 1}})
    assert top.fit(X).fitted_["features.group_rare.code"] == ["0"], "ties: first level"
    assert build(frame, root, group_rare={"city": {"min_share": 0.5}}).fit(X).fitted_[
        "features.group_rare.city"] == ["paris"]


def test_bin_learns_edges_from_fit_rows_only(frame, root):
    X = frame.drop(columns=[TARGET])
    steps = build(frame, root, bin={"band": {"column": "income", "bins": 2}})
    steps.fit(X.iloc[:6])
    median = float(np.nanmedian(X["income"].iloc[:6]))
    assert steps.fitted_["features.bin.band"] == [median]
    out = steps.transform(X)
    assert list(out["band"].iloc[[0, 11]]) == [0.0, 1.0] and np.isnan(out.loc[3, "band"])
    fixed = run(frame, root, bin={"band": {"column": "income", "edges": [25, 75]}})
    assert list(fixed["band"].iloc[[0, 2, 9]]) == [0.0, 1.0, 2.0]


def test_date_parts_replace_the_datetime_and_parse_text(frame, root):
    steps = build(frame, root, date_parts={"signup": ["year", "month", "weekday",
                                                      "is_weekend"]})
    X = frame.drop(columns=[TARGET])
    out = steps.fit_transform(X)
    assert "signup" not in out
    assert out.loc[0, ["signup_year", "signup_month", "signup_weekday",
                       "signup_is_weekend"]].tolist() == [2024.0, 1.0, 5.0, 1.0]
    text = steps.transform(X.assign(signup=X["signup"].dt.strftime("%Y-%m-%d")))
    pd.testing.assert_frame_equal(text, out)
    with pytest.raises(FeatureError, match=r"`features.date_parts.signup`: 1 value\(s\) of "
                                           r"`signup` are not dates"):
        steps.transform(X.assign(signup=["soon"] + ["2024-01-01"] * 11))


def test_interactions_multiply_numbers_and_join_levels(frame, root):
    out = run(frame, root, interact={"inc_num": ["income", "num"], "code_city": ["code", "city"]})
    assert out.loc[1, "inc_num"] == 40.0
    assert out.loc[0, "code_city"] == "0|paris" and pd.isna(out.loc[9, "code_city"])


def test_drop_removes_columns_after_the_rules(frame, root):
    out = run(frame, root, derive={"per_person": "income / num"}, drop=["income", "num"])
    assert "per_person" in out and "income" not in out and "num" not in out


def test_transform_names_the_rule_whose_input_is_missing(frame, root):
    steps = build(frame, root, derive={"per_person": "income / num"})
    steps.fit(frame.drop(columns=[TARGET]))
    with pytest.raises(FeatureError, match=r"`features.derive.per_person` needs column\(s\) "
                                           r"\['num'\]"):
        steps.transform(frame.drop(columns=[TARGET, "num"]))


def custom_module(root: Path, body: str) -> str:
    """Write features/mine.py with `body`; return its reference."""
    (root / "features/mine.py").write_text(textwrap.dedent(body))
    return "features.mine:build"


@pytest.fixture
def fresh_import(monkeypatch):
    """Forget features.* between tests (each writes its own features/mine.py)."""
    import sys
    for name in [m for m in sys.modules if m == "features" or m.startswith("features.")]:
        monkeypatch.delitem(sys.modules, name)
    yield
    for name in [m for m in sys.modules if m == "features" or m.startswith("features.")]:
        del sys.modules[name]


def test_custom_function_runs_after_the_rules(frame, root, fresh_import):
    ref = custom_module(root, """
        def build(df):
            out = df.copy()
            out["rich"] = (out["per_person"] > 20).astype(float)
            return out
        """)
    steps = build(frame, root, derive={"per_person": "income / num"}, custom=ref)
    out = engineer(DeclaredFeatures(steps, SAMPLE_ROWS), frame.drop(columns=[TARGET]))
    assert list(out["rich"].iloc[:3]) == [0.0, 0.0, 0.0] and out.loc[4, "rich"] == 0.0
    assert out.loc[5, "rich"] == 1.0


@pytest.mark.parametrize(("body", "message"), [
    ("def build(df):\n    return df.assign(z=df['income'] - df['income'].mean())\n",
     "changes with the rows around them"),
    ("def build(df):\n    return df.values\n", "must return a DataFrame, not ndarray"),
    ("def build(df):\n    return df.head(2)\n", "must keep the input's rows"),
    ("def build(df):\n    return df['nope']\n", "failed: KeyError"),
    ("import random\ndef build(df):\n    return df.assign(z=random.random())\n",
     "different results on the same rows twice"),
])
def test_custom_function_is_checked_on_a_sample(frame, root, fresh_import, body, message):
    steps = build(frame, root, custom=custom_module(root, body))
    with pytest.raises(ConfigError, match="features.custom") as err:
        engineer(DeclaredFeatures(steps, SAMPLE_ROWS), frame.drop(columns=[TARGET]))
    assert message in str(err.value)


def test_steps_survive_sklearn_clone(frame, root):
    from sklearn.base import clone

    steps = build(frame, root, group_rare={"city": {"top": 1}})
    copy = clone(steps)
    assert repr(copy) == repr(steps) and not hasattr(copy, "fitted_")
    with pytest.raises(FeatureError, match="not fitted"):
        copy.transform(frame)


# -- inside PyCaret: fitted per CV fold and on the training split only -------------------------

def test_rules_are_fitted_in_each_fold_and_never_see_the_test_split(randhie, params,
                                                                     repo_root, monkeypatch):
    from mlgate.adapters.tracking import feature_steps
    from mlgate.engines.selection import train_model
    from mlgate.engines.training import with_features
    from tests.defaults import train_config

    df = randhie.drop(columns=[*params["data"]["drop_columns"], "year"])
    df = df.sample(1200, random_state=3).reset_index(drop=True)
    train, test = df.iloc[:900], df.iloc[900:].assign(plan=99)  # plan 99: only in test
    fits: list[int] = []
    original = FeatureSteps.fit

    def counting_fit(self, X, y=None):
        fits.append(len(X))
        return original(self, X, y)

    monkeypatch.setattr(FeatureSteps, "fit", counting_fit)
    rules = conf_section("features", {"group_rare": {"plan": {"min_share": 0.05}},
                                      "bin": {"age_band": {"column": "xage", "bins": 4}}})
    cfg = with_features(train_config({"target": "binexp", "categorical": ["plan", "site"]},
                                     {"estimators": ["lr"], "fold": 3}),
                        rules, train, {}, repo_root)
    model = train_model(train, cfg).model
    fitted = feature_steps(model).fitted_
    on_train = original(FeatureSteps(**cfg.features.steps.get_params()),
                        train.drop(columns=["binexp"])).fitted_
    leaked = original(FeatureSteps(**cfg.features.steps.get_params()),
                      pd.concat([train, test]).drop(columns=["binexp"])).fitted_
    assert fitted == on_train, "the final model's statistics are the training split's"
    assert "99" in leaked["features.group_rare.plan"] and fitted != leaked
    # PyCaret cross-validates on its 70 % share of the rows: 3 folds of 2/3 of it each
    fold_rows = round(len(train) * 0.7 * 2 / 3)
    assert sum(abs(n - fold_rows) <= 2 for n in fits) >= 3, fits
    assert fits[-1] == len(train), "finalize refits the rules on every training row"
    proba = model.predict_proba(test.drop(columns=["binexp"]))
    assert np.isfinite(proba).all(), "an unseen plan is grouped into `other`, not an error"
