"""Drift: compare a current table with a reference table using Evidently, and decide what to do.

One Evidently report holds feature drift (DataDriftPreset), prediction drift and target drift
(ValueDrift on the model's outputs and the labels) and a data-quality summary (missing values,
values outside the reference range, categories the reference never had). Every score, method,
threshold, drift decision and count in the summary is read back from the Evidently snapshot,
never recomputed. The action (none / retrain / investigate) maps the result through config.
"""

from __future__ import annotations

import dataclasses
import logging
from dataclasses import dataclass, fields
from pathlib import Path
from typing import TYPE_CHECKING, Any

import pandas as pd
from evidently import DataDefinition, Dataset, Report
from evidently.legacy.calculations.stattests.registry import (
    StatTestInvalidFeatureTypeError,
    StatTestNotFoundError,
)
from evidently.metrics import MissingValueCount, OutListValueCount, OutRangeValueCount, ValueDrift
from evidently.presets import DataDriftPreset
from pandas.api import types as ptypes

from mlgate.base.errors import ConfigError, DataError
from mlgate.base.files import write_atomic
from mlgate.base.params import check_keys, check_section

if TYPE_CHECKING:
    from evidently.core.report import Snapshot

log = logging.getLogger(__name__)

_VALUE_DRIFT = "ValueDrift"
_COUNT = "DriftedColumnsCount"
_QUALITY = {"MissingValueCount": "missing_values", "OutRangeValueCount": "out_of_range_values",
            "OutListValueCount": "new_category_values"}
ACTIONS = ("none", "retrain", "investigate")  # in increasing order of severity
FAIL_ON = ("never", "retrain", "investigate")
PREDICTION, PROBABILITY = "prediction", "probability"
NOT_FEATURES = (PREDICTION, PROBABILITY, "model_uri")  # columns scoring adds to a batch


class DriftError(DataError, ValueError):
    """Bad drift input (empty frame, missing or unusable column); the message names it."""


class DriftConfigError(ConfigError, ValueError):
    """Bad `drift:` section of params.yaml; the message names the key."""


class DriftActionError(DataError):
    """The drift action reached `drift.fail_on`; the message carries the verdict line."""


@dataclass(frozen=True)
class ColumnRule:
    """Per-column override: Evidently method and threshold, and whether drift alone matters."""

    method: str | None = None
    threshold: float | None = None
    important: bool = False


@dataclass(frozen=True)
class DriftConfig:
    """Which columns to compare, how Evidently decides drift, and what each result means."""

    columns: list[str] | None
    exclude: list[str]
    categorical: list[str]
    method: str | None
    threshold: float | None
    drift_share: float
    per_column: dict[str, ColumnRule]
    actions: dict[str, float]
    on_prediction_drift: str
    on_target_drift: str
    fail_on: str
    retrain: dict[str, Any]

    @classmethod
    def from_params(cls, params: dict[str, Any] | None) -> DriftConfig:
        """Build from the `drift:` section of params.yaml; unknown keys name `drift.<key>`."""
        try:
            params = check_section(params, "drift", {f.name for f in fields(cls)})
        except ConfigError as exc:
            raise DriftConfigError(str(exc)) from None
        cols = params["columns"]
        return cls(columns=None if cols is None else _str_list(params, "columns"),
                   exclude=_str_list(params, "exclude"),
                   categorical=_str_list(params, "categorical"),
                   method=params["method"], threshold=params["threshold"],
                   drift_share=params["drift_share"],
                   per_column=_rules(params["per_column"]),
                   actions=_actions(params["actions"]),
                   retrain=_retrain(params["retrain"]),
                   **{k: params[k] for k in ("on_prediction_drift", "on_target_drift",
                                             "fail_on")})

    def __post_init__(self) -> None:
        """Reject bad types and out-of-range numbers early, naming the key."""
        if self.method is not None and not isinstance(self.method, str):
            raise DriftConfigError(f"`drift.method` must be a stattest name or null, "
                                   f"got {self.method!r}")
        for key in ("threshold", "drift_share"):
            value = getattr(self, key)
            if (value is not None or key == "drift_share") and not _is_number(value):
                raise DriftConfigError(f"`drift.{key}` must be a number, got {value!r}")
        if not 0.0 < self.drift_share <= 1.0:
            raise DriftConfigError(f"`drift.drift_share` must be in (0, 1], got {self.drift_share}")
        if self.threshold is not None and self.threshold <= 0.0:
            raise DriftConfigError(f"`drift.threshold` must be > 0 or null, got {self.threshold}")
        for key, allowed in (("on_prediction_drift", ACTIONS), ("on_target_drift", ACTIONS),
                             ("fail_on", FAIL_ON)):
            if getattr(self, key) not in allowed:
                raise DriftConfigError(f"`drift.{key}` must be one of {list(allowed)}, "
                                       f"got {getattr(self, key)!r}")

    @property
    def important(self) -> list[str]:
        """Columns whose drift alone triggers at least `retrain`."""
        return [c for c, rule in self.per_column.items() if rule.important]


