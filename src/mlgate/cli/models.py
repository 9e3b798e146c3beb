"""`mlgate models list|promote|rollback|serve|dockerfile`: the registry from the command line."""

from __future__ import annotations

import argparse
import sys
from dataclasses import replace
from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any

from mlgate.adapters.locks import registry_lock
from mlgate.adapters.serving import run_in_foreground, start_server
from mlgate.base.errors import MlgateError
from mlgate.base.params import PARAMS_FILE, load_params, repo_root, require

if TYPE_CHECKING:
    from mlgate.core.gate import GateConfig  # lazy: heavy


def context(args: argparse.Namespace) -> tuple[GateConfig, str]:
    """The gate config (model name overridable with --model) and the tracking URI, set."""
    from mlgate.adapters.tracking import connect, tracking_uri  # lazy: heavy
    from mlgate.core.gate import GateConfig  # lazy: heavy

    root = repo_root()
    params = load_params(root / PARAMS_FILE)
    cfg = GateConfig.from_params(require(params, "gate"))
    uri = connect(tracking_uri(require(params, "tracking"), root), root)
    return replace(cfg, model_name=args.model or cfg.model_name), uri


def _number(text: str | None) -> str:
    """A metric tag value rounded for the table ('-' when absent)."""
    try:
        return f"{float(text):.4f}" if text is not None else "-"
    except ValueError:
        return str(text)


def version_rows(versions: list[Any], aliases: dict[str, str], metrics: list[str]
                 ) -> list[list[str]]:
    """One table row per version: number, aliases, status, key metrics, run, creation time."""
    by_version: dict[str, list[str]] = {}
    for alias, version in sorted(aliases.items()):
        by_version.setdefault(str(version), []).append(alias)
    rows = []
    for v in versions:
        created = datetime.fromtimestamp(v.creation_timestamp / 1000, UTC)
        rows.append([str(v.version), ",".join(by_version.get(str(v.version), [])) or "-",
                     v.tags.get("validation_status", "unknown"),
                     *[_number(v.tags.get(f"metric.{m}")) for m in metrics],
                     (v.run_id or "-")[:12], created.strftime("%Y-%m-%d %H:%M")])
    return rows


def format_table(header: list[str], rows: list[list[str]]) -> str:
    """Left-aligned columns separated by two spaces."""
    widths = [max(len(r[i]) for r in [header, *rows]) for i in range(len(header))]
    return "\n".join("  ".join(c.ljust(w) for c, w in zip(r, widths, strict=True)).rstrip()
                     for r in [header, *rows])


def cmd_list(args: argparse.Namespace) -> None:
    """Print every version with its aliases, validation status and key metrics."""
    from mlgate.adapters.registry import get_model, history, list_versions  # lazy: heavy

    cfg, uri = context(args)
    model, versions = get_model(cfg.model_name), list_versions(cfg.model_name)
    metrics = cfg.key_metrics
    header = ["version", "aliases", "status", *metrics, "run", "created (UTC)"]
    past = history(cfg.model_name, cfg.alias)
    sys.stdout.write(f"{cfg.model_name}  ({len(versions)} versions, store {uri})\n"
                     f"{format_table(header, version_rows(versions, model.aliases, metrics))}\n"
                     f"{cfg.alias} history: {' -> '.join(past) if past else '-'}\n")


def cmd_promote(args: argparse.Namespace) -> None:
    """Move the champion alias to VERSION (recorded in the history)."""
    from mlgate.adapters.registry import get_version, set_champion  # lazy: heavy

    cfg, _ = context(args)
    with registry_lock():
        mv = get_version(cfg.model_name, args.version)
        status = mv.tags.get("validation_status", "unknown")
        if status != "passed" and not args.force:
            raise MlgateError(f"version {mv.version} of {cfg.model_name!r} has validation_status "
                              f"{status!r}; use --force to promote it anyway")
        set_champion(cfg.model_name, str(mv.version), cfg.alias, cfg.challenger_alias)
    sys.stdout.write(f"{cfg.model_name} v{mv.version} is now @{cfg.alias}\n")


def cmd_rollback(args: argparse.Namespace) -> None:
    """Move the champion alias back to the previous champion."""
    from mlgate.adapters.registry import rollback  # lazy: heavy

    cfg, _ = context(args)
    with registry_lock():
        old, new = rollback(cfg.model_name, cfg.alias)
    sys.stdout.write(f"{cfg.model_name} @{cfg.alias}: v{old} -> v{new}\n")


def cmd_serve(args: argparse.Namespace) -> None:
    """Serve models:/NAME@ALIAS on 127.0.0.1 until interrupted."""
    from mlgate.adapters.registry import require_alias  # lazy: heavy

    cfg, uri = context(args)
    alias = args.alias or cfg.alias
    mv = require_alias(cfg.model_name, alias)
    run_in_foreground(lambda: start_server(f"models:/{cfg.model_name}@{alias}", uri, args.port),
                      lambda server: f"serving {cfg.model_name} v{mv.version} (@{alias}) at "
                                     f"{server.url}/invocations (pid {server.pid})")


def cmd_dockerfile(args: argparse.Namespace) -> None:
    """Write a Docker build context for the champion with MLflow's generator."""
    from mlgate.adapters.container import (  # lazy: heavy
        DEFAULT_DIR,
        check_target,
        image_name,
        instructions,
        write_context,
    )
    from mlgate.adapters.registry import require_alias  # lazy: heavy

    out = Path(args.out).absolute() if args.out else repo_root() / DEFAULT_DIR
    check_target(out, args.force)
    cfg, _ = context(args)
    mv = require_alias(cfg.model_name, cfg.alias)
    sys.stdout.write(f"{cfg.model_name} @{cfg.alias} is v{mv.version}\n")
    ctx = write_context(f"models:/{cfg.model_name}/{mv.version}", out, args.force)
    sys.stdout.write(instructions(ctx, image_name(cfg.model_name, str(mv.version))))


def register_models(sub: Any) -> None:
    """Add `models` and its sub-commands to the `mlgate` sub-parsers."""
    models = sub.add_parser("models", help="the model registry: list, promote, rollback, serve, "
                                            "dockerfile")
    ops = models.add_subparsers(dest="models_command", required=True)
    commands = [
        ("list", cmd_list, "versions, aliases, key metrics and validation status"),
        ("promote", cmd_promote, "make VERSION the champion (kept in the history)"),
        ("rollback", cmd_rollback, "champion back to the previous champion"),
        ("serve", cmd_serve, "serve the champion with `mlflow models serve` on 127.0.0.1"),
        ("dockerfile", cmd_dockerfile, "write a Docker build context for the champion "
                                       "(`mlflow models generate-dockerfile`)"),
    ]
    for name, func, text in commands:
        p = ops.add_parser(name, help=text)
        p.add_argument("--model", help="registered model name (default: gate.model_name)")
        p.set_defaults(func=func)
        if name == "promote":
            p.add_argument("version", help="the version number to promote")
            p.add_argument("--force", action="store_true",
                           help="promote even if the version did not pass validation")
        if name == "serve":
            p.add_argument("--alias", help="alias to serve (default: gate.alias)")
            p.add_argument("--port", type=int, help="port on 127.0.0.1 (default: a free one)")
        if name == "dockerfile":
            p.add_argument("--out", metavar="DIR",
                           help="directory to write (default: build/docker in the repository)")
            p.add_argument("--force", action="store_true", help="replace DIR if it is not empty")
