"""What the register stage measures for the gate: slices, latency, logged-model metadata."""

from __future__ import annotations

import inspect
import logging
import math
import time
from pathlib import Path
from typing import Any

import pandas as pd

from mlgate.errors import ConfigError, DataError
from mlgate.evaluation import align_columns, evaluate
from mlgate.gate import GateConfig, SliceScore

log = logging.getLogger(__name__)

MAX_SLICE_VALUES = 50
LATENCY_ROWS = 1000
LATENCY_REPEATS = 3


def task_type(params: dict[str, Any]) -> str:
    """`task.type` from params.yaml when present, else classification."""
    task = params.get("task")
    return str(task.get("type") or "classification") if isinstance(task, dict) else \
        "classification"


def score(model: Any, df: pd.DataFrame, target: str, task: str = "classification"
          ) -> dict[str, float]:
    """mlgate.evaluation.evaluate(...)["metrics"], passing `task=` where evaluate accepts it."""
    kwargs = {"task": task} if "task" in inspect.signature(evaluate).parameters else {}
    return evaluate(model, df, target, **kwargs)["metrics"]


def slice_values(test: pd.DataFrame, column: str) -> list[Any]:
    """The distinct values of a slice column, checked to exist and to be categorical-sized."""
    if column not in test.columns:
        raise ConfigError(f"`gate.slices.{column}`: column {column!r} is not in the test data "
                          f"(columns: {', '.join(map(str, test.columns))})")
    values = sorted(test[column].dropna().unique().tolist())
    if len(values) > MAX_SLICE_VALUES:
        raise ConfigError(f"`gate.slices.{column}`: {len(values)} distinct values; slice on a "
                          f"categorical column (at most {MAX_SLICE_VALUES} values)")
    return values


def score_slice(model: Any, part: pd.DataFrame, target: str, task: str, min_rows: int,
                where: tuple[str, Any]) -> SliceScore:
    """Score one slice, or say why it cannot be scored (too few rows, a single class)."""
    column, value = where
    if len(part) < min_rows:
        return SliceScore(column, value, len(part), skipped=f"fewer than gate.slice_min_rows "
                                                            f"= {min_rows} rows")
    if task == "classification" and part[target].nunique() < 2:
        return SliceScore(column, value, len(part), skipped="a single target class: "
                          f"{part[target].iloc[0]!r}")
    try:
        metrics = score(model, part, target, task)
    except ValueError as exc:  # sklearn metrics undefined on this subset
        return SliceScore(column, value, len(part), skipped=f"metrics undefined: {exc}")
    bad = sorted(k for k, v in metrics.items() if not math.isfinite(v))
    return SliceScore(column, value, len(part), metrics,
                      skipped=f"non-finite {bad}" if bad else None)


def score_slices(model: Any, test: pd.DataFrame, target: str, cfg: GateConfig,
                 task: str = "classification") -> tuple[SliceScore, ...]:
    """The candidate's metrics on each value of each declared slice column."""
    scores = []
    for column in dict.fromkeys(f.column for f in cfg.slices):
        for value in slice_values(test, column):
            part = test[test[column] == value]
            scores.append(score_slice(model, part, target, task, cfg.slice_min_rows,
                                      (column, _plain(value))))
    return tuple(scores)


def _plain(value: Any) -> Any:
    """numpy scalars -> Python scalars (JSON, tag keys)."""
    return value.item() if hasattr(value, "item") else value


def measure_latency(model: Any, test: pd.DataFrame, target: str,
                    rows: int = LATENCY_ROWS, repeats: int = LATENCY_REPEATS) -> float:
    """Median wall time (ms) of `model.predict` on a batch of `rows` test rows (resampled)."""
    X = align_columns(model, test.drop(columns=[target]), target)
    # Unique index: PyCaret's transformers join on the index, duplicates would multiply rows.
    batch = X.sample(rows, replace=len(X) < rows, random_state=0).reset_index(drop=True)
    model.predict(batch.head(10))  # warm-up: lazy imports, caches
    times = []
    for _ in range(repeats):
        started = time.perf_counter()
        model.predict(batch)
        times.append((time.perf_counter() - started) * 1000.0)
    return round(sorted(times)[len(times) // 2], 3)


def logged_model_meta(model_uri: str) -> tuple[bool, bool]:
    """(has signature, has input example) of the logged model in models/run.json."""
    from mlflow.models import get_model_info

    try:
        info = get_model_info(model_uri)
    except Exception as exc:  # MlflowException, OSError: the artifact cannot be read
        raise DataError(f"models/run.json: model_uri {model_uri!r} cannot be read from the "
                        f"MLflow store: {exc}") from exc
    return info.signature is not None, info.saved_input_example_info is not None


def load_candidate(path: Path | str) -> Any:
    """The trained pipeline from models/model.pkl, with a clear error naming the file."""
    import joblib

    path = Path(path)
    if not path.exists():
        raise DataError(f"{path}: not found (did the train stage run?)")
    try:
        return joblib.load(path)
    except Exception as exc:  # unpickling raises many types; report them all the same way
        raise DataError(f"{path}: cannot be loaded: {exc}") from exc
