"""The model card: a registered version's description, written by the gate (pure).

Markdown, as the MLflow UI renders a version's description: the decision and why, the test
metrics against the thresholds, the baseline predictor and the champion, every check with
its verdict (and whether MLflow or mlgate decided it), the checks that were skipped, the top
features by mean |SHAP|, the data it was trained on and how to reproduce it.
"""

from __future__ import annotations

from typing import Any

LIMIT = 5000  # the registry keeps 5,000 characters of a description
TOP_FEATURES = 10


def _fmt(value: Any) -> str:
    """A number as the card shows it (6 significant digits), anything else as text."""
    if isinstance(value, float):
        return f"{value:.6g}"
    return "—" if value is None else str(value)


def headline(report: dict[str, Any]) -> str:
    """The decision in one sentence, with its reason."""
    version, alias = report.get("registered_version"), report.get("alias")
    decision = report["decision"]
    champion = report.get("previous_champion") or {}
    failed = [c["reason"] for c in report.get("improvement", []) if not c["passed"]]
    if decision == "champion":
        against = f"it beats champion v{champion['version']}" if champion else \
            "there was no champion"
        return f"**Decision: champion.** v{version} took @{alias}: {against}."
    if decision == "challenger":
        return (f"**Decision: challenger.** v{version} took @{alias}: it passed every "
                f"validation check but did not beat champion v{champion.get('version')}: "
                + "; ".join(failed) + ".")
    return f"**Decision: {decision}.** " + "; ".join(report.get("reasons", [])) + "."


def metrics_table(report: dict[str, Any]) -> list[str]:
    """Test metrics beside their thresholds, the baseline predictor's and the champion's."""
    metrics = report["candidate"]["metrics"]
    bounds = report["config"]["thresholds"]
    baseline = (report.get("baseline") or {}).get("metrics") or {}
    champion = report.get("previous_champion") or {}
    theirs = champion.get("metrics") or {}
    head = "| metric | candidate | threshold | baseline predictor | " + \
        (f"champion v{champion['version']} |" if champion else "champion |")
    rows = [head, "|---|---|---|---|---|"]
    for name, value in metrics.items():
        bound = bounds.get(name) or {}
        limit = " ".join(f"{'≥' if side == 'min' else '≤'} {_fmt(v)}"
                         for side, v in bound.items() if v is not None) or "—"
        rows.append(f"| {name} | {_fmt(value)} | {limit} | {_fmt(baseline.get(name))} | "
                    f"{_fmt(theirs.get(name))} |")
    return rows


def checks_table(report: dict[str, Any], room: int) -> list[str]:
    """Every check with its verdict; failed ones first, cut to fit `room` characters."""
    checks = report["checks"] + report.get("improvement", [])
    ordered = [c for c in checks if not c["passed"]] + [c for c in checks if c["passed"]]
    rows = ["| check | value | threshold | verdict | decided by |", "|---|---|---|---|---|"]
    used = sum(len(r) + 1 for r in rows)
    for i, c in enumerate(ordered):
        row = (f"| {c['name']} | {_fmt(c['value'])} | {_fmt(c['threshold'])} | {c['status']} | "
               f"{c.get('decided_by', 'mlgate')} |")
        if used + len(row) + 80 > room:
            rows.append(f"| … {len(ordered) - i} more in the run's gate.json | | | | |")
            break
        rows.append(row)
        used += len(row) + 1
    return rows


def features_lines(explanation: dict[str, Any] | None) -> list[str]:
    """The top features by mean |SHAP|, with what an engineered one is made from."""
    if not explanation:
        return ["No explanation (reports/explain.json) was found."]
    out = [f"Mean |SHAP| on {explanation['rows']} test rows ({explanation['explainer']} "
           f"explainer on {explanation['estimator']}, {explanation['output']}):", ""]
    for i, f in enumerate(explanation["features"][:TOP_FEATURES], 1):
        made = f" (made from {', '.join(f['uses'])})" if f["engineered"] else ""
        out.append(f"{i}. `{f['feature']}` {_fmt(f['mean_abs_shap'])}{made}")
    return out


def data_lines(report: dict[str, Any], data: dict[str, dict[str, Any]]) -> list[str]:
    """The tables it was trained and tested on, the DVC experiment and the git commit."""
    prov = report["candidate"].get("provenance", {})
    out = [f"- {name}: `{d['path']}`, {d['rows']} rows, md5 `{d['md5']}`"
           for name, d in data.items()]
    out.append(f"- git commit: `{prov.get('git.commit', 'unknown')}`")
    if prov.get("dvc.exp_name"):
        out.append(f"- DVC experiment: `{prov['dvc.exp_name']}` (baseline "
                   f"`{prov.get('dvc.baseline_rev', '?')}`)")
    out.append(f"- MLflow run: `{report['candidate']['run_id']}`")
    return out


def reproduce_lines(report: dict[str, Any]) -> list[str]:
    """The commands that rebuild this model."""
    prov = report["candidate"].get("provenance", {})
    if prov.get("dvc.exp_name"):
        first = f"dvc exp apply {prov['dvc.exp_name']}"
    else:
        first = f"git checkout {prov.get('git.commit', '<commit>')}"
    return ["```", first, "dvc pull   # the data at the hashes above, from the DVC remote",
            "dvc repro", "```"]


def model_card(report: dict[str, Any], explanation: dict[str, Any] | None,
               data: dict[str, dict[str, Any]]) -> str:
    """The version's description, at most LIMIT characters."""
    skipped = [c for c in report["checks"] + report.get("improvement", [])
               if c["status"] in ("skip", "unchecked")]
    head = [headline(report), "", "### Test metrics", *metrics_table(report), ""]
    tail = ["", "### Top features", *features_lines(explanation), "", "### Data",
            *data_lines(report, data), "", "### Reproduce", *reproduce_lines(report)]
    if skipped:
        tail = ["", f"Skipped or unchecked: {len(skipped)} ("
                + "; ".join(f"{c['name']}: {c['reason']}" for c in skipped)[:600] + ")",
                *tail]
    fixed = "\n".join(head + tail)
    checks = ["### Checks", *checks_table(report, LIMIT - len(fixed) - 20)]
    return "\n".join(head + checks + tail)[:LIMIT]
