"""Declared features: the `features` config section compiled into one model step.

The section (conf/features/default.yaml, per-table rules in the data profile) declares rules
by kind, each keyed by the column it makes: `lookup` (a mapping file under data/mappings/),
`derive` (a pandas expression), `interact`, `group_rare`, `bin`, `date_parts`, then the
user's `custom` function and `drop`. Kinds are applied in that order, rules of one kind in
the order they are declared; a rule may read the raw columns and any column an earlier rule
made. Here every rule is checked against the training columns (keys, inputs, expressions,
mapping files, the custom function on a sample), naming the rule's full key; the result is
a `model_steps.FeatureSteps` that PyCaret fits inside each CV fold (engines.training).
"""

from __future__ import annotations

import ast
import importlib
import logging
import re
import sys
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pandas as pd
from pandas.api import types as ptypes

from mlgate.base import paths
from mlgate.base.errors import ConfigError, DataError
from mlgate.base.io import read_table
from mlgate.base.params import check_number, check_section
from mlgate.core.model_steps import DATE_PARTS, FeatureError, FeatureSteps, as_text

log = logging.getLogger(__name__)

KINDS = ("lookup", "derive", "interact", "group_rare", "bin", "date_parts")
SECTION_KEYS = {*KINDS, "custom", "drop", "custom_sample_rows", "unmapped", "other",
                "bin_strategy"}
UNMAPPED = ("error", "default", "keep")
BIN_STRATEGIES = ("quantile", "uniform")
# Functions pandas' expression evaluator knows (pandas.core.computation.ops.MATHOPS).
EXPRESSION_FUNCTIONS = {"sin", "cos", "tan", "exp", "log", "expm1", "log1p", "sqrt", "sinh",
                        "cosh", "tanh", "arcsin", "arccos", "arctan", "arccosh", "arcsinh",
                        "arctanh", "abs", "arctan2", "floor", "ceil"}
BACKTICKED = re.compile(r"`([^`]+)`")
# A custom function is checked for row independence on this many leading rows of the sample.
ROW_CHECK_ROWS = 10


@dataclass(frozen=True)
class Columns:
    """What the rules may read: the training columns so far, their kinds, the target."""

    kinds: dict[str, str]  # column -> numeric | categorical | datetime
    target: str
    datetimes: dict[str, str | None]  # data.datetime: column -> format (None: ISO 8601)

    def need(self, key: str, cols: list[str]) -> None:
        """Every input exists and is not the target, else ConfigError naming the rule."""
        if self.target in cols:
            raise ConfigError(f"`{key}` reads the target `{self.target}`: a feature made from "
                              "the target leaks it into the model")
        missing = [c for c in cols if c not in self.kinds]
        if missing:
            raise ConfigError(f"`{key}` reads column(s) {missing} that are not in the training "
                              f"data (nor made by an earlier rule); columns: "
                              f"{sorted(self.kinds)}")

    def add(self, key: str, name: str, kind: str) -> None:
        """Record a new column, refusing one that exists already."""
        if name in self.kinds or name == self.target:
            raise ConfigError(f"`{key}` makes column `{name}`, which exists already; pick "
                              "another name")
        self.kinds[name] = kind


def column_kinds(X: pd.DataFrame, categorical: tuple[str, ...]) -> dict[str, str]:
    """numeric | categorical | datetime for every column (declared categories win)."""
    kinds = {}
    for col in X.columns:
        s = X[col]
        if ptypes.is_datetime64_any_dtype(s):
            kinds[col] = "datetime"
        elif col in categorical or not (ptypes.is_numeric_dtype(s) or ptypes.is_bool_dtype(s)):
            kinds[col] = "categorical"
        else:
            kinds[col] = "numeric"
    return kinds


def is_empty(section: dict[str, Any]) -> bool:
    """True when the section declares no rule, no custom function and no drop."""
    return not any(section.get(k) for k in (*KINDS, "custom", "drop"))


