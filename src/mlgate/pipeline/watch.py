"""`mlgate watch`: every new file in an inbox checked, scored, drift-checked, added to the
monitoring dashboard and acted on, exactly once.

A file is admitted when it meets the champion's batch contract (the model's signature and the
profile stored with its run; the target is optional), else moved to `<inbox>/quarantine/` with
its error beside it. Admitted files are held until they reach `monitor.watch.min_rows`, then
form one batch: scored, drift-checked against the champion's reference (the same path as
`mlgate drift --current`), snapshotted, and recorded in the ledger with the action the drift
policy returns. `retrain` folds the labelled batch into data/delivered/ (DVC-tracked, staged)
and starts `dvc exp run`, whose register stage is the gate; `investigate` stops the watcher
for the model until `--resume`. Late labels (`<inbox>/labels/`, the profile's `id` column and
the target) are joined to the batches they belong to: each gains its metric.

The ledger is rewritten atomically after each step, and every step is idempotent (a snapshot
replaces the one of the same batch and model version, a delivered file is written again), so
a `kill -9` anywhere is resumed by the next run without a lost or a duplicated batch.
"""

from __future__ import annotations

import hashlib
import json
import logging
import os
import time
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pandas as pd

from mlgate.adapters import experiments
from mlgate.adapters.monitoring import MonitorConfig, add_quality_snapshot, set_metric
from mlgate.adapters.shadow import record_batch
from mlgate.base import paths
from mlgate.base.errors import DataError, MlgateError, is_user_error
from mlgate.base.files import write_text_atomic
from mlgate.base.io import read_json, read_table, write_parquet
from mlgate.base.params import repo_root, require
from mlgate.core.gate import GateConfig
from mlgate.core.inference_log import COLUMNS as LOG_COLUMNS
from mlgate.core.inference_log import (
    JOIN_KEYS,
    REQUEST_ID,
    ROW,
    SHADOW_PREDICTION,
    SHADOW_VERSION,
    VERSION,
)
from mlgate.core.inference_log import PREDICTION as SERVED
from mlgate.core.ingest import parse_datetimes
from mlgate.core.scoring import PREDICTION, ScoreConfig, batch_metric, check_batch
from mlgate.core.shadow import compare
from mlgate.core.watch import Ledger, WatchConfig, batch_name, candidates, groups
from mlgate.pipeline.drift import Contract, champion_contract, check_delivery, not_inputs

log = logging.getLogger("mlgate.watch")

STATE = ".mlgate"  # inside the inbox: ledger.json and scored/ (what the labels join to)
QUARANTINE = "quarantine"


class WatchStopped(MlgateError):
    """The watcher is stopped for a model (an `investigate` action) until --resume."""


@dataclass
class Watcher:
    """One inbox, its ledger, and the champion's contract (reloaded when the champion moves)."""

    params: dict
    inbox: Path
    root: Path
    cfg: WatchConfig
    monitor: MonitorConfig
    ledger: Ledger
    _contract: Contract | None = field(default=None, repr=False)

    @property
    def model(self) -> str:
        """The registered model this inbox feeds."""
        return str(require(self.params, "gate.model_name"))

    @property
    def id_column(self) -> str | None:
        """The data profile's row id (`data.id`), used to join late labels."""
        return require(self.params, "data").get("id")


    def contract(self) -> Contract:
        """The champion's batch contract (loaded once, again after a retrain)."""
        if self._contract is None:
            self._contract = champion_contract(self.params)
        return self._contract

    def save(self) -> None:
        """Write the ledger atomically."""
        write_text_atomic(ledger_path(self.inbox),
                          json.dumps(self.ledger.to_dict(), indent=2, default=str) + "\n")


def ledger_path(inbox: Path) -> Path:
    """Where the inbox's ledger lives."""
    return inbox / STATE / "ledger.json"


def open_watcher(params: dict, inbox: Path | None = None, root: Path | None = None) -> Watcher:
    """The watcher of `inbox` (default `monitor.watch.inbox` under the repository root)."""
    root = root or repo_root()
    monitor = MonitorConfig.from_params(require(params, "monitor"))  # bad keys fail first
    cfg = WatchConfig.from_params(require(params, "monitor.watch"))
    inbox = inbox if inbox is not None else root / cfg.inbox
    if not inbox.is_dir():
        raise DataError(f"{inbox}: the inbox folder does not exist (monitor.watch.inbox)")
    path = ledger_path(inbox)
    ledger = Ledger.from_dict(read_json(path), str(path)) if path.exists() else Ledger()
    return Watcher(params, inbox, root, cfg, monitor, ledger)


