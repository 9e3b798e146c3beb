"""`mlgate report`: the Markdown report of the last run that a CI job posts on a pull request
(docs/ci.md). The metrics table is DVC's own `dvc metrics diff --md REV`, run here."""

from __future__ import annotations

import argparse
import logging
import shutil
import subprocess
import sys
from pathlib import Path
from typing import Any

from mlgate.base.errors import MlgateError
from mlgate.base.files import write_text_atomic
from mlgate.base.params import repo_root
from mlgate.pipeline.report import gather, render

log = logging.getLogger("mlgate")


def dvc_binary() -> str:
    """The venv's dvc (beside this interpreter), else the one on PATH."""
    local = Path(sys.executable).parent / "dvc"
    found = str(local) if local.exists() else shutil.which("dvc")
    if not found:
        raise MlgateError(f"dvc not found (neither {local} nor on PATH): run `make setup`")
    return found


def metrics_diff(root: Path, rev: str) -> str:
    """`dvc metrics diff --md REV` in the repository: its Markdown table; MlgateError naming
    the revision when DVC fails (an unknown revision, a shallow clone)."""
    cmd = [dvc_binary(), "metrics", "diff", "--md", rev]
    done = subprocess.run(cmd, cwd=root, capture_output=True, text=True, check=False)
    if done.returncode:
        why = " | ".join((done.stderr or done.stdout).strip().splitlines()[-3:])
        raise MlgateError(f"`dvc metrics diff --md {rev}` failed (exit {done.returncode}) for "
                          f"revision `{rev}`: {why} (is `{rev}` a git revision of this "
                          "repository? In CI, check out with fetch-depth: 0)")
    return done.stdout


def cmd_report(args: argparse.Namespace) -> None:
    """Render the report; print it, or write it atomically to --output."""
    root = repo_root()
    inputs = gather(root)  # first: a missing report is the likelier mistake, and cheap
    text = render(inputs, metrics_diff(root, args.against), args.against)
    if args.output is None:
        sys.stdout.write(text)
        return
    write_text_atomic(args.output, text)
    log.info("wrote %s (gate: %s)", args.output, inputs.gate["decision"])


def register_report(sub: Any) -> None:
    """Add the `report` sub-command to the `mlgate` parser."""
    r = sub.add_parser("report", help="Markdown report of the last run for a pull request: "
                                      "gate checks, dvc metrics diff, drift, figures")
    r.add_argument("--against", default="HEAD", metavar="REV",
                   help="git revision for `dvc metrics diff` (default: %(default)s; "
                        "in a PR job: origin/main)")
    r.add_argument("--output", type=Path, metavar="FILE",
                   help="write the report to FILE (atomically) instead of stdout")
    r.set_defaults(func=cmd_report)