@dataclass(frozen=True)
class DeclaredFeatures:
    """The compiled `features` section: the unfitted model step and how to check it."""

    steps: FeatureSteps
    sample_rows: int  # `features.custom_sample_rows`: rows the custom function is checked on


def declared_features(section: Any, X: pd.DataFrame, target: str,
                      categorical: tuple[str, ...], datetimes: dict[str, str | None],
                      root: Path) -> DeclaredFeatures | None:
    """The `features` section compiled (see compile_rules); None when it declares nothing."""
    steps = compile_rules(section, X, target, categorical, datetimes, root)
    return None if steps is None else DeclaredFeatures(steps, section["custom_sample_rows"])


def compile_rules(section: Any, X: pd.DataFrame, target: str, categorical: tuple[str, ...],
                  datetimes: dict[str, str | None], root: Path) -> FeatureSteps | None:
    """The `features` section as an unfitted FeatureSteps (None when it declares nothing).

    X is the raw training frame (target excluded); it gives the column kinds the rules are
    checked against. Errors name the rule's full key (`features.lookup.region.file`).
    """
    section = check_section(section, "features", SECTION_KEYS)
    check_choice(section["unmapped"], "features.unmapped", UNMAPPED)
    check_choice(section["bin_strategy"], "features.bin_strategy", BIN_STRATEGIES)
    check_number(section["custom_sample_rows"], "features.custom_sample_rows", low=ROW_CHECK_ROWS,
                 integer=True)
    if is_empty(section):
        return None
    cols = Columns(column_kinds(X, categorical), target, dict(datetimes or {}))
    rules: list[dict[str, Any]] = []
    for kind in KINDS:
        entries = section[kind] or {}
        if not isinstance(entries, dict):
            raise ConfigError(f"`features.{kind}` must map column names to rules, got "
                              f"{entries!r}")
        for name, spec in entries.items():
            if spec is None:  # `-S features.<kind>.<name>=null` switches a rule off
                continue
            key = f"features.{kind}.{name}"
            rules.append(COMPILERS[kind](key, str(name), spec, cols, section, root))
    drop = section["drop"] or []
    if not isinstance(drop, list) or not all(isinstance(c, str) for c in drop):
        raise ConfigError(f"`features.drop` must be a list of column names, got {drop!r}")
    custom = load_custom(section["custom"], root) if section["custom"] else None
    if custom is None:
        cols.need("features.drop", drop)
    if not rules and custom is None and not drop:
        return None
    return FeatureSteps(tuple(rules), custom, tuple(drop))


def check_choice(value: Any, key: str, choices: tuple[str, ...]) -> None:
    """`value` is one of `choices`, else ConfigError naming the key."""
    if value not in choices:
        raise ConfigError(f"`{key}` must be one of {list(choices)}, got {value!r}")


def compile_lookup(key: str, name: str, spec: Any, cols: Columns, section: dict[str, Any],
                   root: Path) -> dict[str, Any]:
    """`lookup.<name>: {column, file, key?, value?, unmapped?, default?}`."""
    spec = check_section(spec, key, {"column", "file"}, {"key", "value", "unmapped", "default"})
    column = spec["column"]
    cols.need(key, [column])
    unmapped = spec.get("unmapped", section["unmapped"])
    check_choice(unmapped, f"{key}.unmapped", UNMAPPED)
    if unmapped == "default" and spec.get("default") is None:
        raise ConfigError(f"`{key}.unmapped` is default: set `{key}.default` to the value "
                          "unmapped values get")
    file = mapping_file(f"{key}.file", spec["file"], root)
    mapping, numeric = read_mapping(key, file, spec.get("key") or column, spec.get("value"))
    default = spec.get("default")
    if unmapped == "default" and numeric and not isinstance(default, int | float):
        numeric = False
    if unmapped == "keep" and numeric and cols.kinds[column] != "numeric":
        numeric = False
    cols.add(key, name, "numeric" if numeric else "categorical")
    return {"kind": "lookup", "key": key, "output": name, "inputs": [column], "column": column,
            "file": str(spec["file"]), "mapping": mapping, "numeric": numeric,
            "unmapped": unmapped, "default": default}


