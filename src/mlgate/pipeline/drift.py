"""Stage drift: Evidently drift of the scored current batch against the scored reference."""

import dataclasses
import logging
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any

import mlflow
import pandas as pd

from mlgate.adapters.champion import (
    Scorer,
    fetch_reference,
    load_champion,
    log_reference,
    signature_inputs,
)
from mlgate.adapters.monitoring import (
    Batch,
    MonitorConfig,
    add_snapshot,
    batch_time,
    current_experiment,
)
from mlgate.adapters.tracking import configure, pipeline_run
from mlgate.base import paths
from mlgate.base.io import read_json, read_table, write_json
from mlgate.base.params import require
from mlgate.core.drift import ACTIONS, DriftActionError, DriftConfig, fails, run_drift, save_html
from mlgate.core.drift import verdict_line as line_of
from mlgate.core.inference_log import COLUMNS as LOG_COLUMNS
from mlgate.core.ingest import parse_datetimes
from mlgate.core.scoring import Profile, ScoreConfig, batch_metric, profile_from_signature
from mlgate.pipeline.score import score_frames

log = logging.getLogger("mlgate.drift")


def config(params: dict, categorical: Iterable[str] = ()) -> DriftConfig:
    """`drift:` params; categorical are drift.categorical, data.categorical and `categorical`
    (the CLI adds the stored profile's), each once."""
    cfg = DriftConfig.from_params(require(params, "drift"))
    extra = [*(require(params, "data").get("categorical") or []), *categorical]
    return dataclasses.replace(cfg, categorical=list(dict.fromkeys([*cfg.categorical, *extra])))


def check(params: dict, cfg: DriftConfig, reference: pd.DataFrame,
          current: pd.DataFrame) -> tuple[dict, Any]:
    """Run the drift report; write reports/drift.html and reports/drift.json; the summary and
    the Evidently snapshot."""
    summary, snapshot = run_drift(reference, current, cfg, require(params, "data.target"),
                                  require(params, "task.type"))
    save_html(snapshot, paths.DRIFT_HTML)
    write_json(paths.DRIFT_JSON, summary)
    return summary, snapshot


def batch_name(params: dict) -> str:
    """The pipeline's current batch, named by its rule: `split.current`, or the share."""
    split = require(params, "split")
    return str(split["current"]) if split.get("current") else \
        f"seeded share {split.get('current_share')}"


def monitor(params: dict, cfg: DriftConfig, summary: dict, snapshot: Any,
            current: pd.DataFrame, scored_by: dict, name: str, target: str | None,
            task: str, dated: pd.DataFrame | None = None) -> str:
    """Add the check's snapshot to the repository's monitoring workspace; its id.

    `scored_by` has the model_version (or model_run_id) of the model that scored the batch;
    `target` and `task` give the batch's metric when it is labelled; `dated`, the batch with
    its `data.datetime` columns parsed when they are no model input, gives its time.
    """
    important = [c for c, rule in cfg.per_column.items() if rule.important]
    batch = Batch(name=name, model_version=str(scored_by.get("model_version")
                                               or scored_by.get("model_run_id")),
                  time=batch_time(current if dated is None else dated,
                                  list(require(params, "data").get("datetime") or {})),
                  rows=len(current), experiment=current_experiment())
    return add_snapshot(MonitorConfig.from_params(require(params, "monitor")),
                        require(params, "gate.model_name"), snapshot, batch, summary, important,
                        batch_metric(current, target, task))


@dataclass(frozen=True)
class Contract:
    """The champion and what a delivered batch is checked against: the model's signature plus
    the profile stored with its run (kinds, categories, ranges), and its scored reference."""

    scorer: Scorer
    profile: Profile
    reference: pd.DataFrame


def champion_contract(params: dict) -> Contract:
    """The registry champion's batch contract (tracking configured); MlgateError when none."""
    configure(require(params, "tracking"))
    scorer = load_champion(require(params, "gate.model_name"), require(params, "gate.alias"))
    reference, stored = fetch_reference(scorer.run_id)
    profile = profile_from_signature(signature_inputs(scorer.uri), stored, stored.target,
                                     stored.task)
    return Contract(scorer, profile, reference)


def check_delivery(params: dict, contract: Contract, batch: pd.DataFrame, name: str,
                   source: str) -> tuple[dict, Any, pd.DataFrame]:
    """Score a delivered batch with the champion, check its drift against the champion's
    reference and add the monitoring snapshot: (summary, Evidently snapshot, scored batch).

    The one path of `mlgate drift --current FILE` and `mlgate watch`. The batch has
    data.source's shape: its dates are parsed as `data.datetime` says (DataError naming the
    column otherwise) and the columns the pipeline removes before the model are removed;
    ScoringError naming `source` when the rest breaks the contract.
    """
    dated = parse_datetimes(batch, {c: f for c, f in (require(params, "data").get("datetime")
                                                      or {}).items() if c in batch})
    inputs = dated.drop(columns=[c for c in not_inputs(params) if c in dated])
    scored = score_frames(ScoreConfig.from_params(require(params, "score")), contract.scorer,
                          contract.profile, {"batch": (inputs, source)})["batch"][0]
    cfg = config(params, contract.profile.categories)
    profile = contract.profile
    summary, snapshot = run_drift(contract.reference, scored, cfg, profile.target, profile.task)
    summary = {**contract.scorer.describe(), "current": source, **summary}
    summary["monitor_snapshot"] = monitor(params, cfg, summary, snapshot, scored, summary, name,
                                          profile.target, profile.task, dated)
    return summary, snapshot, scored


def not_inputs(params: dict) -> list[str]:
    """Columns of a delivery the pipeline removes before the model: the row id (`data.id`),
    `data.drop_columns`, `split.drop_columns` (a delivery looks like data.source) and the
    inference log's own columns (request id, time, version, answers)."""
    data = require(params, "data")
    return [*([data["id"]] if data.get("id") else []), *(data.get("drop_columns") or []),
            *(require(params, "split").get("drop_columns") or []), *LOG_COLUMNS]


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
    MonitorConfig.from_params(require(params, "monitor"))  # a bad key fails before the work
    current = read_table(paths.SCORED)
    summary, snapshot = check(params, cfg, read_table(paths.SCORED_REFERENCE), current)
    run_info = read_json(paths.RUN)
    score = read_json(paths.SCORE_REPORT)
    with pipeline_run(require(params, "tracking"), "drift", run_info):
        log_results(summary)
        mlflow.set_tag("mlgate.monitor_snapshot", monitor(
            params, cfg, summary, snapshot, current, score, batch_name(params),
            require(params, "data.target"), require(params, "task.type")))
    store_reference(run_info, score)
    return verdict(summary, cfg)
