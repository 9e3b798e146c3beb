"""Stage train: PyCaret compare + finalize; log params, CV metrics and the model to MLflow."""

import joblib
import mlflow

from mlgate import paths
from mlgate.io import read_table, write_atomic, write_json
from mlgate.params import require
from mlgate.stage import stage_main
from mlgate.tracking import flatten, log_model, pipeline_run
from mlgate.training import TrainConfig, train_model


def main(params: dict) -> None:
    """Train, log to a new MLflow run, write the model, leaderboard and run id."""
    cfg = TrainConfig.from_params(require(params, "data"), require(params, "train"))
    train = read_table(paths.TRAIN)
    result = train_model(train, cfg)
    cv = result.cv_metrics
    with pipeline_run(require(params, "tracking"), "train") as run:
        mlflow.log_params(flatten({k: params[k] for k in ("data", "split", "train")}))
        mlflow.log_metrics(cv)
        mlflow.set_tag("mlgate.best_model", result.best_id)
        mlflow.log_text(result.leaderboard.to_csv(), "leaderboard.csv")
        info = log_model(result.model, train.drop(columns=[cfg.target]))
    write_atomic(paths.MODEL, lambda tmp: joblib.dump(result.model, tmp))
    write_atomic(paths.LEADERBOARD, lambda tmp: result.leaderboard.to_csv(tmp, index_label="id"))
    write_json(paths.TRAIN_REPORT, {"best_model": result.best_id, **cv})
    write_json(paths.RUN, {"run_id": run.info.run_id, "experiment_id": run.info.experiment_id,
                           "model_uri": info.model_uri})


if __name__ == "__main__":
    stage_main("train", main)
