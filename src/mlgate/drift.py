"""Drift: compare a current table with a reference table using Evidently's DataDriftPreset.

Every score, method name, threshold and drift decision in the summary is read back from the
Evidently snapshot (ValueDrift / DriftedColumnsCount results and their tests), never recomputed.
"""

from __future__ import annotations

import logging
import os
import tempfile
from dataclasses import dataclass, field, fields
from pathlib import Path
from typing import TYPE_CHECKING, Any

import pandas as pd
from evidently import DataDefinition, Dataset, Report
from evidently.legacy.calculations.stattests.registry import (
    StatTestInvalidFeatureTypeError,
    StatTestNotFoundError,
)
from evidently.presets import DataDriftPreset
from pandas.api import types as ptypes

from mlgate.errors import ConfigError, DataError
from mlgate.params import check_keys

if TYPE_CHECKING:
    from evidently.core.report import Snapshot

log = logging.getLogger(__name__)

_VALUE_DRIFT = "ValueDrift"
_COUNT = "DriftedColumnsCount"


class DriftError(DataError, ValueError):
    """Bad drift input (empty frame, missing or unusable column); the message names it."""


class DriftConfigError(ConfigError, ValueError):
    """Bad `drift:` section of params.yaml; the message names the key."""


@dataclass(frozen=True)
class DriftConfig:
    """Which columns to compare and how Evidently decides column and dataset drift."""

    columns: list[str] | None = None
    exclude: list[str] = field(default_factory=list)
    categorical: list[str] = field(default_factory=list)
    method: str | None = None
    threshold: float | None = None
    drift_share: float = 0.5

    @classmethod
    def from_params(cls, params: dict[str, Any] | None) -> DriftConfig:
        """Build from the `drift:` section of params.yaml; unknown keys name `drift.<key>`."""
        params = dict(params or {})
        try:
            check_keys(params, {f.name for f in fields(cls)}, "drift")
        except ConfigError as exc:
            raise DriftConfigError(str(exc)) from None
        cols = params.get("columns")
        share = params.get("drift_share")
        return cls(columns=None if cols is None else _str_list(params, "columns"),
                   exclude=_str_list(params, "exclude"),
                   categorical=_str_list(params, "categorical"),
                   method=params.get("method"), threshold=params.get("threshold"),
                   drift_share=0.5 if share is None else share)

    def __post_init__(self) -> None:
        """Reject bad types and out-of-range numbers early, naming the key."""
        if self.method is not None and not isinstance(self.method, str):
            raise DriftConfigError(f"`drift.method` must be a stattest name or null, "
                                   f"got {self.method!r}")
        for key in ("threshold", "drift_share"):
            value = getattr(self, key)
            if value is not None and not _is_number(value):
                raise DriftConfigError(f"`drift.{key}` must be a number, got {value!r}")
        if not 0.0 < self.drift_share <= 1.0:
            raise DriftConfigError(f"`drift.drift_share` must be in (0, 1], got {self.drift_share}")
        if self.threshold is not None and self.threshold <= 0.0:
            raise DriftConfigError(f"`drift.threshold` must be > 0 or null, got {self.threshold}")


def _is_number(value: Any) -> bool:
    """A real number that is not a bool."""
    return isinstance(value, int | float) and not isinstance(value, bool)


def _str_list(params: dict[str, Any], key: str) -> list[str]:
    """params[key] as a list of column names (null -> []); anything else raises naming the key."""
    value = params.get(key)
    if value is None:
        return []
    if not isinstance(value, list | tuple) or not all(isinstance(v, str) for v in value):
        raise DriftConfigError(f"`drift.{key}` must be a list of column names, got {value!r}")
    return list(value)


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


def _data_definition(reference: pd.DataFrame, columns: list[str],
                     cfg: DriftConfig) -> DataDefinition:
    """Numeric columns are numerical unless listed in `categorical`; everything else categorical."""
    absent = [c for c in cfg.categorical if c not in reference.columns]
    if absent:
        log.warning("drift.categorical names column(s) not in the data: %s", absent)

    def is_num(c: str) -> bool:
        s = reference[c]
        numeric = ptypes.is_numeric_dtype(s) and not ptypes.is_bool_dtype(s)
        return numeric and c not in cfg.categorical

    return DataDefinition(numerical_columns=[c for c in columns if is_num(c)],
                          categorical_columns=[c for c in columns if not is_num(c)])


def _preset(columns: list[str], cfg: DriftConfig) -> DataDriftPreset:
    """The Evidently preset: one ValueDrift per column plus DriftedColumnsCount."""
    return DataDriftPreset(columns=columns, drift_share=cfg.drift_share, method=cfg.method,
                           threshold=None if cfg.threshold is None else float(cfg.threshold))


def run_drift(reference: pd.DataFrame, current: pd.DataFrame,
              cfg: DriftConfig) -> tuple[dict[str, Any], Snapshot]:
    """Run the Evidently drift report (current vs reference); return (summary, snapshot)."""
    columns = select_columns(reference, current, cfg)
    _check_values(reference, current, columns)
    definition = _data_definition(reference, columns, cfg)
    ref = Dataset.from_pandas(reference[columns], data_definition=definition)
    cur = Dataset.from_pandas(current[columns], data_definition=definition)
    log.info("drift: %d columns, reference %d rows, current %d rows (method=%s, threshold=%s)",
             len(columns), len(reference), len(current), cfg.method or "auto",
             cfg.threshold if cfg.threshold is not None else "default")
    try:
        snapshot = Report([_preset(columns, cfg)], include_tests=True).run(cur, ref)
    except (StatTestNotFoundError, StatTestInvalidFeatureTypeError) as exc:
        raise DriftError(f"drift.method={cfg.method!r}: {exc}") from exc
    return summarize(snapshot, columns, cfg), snapshot


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


def summarize(snapshot: Snapshot, columns: list[str], cfg: DriftConfig) -> dict[str, Any]:
    """Extract the flat, JSON-serialisable drift summary from an Evidently snapshot."""
    data = snapshot.dict()
    per_column = _column_results(data, columns)
    n_drifted, share, dataset_drift = _dataset_result(data)
    if n_drifted != sum(v["drifted"] for v in per_column.values()):
        log.warning("drift: DriftedColumnsCount=%d disagrees with per-column tests", n_drifted)
    return {"dataset_drift": bool(dataset_drift),
            "verdict": "drift" if dataset_drift else "no_drift",
            "share_drifted": share, "n_drifted": n_drifted, "n_columns": len(columns),
            "drift_share_threshold": float(cfg.drift_share), "columns": per_column}


def save_html(snapshot: Snapshot, path: Path) -> None:
    """Write the snapshot's HTML report atomically (temp file in the same dir, then os.replace)."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    os.close(fd)
    try:
        os.chmod(tmp, 0o644)  # mkstemp creates 0600; the report is meant to be shared
        snapshot.save_html(tmp)  # Evidently only writes when given a str path
        if os.path.getsize(tmp) == 0:
            raise RuntimeError(f"drift: Evidently wrote an empty HTML report for {path}")
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise
    log.info("drift: wrote %s", path)
