"""MLflow's own evaluation: test metrics and standard figures from `mlflow.models.evaluate`.

The default evaluator scores the logged model (sklearn flavor, so probabilities are
available) and logs its figures (ROC, precision-recall, lift and calibration curves, the
confusion matrix; per-class metrics when multiclass) to the active run. Its metrics are
mapped to mlgate's names so that reports/metrics.json keeps its keys and meaning:
precision, recall and F1 of the positive (last sorted) label when binary, macro-averaged when
multiclass; balanced accuracy, which the default evaluator lacks, is an extra metric. Its
built-in SHAP is switched off: mlgate.core.explain is the one answer to "why".
"""

from __future__ import annotations

import logging
import tempfile
from pathlib import Path
from typing import Any

import mlflow
import mlflow.sklearn
import numpy as np
import pandas as pd
from mlflow.data.dataset import Dataset
from mlflow.models import EvaluationResult, make_metric
from sklearn import metrics as skm

from mlgate.adapters.tracking import retry_dataset_race
from mlgate.core.evaluation import TASK_METRICS

log = logging.getLogger(__name__)

# mlgate's metric name -> the default evaluator's.
MLFLOW_NAMES = {"roc_auc": "roc_auc", "accuracy": "accuracy_score",
                "balanced_accuracy": "balanced_accuracy", "f1": "f1_score",
                "precision": "precision_score", "recall": "recall_score", "log_loss": "log_loss",
                "rmse": "root_mean_squared_error", "mae": "mean_absolute_error", "r2": "r2_score",
                "mape": "mean_absolute_percentage_error"}
# The default evaluator's figures, by the name mlgate gives their PNG in reports/figures/.
FIGURES = {"roc_curve_plot": "roc", "precision_recall_curve_plot": "precision_recall",
           "lift_curve_plot": "lift", "calibration_curve_plot": "calibration",
           "confusion_matrix": "confusion_matrix"}


def _balanced_accuracy(predictions: pd.Series, targets: pd.Series, metrics: Any) -> float:
    """Balanced accuracy (mean recall per class): not among the default evaluator's."""
    return float(skm.balanced_accuracy_score(targets, predictions))


BALANCED_ACCURACY = make_metric(eval_fn=_balanced_accuracy, greater_is_better=True,
                                name="balanced_accuracy")


def evaluator_config(task: str, labels: list[Any] | None) -> dict[str, Any]:
    """The default evaluator's settings: no SHAP; the model's labels, positive label and
    macro averaging when classifying (what reports/metrics.json has always meant)."""
    config: dict[str, Any] = {"log_model_explainability": False}
    if task != "regression" and labels:
        config.update({"label_list": list(labels), "pos_label": labels[-1],
                       "average": "macro"})
    return config


def mlgate_metrics(result: EvaluationResult, task: str) -> dict[str, float]:
    """The evaluation's metrics under mlgate's names, rounded as reports/metrics.json has them
    (a metric the evaluator could not compute is left out)."""
    out = {}
    for name in TASK_METRICS["regression" if task == "regression" else "classification"]:
        value = result.metrics.get(MLFLOW_NAMES[name])
        if value is not None and np.isfinite(value):
            out[name] = round(float(value), 6)
    return out


def evaluate_model(model: Any, data: Any, target: str, task: str,
                   labels: list[Any] | None) -> tuple[dict[str, float], EvaluationResult]:
    """`mlflow.models.evaluate` with the default evaluator, into the active run (one is
    started when none is): (mlgate's metrics, the full result). `data`: a DataFrame, or the
    MLflow dataset already logged for it (tracking.log_dataset)."""
    named = isinstance(data, Dataset)  # a dataset names its own targets column
    result = retry_dataset_race(lambda: mlflow.models.evaluate(  # it logs `data` first
        model, data, targets=None if named else target,
        model_type="regressor" if task == "regression" else "classifier",
        evaluators="default", evaluator_config=evaluator_config(task, labels),
        extra_metrics=[] if task == "regression" else [BALANCED_ACCURACY]))
    return mlgate_metrics(result, task), result


def evaluate_elsewhere(model: Any, data: Any, target: str, task: str,
                       labels: list[Any] | None, run_name: str) -> dict[str, float]:
    """Evaluate a model other than the candidate in its own run (nested under the active one,
    if any), so that nothing is written into the candidate's run."""
    parent = mlflow.active_run()
    # In the parent's experiment: a run started without one goes to the store's Default
    # experiment, whose artifacts land in ./mlruns of the working directory.
    with mlflow.start_run(run_name=run_name, nested=parent is not None,
                          experiment_id=parent.info.experiment_id if parent else None,
                          tags={"mlgate.role": "comparison"}):
        return evaluate_model(model, data, target, task, labels)[0]


def evaluate_estimator(estimator: Any, data: Any, target: str, task: str,
                       labels: list[Any] | None, run_name: str) -> dict[str, float]:
    """Evaluate an in-memory estimator (the baseline predictor) through a temporary MLflow
    model: the same evaluator, the same metrics as the candidate's."""
    with tempfile.TemporaryDirectory(prefix="mlgate-baseline-") as tmp:
        path = Path(tmp) / "model"
        # pip_requirements=[]: the temporary model is evaluated here and deleted, never
        # installed; MLflow's requirement inference would load it in a subprocess (~3 s)
        mlflow.sklearn.save_model(
            estimator, str(path),
            serialization_format=mlflow.sklearn.SERIALIZATION_FORMAT_CLOUDPICKLE,
            pip_requirements=[])
        return evaluate_elsewhere(str(path), data, target, task, labels, run_name)


def save_figures(result: EvaluationResult, folder: Path) -> list[Path]:
    """Copy the evaluator's figures into `folder` (DVC image plots) under mlgate's names."""
    folder.mkdir(parents=True, exist_ok=True)
    written = []
    for name, stem in FIGURES.items():
        artifact = result.artifacts.get(name)
        if artifact is None:
            continue
        path = folder / f"{stem}.png"
        artifact.content.save(path)  # a PIL image
        written.append(path)
    return written
