"""`mlgate models list|promote|rollback|serve [--log [--shadow]]|dockerfile`: the registry."""

from __future__ import annotations

import argparse
import sys
from dataclasses import replace
from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any

from mlgate.adapters.locks import registry_lock
from mlgate.adapters.serving import run_in_foreground, start_logged_server, start_server
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


def shadow_verdict(cfg: GateConfig, version: str) -> tuple[bool | None, str]:
    """What the shadow evidence of `version` says about promoting it over the champion:
    (True: within gate.shadow, False: worse than it allows, None: no labelled traffic), text."""
    from mlgate.adapters.registry import current_version  # lazy: heavy
    from mlgate.adapters.shadow import batch_records  # lazy: heavy
    from mlgate.core.shadow import evidence, judge

    champion = current_version(cfg.model_name, cfg.alias)
    if champion is None:
        return True, "no champion yet: nothing to have been compared with in the shadow"
    if str(champion.version) == str(version):
        return True, f"v{version} is already @{cfg.alias}"
    summary = evidence(batch_records(cfg.model_name, version), str(champion.version),
                       cfg.shadow.metric)
    ok, why = judge(summary, cfg.shadow)
    agreement = "-" if summary["agreement"] is None else f"{summary['agreement']:.1%}"
    lines = [f"shadow evidence of v{version} against champion v{champion.version}: "
             f"{summary['batches']} batch(es), {summary['rows']} rows, agreement {agreement}",
             why]
    if summary["other_champions"]:
        lines.append(f"({summary['other_champions']} batch(es) scored against other "
                     "champions are not counted)")
    return ok, "\n".join(lines)


def cmd_promote(args: argparse.Namespace) -> None:
    """Move the champion alias to VERSION (recorded in the history) after printing its shadow
    evidence; refuse, unless --force, a version that did not pass validation, that did worse
    than the champion on labelled shadow traffic, or that has no labelled traffic yet."""
    from mlgate.adapters.registry import get_version, set_champion  # lazy: heavy

    cfg, _ = context(args)
    with registry_lock():
        mv = get_version(cfg.model_name, args.version)
        status = mv.tags.get("validation_status", "unknown")
        if status != "passed" and not args.force:
            raise MlgateError(f"version {mv.version} of {cfg.model_name!r} has validation_status "
                              f"{status!r}; use --force to promote it anyway")
        ok, said = shadow_verdict(cfg, str(mv.version))
        sys.stdout.write(said + "\n")
        if ok is not True and not args.force:
            why = ("it did worse than the champion on labelled shadow traffic"
                   if ok is False else "there is no labelled shadow traffic to judge it on")
            raise MlgateError(f"not promoting {cfg.model_name} v{mv.version}: {why} "
                              "(gate.shadow); use --force to promote it anyway")
        set_champion(cfg.model_name, str(mv.version), cfg.alias, cfg.challenger_alias)
    sys.stdout.write(f"{cfg.model_name} v{mv.version} is now @{cfg.alias}"
                     f"{' (--force)' if args.force and ok is not True else ''}\n")


def cmd_rollback(args: argparse.Namespace) -> None:
    """Move the champion alias back to the previous champion."""
    from mlgate.adapters.registry import rollback  # lazy: heavy

    cfg, _ = context(args)
    with registry_lock():
        old, new = rollback(cfg.model_name, cfg.alias)
    sys.stdout.write(f"{cfg.model_name} @{cfg.alias}: v{old} -> v{new}\n")


def cmd_serve(args: argparse.Namespace) -> None:
    """Serve models:/NAME@ALIAS on 127.0.0.1 until interrupted (SIGINT or SIGTERM)."""
    from mlgate.adapters.registry import current_version, require_alias  # lazy: heavy
    from mlgate.core.inference_log import InferenceLogConfig

    cfg, uri = context(args)
    alias = args.alias or cfg.alias
    mv = require_alias(cfg.model_name, alias)
    if args.shadow and not args.log:
        raise MlgateError("--shadow scores the logged rows with the challenger: add --log")
    if not args.log:
        run_in_foreground(lambda: start_server(f"models:/{cfg.model_name}@{alias}", uri,
                                               args.port, workers=args.workers),
                          lambda server: f"serving {cfg.model_name} v{mv.version} (@{alias}) at "
                                         f"{server.url}/invocations (pid {server.pid})")
        return
    root = repo_root()
    log_cfg = InferenceLogConfig.from_params(require(load_params(root / PARAMS_FILE),
                                                     "monitor.inference_log"))
    folder = Path(log_cfg.folder) if Path(log_cfg.folder).is_absolute() \
        else root / log_cfg.folder
    shadow = None
    if args.shadow:
        challenger = current_version(cfg.model_name, cfg.challenger_alias)
        if challenger is None or str(challenger.version) == str(mv.version):
            raise MlgateError(f"--shadow: registered model {cfg.model_name!r} has no "
                              f"@{cfg.challenger_alias} other than the served v{mv.version}")
        shadow = (f"models:/{cfg.model_name}/{challenger.version}", str(challenger.version))
    # the version number, not the alias: what is logged as served is what answers
    run_in_foreground(
        lambda: start_logged_server(f"models:/{cfg.model_name}/{mv.version}", str(mv.version),
                                    uri, folder, log_cfg, shadow, args.port,
                                    workers=args.workers),
        lambda server: f"serving {cfg.model_name} v{mv.version} (@{alias}) at "
                       f"{server.url}/invocations (pid {server.pid}), logging to {folder}"
                       + (f", shadow v{shadow[1]}" if shadow else ""))


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
                           help="promote even without passing validation or the shadow "
                                "evidence (gate.shadow)")
        if name == "serve":
            p.add_argument("--alias", help="alias to serve (default: gate.alias)")
            p.add_argument("--port", type=int, help="port on 127.0.0.1 (default: a free one)")
            p.add_argument("--workers", type=int, default=1,
                           help="uvicorn worker processes (default 1, as mlflow models serve)")
            p.add_argument("--log", action="store_true",
                           help="keep every answered request in the inference log "
                                "(monitor.inference_log: Parquet files `mlgate watch` checks)")
            p.add_argument("--shadow", action="store_true",
                           help="with --log: the challenger scores the logged rows on the side")
        if name == "dockerfile":
            p.add_argument("--out", metavar="DIR",
                           help="directory to write (default: build/docker in the repository)")
            p.add_argument("--force", action="store_true", help="replace DIR if it is not empty")
