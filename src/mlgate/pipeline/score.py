"""Stage score: check the current batch, score it and the reference with the champion."""

import logging

import mlflow

from mlgate.adapters.champion import load_scorer
from mlgate.adapters.tracking import configure, pipeline_run
from mlgate.base import paths
from mlgate.base.io import read_json, read_table, write_json, write_parquet
from mlgate.base.params import require
from mlgate.core.scoring import (
    ScoreConfig,
    profile_from_frame,
    reference_sample,
    score_batch,
    score_report,
)
from mlgate.engines.spark_scoring import engine_model

log = logging.getLogger("mlgate.score")


def run(params: dict) -> None:
    """Write data/predictions/{current,reference}.parquet, profile.json and reports/score.json."""
    data, cfg = require(params, "data"), ScoreConfig.from_params(require(params, "score"))
    train, run_info = read_table(paths.TRAIN), read_json(paths.RUN)
    profile = profile_from_frame(train, data["target"], list(data.get("categorical") or []),
                                 require(params, "task.type"))
    configure(require(params, "tracking"))
    scorer = load_scorer(require(params, "gate.model_name"), require(params, "gate.alias"),
                         paths.MODEL, run_info)
    with engine_model(cfg, scorer.model, scorer.uri) as model:  # score.engine: pandas | spark
        current, batch = score_batch(model, read_table(paths.CURRENT), profile, cfg,
                                     str(paths.CURRENT), scorer.uri)
        reference, _ = score_batch(model, reference_sample(train, cfg), profile, cfg,
                                   f"{paths.TRAIN} (reference sample)", scorer.uri)
    report = {**scorer.describe(), **score_report(current, batch, profile),
              "n_reference_rows": len(reference)}
    write_parquet(paths.SCORED, current)
    write_parquet(paths.SCORED_REFERENCE, reference)
    write_json(paths.PROFILE, profile.to_dict())
    write_json(paths.SCORE_REPORT, report)
    with pipeline_run(require(params, "tracking"), "score", run_info):
        mlflow.log_metrics({"score_n_rows": report["n_rows"],
                            "score_n_unseen_categories": report["n_unseen_categories"]})
        mlflow.set_tags({"mlgate.score_model": scorer.uri, "mlgate.score_engine": cfg.engine})
        mlflow.log_dict(report, "score.json")
    log.info("scored %d rows of %s with %s (%s, engine %s)", report["n_rows"], paths.CURRENT,
             scorer.uri, scorer.source, cfg.engine)