def mapping_file(key: str, value: Any, root: Path) -> Path:
    """The mapping file's path: it must lie under data/mappings/ (train's dependency)."""
    if not isinstance(value, str) or not value.strip():
        raise ConfigError(f"`{key}` must be the path of a CSV or Parquet file under "
                          f"{paths.MAPPINGS}/, got {value!r}")
    base = (root / paths.MAPPINGS).resolve()
    path = (root / value).resolve()
    if base not in path.parents:
        raise ConfigError(f"`{key}` = {value!r} is not under {paths.MAPPINGS}/: train depends "
                          "on that folder in dvc.yaml, so only a mapping there reruns training "
                          "when it changes")
    if not path.is_file():
        raise ConfigError(f"`{key}`: mapping file not found: {value}")
    return path


def read_mapping(key: str, path: Path, key_col: str, value_col: str | None
                 ) -> tuple[dict[str, Any], bool]:
    """{key text: value} from a mapping table, and whether every value is a number."""
    try:
        table = read_table(path)
    except DataError as exc:
        raise ConfigError(f"`{key}.file`: {exc}") from exc
    if key_col not in table.columns:
        raise ConfigError(f"`{key}.key`: {path.name} has no column `{key_col}` (columns: "
                          f"{list(table.columns)})")
    others = [c for c in table.columns if c != key_col]
    if value_col is None:
        if len(others) != 1:
            raise ConfigError(f"`{key}.value`: {path.name} has {len(others)} columns besides "
                              f"`{key_col}`; name the one to use")
        value_col = others[0]
    if value_col not in table.columns:
        raise ConfigError(f"`{key}.value`: {path.name} has no column `{value_col}` (columns: "
                          f"{list(table.columns)})")
    keys, values = as_text(table[key_col]), table[value_col]
    if keys.isna().any() or values.isna().any():
        raise ConfigError(f"`{key}.file`: {path.name} has empty cells in `{key_col}` or "
                          f"`{value_col}`")
    dup = sorted(set(keys[keys.duplicated()]))
    if dup:
        raise ConfigError(f"`{key}.file`: {path.name} maps key(s) {dup[:10]} more than once")
    numeric = bool(ptypes.is_numeric_dtype(values) and not ptypes.is_bool_dtype(values))
    out = [float(v) if numeric else str(v) for v in values]
    return dict(zip(keys, out, strict=True)), numeric


def expression_names(key: str, expression: str) -> tuple[str, dict[str, str]]:
    """(expression with backticked names replaced by aliases, {alias: column})."""
    aliases: dict[str, str] = {}

    def alias(match: re.Match) -> str:
        name = f"__col{len(aliases)}__"
        aliases[name] = match.group(1)
        return name

    text = BACKTICKED.sub(alias, expression)
    try:
        tree = ast.parse(text, mode="eval")
    except SyntaxError as exc:
        raise ConfigError(f"`{key}` = {expression!r} is not a valid expression: {exc.msg}") \
            from exc
    called = {n.func.id for n in ast.walk(tree)
              if isinstance(n, ast.Call) and isinstance(n.func, ast.Name)}
    unknown = sorted(called - EXPRESSION_FUNCTIONS)
    if unknown:
        raise ConfigError(f"`{key}` = {expression!r} calls {unknown}; expressions may call "
                          f"{sorted(EXPRESSION_FUNCTIONS)}")
    if any(isinstance(n, ast.Attribute | ast.Subscript | ast.Lambda) for n in ast.walk(tree)):
        raise ConfigError(f"`{key}` = {expression!r}: use columns, numbers, operators and "
                          "functions only (no attributes, indexing or lambdas)")
    for node in ast.walk(tree):
        if isinstance(node, ast.Name) and node.id not in called and node.id not in aliases:
            aliases[node.id] = node.id
    return text, aliases