def now() -> str:
    """UTC now, ISO 8601 to the second."""
    return datetime.now(UTC).isoformat(timespec="seconds")


def sha256(path: Path) -> str:
    """The file's SHA-256."""
    digest = hashlib.sha256()
    with path.open("rb") as fh:
        for chunk in iter(lambda: fh.read(1 << 20), b""):
            digest.update(chunk)
    return digest.hexdigest()


def quarantine(w: Watcher, path: Path, message: str) -> None:
    """Move a file out of the inbox into quarantine/, its error in `<name>.error.txt`."""
    message = message if path.name in message else f"{path.name}: {message}"
    folder = path.parent / QUARANTINE
    folder.mkdir(exist_ok=True)
    dest = folder / path.name
    if dest.exists():
        dest = folder / f"{path.stem}.{int(time.time())}{path.suffix}"
    write_text_atomic(dest.with_name(dest.name + ".error.txt"), message + "\n")
    os.replace(path, dest)
    key = f"{path.parent.name}/{path.name}" if path.parent != w.inbox else path.name
    if w.ledger.files.get(key, {}).get("status") in (None, "held"):
        # a held file whose batch failed is quarantined; a re-delivery of a done file (other
        # content, same name) keeps the done record
        w.ledger.files[key] = {"status": "quarantined", "error": message, "at": now(),
                               "moved_to": str(dest.relative_to(w.inbox))}
    w.save()
    log.error("quarantined %s: %s", path.name, message)


def model_inputs(w: Watcher, df: pd.DataFrame) -> pd.DataFrame:
    """The batch as the model takes it: dates parsed as `data.datetime` says (a bad one is a
    DataError naming the column), the columns the pipeline removes before the model removed."""
    formats = require(w.params, "data").get("datetime") or {}
    df = parse_datetimes(df, {c: f for c, f in formats.items() if c in df})
    return df.drop(columns=[c for c in not_inputs(w.params) if c in df.columns])


def admit(w: Watcher, path: Path) -> None:
    """Check a new file against the champion's batch contract: held, or quarantined."""
    digest = sha256(path)
    known = w.ledger.files.get(path.name)
    if known is not None:
        if known.get("sha256") != digest:
            quarantine(w, path, f"{path.name} was already processed with other content "
                                f"(sha256 {str(known.get('sha256'))[:12]}); deliver a new "
                                "batch under a new file name")
        return
    contract = w.contract()
    try:
        df = read_table(path)
        check_batch(model_inputs(w, df), contract.profile,
                    ScoreConfig.from_params(require(w.params, "score")), str(path.name))
    except Exception as exc:  # a user error names the file; anything else is a bug: raise
        if not is_user_error(exc):
            raise
        quarantine(w, path, str(exc))
        return
    target = contract.profile.target
    w.ledger.files[path.name] = {"status": "held", "sha256": digest, "rows": len(df),
                                 "labelled": bool(target and target in df
                                                  and df[target].notna().all()),
                                 "arrived": now()}
    w.save()
    log.info("admitted %s: %d rows, meets the contract of %s", path.name, len(df),
             contract.scorer.uri)


def read_files(w: Watcher, files: list[str]) -> pd.DataFrame:
    """The held files of one batch, concatenated; DataError when one changed since admission."""
    frames = []
    for name in files:
        path = w.inbox / name
        if not path.exists() or sha256(path) != w.ledger.files[name]["sha256"]:
            raise DataError(f"{path}: changed or removed after it was admitted; deliver a "
                            "batch once, under a new name")
        frames.append(read_table(path))
    return pd.concat(frames, ignore_index=True) if len(frames) > 1 else frames[0]


def scored_path(w: Watcher, batch: str) -> Path:
    """Where a batch's scored rows are kept for the late labels."""
    return w.inbox / STATE / "scored" / f"{batch}.parquet"


