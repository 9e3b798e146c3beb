"""Validate: check a table against the schema declared in config."""

from __future__ import annotations

from dataclasses import asdict, dataclass
from typing import Any

import numpy as np
import pandas as pd
from pandas.api import types as ptypes

from mlgate.base.errors import ConfigError
from mlgate.base.names import BATCH_COLUMN
from mlgate.base.params import check_number, check_section


def is_integer_column(s: pd.Series) -> bool:
    """Integer dtype, or float whose non-null values are all whole numbers (ints with NaN)."""
    if ptypes.is_bool_dtype(s):
        return False
    if ptypes.is_integer_dtype(s):
        return True
    vals = s.dropna()
    return ptypes.is_float_dtype(s) and bool(np.all(np.isfinite(vals) & (vals == np.round(vals))))


KIND_CHECKS = {
    "integer": is_integer_column,
    "float": lambda s: ptypes.is_numeric_dtype(s) and not ptypes.is_bool_dtype(s),
    "numeric": lambda s: ptypes.is_numeric_dtype(s) and not ptypes.is_bool_dtype(s),
    "bool": ptypes.is_bool_dtype,
    "string": lambda s: ptypes.is_string_dtype(s) or ptypes.is_object_dtype(s),
    "category": lambda s: isinstance(s.dtype, pd.CategoricalDtype) or ptypes.is_object_dtype(s),
    "datetime": ptypes.is_datetime64_any_dtype,
}

SCHEMA_KEYS = {"columns", "target_values", "min_rows", "max_null_share", "null_share",
               "allow_extra_columns", "categories"}


@dataclass(frozen=True)
class Schema:
    """The declared schema: column kinds, target rules, null and size limits."""

    target: str
    columns: dict[str, str]
    target_values: list[Any] | None
    min_rows: int
    max_null_share: float
    null_share: dict[str, float]
    allow_extra_columns: bool
    categories: dict[str, list[Any]]

    @classmethod
    def from_params(cls, target: str, section: dict[str, Any]) -> Schema:
        """Build from `data.target` and the `validate:` section, rejecting unknown keys/kinds."""
        section = check_section(section, "validate", SCHEMA_KEYS)
        columns = dict(section["columns"] or {})
        bad = {c: k for c, k in columns.items() if k not in KIND_CHECKS}
        if bad:
            raise ConfigError(f"`validate.columns`: unknown kind(s) {bad}; "
                              f"use one of {sorted(KIND_CHECKS)}")
        check_number(section["min_rows"], "validate.min_rows", low=1, integer=True)
        check_number(section["max_null_share"], "validate.max_null_share", low=0,
                     high=1)
        for col, share in (section["null_share"] or {}).items():
            check_number(share, f"validate.null_share.{col}", low=0, high=1)
        categories = section["categories"] or {}
        for col, values in categories.items():
            if not isinstance(values, list) or not values:
                raise ConfigError(f"`validate.categories.{col}` must list the allowed values")
        rest = {k: v for k, v in section.items() if k not in ("columns", "categories")}
        rest["null_share"] = dict(rest["null_share"] or {})
        return cls(target=target, columns=columns, categories=dict(categories), **rest)


@dataclass(frozen=True)
class Failure:
    """One failed rule for one column (or `*` for the whole table)."""

    column: str
    rule: str
    detail: str


def check_size(df: pd.DataFrame, schema: Schema) -> list[Failure]:
    """Row count at least `min_rows`."""
    if len(df) < schema.min_rows:
        return [Failure("*", "min_rows", f"{len(df)} rows < min_rows {schema.min_rows}")]
    return []


def check_columns(df: pd.DataFrame, schema: Schema) -> list[Failure]:
    """Every declared column (and the target) is present; extras only if allowed."""
    required = [*schema.columns, *([schema.target] if schema.target not in schema.columns else [])]
    out = [Failure(c, "required", "column is missing") for c in required if c not in df.columns]
    if not schema.allow_extra_columns:
        out += [Failure(c, "unexpected", "column is not declared in validate.columns")
                for c in df.columns
                if c not in schema.columns and c not in (schema.target, BATCH_COLUMN)]
    return out


