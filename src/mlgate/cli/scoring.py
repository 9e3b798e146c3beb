"""`mlgate predict`, `mlgate explain`, `mlgate drift --current FILE` and `mlgate retrain`.

predict and drift need no training data: the champion's signature and the reference stored
with its MLflow run (artifacts `reference/`) say what the model was trained on.
"""

from __future__ import annotations

import argparse
import logging
import sys
from pathlib import Path
from typing import Any

import pandas as pd

from mlgate.base import paths
from mlgate.base.errors import DataError, MlgateError
from mlgate.base.io import read_json, read_table, write_atomic, write_json
from mlgate.base.params import load_params, repo_root, require

log = logging.getLogger("mlgate")


def _params() -> dict[str, Any]:
    """params.yaml of the repository (the same config the pipeline ran with)."""
    return load_params(repo_root() / "params.yaml")


def _champion(params: dict[str, Any]) -> Any:
    """The champion (MlgateError when the registry has none), with tracking configured."""
    from mlgate.adapters.champion import load_champion  # lazy: heavy
    from mlgate.adapters.tracking import configure  # lazy: heavy

    configure(require(params, "tracking"))
    return load_champion(require(params, "gate.model_name"), require(params, "gate.alias"))


def champion_profile(params: dict[str, Any], scorer: Any) -> Any:
    """Signature columns/kinds + the stored training profile (categories, labels, ranges)."""
    from mlgate.adapters.champion import fetch_reference, signature_inputs  # lazy: heavy
    from mlgate.core.scoring import profile_from_signature  # lazy: heavy

    try:
        stored = fetch_reference(scorer.run_id)[1]
    except MlgateError as exc:
        log.warning("%s; checking columns and types against the signature only", exc)
        stored = None
    return profile_from_signature(signature_inputs(scorer.uri), stored,
                                  require(params, "data.target"), require(params, "task.type"))


def write_table(path: Path, df: pd.DataFrame) -> None:
    """Write CSV or Parquet (by suffix) atomically; other suffixes are an error naming the file."""
    suffix = path.suffix.lower()
    if suffix not in (".csv", ".parquet", ".pq"):
        raise DataError(f"{path}: unsupported output type {suffix!r}; use .csv or .parquet")
    if suffix == ".csv":
        write_atomic(path, lambda tmp: df.to_csv(tmp, index=False))
    else:
        write_atomic(path, lambda tmp: df.to_parquet(tmp, index=False))


def cmd_predict(args: argparse.Namespace) -> None:
    """Score a CSV/Parquet batch with the champion after checking it against the signature."""
    params = _params()
    scorer = _champion(params)
    scored = score_file(params, scorer, champion_profile(params, scorer), Path(args.input))
    write_table(Path(args.output), scored)
    sys.stdout.write(f"scored {len(scored)} rows of {args.input} with {scorer.uri} "
                     f"-> {args.output}\n")


def score_file(params: dict[str, Any], scorer: Any, profile: Any, path: Path) -> pd.DataFrame:
    """Check and score one CSV/Parquet batch with the champion, on `score.engine`."""
    from mlgate.core.scoring import ScoreConfig  # lazy: heavy
    from mlgate.pipeline.score import score_frames  # lazy: heavy

    cfg = ScoreConfig.from_params(require(params, "score"))
    return score_frames(cfg, scorer, profile, {"batch": (read_table(path), str(path))})["batch"][0]


def cmd_explain(args: argparse.Namespace) -> None:
    """Score a batch with the champion and give each row its top-k reasons (SHAP)."""
    from mlgate.adapters.champion import fetch_reference  # lazy: heavy
    from mlgate.core.explain import ExplainConfig, with_reasons  # lazy: shap

    params = _params()
    if args.top_k < 1:
        raise MlgateError(f"--top-k must be at least 1, got {args.top_k}")
    cfg = ExplainConfig.from_params(require(params, "explain"))
    scorer = _champion(params)
    reference = fetch_reference(scorer.run_id)[0]  # background rows: the training reference
    profile = champion_profile(params, scorer)
    scored = score_file(params, scorer, profile, Path(args.input))
    explained = with_reasons(scored, list(profile.features), scorer.model, reference, cfg,
                             profile.task, args.top_k)
    if args.output:
        write_table(Path(args.output), explained)
        sys.stdout.write(f"explained {len(explained)} rows of {args.input} with {scorer.uri} "
                         f"-> {args.output}\n")
        return
    sys.stdout.write(reasons_text(explained, args.top_k, args.rows) + "\n")


