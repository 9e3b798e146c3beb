"""The pipeline's work as ONE plain Python script: the 'no framework' side of bench/overhead.py.

Run in a checkout of the project (`python bench/plain_pipeline.py`): one process, no DVC, the
tables kept in memory from step to step, one MLflow run opened once. It does the same work as
`dvc repro` of dvc.yaml, step for step, with the same mlgate functions and settings from
params.yaml: ingest, validate, split; PyCaret training with a child run per candidate and the
logged model; evaluation with plot data, figures and their logging; the gate with slices,
latency, registration, the fresh-process smoke test and the alias moves; scoring of the
current batch and the reference with the champion; the Evidently drift report with its logging
and the reference stored with the model's run. It writes every file the pipeline declares as
an output (so both sides leave the same results), but never reads one back.

What it leaves out is what the framework adds: DVC (stage hashing, dvc.lock, the cache and
run-cache), one Python process per stage (interpreter start and imports of pandas, MLflow,
PyCaret, Evidently again in each stage), reading inputs back from Parquet/JSON/pickle, and
reopening the MLflow run in every stage.
"""

from __future__ import annotations

import importlib.util
import logging
import sys
import time
from collections.abc import Iterator
from contextlib import ExitStack, contextmanager
from pathlib import Path
from types import ModuleType
from typing import Any

import joblib
import mlflow
import pandas as pd

from mlgate.adapters.champion import load_scorer, log_reference
from mlgate.adapters.promotion import GateCandidate, run_gate
from mlgate.adapters.registry import champion_score
from mlgate.adapters.tracking import (
    content_tags,
    dvc_tags,
    file_md5,
    flatten,
    log_candidate,
    log_model,
)
from mlgate.adapters.tracking import pipeline_run as open_run
from mlgate.base import paths
from mlgate.base.errors import DataError
from mlgate.base.io import write_atomic, write_json, write_parquet
from mlgate.base.params import PARAMS_FILE, load_params
from mlgate.core.drift import ACTIONS, run_drift, save_html
from mlgate.core.drift import verdict_line as line_of
from mlgate.core.evaluation import evaluate
from mlgate.core.evidence import baseline_metrics, measure_latency, score_slices
from mlgate.core.figures import save_figures
from mlgate.core.gate import Evidence, GateConfig, check_rows, gate_report
from mlgate.core.ingest import ingest, load_source
from mlgate.core.scoring import (
    ScoreConfig,
    profile_from_frame,
    reference_sample,
    score_batch,
    score_report,
)
from mlgate.core.split import SplitConfig, split_all
from mlgate.core.validation import Schema, describe_failures, validate
from mlgate.engines.selection import train_model
from mlgate.engines.spark_scoring import engine_model
from mlgate.engines.training import TrainConfig
from mlgate.pipeline.stage import setup_logging

log = logging.getLogger("plain")
ROOT = Path.cwd()