def _check(section: dict[str, Any], allowed: set[str], prefix: str) -> None:
    """check_keys raising DriftConfigError."""
    try:
        check_keys(section, allowed, prefix)
    except ConfigError as exc:
        raise DriftConfigError(str(exc)) from None


def _is_number(value: Any) -> bool:
    """A real number that is not a bool."""
    return isinstance(value, int | float) and not isinstance(value, bool)


def _str_list(params: dict[str, Any], key: str, prefix: str = "drift") -> list[str]:
    """params[key] as a list of strings (null -> []); anything else raises naming the key."""
    value = params.get(key)
    if value is None:
        return []
    if not isinstance(value, list | tuple) or not all(isinstance(v, str) for v in value):
        raise DriftConfigError(f"`{prefix}.{key}` must be a list of strings, got {value!r}")
    return list(value)


def _mapping(value: Any, key: str) -> dict[str, Any]:
    """A mapping (null -> {}); anything else raises naming the key."""
    if value is None:
        return {}
    if not isinstance(value, dict):
        raise DriftConfigError(f"`{key}` must be a mapping, got {value!r}")
    return dict(value)


def _rules(section: Any) -> dict[str, ColumnRule]:
    """`drift.per_column`: {column: {method, threshold, important}}."""
    rules = {}
    for col, spec in _mapping(section, "drift.per_column").items():
        spec = _mapping(spec, f"drift.per_column.{col}")
        _check(spec, {"method", "threshold", "important"}, f"drift.per_column.{col}")
        method, threshold = spec.get("method"), spec.get("threshold")
        important = spec.get("important", False)
        if method is not None and not isinstance(method, str):
            raise DriftConfigError(f"`drift.per_column.{col}.method` must be a stattest name")
        if threshold is not None and (not _is_number(threshold) or threshold <= 0):
            raise DriftConfigError(f"`drift.per_column.{col}.threshold` must be a number > 0")
        if not isinstance(important, bool):
            raise DriftConfigError(f"`drift.per_column.{col}.important` must be true or false")
        rules[str(col)] = ColumnRule(method, None if threshold is None else float(threshold),
                                     important)
    return rules


def _actions(section: Any) -> dict[str, float]:
    """`drift.actions`: minimum share of drifted columns for `retrain` and `investigate`."""
    actions = _mapping(section, "drift.actions")
    _check(actions, {"retrain", "investigate"}, "drift.actions")
    for key in ("retrain", "investigate"):
        value = actions.get(key)
        if not _is_number(value) or not 0.0 < value <= 1.0:
            raise DriftConfigError(f"`drift.actions.{key}` must be a share in (0, 1], "
                                   f"got {value!r}")
    if actions["retrain"] > actions["investigate"]:
        raise DriftConfigError("`drift.actions.retrain` must not exceed "
                               "`drift.actions.investigate`")
    return {k: float(actions[k]) for k in ("retrain", "investigate")}