def process(w: Watcher, files: list[str]) -> dict[str, Any]:
    """Score, drift-check and snapshot one batch; record it (the commit point)."""
    name = batch_name(files)
    raw = read_files(w, files)
    contract = w.contract()
    summary, _, scored = check_delivery(w.params, contract, raw, name, ", ".join(files))
    for column in [*([w.id_column] if w.id_column else []), *LOG_COLUMNS]:
        if column in raw:  # what late labels join by, and the served and shadow answers
            scored[column] = raw[column].to_numpy()
    write_parquet(scored_path(w, name), scored)
    keep_served_shadow(w, name, scored)
    labelled = all(w.ledger.files[f].get("labelled") for f in files)
    record = {"name": name, "files": files, "rows": len(raw), "at": now(),
              "model_version": summary.get("model_version"), "action": summary["action"],
              "verdict": summary["verdict"], "share_drifted": summary["share_drifted"],
              "snapshot": summary["monitor_snapshot"], "labelled": labelled,
              "metric": batch_metric(scored, contract.profile.target, contract.profile.task),
              "retrain": {"status": "pending"} if summary["action"] == "retrain" else None}
    if summary["action"] == "investigate":
        w.ledger.stopped[w.model] = {
            "batch": name, "at": now(),
            "reason": f"batch {name}: {summary['share_drifted']:.0%} of the columns drifted "
                      f"({summary['n_drifted']}/{summary['n_columns']}), action `investigate` "
                      "(drift.actions.investigate): too large a shift for an automatic retrain"}
    if record["metric"]:  # delivered with labels: the quality panel's point for the batch
        add_quality_snapshot(w.monitor, w.model, record, scored, contract.profile.target,
                             contract.profile.task, w.root)
    w.ledger.batches = [b for b in w.ledger.batches if b["name"] != name] + [record]
    for f in files:
        w.ledger.files[f].update(status="done", batch=name)
    w.save()
    log.info("batch %s (%d rows, %s): %s -> action %s", name, len(raw), ", ".join(files),
             summary["verdict"], summary["action"])
    return record


def keep_served_shadow(w: Watcher, name: str, scored: pd.DataFrame) -> None:
    """Served rows a challenger also answered (`serve --shadow`): compare what was answered
    with the shadow's answers, on labels when there are some, as that version's evidence."""
    if SHADOW_PREDICTION not in scored or scored[SHADOW_PREDICTION].isna().all():
        return
    rows = scored[scored[SHADOW_PREDICTION].notna()]
    target, task = w.contract().profile.target, w.contract().profile.task
    cfg = GateConfig.from_params(require(w.params, "gate")).shadow
    for (champion, challenger), part in rows.groupby([VERSION, SHADOW_VERSION]):
        label = {target: part[target].to_numpy()} if target in part else {}
        served = pd.DataFrame({PREDICTION: part[SERVED].to_numpy(), **label})
        shadow = pd.DataFrame({PREDICTION: part[SHADOW_PREDICTION].to_numpy()})
        record = {"champion_version": str(champion), "challenger_version": str(challenger),
                  "batch": f"served batch {name} ({w.inbox.name}/)",
                  **compare(served, shadow, target, task, cfg), "at": now()}
        record_batch(w.model, str(challenger), f"watched-{name}", record)


def without_id(w: Watcher, df: pd.DataFrame) -> pd.DataFrame:
    """A delivery as data.source holds it: without the inference log's columns, and without
    its row id when data.source has none (or data.drop_columns drops it)."""
    drop = [c for c in (*LOG_COLUMNS, *([w.id_column] if w.id_column else [])) if c in df]
    return df.drop(columns=drop)


def folded_frame(w: Watcher, record: dict[str, Any]) -> pd.DataFrame:
    """The batch as delivered, labels joined, row id and inference log columns dropped: the
    rows a retrain folds in."""
    raw = read_files(w, record["files"])
    target = w.contract().profile.target
    keys = list(JOIN_KEYS) if REQUEST_ID in raw else [w.id_column] if w.id_column else []
    if record.get("labels") and keys:
        joined = pd.read_parquet(scored_path(w, record["name"]))[[*keys, target]]
        raw = raw.drop(columns=[target], errors="ignore").merge(joined, on=keys, how="inner")
    return without_id(w, raw)


