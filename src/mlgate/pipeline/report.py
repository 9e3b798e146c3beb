"""`mlgate report`: a Markdown report of the last pipeline run, for a pull request.

`render` is pure: it takes the loaded reports (`reports/gate.json`, `reports/drift.json`,
`reports/score.json`), DVC's own `dvc metrics diff --md` table and the figure paths, and
returns Markdown. `gather` reads them from the workspace (with the summary's reader) and
says whether score and drift ran after this gate decision (from dvc.lock). Running
`dvc metrics diff` is the command line's job (`cli/report.py`).
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

from mlgate.base import paths
from mlgate.base.errors import DataError
from mlgate.pipeline.summary import drifted_columns, load_report, metric_line, unchecked_note

# The reports the report is made of, by key; each is in git (cache: false), so a checkout has them.
REPORTS = {"gate": paths.GATE, "drift": paths.DRIFT_JSON, "score": paths.SCORE_REPORT}
LOCK = Path("dvc.lock")
# Verdict order in the check table: what blocked first, then what was not checked, then passes.
STATUS_ORDER = {"fail": 0, "unchecked": 1, "skip": 2, "pass": 3}
# Check kinds whose metric the champion was evaluated on (same test rows): its value is shown.
CHAMPION_KINDS = ("threshold", "improvement")
# A longer `dvc metrics diff` table (drift.json has a score per column) is folded away.
FOLD_ROWS = 20
TITLES = {
    "champion": "registered as champion",
    "challenger": "registered as challenger",
    "rejected": "rejected",
    "smoke_failed": "smoke failed",
}


@dataclass(frozen=True)
class Inputs:
    """Everything the report shows, read from the workspace (see `gather`)."""

    gate: dict[str, Any]
    drift: dict[str, Any]
    score: dict[str, Any]
    figures: list[str] = field(default_factory=list)  # relative to the repository root
    drift_html: str | None = None                     # relative path, when the file exists
    # True/False: score and drift ran after this gate decision or not (dvc.lock); None: unknown
    drift_current: bool | None = None


def _fmt(value: Any) -> str:
    """A number with 6 significant digits, None as a dash, anything else as text."""
    if isinstance(value, bool):
        return str(value).lower()
    if isinstance(value, float):
        return f"{value:.6g}"
    return "—" if value is None else str(value)


def _cell(text: Any) -> str:
    """A table cell: pipes escaped, newlines flattened."""
    return _fmt(text).replace("|", "\\|").replace("\n", " ")


def title(gate: dict[str, Any]) -> str:
    """The first line: decision, registered model, version and alias."""
    decision = gate["decision"]
    label = TITLES.get(decision, decision)
    version, alias = gate.get("registered_version"), gate.get("alias")
    what = f"`{gate['model_name']}`"
    if version is not None:
        what += f" v{version}" + (f" (@{alias})" if alias else " (no alias)")
    elif decision == "rejected":
        what += ", not registered (registry unchanged)"
    return f"## mlgate: {label} — {what}"


def decision_lines(gate: dict[str, Any]) -> list[str]:
    """The candidate's headline metrics and, unless it became champion, why not."""
    metrics = (gate.get("candidate") or {}).get("metrics")
    out = [f"Candidate: {metric_line(metrics)}" + unchecked_note(gate.get("unchecked")) + "."]
    champion = gate.get("previous_champion")
    if champion:
        out[0] += f" Compared with champion v{champion['version']} on the same test rows."
    reasons = gate.get("reasons") or []  # failed checks (a challenger's: the improvement)
    if reasons and gate["decision"] != "champion":
        out += ["", "Why:", *(f"- {r}" for r in reasons)]
    return out


def _bound(check: dict[str, Any]) -> str:
    """The threshold with its direction, as far as the check's name and kind say it."""
    threshold, kind, name = check.get("threshold"), check.get("kind"), check.get("name", "")
    if threshold is None:
        return "—"
    if kind == "artifact":
        return "required"
    if name.endswith("_max") or kind == "latency":
        return f"≤ {_fmt(threshold)}"
    if name.endswith("_min") or kind in ("baseline", "improvement"):
        return f"≥ {_fmt(threshold)}"
    return _fmt(threshold)


def _value(check: dict[str, Any]) -> str:
    """The measured value (an artifact check: yes/no)."""
    if check.get("kind") == "artifact" and check.get("value") is not None:
        return "yes" if check["value"] else "no"
    return _fmt(check.get("value"))


