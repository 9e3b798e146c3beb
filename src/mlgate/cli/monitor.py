"""`mlgate monitor history` and `mlgate monitor ui`: the monitoring workspace over time."""

from __future__ import annotations

import argparse
import signal
import sys
from pathlib import Path
from typing import Any

from mlgate.base.params import load_params, repo_root, require


def context(args: argparse.Namespace) -> tuple[Any, str]:
    """(MonitorConfig, registered model name) from params.yaml and --model."""
    from mlgate.adapters.monitoring import MonitorConfig  # lazy: pandas

    params = load_params(repo_root() / "params.yaml")
    cfg = MonitorConfig.from_params(require(params, "monitor"))
    return cfg, getattr(args, "model", None) or require(params, "gate.model_name")


def cmd_history(args: argparse.Namespace) -> None:
    """Print the table the dashboard plots, one row per checked batch, oldest first."""
    from mlgate.adapters.monitoring import history  # lazy: Evidently

    cfg, model = context(args)
    table = history(cfg, model, experiments=args.experiments)
    if args.json:
        sys.stdout.write(table.to_json(orient="records", indent=2) + "\n")
    elif table.empty:
        sys.stdout.write(f"no snapshot of {model} in {cfg.path()} yet: the drift stage, "
                         "`mlgate drift --current FILE` and `mlgate watch` add them\n")
    else:
        columns = [c for c in table.columns if c != "experiment" or args.experiments]
        sys.stdout.write(table[columns].to_string(index=False) + "\n")


def cmd_ui(args: argparse.Namespace) -> None:
    """Serve Evidently's UI on the workspace (127.0.0.1) until interrupted."""
    from mlgate.adapters.monitoring import open_workspace  # lazy: Evidently
    from mlgate.adapters.serving import (  # lazy: heavy
        run_in_foreground,
        start_monitor_ui,
    )

    cfg, _ = context(args)
    open_workspace(cfg)  # the folder exists before the UI watches it
    run_in_foreground(lambda: start_monitor_ui(cfg.path(), args.port or cfg.ui_port),
                      lambda server: f"monitoring dashboard at {server.url} (pid {server.pid}, "
                                     f"workspace {cfg.path()})")


def batch_line(record: dict[str, Any]) -> str:
    """One processed batch, as `mlgate watch` prints it."""
    line = (f"{record['name']}: {record['rows']} rows, model version {record['model_version']}, "
            f"{record['verdict']} -> {record['action']}")
    retrain = record.get("retrain") or {}
    if retrain:
        line += f"; retrain {retrain['status']}"
        if retrain.get("gate"):
            line += f" (gate: {retrain['gate']}, version {retrain.get('registered_version')})"
        if retrain.get("reason") and not retrain.get("gate"):
            line += f": {retrain['reason']}"
    return line


def cmd_watch(args: argparse.Namespace) -> None:
    """Process every new file in the inbox exactly once (once, or until interrupted)."""

    from mlgate.pipeline.watch import watch  # lazy: Evidently, MLflow

    def stop(signum: int, frame: Any) -> None:  # SIGTERM ends the loop like Ctrl-C
        raise KeyboardInterrupt

    signal.signal(signal.SIGTERM, stop)
    params = load_params(repo_root() / "params.yaml")
    try:
        done = watch(params, args.inbox.resolve() if args.inbox else None, once=args.once,
                     resume=args.resume)
    except KeyboardInterrupt:
        sys.stdout.write("watch stopped\n")
        return
    for record in done:
        sys.stdout.write(batch_line(record) + "\n")
    if not done:
        sys.stdout.write("no new batch ready\n")


def register_monitor(sub: Any) -> None:
    """Add `monitor` and its sub-commands to the `mlgate` sub-parsers."""
    monitor = sub.add_parser("monitor", help="drift batch after batch: history, dashboard")
    ops = monitor.add_subparsers(dest="monitor_command", required=True)
    hist = ops.add_parser("history", help="one row per checked batch (what the dashboard plots)")
    hist.add_argument("--model", help="registered model name (default: gate.model_name)")
    hist.add_argument("--experiments", action="store_true",
                      help="also the snapshots of `dvc exp run` experiments")
    hist.add_argument("--json", action="store_true", help="print JSON records")
    hist.set_defaults(func=cmd_history)
    ui = ops.add_parser("ui", help="Evidently's UI on 127.0.0.1 until Ctrl-C")
    ui.add_argument("--port", type=int, help="port (default: monitor.ui_port)")
    ui.set_defaults(func=cmd_ui)
    w = sub.add_parser("watch", help="check, score, drift-check and act on every new file in an "
                                     "inbox, exactly once")
    w.add_argument("inbox", nargs="?", type=Path, help="folder (default: monitor.watch.inbox)")
    w.add_argument("--once", action="store_true", help="one pass, then exit (cron, CI)")
    w.add_argument("--resume", action="store_true",
                   help="go on after an `investigate` stop, once the shift is understood")
    w.set_defaults(func=cmd_watch)
