"""Steps mlgate puts inside the model pipeline, so they travel with the model everywhere.

Kept free of mlgate imports and heavy dependencies: the logged model pickles this module by
value (cloudpickle), so loading the model needs neither mlgate nor this file.
"""

from __future__ import annotations

import numpy as np
import pandas as pd


class MissingAsNaN:
    """Make every missing value in text columns `np.nan`, as scikit-learn expects.

    Parquet, JSON (`mlflow models serve`) and Spark hand missing strings over as `None`
    (or `pd.NA`); scikit-learn's `SimpleImputer(missing_values=np.nan)`, which PyCaret's
    categorical imputer is, does not treat `None` as missing, so such rows reach estimators
    that cannot take missing values (linear models, naive Bayes) and fail at predict time.
    Numeric columns are left alone (pandas already stores their missing values as NaN).
    """

    def fit(self, X: pd.DataFrame, y: object = None) -> MissingAsNaN:
        """Stateless: nothing to learn."""
        return self

    def transform(self, X: pd.DataFrame) -> pd.DataFrame:
        """X with None / pd.NA replaced by np.nan in object, string and category columns."""
        if not isinstance(X, pd.DataFrame):
            return X
        text = [c for c in X.columns
                if X[c].dtype == object or isinstance(X[c].dtype, pd.StringDtype)]
        missing = [c for c in text if X[c].isna().any()]
        if not missing:
            return X
        out = X.copy()
        for col in missing:
            values = out[col].astype(object)
            out[col] = values.where(values.notna(), np.nan)
        return out

    def fit_transform(self, X: pd.DataFrame, y: object = None) -> pd.DataFrame:
        """fit then transform."""
        return self.fit(X, y).transform(X)

    def get_params(self, deep: bool = True) -> dict:
        """No parameters (scikit-learn's clone needs this)."""
        return {}

    def set_params(self, **params: object) -> MissingAsNaN:
        """No parameters."""
        return self


class FeatureError(ValueError):
    """A feature rule that cannot be applied to a frame; the message names the rule's key."""


# Date parts: name -> how to compute it from a datetime Series (the `.dt` accessor).
DATE_PARTS = {"year": lambda d: d.dt.year, "quarter": lambda d: d.dt.quarter,
              "month": lambda d: d.dt.month, "day": lambda d: d.dt.day,
              "dayofyear": lambda d: d.dt.dayofyear, "weekday": lambda d: d.dt.weekday,
              "hour": lambda d: d.dt.hour, "minute": lambda d: d.dt.minute,
              "is_weekend": lambda d: (d.dt.weekday >= 5).where(d.notna())}


def as_text(values: pd.Series) -> pd.Series:
    """Values as the text a mapping file or a level name uses: 3.0 -> '3', missing stays NaN.

    Integer-valued floats (what Parquet, pandas and JSON make of integer codes with a missing
    value) read like integers, value by value, so one level has one name whatever the batch's
    dtype and whatever other rows it holds.
    """
    if pd.api.types.is_bool_dtype(values):
        return values.astype(object).map(lambda v: np.nan if pd.isna(v) else str(bool(v)).lower())
    if pd.api.types.is_numeric_dtype(values):
        num = values.astype("float64")
        whole = num.notna() & (num == np.round(num))
        text = pd.Series(np.nan, index=values.index, dtype=object)
        text[whole] = num[whole].astype("int64").astype(str)
        rest = num.notna() & ~whole
        text[rest] = num[rest].astype(str)
        return text
    return values.astype(object).map(lambda v: np.nan if pd.isna(v) else str(v))


