"""Monitoring over time: each drift check as a snapshot in the repository's Evidently workspace.

One workspace per repository, at `monitor.workspace` under the real root (DVC_ROOT in queued
experiments, so their snapshots are not lost with the temporary copy), one project per
registered model. A snapshot's identity is (batch, model version, experiment): writing it
again replaces it. Snapshots of `dvc exp run` experiments carry an `exp:<name>` tag instead
of `main` (dashboard.MAIN_TAG); the dashboard's panels select `main`, so a sweep does
not plot one batch eight times.
"""

from __future__ import annotations

import logging
import os
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pandas as pd

from mlgate.adapters.dashboard import MAIN_TAG, QUALITY_COLUMN, ensure_dashboard
from mlgate.adapters.locks import repo_lock
from mlgate.base import paths
from mlgate.base.errors import ConfigError
from mlgate.base.params import check_number, check_section, repo_root

os.environ.setdefault("DO_NOT_TRACK", "1")  # Evidently's telemetry calls out; never here

log = logging.getLogger(__name__)

LOCK_TIMEOUT_S = 300.0
# What `mlgate monitor history` prints, from each snapshot's metadata.
HISTORY_COLUMNS = ("batch", "time", "rows", "share_drifted", "n_drifted", "important_drifted",
                   "action", "model_version", "metric", "experiment")


@dataclass(frozen=True)
class MonitorConfig:
    """`monitor:` where the workspace lives and which port its UI takes."""

    workspace: str
    ui_port: int

    @classmethod
    def from_params(cls, section: Any) -> MonitorConfig:
        """Build from `monitor:`, naming an unknown or missing key."""
        known = check_section(section, "monitor", {"workspace", "ui_port", "watch",
                                                         "inference_log"})
        # watch: core.watch; inference_log: core.inference_log
        cfg = cls(workspace=known["workspace"], ui_port=known["ui_port"])
        if not isinstance(cfg.workspace, str) or not cfg.workspace.strip():
            raise ConfigError(f"`monitor.workspace` must be a folder path, got {cfg.workspace!r}")
        check_number(cfg.ui_port, "monitor.ui_port", low=1, high=65535, integer=True)
        return cfg

    def path(self, root: Path | None = None) -> Path:
        """The workspace folder: relative paths are anchored at the repository root."""
        path = Path(self.workspace)
        return path if path.is_absolute() else (root or repo_root()) / path


@dataclass(frozen=True)
class Batch:
    """What identifies and describes one checked batch."""

    name: str  # file name, or the pipeline's current-batch rule
    model_version: str  # registry version, or the run id of a model scored from a file
    time: datetime  # the batch's latest date (data.datetime), else when it was checked
    rows: int
    experiment: str | None = None  # DVC experiment name (DVC_EXP_NAME), None outside one

    @property
    def tags(self) -> list[str]:
        """Evidently tags: `main` or `exp:<name>`, the batch and the version."""
        scope = f"exp:{self.experiment}" if self.experiment else MAIN_TAG
        return [scope, f"batch:{self.name}", f"version:{self.model_version}"]


def batch_time(df: pd.DataFrame, datetimes: list[str]) -> datetime:
    """The latest value of the first datetime column present (the batch's time), else now."""
    for col in datetimes:
        if col in df.columns and pd.api.types.is_datetime64_any_dtype(df[col]) \
                and df[col].notna().any():
            return pd.Timestamp(df[col].max()).to_pydatetime().replace(tzinfo=None)
    return datetime.now(UTC).replace(tzinfo=None)


def current_experiment() -> str | None:
    """The DVC experiment this process runs in, if any (`dvc exp run` sets DVC_EXP_NAME)."""
    return os.environ.get("DVC_EXP_NAME") or None


def metadata(batch: Batch, summary: dict[str, Any], important: list[str],
             metric: dict[str, float] | None) -> dict:
    """The snapshot's metadata: what `mlgate monitor history` prints."""
    drifted = [c for c, v in summary.get("columns", {}).items() if v.get("drifted")]
    important = [c for c in important if c in drifted]
    out = {"batch": batch.name, "model_version": batch.model_version, "rows": str(batch.rows),
           "time": batch.time.isoformat(timespec="seconds"), "action": summary["action"],
           "share_drifted": f"{summary['share_drifted']:.4f}",
           "n_drifted": f"{summary['n_drifted']}/{summary['n_columns']}",
           "important_drifted": ",".join(important), "experiment": batch.experiment or ""}
    if metric:
        out["metric"] = ", ".join(f"{k} {v:.4f}" for k, v in metric.items())
    return out


def open_workspace(cfg: MonitorConfig, root: Path | None = None) -> Any:
    """The repository's Evidently workspace (created on first use)."""
    from evidently.ui.workspace import Workspace  # lazy: Evidently, ~2 s

    path = cfg.path(root)
    path.mkdir(parents=True, exist_ok=True)
    return Workspace(str(path))


def find_project(ws: Any, model_name: str) -> Any | None:
    """The project named after the registered model, or None."""
    found = [p for p in ws.search_project(model_name) if p.name == model_name]
    return found[0] if found else None


def model_project(ws: Any, model_name: str, important: list[str]) -> Any:
    """The model's project (created on first use), its dashboard written again."""
    project = find_project(ws, model_name)
    if project is None:
        project = ws.create_project(model_name, description=f"drift of registered model "
                                                            f"{model_name}, batch after batch")
    ensure_dashboard(ws, project, important)
    return project


