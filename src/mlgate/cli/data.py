"""`mlgate data add FILE --target COLUMN`: onboard a table with one generated data profile."""

from __future__ import annotations

import argparse
import logging
import re
import shlex
import sys
import time
from pathlib import Path
from typing import Any

from mlgate.adapters.compose import compose
from mlgate.base.errors import ConfigError, DataError, MlgateError
from mlgate.base.io import read_table, write_atomic
from mlgate.base.params import repo_root
from mlgate.core.onboard import SAMPLE_ROWS, Profile, infer_profile
from mlgate.core.profile_file import render

log = logging.getLogger("mlgate")
NAME = re.compile(r"^[a-z][a-z0-9_]*$")


def profile_name(path: Path, name: str | None) -> str:
    """--name, else the file's stem in lower case with non-alphanumerics as `_`."""
    chosen = name or re.sub(r"[^a-z0-9_]+", "_", path.stem.lower()).strip("_")
    if not NAME.match(chosen) or chosen == "by_task":
        raise ConfigError(f"--name {chosen!r}: use lower-case letters, digits and `_`, starting "
                          "with a letter (it names conf/data/<name>.yaml)")
    return chosen


def source_path(path: Path, root: Path) -> str:
    """The table's path relative to the repository root (what data.source holds)."""
    full = path.resolve()
    if not full.exists():
        raise DataError(f"{path}: file not found")
    try:
        return full.relative_to(root).as_posix()
    except ValueError:
        raise DataError(f"{path}: outside the repository {root}; put it under data/external/ "
                        "(DVC tracks that folder) and run the command again") from None


def policy_slice_min_rows(root: Path) -> int:
    """gate.slice_min_rows of the gate policy the new profile will run under."""

    return int(compose(root)["gate"]["slice_min_rows"])


def check_composes(root: Path, name: str) -> None:
    """Compose the new profile into stage configs exactly as `dvc exp run -S data=...` does."""
    from mlgate.core.drift import DriftConfig  # lazy: Evidently
    from mlgate.core.gate import GateConfig  # lazy: heavy
    from mlgate.core.split import SplitConfig  # lazy: heavy
    from mlgate.core.validation import Schema  # lazy: heavy

    try:
        params = compose(root, [f"data={name}"])
    except Exception as exc:  # Hydra reports composition errors in several types
        raise ConfigError(f"conf/data/{name}.yaml does not compose: {exc}") from exc
    Schema.from_params(params["data"]["target"], params["validate"])
    SplitConfig.from_params(params["split"])
    GateConfig.from_params(params["gate"])
    DriftConfig.from_params(params["drift"])


def report(prof: Profile, out: Path, seconds: float) -> str:
    """What was inferred and why, then the next command."""
    c = prof.columns
    lines = [f"wrote {out} in {seconds:.1f} s ({prof.n_rows:,} rows x {len(c)} columns; "
             f"kinds inferred on {prof.sample_rows:,} rows)",
             f"  task:        {prof.task} ({prof.task_reason}); target `{prof.target}`"]
    if prof.labels is not None:
        shares = ", ".join(f"{k} {v:.1%}" for k, v in prof.label_shares.items())
        lines.append(f"  classes:     {shares}")
    for role, title in (("identifier", "identifiers"), ("constant", "constants"),
                        ("text", "free text"), ("datetime", "datetimes"), ("period", "periods")):
        names = prof.with_role(role)
        if names:
            lines.append(f"  {title + ':':<12} " + "; ".join(f"{n} ({c[n].reason})"
                                                         for n in names))
    features = prof.with_role("feature")
    lines.append(f"  features:    {len(features)} ({len(prof.categorical)} categorical: "
                 f"{', '.join(prof.categorical) or '-'})")
    batch = prof.current or f"a seeded {prof.current_share:.0%} of rows"
    lines.append(f"  current:     {batch} ({prof.current_reason})")
    lines.append(f"  model:       {prof.model_name}")
    lines.append(f"  slices:      {', '.join(prof.slices) or '-'} ({prof.slice_reason})")
    lines.append(f"  important:   {', '.join(prof.important) or '-'}")
    lines += [f"  warning:     {w}" for w in prof.warnings]
    lines += ["next:", f"  dvc exp run -S data={prof.name}          # the whole pipeline on "
              "this table",
              f"  (or set `data: {prof.name}` in conf/config.yaml, `make params`, `make run`)"]
    return "\n".join(lines)