class FeatureSteps:
    """The declared feature rules (mlgate.core.features), as one step inside the model.

    `rules` is a tuple of plain dicts compiled from config; the statistics some rules need
    (kept levels, bin edges) are learned in `fit`, so in cross-validation they come from each
    fold's training rows and in the final model from the training split only. Mapping tables
    are stored in the rules themselves: the model needs no file from `data/` to predict.
    `custom` is the user's `DataFrame -> DataFrame` function (`features.custom`), run after
    the rules and before `drop`.
    """

    def __init__(self, rules: tuple = (), custom: object = None, drop: tuple = ()):
        self.rules = rules
        self.custom = custom
        self.drop = drop

    def get_params(self, deep: bool = True) -> dict:
        """The constructor's arguments (scikit-learn's clone needs this)."""
        return {"rules": self.rules, "custom": self.custom, "drop": self.drop}

    def __repr__(self) -> str:
        """The full configuration (a stable key: Dask workers cache experiments by it)."""
        custom = getattr(self.custom, "__module__", ""), getattr(self.custom, "__qualname__", "")
        return f"FeatureSteps(rules={self.rules!r}, custom={custom!r}, drop={self.drop!r})"

    def set_params(self, **params: object) -> FeatureSteps:
        """Set constructor arguments."""
        for key, value in params.items():
            setattr(self, key, value)
        return self

    def fit(self, X: pd.DataFrame, y: object = None) -> FeatureSteps:
        """Learn each rule's statistics on X, applying the rules in order as it goes."""
        self.fitted_ = {}
        self._apply(X, fitting=True)
        return self

    def transform(self, X: pd.DataFrame) -> pd.DataFrame:
        """X with the rules applied: new columns added, grouped columns replaced, drops done."""
        if not hasattr(self, "fitted_"):
            raise FeatureError("the feature step is not fitted: call fit first")
        return self._apply(X, fitting=False)

    def fit_transform(self, X: pd.DataFrame, y: object = None) -> pd.DataFrame:
        """fit, then transform."""
        return self.fit(X, y).transform(X)

    def _apply(self, X: pd.DataFrame, fitting: bool) -> pd.DataFrame:
        """Apply every rule to a shallow copy of X (X itself is never modified)."""
        out = X.copy(deep=False)
        for rule in self.rules:
            missing = [c for c in rule["inputs"] if c not in out.columns]
            if missing:
                raise FeatureError(f"`{rule['key']}` needs column(s) {missing}, which the "
                                   "input does not have")
            if fitting:
                self.fitted_[rule["key"]] = getattr(self, f"_fit_{rule['kind']}")(rule, out)
            state = self.fitted_.get(rule["key"])
            made = getattr(self, f"_make_{rule['kind']}")(rule, out, state)
            if rule["kind"] == "date_parts":
                for name, values in made.items():
                    out[name] = values
                out = out.drop(columns=[rule["output"]])
            else:
                out[rule["output"]] = made
        if self.custom is not None:
            out = self._run_custom(out)
        missing = [c for c in self.drop if c not in out.columns]
        if missing:
            raise FeatureError(f"`features.drop` names column(s) {missing}, which the input "
                               "does not have")
        return out.drop(columns=list(self.drop))

    def _run_custom(self, X: pd.DataFrame) -> pd.DataFrame:
        """The user's function on a copy of X; it must return a frame with X's rows."""
        name = getattr(self.custom, "__qualname__", repr(self.custom))
        try:
            result = self.custom(X.copy())
        except Exception as exc:  # the user's code: any failure is reported by name
            raise FeatureError(f"`features.custom` ({name}) failed: "
                               f"{type(exc).__name__}: {exc}") from exc
        if not isinstance(result, pd.DataFrame):
            raise FeatureError(f"`features.custom` ({name}) must return a DataFrame, not "
                               f"{type(result).__name__}")
        if len(result) != len(X) or not result.index.equals(X.index):
            raise FeatureError(f"`features.custom` ({name}) must keep the input's rows and "
                               f"index: got {len(result)} row(s) for {len(X)}")
        return result

    # -- rule kinds: _fit_<kind>(rule, X) -> state; _make_<kind>(rule, X, state) -> values --

    @staticmethod
    def _fit_derive(rule: dict, X: pd.DataFrame) -> None:
        return None

    @staticmethod
    def _make_derive(rule: dict, X: pd.DataFrame, state: None) -> pd.Series:
        """A pandas expression over the columns, as floats (infinite -> NaN)."""
        env = {alias: X[col] for alias, col in rule["aliases"].items()}
        try:
            values = pd.eval(rule["expression"], engine="python", local_dict=env)
        except Exception as exc:  # pandas raises many types for a bad expression
            raise FeatureError(f"`{rule['key']}` = {rule['source']!r} failed: "
                               f"{type(exc).__name__}: {exc}") from exc
        if not isinstance(values, pd.Series):
            values = pd.Series(values, index=X.index)
        if not (pd.api.types.is_numeric_dtype(values) or pd.api.types.is_bool_dtype(values)):
            raise FeatureError(f"`{rule['key']}` = {rule['source']!r} gives {values.dtype} "
                               "values, not numbers (text belongs in `features.custom`)")
        values = values.astype("float64")
        return values.where(np.isfinite(values), np.nan)

    @staticmethod
    def _fit_lookup(rule: dict, X: pd.DataFrame) -> None:
        return None

    @staticmethod
    def _make_lookup(rule: dict, X: pd.DataFrame, state: None) -> pd.Series:
        """Each value of `column` replaced by its value in the mapping table."""
        keys = as_text(X[rule["column"]])
        mapped = keys.map(rule["mapping"])
        unmapped = keys.notna() & ~keys.isin(list(rule["mapping"]))
        if unmapped.any():
            examples = sorted(set(keys[unmapped]))[:5]
            if rule["unmapped"] == "error":
                raise FeatureError(
                    f"`{rule['key']}`: {int(unmapped.sum())} value(s) of `{rule['column']}` "
                    f"are not in {rule['file']}, e.g. {examples}; add them to the file or set "
                    f"`{rule['key']}.unmapped` to default or keep")
            fill = rule["default"] if rule["unmapped"] == "default" else keys
            mapped = mapped.where(~unmapped, fill)
        if rule["numeric"]:
            return pd.to_numeric(mapped, errors="coerce").astype("float64")
        return mapped.astype(object).where(mapped.notna(), np.nan)

    @staticmethod
    def _fit_interact(rule: dict, X: pd.DataFrame) -> None:
        return None

    @staticmethod
    def _make_interact(rule: dict, X: pd.DataFrame, state: None) -> pd.Series:
        """Product of numeric columns, or the levels of categorical ones joined by '|'."""
        cols = rule["inputs"]
        if rule["op"] == "product":
            values = X[cols[0]].astype("float64")
            for col in cols[1:]:
                values = values * X[col].astype("float64")
            return values
        parts = [as_text(X[c]) for c in cols]
        joined = parts[0].astype(object)
        missing = parts[0].isna()
        for part in parts[1:]:
            joined = joined.astype(str) + "|" + part.astype(str)
            missing |= part.isna()
        return joined.astype(object).where(~missing, np.nan)

    @staticmethod
    def _fit_group_rare(rule: dict, X: pd.DataFrame) -> list[str]:
        """The levels kept: frequent enough by every criterion the rule sets."""
        counts = as_text(X[rule["column"]]).value_counts(dropna=True)
        counts = counts.sort_values(ascending=False, kind="stable")
        keep = counts
        if rule["min_count"] is not None:
            keep = keep[keep >= rule["min_count"]]
        if rule["min_share"] is not None:
            keep = keep[keep / max(int(counts.sum()), 1) >= rule["min_share"]]
        if rule["top"] is not None:
            keep = keep.head(rule["top"])
        return sorted(keep.index)

    @staticmethod
    def _make_group_rare(rule: dict, X: pd.DataFrame, state: list[str]) -> pd.Series:
        """Kept levels as text, every other level (unseen ones too) as the `other` label."""
        text = as_text(X[rule["column"]])
        grouped = text.where(text.isin(state) | text.isna(), rule["other"])
        return grouped.astype(object)

    @staticmethod
    def _fit_bin(rule: dict, X: pd.DataFrame) -> list[float]:
        """Inner bin edges: the rule's own, or quantiles / equal widths of the fit rows."""
        if rule["edges"] is not None:
            return list(rule["edges"])
        values = X[rule["column"]].astype("float64").dropna().to_numpy()
        if len(values) == 0:
            raise FeatureError(f"`{rule['key']}`: `{rule['column']}` has no values to bin")
        if rule["strategy"] == "quantile":
            edges = np.quantile(values, np.linspace(0, 1, rule["bins"] + 1)[1:-1])
        else:
            edges = np.linspace(values.min(), values.max(), rule["bins"] + 1)[1:-1]
        return sorted({float(e) for e in edges})

    @staticmethod
    def _make_bin(rule: dict, X: pd.DataFrame, state: list[float]) -> pd.Series:
        """The bin number 0..k-1 of each value (below the first edge: 0), NaN stays NaN."""
        values = X[rule["column"]].astype("float64")
        codes = np.searchsorted(np.asarray(state, dtype=float), values.to_numpy(), side="right")
        return pd.Series(codes.astype("float64"), index=X.index).where(values.notna(), np.nan)

    @staticmethod
    def _fit_date_parts(rule: dict, X: pd.DataFrame) -> None:
        return None

    @staticmethod
    def _make_date_parts(rule: dict, X: pd.DataFrame, state: None) -> dict[str, pd.Series]:
        """`<column>_<part>` for each part; text is parsed with the profile's format."""
        values = X[rule["column"]]
        if not pd.api.types.is_datetime64_any_dtype(values):
            fmt = rule["format"] or "ISO8601"
            parsed = pd.to_datetime(values, errors="coerce", format=fmt)
            bad = parsed.isna() & values.notna()
            if bad.any():
                raise FeatureError(f"`{rule['key']}`: {int(bad.sum())} value(s) of "
                                   f"`{rule['column']}` are not dates in format {fmt!r}, e.g. "
                                   f"{values[bad].iloc[0]!r}")
            values = parsed
        return {f"{rule['column']}_{part}": DATE_PARTS[part](values).astype("float64")
                for part in rule["parts"]}
