"""Retraining experiments: the `dvc exp run` a drift action starts, and delivered batches folded
into the model data as DVC-tracked files (used by `mlgate retrain` and `mlgate watch`)."""

from __future__ import annotations

import logging
import shlex
import shutil
import subprocess
import sys
from pathlib import Path

import pandas as pd

from mlgate.base import paths
from mlgate.base.errors import MlgateError
from mlgate.base.io import write_parquet
from mlgate.base.names import BATCH_COLUMN

log = logging.getLogger(__name__)

# `split.current` / `split.current_share` overrides are the watcher's to set: it names the
# batch the retrain holds out. The table's other retrain overrides (e.g. train=fast) still apply.
SPLIT_KEYS = ("split.current", "split.current_share")


def retrain_command(action: str, overrides: list[str], force: bool = False,
                    queue: bool = False) -> list[str]:
    """The `dvc exp run` command for a drift action; MlgateError when it must not retrain."""
    if action == "investigate" and not force:
        raise MlgateError("drift action is `investigate`: the shift is too large for an "
                          "automatic retrain; read reports/drift.html (or pass --force)")
    if action not in ("retrain", "investigate") and not force:
        raise MlgateError(f"drift action is `{action}`: nothing to retrain (pass --force to "
                          "retrain anyway)")
    if not overrides:
        raise MlgateError("`drift.retrain.overrides` is empty: say how the current batch is "
                          "folded into the model data, e.g. split.current='year >= 5'")
    sets = [arg for o in overrides for arg in ("-S", o)]
    return ["dvc", "exp", "run", *sets, *(["--queue"] if queue else [])]


def shell_join(cmd: list[str]) -> str:
    """The command as a user would type it: double quotes where shlex would nest singles."""
    def quote(arg: str) -> str:
        if shlex.quote(arg) == arg or any(ch in arg for ch in '"$`\\'):
            return shlex.quote(arg)
        return f'"{arg}"'

    return " ".join(quote(a) for a in cmd)


def split_overrides(current_batch: str | None, holdout_share: float) -> list[str]:
    """How the retrain picks its current batch: the named delivered batch, else a seeded share."""
    if current_batch is not None:
        return [f"split.current=\"{batch_rule(current_batch)}\"",
                "split.current_share=null"]
    return ["split.current=null", f"split.current_share={holdout_share}"]


def batch_rule(batch: str) -> str:
    """The pandas expression selecting one delivered batch's rows."""
    return f"{BATCH_COLUMN} == '{batch}'"


def table_overrides(overrides: list[str]) -> list[str]:
    """The table's `drift.retrain.overrides` without those naming the current batch."""
    return [o for o in overrides if o.split("=", 1)[0].lstrip("+~") not in SPLIT_KEYS]


def _tool(name: str) -> str:
    """The venv's own `dvc`/`git` when it has one (the console script's PATH may lack it)."""
    local = Path(sys.executable).with_name(name)
    return str(local) if local.exists() else (shutil.which(name) or name)


def run_tool(cmd: list[str], root: Path) -> None:
    """Run `dvc ...`/`git ...` in the repository; MlgateError with its output when it fails."""
    done = subprocess.run([_tool(cmd[0]), *cmd[1:]], cwd=root, capture_output=True, text=True,
                          check=False)
    if done.returncode:
        tail = (done.stderr or done.stdout).strip().splitlines()[-5:]
        raise MlgateError(f"`{shell_join(cmd)}` exited {done.returncode}: " + " | ".join(tail))


def deliver(root: Path, name: str, batch: pd.DataFrame) -> Path:
    """Write a batch into data/delivered/ as `<name>.parquet`, DVC-track it and stage its
    .dvc file in git (queued experiments see only what git knows); idempotent."""
    path = root / paths.DELIVERED / f"{name}.parquet"
    write_parquet(path, batch)
    rel = path.relative_to(root)
    run_tool(["dvc", "add", "--quiet", str(rel)], root)
    run_tool(["git", "add", f"{rel}.dvc", str(rel.parent / ".gitignore")], root)
    log.info("delivered batch %s -> %s (DVC-tracked, staged)", name, rel)
    return path


def withdraw(root: Path, name: str) -> None:
    """Remove a delivered batch (its file, .dvc file and git entry); nothing if absent."""
    rel = paths.DELIVERED / f"{name}.parquet"
    if (root / f"{rel}.dvc").exists():
        run_tool(["dvc", "remove", "--quiet", f"{rel}.dvc"], root)
        run_tool(["git", "add", "-A", str(paths.DELIVERED)], root)
    (root / rel).unlink(missing_ok=True)


def start(cmd: list[str], root: Path) -> None:
    """Run the experiment command, its output on stderr (stdout stays the caller's report);
    MlgateError when it fails."""
    log.info("starting: %s", shell_join(cmd))
    code = subprocess.run([_tool(cmd[0]), *cmd[1:]], cwd=root, check=False,
                          stdout=sys.stderr).returncode
    if code:
        raise MlgateError(f"`{shell_join(cmd)}` exited {code}")