def _champion_value(check: dict[str, Any], champion: dict[str, Any] | None) -> str:
    """The champion's value of the check's metric, where the check compares that metric."""
    theirs = (champion or {}).get("metrics") or {}
    if check.get("kind") not in CHAMPION_KINDS:
        return "—"
    return _fmt(theirs.get(check.get("metric")))


def ordered_checks(gate: dict[str, Any]) -> list[dict[str, Any]]:
    """Validation and improvement checks: failed first, then unchecked, skipped, passed."""
    checks = list(gate.get("checks", [])) + list(gate.get("improvement", []))
    return sorted(checks, key=lambda c: STATUS_ORDER.get(c.get("status"), 0))


def checks_lines(gate: dict[str, Any]) -> list[str]:
    """The gate's check table and the checks that were skipped or could not be made."""
    champion = gate.get("previous_champion")
    head = "champion value" + (f" (v{champion['version']})" if champion else "")
    rows = [f"| check | value | threshold | {head} | verdict | decided by |",
            "|---|---|---|---|---|---|"]
    checks = ordered_checks(gate)
    for c in checks:
        verdict = c.get("status", "?")
        verdict = "**fail**" if verdict == "fail" else verdict
        rows.append(f"| `{_cell(c.get('name'))}` | {_value(c)} | {_cell(_bound(c))} | "
                    f"{_champion_value(c, champion)} | {verdict} | "
                    f"{c.get('decided_by', 'mlgate')} |")
    out = ["### Gate checks", "", *rows]
    if not checks:
        out.append("| (no checks in reports/gate.json) | | | | | |")
    missed = [c for c in checks if c.get("status") in ("skip", "unchecked")]
    if missed:
        out += ["", "Skipped or unchecked (never counted as a pass):",
                *(f"- `{c['name']}` ({c['status']}): {c.get('reason', '')}" for c in missed)]
    failed = sum(c.get("status") == "fail" for c in checks)
    out += ["", f"{len(checks)} checks: {failed} failed, {len(missed)} skipped or unchecked, "
                f"{len(checks) - failed - len(missed)} passed. Champion value: the current "
                "champion's test metric on the same rows, for the checks on a metric."]
    return out


def metrics_lines(metrics_diff: str, against: str) -> list[str]:
    """DVC's own `dvc metrics diff --md` table, or a line saying nothing changed."""
    table = [line for line in metrics_diff.strip().splitlines() if line.strip()]
    out = [f"### Metrics against `{against}`", "",
           f"`dvc metrics diff --md {against}` (the workspace against `{against}`):", ""]
    rows = sum(line.lstrip().startswith("|") for line in table) - 2  # minus header and rule
    if rows <= 0:
        return [*out, f"No metric changed against `{against}`."]
    if rows <= FOLD_ROWS:
        return out + table
    return [*out, "<details>", f"<summary>{rows} metrics changed</summary>", "", *table, "",
            "</details>"]


def drift_lines(inputs: Inputs) -> list[str]:
    """The drift verdict, its action and why, the outputs' drift, data quality, the batch."""
    drift, score = inputs.drift, inputs.score
    cols = drifted_columns(drift)
    out = ["### Drift", ""]
    if inputs.drift_current is False:
        out += ["> Score and drift did not run after this gate decision (the pipeline stopped "
                "at the gate, or they are out of date in dvc.lock): what follows is from the "
                "last run that got that far.", ""]
    share = drift.get("share_drifted")
    out.append(f"Verdict **{drift['verdict']}**, action **{drift.get('action', 'n/a')}**: "
               f"{drift['n_drifted']} of {drift['n_columns']} columns drifted (share "
               f"{_fmt(share)}; the dataset drifts from "
               f"{_fmt(drift.get('drift_share_threshold'))})"
               + (": " + ", ".join(f"`{c}`" for c in cols) if cols else "") + ".")
    if drift.get("action_reasons"):
        out.append("Why: " + "; ".join(drift["action_reasons"]) + ".")
    outputs = {**drift.get("prediction_drift", {}), **drift.get("target_drift", {})}
    if outputs:
        moved = [k for k, v in outputs.items() if v.get("drifted")]
        out.append("Outputs and labels drifted: " + (", ".join(f"`{k}`" for k in moved)
                                                     if moved else "none") +
                   f" (checked: {', '.join(f'`{k}`' for k in outputs)}).")
    quality = drift.get("quality") or {}
    if quality:
        out.append(f"Data quality of the batch: {quality.get('missing_values', 0)} missing "
                   f"values, {quality.get('out_of_range_values', 0)} out of the reference "
                   f"range, {quality.get('new_category_values', 0)} new categories.")
    out += ["", "Scored batch (`reports/score.json`):", "", "| | |", "|---|---|",
            f"| model | `{_cell(score.get('model_uri'))}` ({_cell(score.get('model_source'))}) |",
            f"| rows | {_fmt(score.get('n_rows'))} |",
            f"| features | {_fmt(score.get('n_features'))} |",
            f"| labelled | {'yes' if score.get('has_labels') else 'no'} |",
            f"| unseen categories | {_fmt(score.get('n_unseen_categories'))} |"]
    if score.get("prediction_share"):
        shares = ", ".join(f"{k}: {_fmt(v)}" for k, v in score["prediction_share"].items())
        out.append(f"| prediction share | {_cell(shares)} |")
    if score.get("probability_mean") is not None:
        out.append(f"| mean probability | {_fmt(score['probability_mean'])} |")
    return out + shadow_lines(score.get("shadow"))