def _retrain(section: Any) -> dict[str, Any]:
    """`drift.retrain`: the `dvc exp run -S` overrides that fold the batch into the model data."""
    retrain = _mapping(section, "drift.retrain")
    _check(retrain, {"overrides"}, "drift.retrain")
    overrides = _str_list(retrain, "overrides", "drift.retrain")
    bad = [o for o in overrides if "=" not in o]
    if bad:
        raise DriftConfigError(f"`drift.retrain.overrides` entries must look like key=value, "
                               f"got {bad}")
    return {"overrides": overrides}


def _missing(frame: pd.DataFrame, wanted: list[str], name: str) -> list[str]:
    """Describe each wanted column absent from `frame` as "`col` (not in <name>)"."""
    return [f"`{c}` (not in {name})" for c in wanted if c not in frame.columns]


def select_columns(reference: pd.DataFrame, current: pd.DataFrame, cfg: DriftConfig) -> list[str]:
    """Return the columns to compare, validating frames and configured columns."""
    for name, frame in (("reference", reference), ("current", current)):
        if frame.empty:
            raise DriftError(f"drift: the {name} table is empty "
                             f"({frame.shape[0]} rows x {frame.shape[1]} columns)")
    if cfg.columns is not None:
        wanted = list(dict.fromkeys(cfg.columns))
        missing = _missing(reference, wanted, "reference") + _missing(current, wanted, "current")
        if missing:
            raise DriftError(f"drift: configured column(s) missing: {', '.join(missing)}")
    else:
        wanted = [c for c in reference.columns if c in current.columns]
    selected = [c for c in wanted if c not in set(cfg.exclude)]
    if not selected:
        raise DriftError(f"drift: no columns left to compare (columns={cfg.columns}, "
                         f"exclude={cfg.exclude})")
    return selected


def _check_values(reference: pd.DataFrame, current: pd.DataFrame, columns: list[str]) -> None:
    """Raise DriftError naming the columns that hold no values at all in either frame."""
    empty = [f"`{c}` ({name})" for name, frame in (("reference", reference), ("current", current))
             for c in columns if frame[c].notna().sum() == 0]
    if empty:
        raise DriftError(f"drift: column(s) with only missing values: {', '.join(empty)}")


def _is_num(reference: pd.DataFrame, column: str, categorical: list[str]) -> bool:
    """Numeric (not bool) in the reference and not declared categorical."""
    s = reference[column]
    return ptypes.is_numeric_dtype(s) and not ptypes.is_bool_dtype(s) and column not in categorical


@dataclass(frozen=True)
class Roles:
    """The columns of one drift check by role: features, model outputs, labels."""

    features: list[str]
    outputs: list[str]
    target: str | None
    classification: bool = True

    def numerical(self, reference: pd.DataFrame, cfg: DriftConfig) -> list[str]:
        """Numerical columns for Evidently's DataDefinition (everything else is categorical)."""
        nums = [c for c in self.features if _is_num(reference, c, cfg.categorical)]
        if PROBABILITY in self.outputs:
            nums.append(PROBABILITY)
        if not self.classification:
            nums += [c for c in (PREDICTION, self.target) if c in self.all and c not in nums]
        return nums

    @property
    def all(self) -> list[str]:
        """Every compared column."""
        return [*self.features, *self.outputs, *([self.target] if self.target else [])]