def compile_derive(key: str, name: str, spec: Any, cols: Columns, section: dict[str, Any],
                   root: Path) -> dict[str, Any]:
    """`derive.<name>: "<pandas expression>"` over earlier columns, as floats."""
    if not isinstance(spec, str) or not spec.strip():
        raise ConfigError(f"`{key}` must be an expression over columns, e.g. 'income / num', "
                          f"got {spec!r}")
    text, aliases = expression_names(key, spec)
    inputs = list(dict.fromkeys(aliases.values()))
    if not inputs:
        raise ConfigError(f"`{key}` = {spec!r} reads no column")
    cols.need(key, inputs)
    bad = [c for c in inputs if cols.kinds[c] != "numeric"]
    if bad:
        raise ConfigError(f"`{key}` = {spec!r} reads non-numeric column(s) {bad}; derive "
                          "expressions work on numbers (see lookup, interact, custom)")
    cols.add(key, name, "numeric")
    return {"kind": "derive", "key": key, "output": name, "inputs": inputs, "source": spec,
            "expression": text, "aliases": aliases}


def compile_interact(key: str, name: str, spec: Any, cols: Columns, section: dict[str, Any],
                     root: Path) -> dict[str, Any]:
    """`interact.<name>: [a, b, ...]`: product of numbers, else joined category levels."""
    if not isinstance(spec, list) or len(spec) < 2 or not all(isinstance(c, str) for c in spec):
        raise ConfigError(f"`{key}` must list two or more columns, got {spec!r}")
    cols.need(key, spec)
    dated = [c for c in spec if cols.kinds[c] == "datetime"]
    if dated:
        raise ConfigError(f"`{key}` reads datetime column(s) {dated}; use date_parts first")
    op = "product" if all(cols.kinds[c] == "numeric" for c in spec) else "concat"
    cols.add(key, name, "numeric" if op == "product" else "categorical")
    return {"kind": "interact", "key": key, "output": name, "inputs": list(spec), "op": op}


def compile_group_rare(key: str, name: str, spec: Any, cols: Columns, section: dict[str, Any],
                       root: Path) -> dict[str, Any]:
    """`group_rare.<column>: {top?, min_share?, min_count?, other?}`, in place."""
    spec = check_section(spec, key, set(), {"top", "min_share", "min_count", "other"})
    cols.need(key, [name])
    if cols.kinds[name] == "datetime":
        raise ConfigError(f"`{key}`: `{name}` is a datetime; use date_parts")
    if all(spec.get(k) is None for k in ("top", "min_share", "min_count")):
        raise ConfigError(f"`{key}` needs at least one of `top`, `min_share`, `min_count`")
    check_number(spec.get("top"), f"{key}.top", low=1, integer=True, optional=True)
    check_number(spec.get("min_count"), f"{key}.min_count", low=1, integer=True, optional=True)
    check_number(spec.get("min_share"), f"{key}.min_share", low=0, high=1, open_low=True,
                 optional=True)
    other = spec.get("other", section["other"])
    if not isinstance(other, str) or not other:
        raise ConfigError(f"`{key}.other` must be a non-empty label, got {other!r}")
    cols.kinds[name] = "categorical"
    return {"kind": "group_rare", "key": key, "output": name, "inputs": [name], "column": name,
            "top": spec.get("top"), "min_share": spec.get("min_share"),
            "min_count": spec.get("min_count"), "other": other}


