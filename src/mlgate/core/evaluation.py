"""Evaluate: test-set metrics, curve and importance data for DVC plots (pure)."""

from __future__ import annotations

from typing import Any

import numpy as np
import pandas as pd
from sklearn import metrics as skm

from mlgate.base.errors import DataError

# Direction of every metric mlgate reports: True when larger is better.
GREATER_IS_BETTER = {"roc_auc": True, "accuracy": True, "balanced_accuracy": True, "f1": True,
                     "precision": True, "recall": True, "log_loss": False,
                     "rmse": False, "mae": False, "r2": True, "mape": False}
TASK_METRICS = {"classification": ("roc_auc", "accuracy", "balanced_accuracy", "f1", "precision",
                                   "recall", "log_loss"),
                "regression": ("rmse", "mae", "r2", "mape")}
MAX_CURVE_POINTS = 200
MAX_SCATTER_POINTS = 1000


def align_columns(model: Any, X: pd.DataFrame, target: str | None = None) -> pd.DataFrame:
    """Reorder X to the model's training columns (pipelines match by position too)."""
    # A PyCaret pipeline is fit on features + target; it predicts from the features alone.
    expected = [str(c) for c in getattr(model, "feature_names_in_", X.columns) if c != target]
    missing = [c for c in expected if c not in X.columns]
    if missing:
        raise DataError(f"input lacks column(s) the model was trained on: {missing}")
    return X if list(X.columns) == expected else X[expected]


def predict_scores(model: Any, X: pd.DataFrame, target: str | None = None
                   ) -> tuple[np.ndarray, np.ndarray]:
    """Predicted labels and class probabilities (n_rows x n_classes)."""
    X = align_columns(model, X, target)
    return np.asarray(model.predict(X)), np.asarray(model.predict_proba(X))


def model_labels(model: Any) -> list[Any] | None:
    """The class labels in predict_proba's column order, as the model predicts them.

    A PyCaret pipeline's estimator knows only the encoded classes 0..k-1; its
    `label_encoding` step holds the labels they stand for (LabelEncoder: sorted).
    """
    for name, step in getattr(model, "steps", []):
        if name == "label_encoding":
            encoder = getattr(step, "transformer", step)
            if hasattr(encoder, "classes_"):
                return np.asarray(encoder.classes_).tolist()
    classes = getattr(model, "classes_", None)
    return None if classes is None else np.asarray(classes).tolist()


def _binary_kwargs(labels: list[Any]) -> dict[str, Any]:
    """average= (and pos_label=) of precision, recall and F1: binary, or macro over classes."""
    return {"average": "binary", "pos_label": labels[1]} if len(labels) == 2 else \
        {"average": "macro"}


def _roc_auc(y, pred, proba, labels) -> float:
    """ROC AUC: of the positive (last) label when binary, one-vs-rest macro when multiclass."""
    binary = len(labels) == 2
    return skm.roc_auc_score(y, proba[:, 1] if binary else proba, multi_class="ovr",
                             labels=labels)


CLASSIFICATION_METRICS = {
    "roc_auc": _roc_auc,
    "accuracy": lambda y, pred, proba, labels: skm.accuracy_score(y, pred),
    "balanced_accuracy": lambda y, pred, proba, labels: skm.balanced_accuracy_score(y, pred),
    "f1": lambda y, pred, proba, labels: skm.f1_score(y, pred, zero_division=0,
                                                      **_binary_kwargs(labels)),
    "precision": lambda y, pred, proba, labels: skm.precision_score(
        y, pred, zero_division=0, **_binary_kwargs(labels)),
    "recall": lambda y, pred, proba, labels: skm.recall_score(y, pred, zero_division=0,
                                                              **_binary_kwargs(labels)),
    "log_loss": lambda y, pred, proba, labels: skm.log_loss(y, proba, labels=labels),
}


def classification_metrics(y: pd.Series, pred: np.ndarray, proba: np.ndarray,
                           labels: list[Any]) -> dict[str, float]:
    """ROC AUC, accuracy, balanced accuracy, F1, precision, recall and log loss.

    Precision, recall and F1 are of the positive (last) label when binary, macro-averaged
    when multiclass; a 0/0 among them counts as 0 here (see undefined_reason for slices).
    """
    return {k: round(float(f(y, pred, proba, labels)), 6)
            for k, f in CLASSIFICATION_METRICS.items()}


def _missing(labels: list[Any], present: set) -> list[Any]:
    """The labels that do not occur in `present`."""
    return [lab for lab in labels if lab not in present]


