"""Stage score: check the current batch, score it and the reference with the champion."""

import logging
from typing import Any

import mlflow
import pandas as pd

from mlgate.adapters.champion import Scorer, load_challenger, load_scorer
from mlgate.adapters.shadow import record_batch
from mlgate.adapters.tracking import SCORING, configure, file_md5, log_dataset, pipeline_run
from mlgate.base import paths
from mlgate.base.errors import MlgateError
from mlgate.base.io import read_json, read_table, write_json, write_parquet
from mlgate.base.params import require
from mlgate.core.explain import ExplainConfig, with_reasons
from mlgate.core.gate import GateConfig
from mlgate.core.scoring import (
    Profile,
    ScoreConfig,
    profile_from_frame,
    reference_sample,
    score_batch,
    score_report,
)
from mlgate.core.shadow import compare
from mlgate.engines.spark_scoring import engine_model

log = logging.getLogger("mlgate.score")


def score_frames(cfg: ScoreConfig, scorer: Scorer, profile: Profile,
                 frames: dict[str, tuple[pd.DataFrame, str]]) -> dict[str, tuple[Any, Any]]:
    """Each named (frame, label) checked and scored with one engine session (pandas or Spark):
    name -> (scored frame, batch check)."""
    with engine_model(cfg, scorer.model, scorer.uri) as model:  # score.engine: pandas | spark
        return {name: score_batch(model, df, profile, cfg, label, scorer.uri)
                for name, (df, label) in frames.items()}


def score(params: dict, cfg: ScoreConfig, train: pd.DataFrame, current: pd.DataFrame,
          run_info: dict) -> dict[str, Any]:
    """Score the current batch and the reference sample with the champion (or the model just
    trained); write data/predictions/ and reports/score.json; return the report and frames."""
    data = require(params, "data")
    profile = profile_from_frame(train, data["target"], list(data.get("categorical") or []),
                                 require(params, "task.type"))
    scorer = load_scorer(require(params, "gate.model_name"), require(params, "gate.alias"),
                         paths.MODEL, run_info)
    raw = current
    scored = score_frames(cfg, scorer, profile, {
        "current": (current, str(paths.CURRENT)),
        "reference": (reference_sample(train, cfg), f"{paths.TRAIN} (reference sample)")})
    (current, batch), (reference, _) = scored["current"], scored["reference"]
    if cfg.top_k:
        current = with_reasons(current, list(profile.features), scorer.model, train,
                               ExplainConfig.from_params(require(params, "explain")),
                               profile.task, cfg.top_k)
    report = {**scorer.describe(), **score_report(current, batch, profile),
              "n_reference_rows": len(reference)}
    shadowed = shadow(params, cfg, scorer, profile, raw, current)
    if shadowed is not None:
        report["shadow"] = shadowed
    write_parquet(paths.SCORED, current)
    write_parquet(paths.SCORED_REFERENCE, reference)
    write_json(paths.PROFILE, profile.to_dict())
    write_json(paths.SCORE_REPORT, report)
    log.info("scored %d rows of %s with %s (%s, engine %s)", report["n_rows"], paths.CURRENT,
             scorer.uri, scorer.source, cfg.engine)
    return {"report": report, "current": current, "reference": reference,
            "engine": cfg.engine}


def shadow(params: dict, cfg: ScoreConfig, scorer: Scorer, profile: Profile,
           batch: pd.DataFrame, scored: pd.DataFrame) -> dict[str, Any] | None:
    """The challenger's answers on the same batch compared with the champion's (None when
    there is no challenger); what is returned and written stays the champion's.

    A batch the challenger cannot score (its own contract, its predictions' range) is
    recorded as the shadow's error: the champion's scoring never fails because of it."""
    if scorer.source != "registry":
        return None
    gate = GateConfig.from_params(require(params, "gate"))
    challenger = load_challenger(gate.model_name, gate.alias, gate.challenger_alias)
    if challenger is None:
        return None
    head = {"champion_version": scorer.version, "challenger_version": challenger.version,
            "challenger_uri": challenger.uri, "batch": str(paths.CURRENT)}
    try:
        theirs = score_frames(cfg, challenger, profile,
                              {"current": (batch, f"{paths.CURRENT} (shadow)")})["current"][0]
    except MlgateError as exc:
        log.warning("shadow: %s cannot score %s: %s", challenger.uri, paths.CURRENT, exc)
        return {**head, "error": str(exc)}
    record = {**head, **compare(scored, theirs, profile.target, profile.task, gate.shadow)}
    log.info("shadow: %s agrees with the champion on %.1f%% of %d rows", challenger.uri,
             100 * record["agreement"], record["rows"])
    return record


def keep_shadow(params: dict, record: dict[str, Any]) -> None:
    """Keep the batch's shadow record on the challenger version; log every batch it holds as
    the run's `shadow.json` table."""
    if "error" in record:
        return
    model = str(require(params, "gate.model_name"))
    batch_id = file_md5(paths.CURRENT)[:12]
    held = record_batch(model, str(record["challenger_version"]), batch_id,
                        {**record, "at": pd.Timestamp.now("UTC").isoformat(timespec="seconds")})
    table = pd.json_normalize([{"batch_id": b, **r} for b, r in sorted(held.items())])
    mlflow.log_table(table, "shadow.json")


def log_results(scored: dict[str, Any]) -> None:
    """Log the score report to the active MLflow run."""
    report = scored["report"]
    if "shadow" in report:
        shadowed = report["shadow"]
        mlflow.set_tag("mlgate.shadow_version", shadowed["challenger_version"])
        if "agreement" in shadowed:
            mlflow.log_metric("shadow_agreement", shadowed["agreement"])
    mlflow.log_metrics({"score_n_rows": report["n_rows"],
                        "score_n_unseen_categories": report["n_unseen_categories"]})
    mlflow.set_tags({"mlgate.score_model": report["model_uri"],
                     "mlgate.score_engine": scored["engine"]})
    mlflow.log_dict(report, "score.json")


def run(params: dict) -> None:
    """Write data/predictions/{current,reference}.parquet, profile.json and reports/score.json."""
    cfg = ScoreConfig.from_params(require(params, "score"))  # checked once, before any read
    if cfg.top_k:
        ExplainConfig.from_params(require(params, "explain"))
    train, run_info = read_table(paths.TRAIN), read_json(paths.RUN)
    configure(require(params, "tracking"))
    current = read_table(paths.CURRENT)
    scored = score(params, cfg, train, current, run_info)
    with pipeline_run(require(params, "tracking"), "score", run_info):
        log_dataset(current, paths.CURRENT, SCORING, require(params, "data.target"))
        log_results(scored)
        if "shadow" in scored["report"]:
            keep_shadow(params, scored["report"]["shadow"])