def compile_bin(key: str, name: str, spec: Any, cols: Columns, section: dict[str, Any],
                root: Path) -> dict[str, Any]:
    """`bin.<name>: {column, bins | edges, strategy?}`: the bin number of each value."""
    spec = check_section(spec, key, {"column"}, {"bins", "edges", "strategy"})
    column = spec["column"]
    cols.need(key, [column])
    if cols.kinds[column] != "numeric":
        raise ConfigError(f"`{key}.column`: `{column}` is not numeric")
    edges, bins = spec.get("edges"), spec.get("bins")
    if (edges is None) == (bins is None):
        raise ConfigError(f"`{key}` needs exactly one of `bins` (learned per fold) and `edges`")
    if edges is not None:
        ok = isinstance(edges, list) and edges and all(
            isinstance(e, int | float) and not isinstance(e, bool) for e in edges)
        if not ok or sorted(set(edges)) != list(edges):
            raise ConfigError(f"`{key}.edges` must be increasing numbers, got {edges!r}")
    else:
        check_number(bins, f"{key}.bins", low=2, integer=True)
    strategy = spec.get("strategy", section["bin_strategy"])
    check_choice(strategy, f"{key}.strategy", BIN_STRATEGIES)
    cols.add(key, name, "numeric")
    return {"kind": "bin", "key": key, "output": name, "inputs": [column], "column": column,
            "bins": bins, "edges": [float(e) for e in edges] if edges else None,
            "strategy": strategy}


def compile_date_parts(key: str, name: str, spec: Any, cols: Columns, section: dict[str, Any],
                       root: Path) -> dict[str, Any]:
    """`date_parts.<column>: [year, month, ...]`: numeric parts; the datetime is dropped."""
    if name not in cols.datetimes:
        raise ConfigError(f"`{key}`: `{name}` is not a datetime column of the data profile; "
                          f"declare it in `data.datetime` (declared: {sorted(cols.datetimes)})")
    cols.need(key, [name])
    if not isinstance(spec, list) or not spec:
        raise ConfigError(f"`{key}` must list date parts from {sorted(DATE_PARTS)}, got "
                          f"{spec!r}")
    unknown = [p for p in spec if p not in DATE_PARTS]
    if unknown:
        raise ConfigError(f"`{key}`: unknown date part(s) {unknown}; use {sorted(DATE_PARTS)}")
    for part in spec:
        cols.add(key, f"{name}_{part}", "numeric")
    del cols.kinds[name]
    return {"kind": "date_parts", "key": key, "output": name, "inputs": [name], "column": name,
            "parts": list(spec), "format": cols.datetimes[name]}


COMPILERS: dict[str, Callable[..., dict[str, Any]]] = {
    "lookup": compile_lookup, "derive": compile_derive, "interact": compile_interact,
    "group_rare": compile_group_rare, "bin": compile_bin, "date_parts": compile_date_parts}


def load_custom(ref: Any, root: Path) -> Callable[[pd.DataFrame], pd.DataFrame]:
    """Import `features.custom` = 'package.module:function' from the repository's features/."""
    if not isinstance(ref, str) or ref.count(":") != 1:
        raise ConfigError(f"`features.custom` must be 'module:function' (e.g. "
                          f"features.my_table:build), got {ref!r}")
    module_name, func_name = ref.split(":")
    if module_name.split(".")[0] != paths.FEATURE_CODE.name:
        raise ConfigError(f"`features.custom` = {ref!r}: the module must be in the repository's "
                          f"{paths.FEATURE_CODE}/ package (e.g. features.my_table:build), which "
                          "train depends on in dvc.yaml")
    use_repository_package(root)
    try:
        module = importlib.import_module(module_name)
    except Exception as exc:  # the user's module: any import failure is reported by name
        raise ConfigError(f"`features.custom` = {ref!r}: cannot import {module_name}: "
                          f"{type(exc).__name__}: {exc}") from exc
    file = Path(getattr(module, "__file__", "") or "").resolve()
    if (root / paths.FEATURE_CODE).resolve() not in file.parents:
        raise ConfigError(f"`features.custom` = {ref!r}: {module_name} was imported from {file}, "
                          f"not from this repository's {paths.FEATURE_CODE}/")
    func = getattr(module, func_name, None)
    if not callable(func):
        raise ConfigError(f"`features.custom` = {ref!r}: {module_name} has no function "
                          f"`{func_name}`")
    return func