def stage_module(name: str) -> ModuleType:
    """A stage script of this checkout, imported for its helpers (its main() is not called)."""
    spec = importlib.util.spec_from_file_location(f"stage_{name}", ROOT / "stages" / f"{name}.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


@contextmanager
def timed(name: str) -> Iterator[None]:
    """Log how long one step took (bench/overhead.py puts it beside the stage's time)."""
    started = time.perf_counter()
    yield
    log.info("plain step %s done in %.1f s", name, time.perf_counter() - started)


def step(name: str) -> None:
    """Tag the run as the stage would (stage done, params.yaml hash, git commit)."""
    mlflow.set_tags(dvc_tags(name))


def prepare(params: dict[str, Any]) -> dict[str, pd.DataFrame]:
    """Ingest, validate and split in memory; write the same files the three stages write."""
    data, task = params["data"], params["task"]["type"]
    with timed("ingest"):
        df = ingest(load_source(data["source"], ROOT), list(data.get("drop_columns") or []),
                    data.get("filter"), data.get("datetime"))
        write_parquet(paths.RAW, df)
    with timed("validate"):
        report = validate(df, Schema.from_params(data["target"], params["validate"]))
        write_json(paths.VALIDATION, report)
    if not report["passed"]:
        raise DataError(f"validation failed: {describe_failures(report)}")
    with timed("split"):
        parts = split_all(df, data["target"], SplitConfig.from_params(params["split"]), task)
        for name, path in (("train", paths.TRAIN), ("test", paths.TEST),
                           ("current", paths.CURRENT)):
            write_parquet(path, parts[name])
    return parts


def train(params: dict[str, Any], data: pd.DataFrame, run: Any) -> tuple[Any, dict[str, Any]]:
    """The train stage's work on the in-memory split; returns the model and run.json's content."""
    task = params["task"]["type"]
    cfg = TrainConfig.from_params(params["data"], params["train"], task)
    mlflow.set_tags(content_tags({"train_data": paths.TRAIN, "test_data": paths.TEST}))
    logged = {k: params[k] for k in ("task", "data", "split", "train")}
    logged["data"] = {k: v for k, v in params["data"].items() if k != "by_task"}
    mlflow.log_params(flatten(logged))
    mlflow.log_artifact(PARAMS_FILE)
    children = {}
    result = train_model(data, cfg, lambda c: children.update({c.id: log_candidate(c)}))
    mlflow.MlflowClient().set_tag(children[result.best_id], "mlgate.selected", "true")
    mlflow.log_metrics(result.cv_metrics)
    mlflow.set_tags({"mlgate.best_model": result.best_id, "mlgate.task": task})
    mlflow.log_text(result.leaderboard.to_csv(), "leaderboard.csv")
    info = log_model(result.model, data.drop(columns=[cfg.target]))
    write_atomic(paths.MODEL, lambda tmp: joblib.dump(result.model, tmp))
    write_atomic(paths.LEADERBOARD, lambda tmp: result.leaderboard.to_csv(tmp))
    write_json(paths.TRAIN_REPORT, {"task": task, "best_model": result.best_id,
                                    "tuned": result.tuned is not None, **result.cv_metrics})
    run_info = {"run_id": run.info.run_id, "experiment_id": run.info.experiment_id,
                "model_uri": info.model_uri}
    write_json(paths.RUN, run_info)
    return result.model, run_info


def evaluate_step(params: dict[str, Any], model: Any, test: pd.DataFrame) -> dict[str, float]:
    """The evaluate stage's work: metrics, plot data, figures, their logging."""
    step("evaluate")
    result = evaluate(model, test, params["data"]["target"], params["task"]["type"],
                      importance=True)
    write_json(paths.METRICS, result["metrics"])
    stage_module("evaluate").write_plot_data(result)
    mlflow.log_metrics({f"test_{k}": v for k, v in result["metrics"].items()})
    for fig in save_figures(result, paths.FIGURES):
        mlflow.log_artifact(str(fig), "figures")
    return result["metrics"]


def register_step(params: dict[str, Any], model: Any, train: pd.DataFrame, test: pd.DataFrame,
                  metrics: dict[str, float], run_info: dict[str, Any]) -> None:
    """The register stage's work: measure, decide, register, smoke-test, move aliases, log."""
    step("register")
    stage = stage_module("register")
    cfg, target, task = GateConfig.from_params(params["gate"]), params["data"]["target"], \
        params["task"]["type"]
    provenance = {k: v for k, v in dvc_tags("register").items() if k in stage.PROVENANCE}
    provenance.update({"data.train_md5": file_md5(paths.TRAIN),
                       "data.test_md5": file_md5(paths.TEST)})
    baseline, predictor = baseline_metrics(train, test, target, task)
    cand = stage.with_model_meta(GateCandidate(
        run_info["model_uri"], run_info["run_id"], metrics,
        Evidence(score_slices(model, test, target, cfg, task),
                 measure_latency(model, test, target), baseline=baseline,
                 baseline_predictor=predictor), provenance))
    decision, outcome = run_gate(cfg, cand, lambda: champion_score(
        cfg.model_name, cfg.alias, test, target, task), mlflow.get_tracking_uri())
    report = gate_report(decision, cfg, cand.metrics, outcome, cand.summary())
    stage.log_report(report, check_rows(decision))
    write_json(paths.GATE, report)
    log.info("gate: %s", outcome.decision)


def score_step(params: dict[str, Any], parts: dict[str, pd.DataFrame],
               run_info: dict[str, Any]) -> dict[str, Any]:
    """The score stage's work: profile, the champion, both batches scored, files, logging."""
    step("score")
    data, cfg = params["data"], ScoreConfig.from_params(params["score"])
    profile = profile_from_frame(parts["train"], data["target"],
                                 list(data.get("categorical") or []), params["task"]["type"])
    scorer = load_scorer(params["gate"]["model_name"], params["gate"]["alias"], paths.MODEL,
                         run_info)
    with engine_model(cfg, scorer.model, scorer.uri) as model:  # score.engine: pandas | spark
        current, batch = score_batch(model, parts["current"], profile, cfg, str(paths.CURRENT),
                                     scorer.uri)
        reference, _ = score_batch(model, reference_sample(parts["train"], cfg), profile, cfg,
                                   f"{paths.TRAIN} (reference sample)", scorer.uri)
    report = {**scorer.describe(), **score_report(current, batch, profile),
              "n_reference_rows": len(reference)}
    write_parquet(paths.SCORED, current)
    write_parquet(paths.SCORED_REFERENCE, reference)
    write_json(paths.PROFILE, profile.to_dict())
    write_json(paths.SCORE_REPORT, report)
    mlflow.log_metrics({"score_n_rows": report["n_rows"],
                        "score_n_unseen_categories": report["n_unseen_categories"]})
    mlflow.set_tags({"mlgate.score_model": scorer.uri, "mlgate.score_engine": cfg.engine})
    mlflow.log_dict(report, "score.json")
    return {"report": report, "current": current, "reference": reference}


def drift_step(params: dict[str, Any], scored: dict[str, Any], run_info: dict[str, Any]) -> str:
    """The drift stage's work: the Evidently report, its files and logging, the reference."""
    step("drift")
    cfg = stage_module("drift").config(params)
    summary, snapshot = run_drift(scored["reference"], scored["current"], cfg,
                                  params["data"]["target"], params["task"]["type"])
    save_html(snapshot, paths.DRIFT_HTML)
    write_json(paths.DRIFT_JSON, summary)
    mlflow.log_metrics({"drift_share_drifted": summary["share_drifted"],
                        "drift_n_drifted": summary["n_drifted"],
                        "drift_action_level": ACTIONS.index(summary["action"])})
    mlflow.set_tags({"mlgate.drift_verdict": summary["verdict"],
                     "mlgate.drift_action": summary["action"]})
    mlflow.log_artifact(str(paths.DRIFT_HTML))
    mlflow.log_dict(summary, "drift.json")
    if scored["report"].get("model_run_id") == run_info["run_id"]:
        log_reference(run_info["run_id"], paths.SCORED_REFERENCE, paths.PROFILE)
    return line_of(summary)


def main() -> None:
    """Run every step in this process, in the pipeline's order."""
    setup_logging()
    started = time.perf_counter()
    params = load_params()
    parts = prepare(params)
    with ExitStack() as stack:  # the one MLflow run, open from train to drift
        with timed("train"):
            run = stack.enter_context(open_run(params["tracking"], "train"))
            model, run_info = train(params, parts["train"], run)
        with timed("evaluate"):
            metrics = evaluate_step(params, model, parts["test"])
        with timed("register"):
            register_step(params, model, parts["train"], parts["test"], metrics, run_info)
        with timed("score"):
            scored = score_step(params, parts, run_info)
        with timed("drift"):
            line = drift_step(params, scored, run_info)
    log.info("plain pipeline done in %.1f s; %s", time.perf_counter() - started, line)


if __name__ == "__main__":
    sys.exit(main())
