"""Stage evaluate: test metrics, plot data (DVC plots) and PNG figures (DVC + MLflow)."""

from typing import Any

import mlflow
import pandas as pd

from mlgate.adapters.tracking import pipeline_run
from mlgate.base import paths
from mlgate.base.io import read_json, read_model, read_table, write_atomic, write_json
from mlgate.base.params import require
from mlgate.core.evaluation import evaluate
from mlgate.core.figures import save_figures

PLOT_FILES = {"roc": paths.ROC, "pr": paths.PR, "importance": paths.IMPORTANCE,
              "predictions": paths.PREDICTIONS_PLOT}


def write_plot_data(result: dict) -> None:
    """Write every plot file; those of the other task stay empty so `dvc plots` stays clean."""
    for key, path in PLOT_FILES.items():
        write_json(path, result.get(key, []))
    confusion = result.get("confusion", pd.DataFrame(columns=["actual", "predicted"]))
    write_atomic(paths.CONFUSION, lambda tmp: confusion.to_csv(tmp, index=False))


def measure(params: dict, model: Any, test: pd.DataFrame) -> tuple[dict, list]:
    """Score `model` on the test set; write metrics, plot data and figures; return the
    metrics and the figure files."""
    result = evaluate(model, test, require(params, "data.target"), require(params, "task.type"),
                      importance=True)
    write_json(paths.METRICS, result["metrics"])
    write_plot_data(result)
    return result["metrics"], save_figures(result, paths.FIGURES)


def log_results(metrics: dict, figures: list) -> None:
    """Log the test metrics and figures to the active MLflow run."""
    mlflow.log_metrics({f"test_{k}": v for k, v in metrics.items()})
    for fig in figures:
        mlflow.log_artifact(str(fig), "figures")


def run(params: dict) -> None:
    """Score the trained model on the held-out test set."""
    metrics, figures = measure(params, read_model(paths.MODEL), read_table(paths.TEST))
    with pipeline_run(require(params, "tracking"), "evaluate", read_json(paths.RUN)):
        log_results(metrics, figures)