def shadow_lines(shadow: dict[str, Any] | None) -> list[str]:
    """The challenger scored in the shadow on the same batch, when there is one."""
    if not shadow:
        return []
    head = f"Shadow: challenger v{shadow['challenger_version']} on the same batch"
    if "error" in shadow:
        return ["", f"{head} could not score it: {_cell(shadow['error'])}"]
    shift = ", ".join(f"{k} {_fmt(v)}" for k, v in (shadow.get("shift") or {}).items())
    out = ["", f"{head}: agreement {shadow['agreement']:.1%} of {shadow['rows']} rows"
               + (f", output shift {shift}" if shift else "") + "."]
    metrics = shadow.get("metrics")
    if metrics:
        out.append("On its labels (" + f"{shadow['labelled_rows']} rows): " + "; ".join(
            f"{m} champion {_fmt(v)}, challenger {_fmt(metrics['challenger'][m])}"
            for m, v in metrics["champion"].items()) + ".")
    return out


def files_lines(inputs: Inputs) -> list[str]:
    """Relative links to the figures and the drift report."""
    out = ["### Figures and reports", ""]
    if inputs.figures:
        out += [f"- [{p}]({p})" for p in inputs.figures]
    else:
        out.append(f"- no figures in `{paths.FIGURES}/` (DVC-tracked: run the pipeline or "
                   "`dvc pull`)")
    if inputs.drift_html:
        out.append(f"- drift report: [{inputs.drift_html}]({inputs.drift_html})")
    else:
        out.append(f"- no drift report at `{paths.DRIFT_HTML}` (DVC-tracked: run the pipeline "
                   "or `dvc pull`)")
    out += ["", "Paths are relative to the repository root; `reports/gate.json` has every "
                "check's reason."]
    return out


def render(inputs: Inputs, metrics_diff: str, against: str) -> str:
    """The whole report, Markdown."""
    parts = [[title(inputs.gate), "", *decision_lines(inputs.gate)], checks_lines(inputs.gate),
             metrics_lines(metrics_diff, against), drift_lines(inputs), files_lines(inputs)]
    return "\n\n".join("\n".join(p) for p in parts) + "\n"


def _md5(path: Path) -> str:
    """The file's MD5, as DVC 3 records it in dvc.lock."""
    return hashlib.md5(path.read_bytes()).hexdigest()


def drift_is_current(root: Path) -> bool | None:
    """Whether score ran on this gate.json and drift on this score.json, by dvc.lock's
    recorded hashes; None when dvc.lock does not say."""
    lock = root / LOCK
    if not lock.exists():
        return None
    try:
        stages = (yaml.safe_load(lock.read_text(encoding="utf-8")) or {}).get("stages", {})
    except yaml.YAMLError:
        return None
    for stage, dep in (("score", paths.GATE), ("drift", paths.SCORE_REPORT)):
        recorded = [d.get("md5") for d in (stages.get(stage) or {}).get("deps", [])
                    if d.get("path") == str(dep)]
        if not recorded or not (root / dep).exists():
            return None
        if recorded[0] != _md5(root / dep):
            return False
    return True


def gather(root: Path) -> Inputs:
    """Read the reports, figures and dvc.lock; DataError naming a missing report."""
    loaded = {}
    for key, path in REPORTS.items():
        report = load_report(root, path)
        if report is None:
            raise DataError(f"{path}: not found in {root}; run the pipeline first "
                            "(`dvc repro` or `dvc exp run`), then `mlgate report`")
        loaded[key] = report
    figures = sorted(str(p.relative_to(root)) for p in (root / paths.FIGURES).glob("*.png"))
    html = str(paths.DRIFT_HTML) if (root / paths.DRIFT_HTML).exists() else None
    return Inputs(**loaded, figures=figures, drift_html=html, drift_current=drift_is_current(root))
