"""What the register stage measures for the gate: slices, latency, logged-model metadata."""

from __future__ import annotations

import logging
import math
import time
from dataclasses import dataclass
from typing import Any

import numpy as np
import pandas as pd
from sklearn.dummy import DummyClassifier, DummyRegressor

from mlgate.base.errors import ConfigError
from mlgate.core.evaluation import (
    CLASSIFICATION_METRICS,
    align_columns,
    class_labels,
    regression_metrics,
    undefined_reason,
)
from mlgate.core.gate import GateConfig, SliceScore
from mlgate.core.scoring import labels_and_proba

log = logging.getLogger(__name__)

MAX_SLICE_VALUES = 50
LATENCY_ROWS = 1000
LATENCY_REPEATS = 3


def task_type(params: dict[str, Any]) -> str:
    """`task.type` from params.yaml when present, else classification."""
    task = params.get("task")
    return str(task.get("type") or "classification") if isinstance(task, dict) else \
        "classification"


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


@dataclass(frozen=True)
class Predictions:
    """The candidate's outputs on the whole test set, computed once for every slice."""

    pred: np.ndarray
    proba: np.ndarray | None
    labels: list[Any] | None  # classification: predict_proba's column order


def predict_test(model: Any, test: pd.DataFrame, target: str, task: str) -> Predictions:
    """Labels and probabilities (classification) or values (regression) for every test row."""
    X = align_columns(model, test.drop(columns=[target]), target)
    if task == "regression":
        return Predictions(np.asarray(model.predict(X)), None, None)
    pred, proba = labels_and_proba(model, X)
    return Predictions(np.asarray(pred), np.asarray(proba),
                       class_labels(model, test[target]))


def slice_metric(name: str, y: pd.Series, pred: np.ndarray, proba: np.ndarray | None,
                 labels: list[Any] | None) -> float:
    """One metric on one slice (the same functions as the test metrics)."""
    if labels is None:
        return regression_metrics(y, pred)[name]
    return round(float(CLASSIFICATION_METRICS[name](y, pred, proba, labels)), 6)


def score_slice(preds: Predictions, y: pd.Series, rows: np.ndarray, metrics: list[str],
                min_rows: int, where: tuple[str, Any]) -> SliceScore:
    """The declared metrics on one slice, each on its own; an undefined one says why."""
    column, value = where
    if len(y) < min_rows:
        return SliceScore(column, value, len(y), skipped=f"fewer than gate.slice_min_rows "
                                                         f"= {min_rows} rows")
    pred = preds.pred[rows]
    proba = None if preds.proba is None else preds.proba[rows]
    scores, undefined = {}, {}
    for name in metrics:
        why = undefined_reason(name, y, pred, preds.labels)
        if why is None:
            scores[name] = slice_metric(name, y, pred, proba, preds.labels)
            if not math.isfinite(scores[name]):
                why = f"non-finite value {scores.pop(name)}"
        if why:
            undefined[name] = _single_class(y, why) if preds.labels is not None else why
    return SliceScore(column, value, len(y), scores, undefined=undefined)


def _single_class(y: pd.Series, why: str) -> str:
    """Name the one class of a single-class slice (the usual reason a metric is undefined)."""
    return f"a single target class: {y.iloc[0]!r} ({why})" if y.nunique() == 1 else why


def score_slices(model: Any, test: pd.DataFrame, target: str, cfg: GateConfig,
                 task: str = "classification") -> tuple[SliceScore, ...]:
    """The candidate's declared slice metrics on each value of each declared slice column."""
    declared: dict[str, list[str]] = {}
    for floor in cfg.slices:
        declared.setdefault(floor.column, [])
        if floor.bound.metric not in declared[floor.column]:
            declared[floor.column].append(floor.bound.metric)
    values = {column: slice_values(test, column) for column in declared}  # config errors first
    if not declared:
        return ()
    preds, y = predict_test(model, test, target, task), test[target]
    scores = []
    for column, metrics in declared.items():
        for value in values[column]:
            rows = (test[column] == value).to_numpy()
            scores.append(score_slice(preds, y[rows], rows, metrics, cfg.slice_min_rows,
                                      (column, _plain(value))))
    return tuple(scores)


def baseline_predictor(train: pd.DataFrame, target: str, task: str) -> Any:
    """The predictor every model must beat: class priors, or the mean, of the training split."""
    X = train.drop(columns=[target])
    dummy = DummyRegressor(strategy="mean") if task == "regression" else \
        DummyClassifier(strategy="prior")
    return dummy.fit(X, train[target])


def describe(predictor: Any) -> str:
    """What a baseline predictor is, e.g. DummyClassifier(strategy='prior')."""
    return f"{type(predictor).__name__}(strategy={predictor.strategy!r})"


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
