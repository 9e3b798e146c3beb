"""Stage evaluate: MLflow's evaluation of the logged model on the test set (metrics and its
standard figures), SHAP explanations, and the plot data of `dvc plots`."""

from __future__ import annotations

import logging
import time
from typing import Any

import mlflow
import pandas as pd

from mlgate.adapters import evaluation
from mlgate.adapters.tracking import EVALUATION, log_dataset, pipeline_run
from mlgate.base import paths
from mlgate.base.io import read_json, read_model, read_table, write_atomic, write_json
from mlgate.base.params import require
from mlgate.core.evaluation import class_labels, evaluate
from mlgate.core.explain import (
    ExplainConfig,
    Explanation,
    explain,
    importance_rows,
    mean_abs,
    numeric_inputs,
)
from mlgate.core.explain import summary as explain_summary
from mlgate.core.figures import explanation_figures, figures, save_figures

log = logging.getLogger("mlgate.evaluate")
PLOT_FILES = {"roc": paths.ROC, "pr": paths.PR, "predictions": paths.PREDICTIONS_PLOT}


def write_plot_data(result: dict, importance: list[dict]) -> None:
    """Write every plot file; those of the other task stay empty so `dvc plots` stays clean."""
    for key, path in PLOT_FILES.items():
        write_json(path, result.get(key, []))
    write_json(paths.IMPORTANCE, importance)
    confusion = result.get("confusion", pd.DataFrame(columns=["actual", "predicted"]))
    write_atomic(paths.CONFUSION, lambda tmp: confusion.to_csv(tmp, index=False))


def per_class(expl: Explanation) -> dict[str, Any]:
    """The SHAP values to draw: one (rows x features) array, or one per class."""
    if expl.values.ndim == 2:
        return {"": expl.values}
    return {str(c): expl.values[..., i] for i, c in enumerate(expl.classes or [])}


def explain_test(params: dict, model: Any, test: pd.DataFrame, train: pd.DataFrame,
                 labels: list | None) -> Explanation:
    """SHAP values of the candidate on the test set (the training split as background)."""
    target, task = require(params, "data.target"), require(params, "task.type")
    cfg = ExplainConfig.from_params(require(params, "explain"))
    return explain(model, test.drop(columns=[target]), train.drop(columns=[target]), cfg,
                   task, labels, sample=True)


def measure(params: dict, model: Any, test: pd.DataFrame, train: pd.DataFrame
            ) -> tuple[Explanation, list]:
    """Everything that needs no MLflow: plot data, the explanation, mlgate's own figures."""
    target, task = require(params, "data.target"), require(params, "task.type")
    labels = None if task == "regression" else class_labels(model, test[target])
    started = time.perf_counter()
    expl = explain_test(params, model, test, train, labels)
    log.info("SHAP (%s explainer, %d rows) in %.1f s", expl.explainer, len(expl.inputs),
             time.perf_counter() - started)
    result = evaluate(model, test, target, task)
    write_plot_data(result, importance_rows(expl))
    write_json(paths.EXPLAIN, explain_summary(expl))
    drawn = {**figures(result),
             **explanation_figures(mean_abs(expl), per_class(expl), numeric_inputs(expl),
                                   f"{expl.explainer} explainer, {expl.output}")}
    return expl, save_figures(drawn, paths.FIGURES)


def mlflow_evaluation(params: dict, model: Any, test: pd.DataFrame, run_info: dict
                      ) -> tuple[dict, list]:
    """In the open run: the test set as the `evaluation` dataset, MLflow's evaluation of the
    logged model (metrics of record, standard figures): (metrics, figure files)."""
    target, task = require(params, "data.target"), require(params, "task.type")
    labels = None if task == "regression" else class_labels(model, test[target])
    # The logged dataset is the evaluator's data: it is not logged a second time (unnamed).
    data = log_dataset(test, paths.TEST, EVALUATION, target, run_info["model_uri"])
    metrics, result = evaluation.evaluate_model(run_info["model_uri"], data, target, task,
                                                labels)
    return metrics, evaluation.save_figures(result, paths.FIGURES)


def record(params: dict, model: Any, test: pd.DataFrame, run_info: dict, own: list) -> dict:
    """In the open run: MLflow's evaluation, reports/metrics.json, the test metrics (mlgate's
    names) and mlgate's own figures and explanation logged; return the metrics."""
    metrics, drawn = mlflow_evaluation(params, model, test, run_info)
    write_json(paths.METRICS, metrics)
    mlflow.log_metrics({f"test_{k}": v for k, v in metrics.items()})
    for fig in own:
        mlflow.log_artifact(str(fig), "figures")
    mlflow.log_artifact(str(paths.EXPLAIN))
    log.info("figures: %s", ", ".join(sorted(p.name for p in own + drawn)))
    return metrics


def run(params: dict) -> None:
    """Explain and evaluate the trained model on the held-out test set."""
    model, test, train = read_model(paths.MODEL), read_table(paths.TEST), read_table(paths.TRAIN)
    run_info = read_json(paths.RUN)
    _, own = measure(params, model, test, train)
    with pipeline_run(require(params, "tracking"), "evaluate", run_info):
        record(params, model, test, run_info, own)
