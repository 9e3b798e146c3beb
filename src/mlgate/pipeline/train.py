"""Stage train: PyCaret CV of each candidate (MLflow child runs), tune, finalize, log model."""

from pathlib import Path
from typing import Any

import mlflow
import pandas as pd

from mlgate.adapters.tracking import (
    TRAINING,
    content_tags,
    dump_model,
    flatten,
    log_candidate,
    log_dataset,
    log_features,
    log_model,
    pipeline_run,
)
from mlgate.base import paths
from mlgate.base.io import read_table, write_atomic, write_json
from mlgate.base.params import PARAMS_FILE, require
from mlgate.engines.selection import train_model
from mlgate.engines.training import TrainConfig, with_features


def train(params: dict, train: pd.DataFrame, run: Any) -> tuple[Any, dict[str, Any]]:
    """Train inside the open MLflow run `run`; write the model, leaderboard, CV metrics and
    run id; return the model and models/run.json's content."""
    task = require(params, "task.type")
    data = require(params, "data")
    cfg = with_features(TrainConfig.from_params(data, require(params, "train"), task),
                        require(params, "features"), train, data.get("datetime"), Path.cwd())
    mlflow.set_tags(content_tags({"train_data": paths.TRAIN, "test_data": paths.TEST}))
    logged = {k: params[k] for k in ("task", "data", "split", "features", "train")}
    logged["data"] = {k: v for k, v in params["data"].items() if k != "by_task"}  # resolved
    mlflow.log_params(flatten(logged))
    mlflow.log_artifact(PARAMS_FILE)
    children = {}
    result = train_model(train, cfg, lambda c: children.update({c.id: log_candidate(c)}))
    mlflow.MlflowClient().set_tag(children[result.best_id], "mlgate.selected", "true")
    mlflow.log_metrics(result.cv_metrics)
    mlflow.set_tags({"mlgate.best_model": result.best_id, "mlgate.task": task})
    mlflow.log_text(result.leaderboard.to_csv(), "leaderboard.csv")
    info = log_model(result.model, train.drop(columns=[cfg.target]))
    log_dataset(train, paths.TRAIN, TRAINING, cfg.target, info.model_uri)
    log_features(result.model)
    write_atomic(paths.MODEL, lambda tmp: dump_model(result.model, tmp))
    write_atomic(paths.LEADERBOARD, lambda tmp: result.leaderboard.to_csv(tmp))
    write_json(paths.TRAIN_REPORT, {"task": task, "best_model": result.best_id,
                                    "tuned": result.tuned is not None, **result.cv_metrics})
    run_info = {"run_id": run.info.run_id, "experiment_id": run.info.experiment_id,
                "model_uri": info.model_uri}
    write_json(paths.RUN, run_info)
    return result.model, run_info


def run(params: dict) -> None:
    """Train on data/processed/train.parquet inside a new MLflow run."""
    data = read_table(paths.TRAIN)
    with pipeline_run(require(params, "tracking"), "train") as active:
        train(params, data, active)
