"""Stage drift: Evidently drift of the scored current batch against the scored reference."""

import dataclasses
import logging

import mlflow

from mlgate.adapters.champion import log_reference
from mlgate.adapters.tracking import pipeline_run
from mlgate.base import paths
from mlgate.base.io import read_json, read_table, write_json
from mlgate.base.params import require
from mlgate.core.drift import ACTIONS, DriftActionError, DriftConfig, fails, run_drift, save_html
from mlgate.core.drift import verdict_line as line_of

log = logging.getLogger("mlgate.drift")


def config(params: dict) -> DriftConfig:
    """`drift:` params plus the dataset's categorical columns."""
    cfg = DriftConfig.from_params(require(params, "drift"))
    data = require(params, "data")
    return dataclasses.replace(cfg, categorical=[*cfg.categorical,
                                                 *(data.get("categorical") or [])])


def log_run(params: dict, summary: dict, run_info: dict, score: dict) -> None:
    """Log the reports to the pipeline's run; store the reference with the scoring model's run."""
    with pipeline_run(require(params, "tracking"), "drift", run_info):
        mlflow.log_metrics({"drift_share_drifted": summary["share_drifted"],
                            "drift_n_drifted": summary["n_drifted"],
                            "drift_action_level": ACTIONS.index(summary["action"])})
        mlflow.set_tags({"mlgate.drift_verdict": summary["verdict"],
                         "mlgate.drift_action": summary["action"]})
        mlflow.log_artifact(str(paths.DRIFT_HTML))
        mlflow.log_dict(summary, "drift.json")
    if score.get("model_run_id") == run_info.get("run_id"):
        log_reference(run_info["run_id"], paths.SCORED_REFERENCE, paths.PROFILE)
    else:  # an older champion scored: its own run already holds its reference
        log.info("reference not stored: the batch was scored by %s, not this run's model",
                 score.get("model_uri"))


def run(params: dict) -> str:
    """Write reports/drift.html and reports/drift.json, log them; return the verdict line."""
    cfg = config(params)
    summary, snapshot = run_drift(read_table(paths.SCORED_REFERENCE), read_table(paths.SCORED),
                                  cfg, require(params, "data.target"),
                                  require(params, "task.type"))
    save_html(snapshot, paths.DRIFT_HTML)
    write_json(paths.DRIFT_JSON, summary)
    log_run(params, summary, read_json(paths.RUN), read_json(paths.SCORE_REPORT))
    line = line_of(summary)
    if fails(summary["action"], cfg.fail_on):
        raise DriftActionError(f"{line} [drift.fail_on={cfg.fail_on}]")
    return line