def reasons_text(explained: pd.DataFrame, top_k: int, rows: int) -> str:
    """The first `rows` rows' prediction and reasons, one line each."""
    lines = []
    for i, row in explained.head(rows).iterrows():
        why = ", ".join(f"{row[f'reason_{k}']}={row[f'reason_{k}_value']} "
                        f"({row[f'reason_{k}_contribution']:+.4f})"
                        for k in range(1, top_k + 1) if f"reason_{k}" in row)
        lines.append(f"row {i}: prediction {row['prediction']}: {why}")
    if len(explained) > rows:
        lines.append(f"... {len(explained) - rows} more rows (--output FILE writes them all)")
    return "\n".join(lines)


def cmd_drift(args: argparse.Namespace) -> None:
    """Check a batch for drift against the champion's stored reference; exit 1 per fail_on."""
    from mlgate.core.drift import fails, save_html, verdict_line  # lazy: Evidently
    from mlgate.pipeline.drift import champion_contract, check_delivery  # lazy: Evidently

    params = _params()
    path = Path(args.current)
    summary, snapshot, _ = check_delivery(params, champion_contract(params), read_table(path),
                                          path.name, str(path))
    if args.json:
        write_json(args.json, summary)
    if args.html:
        save_html(snapshot, Path(args.html))
    sys.stdout.write(verdict_line(summary) + "\n")
    fail_on = args.fail_on or require(params, "drift.fail_on")
    if fails(summary["action"], fail_on):
        raise MlgateError(f"drift action {summary['action']!r} reached fail_on={fail_on}")


def cmd_retrain(args: argparse.Namespace) -> None:
    """Run (or print) the retraining experiment when the last drift action is `retrain`."""
    from mlgate.adapters.experiments import retrain_command, shell_join, start  # lazy
    from mlgate.core.drift import DriftConfig  # lazy: Evidently

    root = repo_root()
    report = read_json(Path(args.report) if args.report else root / paths.DRIFT_JSON)
    if "action" not in report:
        raise DataError(f"{args.report or paths.DRIFT_JSON}: no `action` (rerun the drift stage)")
    overrides = DriftConfig.from_params(require(_params(), "drift")).retrain["overrides"]
    if report["action"] == "none" and not args.force:
        sys.stdout.write("drift action is `none`: nothing to retrain\n")
        return
    cmd = retrain_command(report["action"], overrides, args.force, args.queue)
    sys.stdout.write(shell_join(cmd) + "\n")
    if not args.dry_run:
        start(cmd, root)


def register_scoring(sub: Any) -> None:
    """Add the predict, drift and retrain sub-commands to the `mlgate` parser."""
    p = sub.add_parser("predict", help="score a CSV/Parquet file with the champion model")
    p.add_argument("--input", required=True, type=Path, help="batch to score (.csv/.parquet)")
    p.add_argument("--output", required=True, type=Path, help="where to write the predictions")
    p.set_defaults(func=cmd_predict)
    e = sub.add_parser("explain", help="score a batch with the champion and give each row its "
                                       "top-k reasons (SHAP)")
    e.add_argument("--input", required=True, type=Path, help="batch to explain (.csv/.parquet)")
    e.add_argument("--top-k", type=int, default=3, help="reasons per row (default: 3)")
    e.add_argument("--output", type=Path, help="write predictions + reasons here (.csv/.parquet);"
                                               " default: print the first --rows rows")
    e.add_argument("--rows", type=int, default=10, help="rows to print without --output")
    e.set_defaults(func=cmd_explain)
    d = sub.add_parser("drift", help="check a batch for drift against the champion's reference")
    d.add_argument("--current", required=True, type=Path, help="batch to check (.csv/.parquet)")
    d.add_argument("--json", type=Path, help="write the drift summary here")
    d.add_argument("--html", type=Path, help="write the Evidently report here")
    d.add_argument("--fail-on", choices=["never", "retrain", "investigate"],
                   help="exit 1 at this action (default: drift.fail_on)")
    d.set_defaults(func=cmd_drift)
    r = sub.add_parser("retrain", help="dvc exp run with the current batch folded into training "
                                       "when the last drift action is `retrain`")
    r.add_argument("--report", help="drift summary to read (default: reports/drift.json)")
    r.add_argument("--dry-run", action="store_true", help="print the command, do not run it")
    r.add_argument("--force", action="store_true", help="retrain whatever the action says")
    r.add_argument("--queue", action="store_true", help="queue the experiment (dvc exp run "
                                                        "--queue) instead of running it")
    r.set_defaults(func=cmd_retrain)
