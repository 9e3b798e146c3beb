"""Stage evaluate: test-set metrics to reports/metrics.json, curves as DVC plots, to MLflow."""

import joblib
import mlflow

from mlgate import paths
from mlgate.evaluation import evaluate
from mlgate.io import read_json, read_table, write_atomic, write_json
from mlgate.params import require
from mlgate.stage import stage_main
from mlgate.tracking import pipeline_run


def main(params: dict) -> None:
    """Score the trained model on the held-out test set."""
    result = evaluate(joblib.load(paths.MODEL), read_table(paths.TEST),
                      require(params, "data.target"))
    with pipeline_run(require(params, "tracking"), "evaluate", read_json(paths.RUN)):
        mlflow.log_metrics({f"test_{k}": v for k, v in result["metrics"].items()})
    write_json(paths.METRICS, result["metrics"])
    write_json(paths.ROC, result.get("roc", []))
    write_json(paths.PR, result.get("pr", []))
    write_atomic(paths.CONFUSION, lambda tmp: result["confusion"].to_csv(tmp, index=False))


if __name__ == "__main__":
    stage_main("evaluate", main)