def column_roles(reference: pd.DataFrame, current: pd.DataFrame, cfg: DriftConfig,
                 target: str | None, task: str) -> Roles:
    """Features to compare, scoring outputs present in both frames, the target if labelled."""
    cfg_features = dataclasses.replace(cfg, exclude=[
        *cfg.exclude, *NOT_FEATURES, *([target] if target else [])])
    features = select_columns(reference, current, cfg_features)
    # A datetime (a model input whose parts `features.date_parts` makes) is not compared: a
    # later batch always differs from the reference in time, and Evidently has no drift
    # test for timestamps. The parts it feeds the model are inside the model.
    dated = [c for c in features if ptypes.is_datetime64_any_dtype(reference[c])]
    if dated:
        log.info("drift: datetime column(s) %s not compared (a later batch always drifts in "
                 "time)", dated)
        features = [c for c in features if c not in dated]
    outputs = [c for c in (PREDICTION, PROBABILITY)
               if c in reference.columns and c in current.columns]
    has_target = bool(target) and all(target in f.columns and f[target].notna().any()
                                      for f in (reference, current))
    return Roles(features, outputs, target if has_target else None, task == "classification")


def _data_definition(reference: pd.DataFrame, roles: Roles, cfg: DriftConfig) -> DataDefinition:
    """Numeric columns are numerical unless listed in `categorical`; everything else categorical."""
    absent = [c for c in cfg.categorical if c not in reference.columns]
    if absent:
        log.warning("drift.categorical names column(s) not in the data: %s", absent)
    unknown = [c for c in cfg.per_column if c not in roles.all]
    if unknown:
        log.warning("drift.per_column names column(s) not compared: %s", unknown)
    nums = roles.numerical(reference, cfg)
    return DataDefinition(numerical_columns=nums,
                          categorical_columns=[c for c in roles.all if c not in nums])


def _preset(columns: list[str], cfg: DriftConfig) -> DataDriftPreset:
    """The Evidently preset: one ValueDrift per feature plus DriftedColumnsCount."""
    rules = {c: r for c, r in cfg.per_column.items() if c in columns}
    methods = {c: r.method for c, r in rules.items() if r.method}
    thresholds = {c: r.threshold for c, r in rules.items() if r.threshold is not None}
    return DataDriftPreset(columns=columns, drift_share=cfg.drift_share, method=cfg.method,
                           threshold=None if cfg.threshold is None else float(cfg.threshold),
                           per_column_method=methods or None,
                           per_column_threshold=thresholds or None)


def _output_drift(roles: Roles, cfg: DriftConfig) -> list[ValueDrift]:
    """ValueDrift on the model outputs and the target (Evidently defaults unless per_column)."""
    columns = [*roles.outputs, *([roles.target] if roles.target else [])]
    rules = {c: cfg.per_column.get(c, ColumnRule()) for c in columns}
    return [ValueDrift(column=c, method=r.method, threshold=r.threshold) for c, r in rules.items()]


def _quality(reference: pd.DataFrame, roles: Roles, nums: list[str]) -> list[Any]:
    """Missing values per feature; out-of-range (numerical) or new values (categorical)."""
    metrics: list[Any] = [MissingValueCount(column=c, tests=[]) for c in roles.features]
    for c in roles.features:
        values = reference[c].dropna()
        if c in nums:
            metrics.append(OutRangeValueCount(column=c, left=float(values.min()),
                                              right=float(values.max()), tests=[]))
        else:
            metrics.append(OutListValueCount(column=c, values=values.unique().tolist(), tests=[]))
    return metrics