def check_kinds(df: pd.DataFrame, schema: Schema) -> list[Failure]:
    """Each present declared column has a dtype of its declared kind."""
    return [Failure(c, "dtype", f"expected {kind}, found {df[c].dtype}")
            for c, kind in schema.columns.items()
            if c in df.columns and not KIND_CHECKS[kind](df[c])]


def check_nulls(df: pd.DataFrame, schema: Schema) -> list[Failure]:
    """Null share per column within its limit; the target may hold no nulls at all."""
    out = []
    for col, count in df.isna().sum().items():
        limit = 0.0 if col == schema.target else schema.null_share.get(col, schema.max_null_share)
        share = count / max(len(df), 1)
        if share > limit:
            what = f"all {count} values are null" if count == len(df) else f"{count} null(s)"
            out.append(Failure(str(col), "max_null_share", f"{what}, share {share:.4g} > {limit}"))
    return out


def check_finite(df: pd.DataFrame, schema: Schema) -> list[Failure]:
    """Numeric columns hold no +/-inf."""
    num = df.select_dtypes("number")
    counts = np.isinf(num.to_numpy(dtype=float, na_value=np.nan)).sum(axis=0)
    return [Failure(c, "finite", f"{n} infinite value(s)")
            for c, n in zip(num.columns, counts, strict=True) if n]


def check_target(df: pd.DataFrame, schema: Schema) -> list[Failure]:
    """Target values are within the allowed set and hold at least two classes."""
    if schema.target not in df.columns:
        return []
    values = df[schema.target].dropna()
    out = []
    if schema.target_values is not None:
        bad = sorted(set(values.unique()) - set(schema.target_values), key=str)
        if bad:
            out.append(Failure(schema.target, "target_values",
                               f"values {bad[:10]} not in allowed {schema.target_values}"))
    if values.nunique() < 2:
        out.append(Failure(schema.target, "target_classes",
                           f"needs at least 2 distinct values, found {values.nunique()}"))
    return out


def check_categories(df: pd.DataFrame, schema: Schema) -> list[Failure]:
    """Columns with declared categories hold no other (non-null) value."""
    out = []
    for col, allowed in schema.categories.items():
        if col not in df.columns:
            continue
        values = df[col].dropna()
        known = {_category_key(v) for v in allowed}
        outside = ~values.map(_category_key).isin(known)
        bad = sorted(set(values[outside].tolist()), key=str)
        if bad:
            n = int(outside.sum())
            out.append(Failure(col, "categories", f"{n} value(s) outside the declared "
                               f"categories, e.g. {bad[:5]} (declared: {allowed[:10]}"
                               f"{' ...' if len(allowed) > 10 else ''})"))
    return out


def _category_key(value: Any) -> str:
    """A category as text, whole floats as integers: YAML `1`, CSV `1.0` and `"1"` match."""
    if isinstance(value, float) and value.is_integer():
        value = int(value)
    return str(value.item() if hasattr(value, "item") else value)


RULES = (check_size, check_columns, check_kinds, check_nulls, check_finite, check_target,
         check_categories)


def validate(df: pd.DataFrame, schema: Schema) -> dict[str, Any]:
    """Run every rule and return a JSON-ready report with all failures."""
    failures = [f for rule in RULES for f in rule(df, schema)]
    return {
        "passed": not failures,
        "n_rows": len(df),
        "n_columns": df.shape[1],
        "rules": [r.__name__.removeprefix("check_") for r in RULES],
        "failures": [asdict(f) for f in failures],
        "null_share": {str(c): round(float(v), 6) for c, v in df.isna().mean().items() if v},
    }


def describe_failures(report: dict[str, Any]) -> str:
    """One line per failure: `column: rule (detail)`."""
    return "; ".join(f"{f['column']}: {f['rule']} ({f['detail']})" for f in report["failures"])