def use_repository_package(root: Path) -> None:
    """Make `features` import from root/features/: root first on sys.path, and a `features`
    package imported from elsewhere earlier in this process forgotten."""
    package = paths.FEATURE_CODE.name
    wanted = (root / paths.FEATURE_CODE).resolve()
    loaded = sys.modules.get(package)
    where = [Path(p).resolve() for p in getattr(loaded, "__path__", [])]
    if loaded is not None and wanted not in where:
        for name in [m for m in sys.modules if m == package or m.startswith(f"{package}.")]:
            del sys.modules[name]
    root_text = str(root.resolve())
    if root_text in sys.path:
        sys.path.remove(root_text)
    sys.path.insert(0, root_text)
    importlib.invalidate_caches()


def check_custom(steps: FeatureSteps, X: pd.DataFrame, rows: int) -> None:
    """Run the custom function on a sample: a frame with the same rows, the same result twice,
    each row computed from that row alone (at serving it may see one row: a frame-wide
    statistic would differ there; use a fitted rule). It gets a copy: it may modify it."""
    sample = X.head(rows)
    fitted = fit(steps, sample, "a sample of the training rows")
    first = transform(fitted, sample, "a sample of the training rows")
    if not same(transform(fitted, sample, "a sample of the training rows"), first):
        raise ConfigError("`features.custom` gave different results on the same rows twice; "
                          "it must be deterministic")
    head = transform(fitted, sample.head(ROW_CHECK_ROWS), f"the first {ROW_CHECK_ROWS} rows")
    if not same(head, first.head(ROW_CHECK_ROWS)):
        raise ConfigError(f"`features.custom`: its result for the first {ROW_CHECK_ROWS} rows "
                          "changes with the rows around them (a statistic of the whole frame?); "
                          "at serving it sees a few rows: compute each row from itself, or use "
                          "a rule fitted on the training split (group_rare, bin)")


def same(a: pd.DataFrame, b: pd.DataFrame) -> bool:
    """Equal columns and values (dtypes may differ: a few rows can shrink a column's dtype)."""
    try:
        pd.testing.assert_frame_equal(a, b, check_dtype=False)
    except AssertionError:
        return False
    return True


def fit(steps: FeatureSteps, X: pd.DataFrame, what: str) -> FeatureSteps:
    """A fresh copy of steps fitted on X; a rule's failure is a ConfigError naming `what`."""
    try:
        return FeatureSteps(**steps.get_params()).fit(X)
    except FeatureError as exc:
        raise ConfigError(f"{exc} (on {what})") from exc


def transform(steps: FeatureSteps, X: pd.DataFrame, what: str) -> pd.DataFrame:
    """steps.transform(X); a rule's failure is a ConfigError naming `what`."""
    try:
        return steps.transform(X)
    except FeatureError as exc:
        raise ConfigError(f"{exc} (on {what})") from exc


def engineer(features: DeclaredFeatures, X: pd.DataFrame) -> pd.DataFrame:
    """Check the rules on X (the custom function on a sample first) and return X engineered."""
    steps = features.steps
    if steps.custom is not None:
        check_custom(steps, X, features.sample_rows)
    out = transform(fit(steps, X, "the training split"), X, "the training split")
    made = [c for c in out.columns if c not in X.columns]
    log.info("features: %d rule(s)%s, %d column(s) in, %d out (%d new: %s)", len(steps.rules),
             " + custom" if steps.custom is not None else "", X.shape[1], out.shape[1],
             len(made), ", ".join(made[:12]) + (" ..." if len(made) > 12 else ""))
    return out


def text_columns(X: pd.DataFrame) -> list[str]:
    """Columns PyCaret must encode as categories: every non-numeric, non-datetime column."""
    return [c for c in X.columns if column_kinds(X[[c]], ())[c] == "categorical"]

