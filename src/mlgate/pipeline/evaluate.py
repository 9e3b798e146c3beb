"""Stage evaluate: test metrics, plot data (DVC plots) and PNG figures (DVC + MLflow)."""

import joblib
import mlflow
import pandas as pd

from mlgate.adapters.tracking import pipeline_run
from mlgate.base import paths
from mlgate.base.io import read_json, read_table, write_atomic, write_json
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


def run(params: dict) -> None:
    """Score the trained model on the held-out test set."""
    result = evaluate(joblib.load(paths.MODEL), read_table(paths.TEST),
                      require(params, "data.target"), require(params, "task.type"),
                      importance=True)
    write_json(paths.METRICS, result["metrics"])
    write_plot_data(result)
    figures = save_figures(result, paths.FIGURES)
    with pipeline_run(require(params, "tracking"), "evaluate", read_json(paths.RUN)):
        mlflow.log_metrics({f"test_{k}": v for k, v in result["metrics"].items()})
        for fig in figures:
            mlflow.log_artifact(str(fig), "figures")

