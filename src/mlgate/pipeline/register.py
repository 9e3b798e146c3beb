"""Stage register: the gate. Only a model that passes every declared check is registered;
it becomes champion only when it beats the current one, otherwise challenger."""

import logging
from dataclasses import replace
from typing import Any

import mlflow
import pandas as pd

from mlgate.adapters.evaluation import evaluate_estimator
from mlgate.adapters.promotion import GateCandidate, run_gate
from mlgate.adapters.registry import champion_score, logged_model_meta, set_description
from mlgate.adapters.tracking import dataset, dvc_tags, file_md5, pipeline_run
from mlgate.base import paths
from mlgate.base.errors import MlgateError
from mlgate.base.io import read_json, read_model, read_table, write_json
from mlgate.base.params import require
from mlgate.core.evaluation import class_labels
from mlgate.core.evidence import (
    baseline_predictor,
    describe,
    measure_latency,
    score_slices,
    task_type,
)
from mlgate.core.gate import REJECTED, SMOKE_FAILED, Evidence, GateConfig, check_rows, gate_report
from mlgate.core.model_card import model_card

log = logging.getLogger("mlgate.register")
PROVENANCE = ("git.commit", "dvc.exp_name", "dvc.baseline_rev")


def measure(params: dict, cfg: GateConfig, model: Any, metrics: dict, train: pd.DataFrame,
            test: pd.DataFrame, run_info: dict) -> GateCandidate:
    """Everything the gate judges that needs no MLflow, measured before MLflow is touched
    (bad input fails first); the baseline predictor is fitted here, evaluated in the run."""
    target, task = require(params, "data.target"), task_type(params)
    evidence = Evidence(score_slices(model, test, target, cfg, task),
                        measure_latency(model, test, target),
                        baseline_predictor=describe(baseline_predictor(train, target, task)))
    provenance = {k: v for k, v in dvc_tags("register").items() if k in PROVENANCE}
    provenance.update({"data.train_md5": file_md5(paths.TRAIN),
                       "data.test_md5": file_md5(paths.TEST)})
    return GateCandidate(run_info["model_uri"], run_info["run_id"], metrics, evidence,
                         provenance)


def with_model_meta(cand: GateCandidate, baseline: dict[str, float]) -> GateCandidate:
    """Add what the store says about the logged model (signature, input example), the
    baseline predictor's evaluation and the run."""
    has_signature, has_example = logged_model_meta(cand.model_uri)
    return replace(cand, evidence=replace(cand.evidence, has_signature=has_signature,
                                          has_input_example=has_example, baseline=baseline),
                   provenance={**cand.provenance,
                               "gate_run_id": mlflow.active_run().info.run_id})


def log_report(report: dict, rows: list[dict]) -> None:
    """gate.json, the check table (one row per check per evaluation) and tags on the run."""
    mlflow.log_dict(report, "gate.json")
    stamp = pd.Timestamp.now(tz="UTC").isoformat(timespec="seconds")
    mlflow.log_table(pd.DataFrame([{**r, "decision": report["decision"], "evaluated_at": stamp}
                                   for r in rows]), "gate_checks.json")
    mlflow.set_tags({"mlgate.gate": report["decision"],
                     "mlgate.gate.unchecked": str(report["unchecked"]["count"]),
                     **({"mlgate.gate.version": report["registered_version"]}
                        if report["registered_version"] else {}),
                     **({"mlgate.gate.alias": report["alias"]} if report["alias"] else {})})
    latency = report["candidate"]["latency_ms_per_1000_rows"]
    if latency is not None:
        mlflow.log_metric("gate_latency_ms_per_1000_rows", latency)


def decide(params: dict, cfg: GateConfig, cand: GateCandidate, frames: dict[str, pd.DataFrame],
           labels: list | None) -> dict:
    """In the open MLflow run: evaluate the baseline predictor and the champion with MLflow
    (each in its own nested run), decide, register on pass, log the report, write the
    version's model card; return the report. `frames`: the train and test tables."""
    target, task = require(params, "data.target"), task_type(params)
    test = dataset(frames["test"], paths.TEST, target)  # the test set, as each run's input
    baseline = evaluate_estimator(baseline_predictor(frames["train"], target, task), test,
                                  target, task, labels, "baseline predictor on this test set")
    cand = with_model_meta(cand, baseline)
    decision, outcome = run_gate(
        cfg, cand, lambda: champion_score(cfg.model_name, cfg.alias, test, target, task, labels),
        mlflow.get_tracking_uri())
    report = gate_report(decision, cfg, cand.metrics, outcome, cand.summary())
    log_report(report, check_rows(decision))
    if outcome.version is not None:
        set_description(cfg.model_name, outcome.version,
                        model_card(report, read_explanation(), data_summary(frames)))
    return report


def read_explanation() -> dict | None:
    """reports/explain.json (the evaluate stage's), if there is one."""
    return read_json(paths.EXPLAIN) if paths.EXPLAIN.exists() else None


def data_summary(frames: dict[str, pd.DataFrame]) -> dict[str, dict]:
    """Path, rows and MD5 (DVC's hash) of the training and test tables, for the card."""
    files = {"train": paths.TRAIN, "test": paths.TEST}
    return {name: {"path": str(path), "rows": len(frames[name]), "md5": file_md5(path)}
            for name, path in files.items()}


def finish(cfg: GateConfig, report: dict) -> None:
    """Write reports/gate.json; raise when gate.fail_on_reject makes a rejection fail."""
    write_json(paths.GATE, report)
    decision = report["decision"]
    log.info("gate: %s%s", decision, f" (v{report['registered_version']} @{report['alias']})"
             if report["alias"] else ": " + "; ".join(report["reasons"]))
    if cfg.fail_on_reject and decision in (REJECTED, SMOKE_FAILED):
        raise MlgateError(f"gate decision `{decision}` and gate.fail_on_reject is "
                          f"true: {'; '.join(report['reasons'])}")


def labels_of(params: dict, model: Any, test: pd.DataFrame) -> list | None:
    """The model's class labels (None for regression): the evaluator's label list."""
    return None if task_type(params) == "regression" else \
        class_labels(model, test[require(params, "data.target")])


def run(params: dict) -> None:
    """Measure the trained model, decide in the pipeline's MLflow run, write the report."""
    cfg = GateConfig.from_params(require(params, "gate"))
    test, run_info = read_table(paths.TEST), read_json(paths.RUN)
    model, metrics = read_model(paths.MODEL), read_json(paths.METRICS)
    train = read_table(paths.TRAIN)
    cand = measure(params, cfg, model, metrics, train, test, run_info)
    labels = labels_of(params, model, test)
    with pipeline_run(require(params, "tracking"), "register", run_info):
        report = decide(params, cfg, cand, {"train": train, "test": test}, labels)
    finish(cfg, report)
