"""The `mlgate` command line: compose params, print the run summary."""

from __future__ import annotations

import argparse
import logging
import sys

from mlgate.adapters.compose import compose_to
from mlgate.base.errors import is_user_error
from mlgate.base.params import load_params, repo_root
from mlgate.cli.data import register_data
from mlgate.cli.models import register_models
from mlgate.cli.monitor import register_monitor
from mlgate.cli.remote import register_remote
from mlgate.cli.report import register_report
from mlgate.cli.scoring import register_scoring
from mlgate.cli.server import register_server
from mlgate.pipeline.stage import setup_logging
from mlgate.pipeline.summary import summary

log = logging.getLogger("mlgate")


def cmd_params(args: argparse.Namespace) -> None:
    """Compose conf/ (with overrides) into params.yaml."""

    root = repo_root()
    compose_to(root / "params.yaml", root, args.overrides)
    log.info("wrote %s from %s", root / "params.yaml", root / "conf")


def cmd_summary(args: argparse.Namespace) -> None:
    """Print the human summary of the last run."""

    sys.stdout.write(summary(repo_root()) + "\n")


def cmd_init_store(args: argparse.Namespace) -> None:
    """Create and migrate the MLflow store and experiment once, before any parallel work."""
    from mlgate.adapters.tracking import configure, tracking_uri  # lazy: heavy

    cfg = load_params(repo_root() / "params.yaml")["tracking"]
    experiment_id = configure(cfg)
    log.info("MLflow store %s ready (experiment %s)", tracking_uri(cfg), experiment_id)


def build_parser() -> argparse.ArgumentParser:
    """The argument parser with its sub-commands."""
    parser = argparse.ArgumentParser(prog="mlgate", description=__doc__)
    sub = parser.add_subparsers(dest="command", required=True)
    p = sub.add_parser("params", help="compose conf/ into params.yaml (as `dvc exp run` does)")
    p.add_argument("overrides", nargs="*", help="Hydra overrides, e.g. train=fast")
    p.set_defaults(func=cmd_params)
    s = sub.add_parser("summary", help="print the summary of the last pipeline run")
    s.set_defaults(func=cmd_summary)
    i = sub.add_parser("init-store", help="create/migrate the MLflow store before parallel runs")
    i.set_defaults(func=cmd_init_store)
    register_data(sub)
    register_models(sub)
    register_scoring(sub)
    register_remote(sub)
    register_server(sub)
    register_monitor(sub)
    register_report(sub)
    return parser


def main(argv: list[str] | None = None) -> None:
    """Entry point of the `mlgate` script."""
    setup_logging()
    args = build_parser().parse_args(argv)
    try:
        args.func(args)
    except Exception as exc:
        if not is_user_error(exc):
            raise
        log.error("%s", exc)
        sys.exit(1)


if __name__ == "__main__":
    main()