def retrain(w: Watcher, record: dict[str, Any], following: list[str] | None) -> None:
    """Fold a `retrain` batch into the model data and start the experiment; the gate decides."""
    if w.cfg.retrain == "off":
        record["retrain"] = {"status": "off", "reason": "monitor.watch.retrain: off"}
        w.save()
        return
    if not record["labelled"]:
        record["retrain"] = {"status": "waiting for labels",
                             "reason": "the batch has no labels to train on; it is folded in "
                                       "when its labels arrive in the labels folder"}
        w.save()
        log.warning("batch %s: retrain waits for its labels", record["name"])
        return
    name = record["name"]
    experiments.deliver(w.root, name, folded_frame(w, record))
    w.ledger.delivered[name] = "model"
    current = None
    if following and all(w.ledger.files[f].get("labelled") for f in following):
        current = batch_name(following)
        experiments.deliver(w.root, current, without_id(w, read_files(w, following)))
    for stale, role in list(w.ledger.delivered.items()):
        if role == "current" and stale != current:
            experiments.withdraw(w.root, stale)
            del w.ledger.delivered[stale]
    if current is not None and w.ledger.delivered.get(current) != "model":
        w.ledger.delivered[current] = "current"
    drift = require(w.params, "drift")
    overrides = [*w.cfg.overrides,
                 *experiments.table_overrides(list(drift.get("retrain", {}).get("overrides")
                                                   or [])),
                 *experiments.split_overrides(current, w.cfg.holdout_share)]
    cmd = experiments.retrain_command("retrain", overrides, queue=w.cfg.retrain == "queue")
    record["retrain"] = {"status": "started", "command": experiments.shell_join(cmd),
                         "current": current or f"seeded share {w.cfg.holdout_share}",
                         "at": now()}
    w.save()
    try:
        experiments.start(cmd, w.root)
    except MlgateError as exc:
        record["retrain"].update(status="failed", reason=str(exc))
        w.save()
        log.error("batch %s: the retraining experiment failed: %s", name, exc)
        return
    record["retrain"].update(status="queued" if w.cfg.retrain == "queue" else "done",
                             **gate_outcome(w))
    w._contract = None  # the gate may have promoted a new champion
    w.save()


def gate_outcome(w: Watcher) -> dict[str, Any]:
    """What the experiment's gate decided (reports/gate.json in the workspace), if it ran."""
    if w.cfg.retrain == "queue":
        return {"reason": "queued: `dvc queue start` runs it; its register stage is the gate"}
    try:
        gate = read_json(w.root / paths.GATE)
    except (OSError, DataError, ValueError):
        return {}
    return {"gate": gate.get("decision"), "passed": gate.get("passed"),
            "registered_version": gate.get("registered_version"),
            "reasons": gate.get("reasons")}


