"""The short human summary printed at the end of `make run`."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from mlgate.base import paths
from mlgate.base.errors import DataError


def load_report(root: Path, path: Path) -> dict[str, Any] | None:
    """Read one report, or None when the stage has not produced it; DataError naming the file
    when it is not JSON."""
    file = root / path
    if not file.exists():
        return None
    try:
        return json.loads(file.read_text(encoding="utf-8"))
    except (json.JSONDecodeError, UnicodeDecodeError) as exc:
        raise DataError(f"{path}: not a valid report ({exc}); run the pipeline again "
                        "(`dvc repro`)") from exc


def gate_line(gate: dict[str, Any] | None) -> str:
    """One line for the gate decision (champion, challenger, rejected, smoke_failed)."""
    if gate is None:
        return "gate:     not run"
    name, version, decision = gate["model_name"], gate["registered_version"], gate["decision"]
    if decision in ("champion", "challenger"):
        line = f"gate:     PASSED -> {name} v{version} is @{gate['alias']}"
    elif decision == "smoke_failed":
        line = (f"gate:     SMOKE TEST FAILED -> {name} v{version} registered without alias: "
                + "; ".join(gate["reasons"]))
    else:
        line = "gate:     REJECTED (registry unchanged): " + "; ".join(gate["reasons"])
    return line + unchecked_note(gate.get("unchecked"))


def unchecked_note(unchecked: dict[str, Any] | None) -> str:
    """' (N checks unchecked: a, b, ...)' when some declared checks could not be made."""
    if not unchecked or not unchecked.get("count"):
        return ""
    names = [c["name"] for c in unchecked["checks"]]
    shown = ", ".join(names[:4]) + (f", +{len(names) - 4} more" if len(names) > 4 else "")
    return f" ({unchecked['count']} check(s) unchecked: {shown}; see reports/gate.json)"


def drift_line(drift: dict[str, Any] | None) -> str:
    """One line for the drift verdict."""
    if drift is None:
        return "drift:    not run"
    cols = drifted_columns(drift)
    action = f", action: {drift['action']}" if "action" in drift else ""
    return (f"drift:    {drift['verdict']}{action} ({drift['n_drifted']}/{drift['n_columns']} "
            f"columns drifted{': ' + ', '.join(cols[:8]) if cols else ''})")


def drifted_columns(drift: dict[str, Any]) -> list[str]:
    """The feature columns whose drift test fired, in the report's order."""
    return [c for c, v in drift["columns"].items() if v["drifted"]]


def summary(root: Path) -> str:
    """Best model and test metric, gate decision, drift verdict, where reports are, the UI."""
    train, metrics = load_report(root, paths.TRAIN_REPORT), load_report(root, paths.METRICS)
    best = train["best_model"] if train else "not trained"
    return "\n".join([
        "mlgate run summary",
        f"model:    {best} ({metric_line(metrics)})",
        gate_line(load_report(root, paths.GATE)),
        drift_line(load_report(root, paths.DRIFT_JSON)),
        f"reports:  {root / 'reports'} (drift report: {root / paths.DRIFT_HTML})",
        "MLflow:   make ui  ->  http://127.0.0.1:5000",
    ])


def metric_line(metrics: dict[str, Any] | None) -> str:
    """The headline test metrics of either task."""
    if metrics is None:
        return "not evaluated"
    if "roc_auc" in metrics:
        return f"test ROC AUC {metrics['roc_auc']:.4f}, F1 {metrics['f1']:.4f}"
    return f"test RMSE {metrics['rmse']:.4f}, R2 {metrics['r2']:.4f}"