def run_drift(reference: pd.DataFrame, current: pd.DataFrame, cfg: DriftConfig,
              target: str | None = None, task: str = "classification"
              ) -> tuple[dict[str, Any], Snapshot]:
    """Run the Evidently report (current vs reference); return (summary with action, snapshot)."""
    roles = column_roles(reference, current, cfg, target, task)
    _check_values(reference, current, roles.features)
    definition = _data_definition(reference, roles, cfg)
    ref = Dataset.from_pandas(reference[roles.all], data_definition=definition)
    cur = Dataset.from_pandas(current[roles.all], data_definition=definition)
    log.info("drift: %d features + %s, reference %d rows, current %d rows (method=%s, "
             "threshold=%s)", len(roles.features), roles.all[len(roles.features):] or "no outputs",
             len(reference), len(current), cfg.method or "auto",
             cfg.threshold if cfg.threshold is not None else "default")
    metrics = [_preset(roles.features, cfg), *_output_drift(roles, cfg),
               *_quality(reference, roles, definition.numerical_columns or [])]
    try:
        snapshot = Report(metrics, include_tests=True).run(cur, ref)
    except (StatTestNotFoundError, StatTestInvalidFeatureTypeError) as exc:
        raise DriftError(f"drift.method={cfg.method!r}: {exc}") from exc
    summary = summarize(snapshot, roles, cfg)
    summary["quality"]["columns"] = _reference_missing(summary["quality"]["columns"], reference)
    return summary, snapshot


def _kind(config: dict[str, Any]) -> str:
    """The metric class name from an Evidently metric config ("evidently:metric_v2:X" -> "X")."""
    return str(config.get("type", "")).rsplit(":", 1)[-1]


def _failed(test: dict[str, Any]) -> bool:
    """True when an Evidently test result has status FAIL."""
    return str(getattr(test["status"], "value", test["status"])) == "FAIL"


def _column_results(data: dict[str, Any], columns: list[str]) -> dict[str, dict[str, Any]]:
    """Per column: score, method and threshold from ValueDrift; `drifted` from its drift test."""
    decided = {t["metric_config"]["params"]["column"]: _failed(t) for t in data["tests"]
               if t["id"] == "drift" and _kind(t["metric_config"]["params"]) == _VALUE_DRIFT}
    out: dict[str, dict[str, Any]] = {}
    for m in data["metrics"]:
        conf = m["config"]
        if _kind(conf) == _VALUE_DRIFT and conf["column"] in columns:
            out[conf["column"]] = {"score": float(m["value"]), "method": str(conf["method"]),
                                   "threshold": float(conf["threshold"]),
                                   "drifted": decided.get(conf["column"])}
    lost = [c for c in columns if c not in out or out[c]["drifted"] is None]
    if lost:
        raise RuntimeError(f"drift: Evidently snapshot lacks a ValueDrift result/test for {lost}")
    return {c: out[c] for c in columns}


def _dataset_result(data: dict[str, Any]) -> tuple[int, float, bool]:
    """(count, share, dataset drift) from DriftedColumnsCount and its `share < drift_share` test."""
    count = next((m for m in data["metrics"] if _kind(m["config"]) == _COUNT), None)
    test = next((t for t in data["tests"] if _kind(t["metric_config"]["params"]) == _COUNT), None)
    if count is None or test is None:
        raise RuntimeError("drift: Evidently snapshot lacks the DriftedColumnsCount result/test")
    return int(count["value"]["count"]), float(count["value"]["share"]), _failed(test)


def _quality_results(data: dict[str, Any]) -> dict[str, Any]:
    """Totals and per-column counts (non-zero only) of the data-quality metrics."""
    totals = dict.fromkeys(_QUALITY.values(), 0)
    per_column: dict[str, dict[str, float]] = {}
    for m in data["metrics"]:
        key = _QUALITY.get(_kind(m["config"]))
        if key is None or not m["value"]["count"]:
            continue
        count = int(m["value"]["count"])
        totals[key] += count
        entry = per_column.setdefault(m["config"]["column"], {})
        entry[key] = count
        if key == "missing_values":
            entry["missing_share"] = float(m["value"]["share"])
    return {**totals, "columns": per_column}


def _reference_missing(columns: dict[str, dict[str, float]],
                       reference: pd.DataFrame) -> dict[str, dict[str, float]]:
    """Add the reference's missing share beside each column with missing current values."""
    for col, entry in columns.items():
        if "missing_share" in entry:
            entry["reference_missing_share"] = float(reference[col].isna().mean())
    return columns