def cmd_data_add(args: argparse.Namespace) -> None:
    """Read the table, infer its profile, write conf/data/<name>.yaml (never overwriting)."""
    root = repo_root()
    path = Path(args.file)
    name = profile_name(path, args.name)
    out = root / "conf" / "data" / f"{name}.yaml"
    if out.exists() and not args.force:
        raise ConfigError(f"{out} exists; pass --force to replace it, or --name to choose "
                          "another name")
    source = source_path(path, root)
    if args.sample_rows < 100:
        raise ConfigError(f"--sample-rows must be at least 100, got {args.sample_rows}")
    started = time.perf_counter()
    df = read_table(path)
    if df.empty:
        raise DataError(f"{path}: the table has no rows")
    prof = infer_profile(df, args.target, name, source, args.task, args.current,
                         args.sample_rows, policy_slice_min_rows(root))
    command = shlex.join(["mlgate", "data", "add", str(path), "--target", args.target,
                          *[f"--{k.replace('_', '-')}={v}" for k, v in
                            (("name", args.name), ("task", args.task), ("current", args.current))
                            if v and not (k == "task" and v == "auto")]])
    text = render(prof, command, time.strftime("%Y-%m-%d"))
    previous = out.read_text(encoding="utf-8") if out.exists() else None
    write_atomic(out, lambda tmp: tmp.write_text(text, encoding="utf-8"))
    try:
        check_composes(root, name)
    except MlgateError:
        _restore(out, previous)
        raise
    seconds = time.perf_counter() - started
    sys.stdout.write(report(prof, out.relative_to(root), seconds) + "\n")
    if not source.startswith("data/external/"):
        log.warning("%s is not under data/external/, which DVC tracks as the ingest stage's "
                    "input: changes to it will not rerun the pipeline", source)


def _restore(out: Path, previous: str | None) -> None:
    """Put back what was at `out` before (nothing, or the file --force replaced)."""
    if previous is None:
        out.unlink(missing_ok=True)
    else:
        write_atomic(out, lambda tmp: tmp.write_text(previous, encoding="utf-8"))


def register_data(sub: Any) -> None:
    """Add `mlgate data add` to the `mlgate` parser."""
    data = sub.add_parser("data", help="onboard tables: write their data profiles")
    verbs = data.add_subparsers(dest="data_command", required=True)
    a = verbs.add_parser("add", help="infer conf/data/<name>.yaml from a CSV/Parquet table",
                         description="Read the table, infer its data profile (target and task, "
                         "schema, dropped/categorical/datetime columns, current batch, model "
                         "name, slices, drift columns) and write conf/data/<name>.yaml.")
    a.add_argument("file", type=Path, help="the table (.csv/.parquet), inside the repository, "
                                           "usually under data/external/")
    a.add_argument("--target", required=True, help="the column to predict")
    a.add_argument("--name", help="profile name (default: the file name): -S data=<name>")
    a.add_argument("--task", default="auto", choices=["auto", "classification", "regression"],
                   help="auto: classes for text/boolean targets and integers with few values")
    a.add_argument("--current", help="pandas expression selecting the current batch (default: "
                                     "by a datetime or period column, else a seeded 20 %%)")
    a.add_argument("--sample-rows", type=int, default=SAMPLE_ROWS,
                   help=f"rows to infer kinds on (default {SAMPLE_ROWS:,})")
    a.add_argument("--force", action="store_true", help="replace an existing profile")
    a.set_defaults(func=cmd_data_add)
