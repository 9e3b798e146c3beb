"""Stage drift: Evidently drift of the scored current batch against the scored reference."""

import dataclasses
import logging
from collections.abc import Iterable

import mlflow
import pandas as pd

from mlgate.adapters.champion import log_reference
from mlgate.adapters.tracking import pipeline_run
from mlgate.base import paths
from mlgate.base.io import read_json, read_table, write_json
from mlgate.base.params import require
from mlgate.core.drift import ACTIONS, DriftActionError, DriftConfig, fails, run_drift, save_html
from mlgate.core.drift import verdict_line as line_of

log = logging.getLogger("mlgate.drift")


def config(params: dict, categorical: Iterable[str] = ()) -> DriftConfig:
    """`drift:` params; categorical are drift.categorical, data.categorical and `categorical`
    (the CLI adds the stored profile's), each once."""
    cfg = DriftConfig.from_params(require(params, "drift"))
    extra = [*(require(params, "data").get("categorical") or []), *categorical]
    return dataclasses.replace(cfg, categorical=list(dict.fromkeys([*cfg.categorical, *extra])))


def check(params: dict, cfg: DriftConfig, reference: pd.DataFrame,
          current: pd.DataFrame) -> dict:
    """Run the drift report; write reports/drift.html and reports/drift.json; the summary."""
    summary, snapshot = run_drift(reference, current, cfg, require(params, "data.target"),
                                  require(params, "task.type"))
    save_html(snapshot, paths.DRIFT_HTML)
    write_json(paths.DRIFT_JSON, summary)
    return summary


def log_results(summary: dict) -> None:
    """Log the drift reports to the active MLflow run."""
    mlflow.log_metrics({"drift_share_drifted": summary["share_drifted"],
                        "drift_n_drifted": summary["n_drifted"],
                        "drift_action_level": ACTIONS.index(summary["action"])})
    mlflow.set_tags({"mlgate.drift_verdict": summary["verdict"],
                     "mlgate.drift_action": summary["action"]})
    mlflow.log_artifact(str(paths.DRIFT_HTML))
    mlflow.log_dict(summary, "drift.json")


def store_reference(run_info: dict, score: dict) -> None:
    """Store the scored reference with the run of the model that scored it (this run's only)."""
    if score.get("model_run_id") == run_info.get("run_id"):
        log_reference(run_info["run_id"], paths.SCORED_REFERENCE, paths.PROFILE)
    else:  # an older champion scored: its own run already holds its reference
        log.info("reference not stored: the batch was scored by %s, not this run's model",
                 score.get("model_uri"))


def verdict(summary: dict, cfg: DriftConfig) -> str:
    """The verdict line; DriftActionError when the action reaches drift.fail_on."""
    line = line_of(summary)
    if fails(summary["action"], cfg.fail_on):
        raise DriftActionError(f"{line} [drift.fail_on={cfg.fail_on}]")
    return line


def run(params: dict) -> str:
    """Write reports/drift.html and reports/drift.json, log them; return the verdict line."""
    cfg = config(params)
    summary = check(params, cfg, read_table(paths.SCORED_REFERENCE), read_table(paths.SCORED))
    run_info = read_json(paths.RUN)
    with pipeline_run(require(params, "tracking"), "drift", run_info):
        log_results(summary)
    store_reference(run_info, read_json(paths.SCORE_REPORT))
    return verdict(summary, cfg)