def join_labels(w: Watcher, path: Path) -> None:
    """Join a late labels file (id + target) to the batches it belongs to; each gains its
    metric in the ledger and the monitoring workspace; a waiting retrain starts."""
    key = f"{w.cfg.labels}/{path.name}"
    digest = sha256(path)
    if key in w.ledger.files:
        if w.ledger.files[key].get("sha256") != digest:
            quarantine(w, path, f"{key} was already joined with other content; deliver new "
                                "labels under a new file name")
        return
    contract = w.contract()
    target, task = contract.profile.target, contract.profile.task
    try:
        labels = read_table(path)
    except DataError as exc:  # not a table: moved aside like a bad batch
        quarantine(w, path, str(exc))
        return
    if REQUEST_ID in labels:  # labels of served rows: by the X-Request-ID of the answer
        keys = list(JOIN_KEYS)
        if ROW not in labels:
            labels = labels.assign(**{ROW: 0})  # one row per request
    else:
        keys = [w.id_column] if w.id_column else []
    missing = [c for c in (*keys, target) if c not in labels]
    if not keys or missing:
        why = "the data profile declares no `data.id`" if not keys else \
            f"missing column(s) {missing}"
        quarantine(w, path, f"{key}: labels need the id column (or `{REQUEST_ID}` for served "
                            f"rows) and the target `{target}`: {why}")
        return
    labels = labels[[*keys, target]].drop_duplicates(keys, keep="last")
    matched = 0
    for record in w.ledger.batches:
        scored_file = scored_path(w, record["name"])
        if not scored_file.exists():
            continue
        scored = pd.read_parquet(scored_file)
        if not all(k in scored for k in keys):
            continue
        hit = scored[keys].merge(labels[keys].assign(_hit=True), on=keys, how="left")[
            "_hit"].notna().to_numpy()
        if not hit.any():
            continue
        matched += int(hit.sum())
        known = scored.get(target)
        merged = scored.drop(columns=[target], errors="ignore").merge(labels, on=keys,
                                                                      how="left")
        if known is not None:  # labels joined earlier stay
            merged[target] = merged[target].fillna(known)
        if pd.api.types.is_integer_dtype(labels[target]):  # unlabelled rows: keep 1, not 1.0
            merged[target] = merged[target].astype("Int64")
        write_parquet(scored_file, merged)
        record["metric"] = batch_metric(merged, target, task)
        record["labels"] = sorted({*record.get("labels", []), path.name})
        record["labelled"] = bool(merged[target].notna().all())
        set_metric(w.monitor, w.model, record["snapshot"], record["metric"], w.root)
        add_quality_snapshot(w.monitor, w.model, record, merged, target, task, w.root)
        keep_served_shadow(w, record["name"], merged)
        log.info("labels %s: %d rows of batch %s -> %s", path.name, int(hit.sum()),
                 record["name"], record["metric"])
    w.ledger.files[key] = {"status": "done", "sha256": digest, "rows": len(labels),
                           "matched": matched, "arrived": now()}
    w.save()
    if not matched:
        log.warning("labels %s: no id matches a checked batch", path.name)
    for record in w.ledger.batches:
        if (record.get("retrain") or {}).get("status") == "waiting for labels" \
                and record["labelled"]:
            retrain(w, record, None)


def scan(w: Watcher, resume: bool = False) -> list[dict[str, Any]]:
    """One pass over the inbox: admit new files, process ready batches, act; the new records."""
    if resume and w.ledger.stopped.pop(w.model, None) is not None:
        w.save()
        log.info("resumed the watcher for %s", w.model)
    stopped = w.ledger.stopped.get(w.model)
    if stopped:
        raise WatchStopped(f"the watcher is stopped for {w.model}: {stopped['reason']}. "
                           "Read its drift report, then `mlgate watch --resume`")
    for record in w.ledger.batches:  # a retrain interrupted before it started
        if (record.get("retrain") or {}).get("status") in ("pending", "started"):
            retrain(w, record, None)
    for path in candidates(w.inbox, time.time(), w.cfg.settle_s):
        admit(w, path)
    held = [(n, w.ledger.files[n]["rows"]) for n in w.ledger.held()]
    ready, waiting = groups(held, w.cfg.min_rows)
    done = []
    for i, files in enumerate(ready):
        try:
            record = process(w, files)
        except Exception as exc:  # e.g. predictions out of range: never half-processed
            if not is_user_error(exc):
                raise
            for name in files:
                quarantine(w, w.inbox / name, f"batch {batch_name(files)}: {exc}")
            continue
        done.append(record)
        if record["action"] == "investigate":
            raise WatchStopped(f"stopped for {w.model}: {w.ledger.stopped[w.model]['reason']}."
                               " Read its drift report (the dashboard, `mlgate drift "
                               "--current FILE --html report.html`), then "
                               "`mlgate watch --resume`")
        if record["action"] == "retrain":
            retrain(w, record, ready[i + 1] if i + 1 < len(ready) else None)
    for path in candidates(w.inbox / w.cfg.labels, time.time(), w.cfg.settle_s):
        join_labels(w, path)  # after the batches: labels may come with their batch
    if waiting:
        rows = sum(w.ledger.files[n]["rows"] for n in waiting)
        log.info("holding %d file(s), %d rows: a drift check needs monitor.watch.min_rows=%d",
                 len(waiting), rows, w.cfg.min_rows)
    return done


def watch(params: dict, inbox: Path | None = None, once: bool = False, resume: bool = False,
          root: Path | None = None) -> list[dict[str, Any]]:
    """Scan the inbox once, or every `monitor.watch.poll_s` seconds until interrupted."""
    w = open_watcher(params, inbox, root)
    done = scan(w, resume)
    while not once:
        time.sleep(w.cfg.poll_s)
        done += scan(w)
    return done
