"""Evaluate: test-set metrics and curve data for DVC plots."""

from __future__ import annotations

from typing import Any

import numpy as np
import pandas as pd
from sklearn import metrics as skm

from mlgate.errors import DataError

# Direction of every metric mlgate reports: True when larger is better.
GREATER_IS_BETTER = {"roc_auc": True, "accuracy": True, "f1": True, "precision": True,
                     "recall": True, "log_loss": False}
MAX_CURVE_POINTS = 200


def align_columns(model: Any, X: pd.DataFrame, target: str | None = None) -> pd.DataFrame:
    """Reorder X to the model's training columns (pipelines match by position too)."""
    # A PyCaret pipeline is fit on features + target; it predicts from the features alone.
    expected = [str(c) for c in getattr(model, "feature_names_in_", X.columns) if c != target]
    missing = [c for c in expected if c not in X.columns]
    if missing:
        raise DataError(f"input lacks column(s) the model was trained on: {missing}")
    return X[expected]


def predict_scores(model: Any, X: pd.DataFrame, target: str | None = None
                   ) -> tuple[np.ndarray, np.ndarray]:
    """Predicted labels and class probabilities (n_rows x n_classes)."""
    X = align_columns(model, X, target)
    return np.asarray(model.predict(X)), np.asarray(model.predict_proba(X))


def classification_metrics(y: pd.Series, pred: np.ndarray, proba: np.ndarray,
                           labels: list[Any]) -> dict[str, float]:
    """ROC AUC, accuracy, F1, precision, recall and log loss (binary or macro-averaged)."""
    binary = len(labels) == 2
    avg = "binary" if binary else "macro"
    pos = {"pos_label": labels[1]} if binary else {}
    auc = skm.roc_auc_score(y, proba[:, 1] if binary else proba, multi_class="ovr",
                            labels=labels)
    out = {
        "roc_auc": auc,
        "accuracy": skm.accuracy_score(y, pred),
        "f1": skm.f1_score(y, pred, average=avg, zero_division=0, **pos),
        "precision": skm.precision_score(y, pred, average=avg, zero_division=0, **pos),
        "recall": skm.recall_score(y, pred, average=avg, zero_division=0, **pos),
        "log_loss": skm.log_loss(y, proba, labels=labels),
    }
    return {k: round(float(v), 6) for k, v in out.items()}


def _thin(rows: list[dict[str, float]]) -> list[dict[str, float]]:
    """Keep at most MAX_CURVE_POINTS evenly spaced points (always the first and last)."""
    if len(rows) <= MAX_CURVE_POINTS:
        return rows
    idx = np.unique(np.linspace(0, len(rows) - 1, MAX_CURVE_POINTS).round().astype(int))
    return [rows[i] for i in idx]


def roc_points(y: pd.Series, proba_pos: np.ndarray, pos_label: Any) -> list[dict[str, float]]:
    """ROC curve as {fpr, tpr, threshold} rows."""
    fpr, tpr, thr = skm.roc_curve(y, proba_pos, pos_label=pos_label)
    thr = np.where(np.isfinite(thr), thr, 1.0)
    return _thin([{"fpr": round(float(a), 6), "tpr": round(float(b), 6),
                   "threshold": round(float(c), 6)} for a, b, c in zip(fpr, tpr, thr, strict=True)])


def pr_points(y: pd.Series, proba_pos: np.ndarray, pos_label: Any) -> list[dict[str, float]]:
    """Precision-recall curve as {recall, precision} rows."""
    prec, rec, _ = skm.precision_recall_curve(y, proba_pos, pos_label=pos_label)
    return _thin([{"recall": round(float(r), 6), "precision": round(float(p), 6)}
                  for r, p in zip(rec, prec, strict=True)])


def confusion_rows(y: pd.Series, pred: np.ndarray) -> pd.DataFrame:
    """One row per test example with `actual` and `predicted` (DVC's confusion template)."""
    return pd.DataFrame({"actual": np.asarray(y), "predicted": pred})


def evaluate(model: Any, test: pd.DataFrame, target: str) -> dict[str, Any]:
    """Score `model` on `test`: metrics, plus curves when the target is binary."""
    X, y = test.drop(columns=[target]), test[target]
    labels = sorted(y.unique().tolist())
    pred, proba = predict_scores(model, X, target)
    result: dict[str, Any] = {"metrics": classification_metrics(y, pred, proba, labels),
                              "confusion": confusion_rows(y, pred)}
    if len(labels) == 2:
        result["roc"] = roc_points(y, proba[:, 1], labels[1])
        result["pr"] = pr_points(y, proba[:, 1], labels[1])
    return result