def add_snapshot(cfg: MonitorConfig, model_name: str, snapshot: Any, batch: Batch,
                 summary: dict[str, Any], important: list[str],
                 metric: dict[str, float] | None = None, root: Path | None = None) -> str:
    """Add the drift check's snapshot to the model's project, replacing the one with the same
    (batch, model version, experiment); return its id."""
    root = root or repo_root()
    # Evidently 0.7's Snapshot takes timestamp, tags and metadata only in Report.run, before
    # the action is known; they are set here on the finished snapshot instead.
    snapshot._timestamp = batch.time
    snapshot._tags = batch.tags
    snapshot._metadata = metadata(batch, summary, important, metric)
    with repo_lock(paths.MONITOR_LOCK, "monitoring", root=root, timeout=LOCK_TIMEOUT_S):
        ws = open_workspace(cfg, root)
        project = model_project(ws, model_name, important)
        ref_id = replace_run(ws, project, snapshot, batch.tags)
    log.info("monitoring: snapshot of batch %r (model version %s%s) in %s", batch.name,
             batch.model_version, f", experiment {batch.experiment}" if batch.experiment else "",
             cfg.path(root))
    return ref_id


def replace_run(ws: Any, project: Any, snapshot: Any, tags: list[str]) -> str:
    """Add the snapshot, deleting any with the same tags first (its identity); its id."""
    for old in ws.list_runs(project.id):
        run = ws.get_run(project.id, old)
        if run is not None and sorted(run.tags) == sorted(tags):
            ws.delete_run(project.id, old)
    return str(ws.add_run(project.id, snapshot).id)


LABELS_TAG = "labels"  # the labelled-metric snapshot of a batch, beside its drift snapshot


def set_metric(cfg: MonitorConfig, model_name: str, snapshot_id: str,
               metric: dict[str, float] | None, root: Path | None = None) -> None:
    """Write a batch's labelled metric into its drift snapshot's metadata (history shows it).

    Evidently 0.7 has no public call to edit a stored snapshot; its local state's
    write_snapshot under the same id replaces the file, as add_run itself writes it.
    """
    if not metric:
        return
    root = root or repo_root()
    with repo_lock(paths.MONITOR_LOCK, "monitoring", root=root, timeout=LOCK_TIMEOUT_S):
        ws = open_workspace(cfg, root)
        project = find_project(ws, model_name)
        run = ws.get_run(project.id, snapshot_id) if project is not None else None
        if run is None:
            log.warning("monitoring: snapshot %s of %s is gone; metric not recorded",
                        snapshot_id, model_name)
            return
        run.metadata["metric"] = ", ".join(f"{k} {v:.4f}" for k, v in metric.items())
        ws.state.write_snapshot(project.id, snapshot_id, run)


def add_quality_snapshot(cfg: MonitorConfig, model_name: str, record: dict[str, Any],
                         scored: pd.DataFrame, target: str, task: str,
                         root: Path | None = None) -> str | None:
    """Add (or replace) a batch's labelled-metric snapshot, at the batch's time; its id."""
    from evidently import DataDefinition, Dataset, Report  # lazy: Evidently
    from evidently.metrics import MeanValue  # lazy: Evidently

    from mlgate.core.scoring import PREDICTION  # lazy: scikit-learn

    rows = scored[scored[target].notna()]
    if rows.empty:
        return None
    column = QUALITY_COLUMN["regression" if task == "regression" else "classification"]
    values = (rows[target].astype(float) - rows[PREDICTION].astype(float)).abs() \
        if task == "regression" else (rows[target].astype(str) == rows[PREDICTION].astype(str))
    frame = pd.DataFrame({column: values.astype(float).to_numpy()})
    data = Dataset.from_pandas(frame, data_definition=DataDefinition(numerical_columns=[column]))
    snapshot = Report([MeanValue(column=column)]).run(data, None)
    root = root or repo_root()
    with repo_lock(paths.MONITOR_LOCK, "monitoring", root=root, timeout=LOCK_TIMEOUT_S):
        ws = open_workspace(cfg, root)
        project = find_project(ws, model_name)
        drift = ws.get_run(project.id, record["snapshot"]) if project is not None else None
        if drift is None:
            return None
        tags = [*drift.tags, LABELS_TAG]
        snapshot._timestamp, snapshot._tags = drift.timestamp, tags
        snapshot._metadata = {**drift.metadata, "labelled_rows": str(len(rows))}
        return replace_run(ws, project, snapshot, tags)


def history(cfg: MonitorConfig, model_name: str, experiments: bool = False,
            root: Path | None = None) -> pd.DataFrame:
    """One row per snapshot of the model's project, oldest batch first (main only by default)."""
    ws = open_workspace(cfg, root)
    project = find_project(ws, model_name)
    rows = []
    for sid in ws.list_runs(project.id) if project is not None else []:
        run = ws.get_run(project.id, sid)
        if run is None or LABELS_TAG in run.tags or (MAIN_TAG not in run.tags
                                                     and not experiments):
            continue
        rows.append({k: run.metadata.get(k, "") for k in HISTORY_COLUMNS})
    frame = pd.DataFrame(rows, columns=list(HISTORY_COLUMNS))
    return frame.sort_values(["time", "batch", "model_version"], kind="stable").reset_index(
        drop=True)