def summarize(snapshot: Snapshot, roles: Roles, cfg: DriftConfig) -> dict[str, Any]:
    """Extract the flat, JSON-serialisable drift summary (with the action) from a snapshot."""
    data = snapshot.dict()
    per_column = _column_results(data, roles.features)
    n_drifted, share, dataset_drift = _dataset_result(data)
    if n_drifted != sum(v["drifted"] for v in per_column.values()):
        log.warning("drift: DriftedColumnsCount=%d disagrees with per-column tests", n_drifted)
    summary = {"dataset_drift": bool(dataset_drift),
               "verdict": "drift" if dataset_drift else "no_drift",
               "share_drifted": share, "n_drifted": n_drifted, "n_columns": len(roles.features),
               "drift_share_threshold": float(cfg.drift_share), "columns": per_column,
               "prediction_drift": _column_results(data, roles.outputs),
               "target_drift": _column_results(data, [roles.target] if roles.target else []),
               "quality": _quality_results(data)}
    action, reasons = decide_action(summary, cfg)
    return {**summary, "action": action, "action_reasons": reasons}


def _drifted(results: dict[str, dict[str, Any]]) -> list[str]:
    """Names of the drifted columns in a per-column result mapping."""
    return [c for c, v in results.items() if v["drifted"]]


def share_action(share: float, cfg: DriftConfig) -> str:
    """The action the share of drifted feature columns maps to under `drift.actions`."""
    if share >= cfg.actions["investigate"]:
        return "investigate"
    return "retrain" if share >= cfg.actions["retrain"] else "none"


def decide_action(summary: dict[str, Any], cfg: DriftConfig) -> tuple[str, list[str]]:
    """The most severe action any trigger asks for, and the reasons of the triggers that fired."""
    share = summary["share_drifted"]
    by_share = share_action(share, cfg)
    level = "retrain" if by_share == "none" else by_share
    op = "<" if by_share == "none" else ">="
    triggers = [(by_share, f"drifted share {share:.3f} {op} {level} at {cfg.actions[level]}")]
    important = [c for c in _drifted(summary["columns"]) if c in cfg.important]
    if important:
        triggers.append(("retrain", f"important column(s) drifted: {', '.join(important)}"))
    for key, setting in (("prediction_drift", cfg.on_prediction_drift),
                         ("target_drift", cfg.on_target_drift)):
        drifted = _drifted(summary[key])
        if drifted:
            triggers.append((setting, f"{key.replace('_', ' ')}: {', '.join(drifted)}"))
    action = max((a for a, _ in triggers), key=ACTIONS.index)
    reasons = [why for a, why in triggers if a != "none"] or [triggers[0][1]]
    return action, reasons


def fails(action: str, fail_on: str) -> bool:
    """True when `action` is at least as severe as `drift.fail_on` (never: never fails)."""
    return fail_on != "never" and ACTIONS.index(action) >= ACTIONS.index(fail_on)


def verdict_line(summary: dict[str, Any]) -> str:
    """The one line a scheduler reads: verdict, action, drifted columns and why."""
    drifted = _drifted(summary["columns"])
    outputs = _drifted(summary["prediction_drift"]) + _drifted(summary["target_drift"])
    return (f"drift verdict: {summary['verdict']}, action: {summary['action']} "
            f"({summary['n_drifted']}/{summary['n_columns']} features drifted: "
            f"{', '.join(drifted) or 'none'}; outputs drifted: {', '.join(outputs) or 'none'}; "
            f"why: {'; '.join(summary['action_reasons'])})")


def save_html(snapshot: Snapshot, path: Path) -> None:
    """Write the snapshot's HTML report atomically."""

    def write(tmp: Path) -> None:
        snapshot.save_html(str(tmp))  # Evidently only writes when given a str path
        if tmp.stat().st_size == 0:
            raise RuntimeError(f"drift: Evidently wrote an empty HTML report for {path}")

    write_atomic(path, write)
    log.info("drift: wrote %s", path)
