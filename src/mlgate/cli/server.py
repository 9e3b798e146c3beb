"""`mlgate server start|stop|status`: the shared tracking server (PostgreSQL + MLflow)."""

from __future__ import annotations

import argparse
import json
import sys
from typing import Any

from mlgate.base.params import repo_root


def _config(args: argparse.Namespace) -> Any:
    """The server settings of conf/tracking/<option>.yaml, composed like `-S tracking=...`."""
    from mlgate.admin.server import load_config  # lazy: mlgate server only

    return load_config(repo_root(), args.tracking)


def describe(info: dict[str, Any]) -> str:
    """The human lines of a status: URI, health, pids, artifacts, auth."""
    mlflow_pid, pg_pid = info.get("mlflow_pid"), info.get("postgres_pid")
    state = "up" if info["healthy"] else "DOWN"
    return (f"tracking server: {info['uri']} ({state})\n"
            f"mlflow server:   {f'pid {mlflow_pid}' if mlflow_pid else 'not running'}\n"
            f"postgresql:      {f'pid {pg_pid}' if pg_pid else 'not running'} "
            f"(127.0.0.1:{info['postgres_port']})\n"
            f"artifacts:       {info['artifacts_dir']} (proxied: mlflow-artifacts:/)\n"
            f"auth:            {'basic-auth, credentials in .env' if info['auth'] else 'off'}\n"
            f"log:             {info['log']}\n")


def cmd_start(args: argparse.Namespace) -> None:
    """Start PostgreSQL and the MLflow server; print where it runs."""
    from mlgate.admin.server import start  # lazy: mlgate server only

    info = start(_config(args), repo_root())
    sys.stdout.write(describe(info) + "use it: dvc exp run -S tracking=server\n")


def cmd_stop(args: argparse.Namespace) -> None:
    """Stop the MLflow server and PostgreSQL by pid."""
    from mlgate.admin.server import stop  # lazy: mlgate server only

    stopped = stop(_config(args))
    sys.stdout.write(("stopped " + ", ".join(stopped) if stopped else "nothing was running")
                     + "\n")


def cmd_status(args: argparse.Namespace) -> None:
    """Print the server's status (exit 1 when it does not answer)."""
    from mlgate.admin.server import status  # lazy: mlgate server only

    info = status(_config(args))
    sys.stdout.write(json.dumps(info, indent=2) + "\n" if args.json else describe(info))
    if not info["healthy"]:
        sys.exit(1)


def register_server(sub: Any) -> None:
    """Add `mlgate server start|stop|status` to the `mlgate` parser."""
    p = sub.add_parser("server", help="the shared tracking server: PostgreSQL + MLflow with "
                                      "proxied artifacts on 127.0.0.1")
    actions = p.add_subparsers(dest="action", required=True)
    for name, func, text in (("start", cmd_start, "start it (installs PostgreSQL if missing)"),
                             ("stop", cmd_stop, "stop it by pid"),
                             ("status", cmd_status, "is it up? (exit 1 when not)")):
        a = actions.add_parser(name, help=text)
        a.add_argument("--tracking", default="server",
                       help="the conf/tracking/ option holding the server settings")
        if name == "status":
            a.add_argument("--json", action="store_true", help="print the status as JSON")
        a.set_defaults(func=func)