def undefined_reason(metric: str, y: pd.Series, pred: np.ndarray,
                     labels: list[Any] | None) -> str | None:
    """Why `metric` is undefined on these rows (None: it is defined).

    Accuracy, balanced accuracy, log loss, RMSE, MAE and MAPE are defined on any non-empty
    set of rows; ROC AUC needs every class among the labels; recall (per class) needs the
    class among the labels, precision the class among the predictions; R2 needs a target
    that varies.
    """
    if len(y) == 0:
        return "no rows"
    if labels is None:  # regression
        return "a constant target: R2 is undefined" if metric == "r2" and y.nunique() < 2 \
            else None
    actual, predicted = set(y.unique().tolist()), set(np.unique(pred).tolist())
    classes = labels[1:] if len(labels) == 2 else labels  # binary: the positive label only
    if metric == "roc_auc":
        absent = _missing(labels, actual)
        return f"class(es) {absent} absent from the labels" if absent else None
    if metric == "recall":
        absent = _missing(classes, actual)
        return f"class(es) {absent} absent from the labels" if absent else None
    if metric == "precision":
        absent = _missing(classes, predicted)
        return f"class(es) {absent} never predicted" if absent else None
    if metric == "f1":
        absent = _missing(classes, actual | predicted)
        return f"class(es) {absent} neither among the labels nor predicted" if absent else None
    return None


def regression_metrics(y: pd.Series, pred: np.ndarray) -> dict[str, float]:
    """RMSE, MAE, R2 and MAPE."""
    out = {"rmse": skm.mean_squared_error(y, pred, squared=False),
           "mae": skm.mean_absolute_error(y, pred),
           "r2": skm.r2_score(y, pred),
           "mape": skm.mean_absolute_percentage_error(y, pred)}
    return {k: round(float(v), 6) for k, v in out.items()}


def _thin(rows: list[dict[str, float]], limit: int = MAX_CURVE_POINTS) -> list[dict[str, float]]:
    """Keep at most `limit` evenly spaced points (always the first and last)."""
    if len(rows) <= limit:
        return rows
    idx = np.unique(np.linspace(0, len(rows) - 1, limit).round().astype(int))
    return [rows[i] for i in idx]


def roc_points(y: pd.Series, proba_pos: np.ndarray, pos_label: Any) -> list[dict[str, float]]:
    """ROC curve as {fpr, tpr, threshold} rows."""
    fpr, tpr, thr = skm.roc_curve(y, proba_pos, pos_label=pos_label)
    thr = np.where(np.isfinite(thr), thr, 1.0)
    return _thin([{"fpr": round(float(a), 6), "tpr": round(float(b), 6),
                   "threshold": round(float(c), 6)}
                  for a, b, c in zip(fpr, tpr, thr, strict=True)])


def pr_points(y: pd.Series, proba_pos: np.ndarray, pos_label: Any) -> list[dict[str, float]]:
    """Precision-recall curve as {recall, precision} rows."""
    prec, rec, _ = skm.precision_recall_curve(y, proba_pos, pos_label=pos_label)
    return _thin([{"recall": round(float(r), 6), "precision": round(float(p), 6)}
                  for r, p in zip(rec, prec, strict=True)])


def confusion_rows(y: pd.Series, pred: np.ndarray) -> pd.DataFrame:
    """One row per test example with `actual` and `predicted` (DVC's confusion template)."""
    return pd.DataFrame({"actual": np.asarray(y), "predicted": pred})


def prediction_rows(y: pd.Series, pred: np.ndarray) -> list[dict[str, float]]:
    """{actual, predicted, residual} rows (evenly thinned) for regression scatter plots."""
    order = np.argsort(np.asarray(pred))
    rows = [{"actual": round(float(a), 6), "predicted": round(float(p), 6),
             "residual": round(float(a - p), 6)}
            for a, p in zip(np.asarray(y)[order], np.asarray(pred)[order], strict=True)]
    return _thin(rows, MAX_SCATTER_POINTS)


def class_labels(model: Any, y: pd.Series) -> list[Any]:
    """The model's labels (predict_proba's column order), else the sorted labels of y."""
    return model_labels(model) or sorted(y.unique().tolist())


def evaluate_classification(model: Any, X: pd.DataFrame, y: pd.Series) -> dict[str, Any]:
    """Metrics, confusion rows and (binary) ROC/PR curves."""
    labels = class_labels(model, y)
    pred, proba = np.asarray(model.predict(X)), np.asarray(model.predict_proba(X))
    result: dict[str, Any] = {"metrics": classification_metrics(y, pred, proba, labels),
                              "confusion": confusion_rows(y, pred)}
    if len(labels) == 2:
        result["roc"] = roc_points(y, proba[:, 1], labels[1])
        result["pr"] = pr_points(y, proba[:, 1], labels[1])
    return result


def evaluate(model: Any, test: pd.DataFrame, target: str, task: str = "classification"
             ) -> dict[str, Any]:
    """Score `model` on `test`: metrics plus the task's plot data (DVC plots).

    The test metrics of record come from MLflow's evaluator (mlgate.adapters.evaluation);
    these, computed by the same formulas, serve the plot data and the tests that check the
    two agree.
    """
    X, y = align_columns(model, test.drop(columns=[target]), target), test[target]
    if task == "regression":
        pred = np.asarray(model.predict(X))
        result = {"metrics": regression_metrics(y, pred), "predictions": prediction_rows(y, pred)}
    else:
        result = evaluate_classification(model, X, y)
    return result
