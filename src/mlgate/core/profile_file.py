"""Write an inferred data profile as `conf/data/<name>.yaml`, every value with its reason (pure).

The file is a Hydra config of package `_global_` in the format of the hand-curated RAND HIE
profile: it selects the task and sets the `data`, `validate`, `split` keys and the per-table
parts of `gate` and `drift`.
"""

from __future__ import annotations

import json
import re
from typing import Any

from mlgate.core.onboard import NULL_HEADROOM, TEST_SIZE, Profile

PLAIN = re.compile(r"^[A-Za-z_][A-Za-z0-9_./\-]*$")
YAML_WORDS = {"y", "n", "yes", "no", "on", "off", "true", "false", "null", "none", "~"}
WIDTH = 96


def scalar(value: Any) -> str:
    """A YAML scalar: plain when unambiguous, else double-quoted (JSON escapes are YAML's)."""
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, int | float):
        return json.dumps(value)
    text = str(value)
    if PLAIN.match(text) and text.lower() not in YAML_WORDS and not _numberish(text):
        return text
    return json.dumps(text).replace("${", "\\${")  # no OmegaConf interpolation


def _numberish(text: str) -> bool:
    """True when YAML would read `text` as a number."""
    try:
        float(text)
    except ValueError:
        return False
    return True


def flow(values: list[Any]) -> str:
    """[a, b, c] in YAML flow style."""
    return "[" + ", ".join(scalar(v) for v in values) + "]"


def wrapped_flow(indent: int, key: str, values: list[Any], comment: str = "") -> list[str]:
    """`key: [a, b, ...]` wrapped at WIDTH, the comment on the first line."""
    head = " " * indent + f"{key}: ["
    items = [scalar(v) for v in values]
    lines, line = [], head
    for i, item in enumerate(items):
        piece = item + (", " if i < len(items) - 1 else "")
        if i and len(line) + len(piece) > WIDTH:
            lines.append(line.rstrip())
            line = " " * len(head)
        line += piece
    lines.append(line + "]")
    if comment:
        lines[0] = f"{lines[0]}  # {comment}"
    return lines


def _comment(line: str, text: str) -> str:
    """`line  # text`."""
    return f"{line}  # {text}" if text else line


def percent(share: float) -> str:
    """A share as a percentage with the digits it needs (0.02%, 3.7%)."""
    return f"{share:.1%}" if share >= 0.001 else f"{share:.3%}"


def null_limit(share: float) -> float:
    """The allowed null share of a column: observed plus NULL_HEADROOM, rounded up to 0.01."""
    return min(1.0, -(-round((share + NULL_HEADROOM) * 100, 6) // 1) / 100)


def task_lines(prof: Profile) -> list[str]:
    """The defaults list: the task option this table needs."""
    what = {"classification": "binary classification, sorted by CV AUC",
            "multiclass": "3 or more classes, sorted by CV MCC (conf/task/multiclass.yaml)",
            "regression": "regression, sorted by CV RMSE; gate policy conf/gate/regression.yaml"}
    return ["defaults:", _comment(f"  - override /task: {prof.task}",
                                  f"{what[prof.task]}: {prof.task_reason}"), ""]


def data_lines(prof: Profile) -> list[str]:
    """The `data:` section."""
    dropped = prof.with_role("identifier", "constant", "text")
    lines = ["data:",
             _comment(f"  source: {scalar(prof.source)}", "CSV or Parquet, relative to the "
                      "repository root"),
             _comment(f"  target: {scalar(prof.target)}", _target_note(prof))]
    lines += wrapped_flow(2, "drop_columns", dropped,
                          "not features: why, per column, below" if dropped else "")
    for name in dropped:
        lines.append(f"  #   {name}: {prof.columns[name].reason}")
    if prof.leakage:
        lines.append("  # possible leakage, kept: each alone predicts the target almost "
                     "perfectly; drop those")
        lines.append("  # measured after the target: " + ", ".join(
            f"{name} ({score})" for name, score in prof.leakage.items()))
    lines.append(_comment(f"  filter: {scalar(prof.target_filter)}",
                          "rows without a label are left out" if prof.target_filter else
                          "optional pandas expression selecting rows"))
    lines += wrapped_flow(2, "categorical", prof.categorical,
                          "text/boolean columns with few values (unseen ones fail scoring); "
                          "add integer-coded ones")
    for name in prof.rare_categorical:
        lines.append(f"  #   not {name}: its rarest value is on {prof.columns[name].rarest} "
                     "row(s), it may miss the training split")
    datetimes = prof.with_role("datetime")
    if datetimes:
        lines.append("  datetime:                 # parsed at ingest: {column: strftime "
                     "format, null = ISO 8601}")
        for name in datetimes:
            col = prof.columns[name]
            lines.append(_comment(f"    {scalar(name)}: {scalar(col.date_format)}", col.reason))
    else:
        lines.append("  datetime: {}              # no date columns found")
    ids = prof.with_role("identifier")
    lines.append(_comment(f"  id: {scalar(ids[0]) if ids else 'null'}",
                          "row id: `mlgate watch` joins late labels by it" if ids else
                          "no identifier found; name one to join late labels (mlgate watch)"))
    return [*lines, ""]


def _target_note(prof: Profile) -> str:
    """The target's comment: task, labels and their shares."""
    if prof.labels is None:
        return f"regression target ({prof.task_reason})"
    shares = ", ".join(f"{k} {v:.1%}" for k, v in prof.label_shares.items())
    note = f"{len(prof.labels)} classes: {shares}"
    if len(prof.labels) == 2:
        note += f"; positive class (precision, recall, F1): {prof.labels[-1]!r}"
    return note


def validate_lines(prof: Profile) -> list[str]:
    """The `validate:` section: the schema of the ingested table."""
    kept = [c for c in prof.columns.values() if c.role not in ("identifier", "constant", "text")]
    lines = ["validate:",
             _comment(f"  min_rows: {max(1, prof.n_rows // 2)}",
                      f"half of the {prof.n_rows:,} rows seen: a truncated file fails"),
             _comment(f"  target_values: {flow(prof.labels) if prof.labels else 'null'}",
                      "the classes seen" if prof.labels else "any value (regression)"),
             _comment("  max_null_share: 0.0", "columns that had no missing values"),
             f"  null_share:               # observed share + {NULL_HEADROOM} headroom"]
    nulls = [c for c in kept if c.null_share and c.role != "target"]
    lines[-1] = lines[-1] if nulls else "  null_share: {}            # no missing values seen"
    for c in nulls:
        lines.append(_comment(f"    {scalar(c.name)}: {null_limit(c.null_share)}",
                              f"{percent(c.null_share)} missing"))
    lines.append("  allow_extra_columns: false")
    cats = [c for c in kept if c.categories is not None and c.role == "feature"]
    lines.append("  categories:               # every value seen; others fail validation"
                 if cats else "  categories: {}")
    for c in cats:
        lines += wrapped_flow(4, scalar(c.name), c.categories)
    lines.append("  columns:                  # kinds: integer, numeric, bool, string, datetime")
    for c in kept:
        note = {"target": "the target", "period": c.reason, "datetime": "parsed at ingest"}
        lines.append(_comment(f"    {scalar(c.name)}: {c.kind}", note.get(c.role, "")))
    return [*lines, ""]


def split_lines(prof: Profile) -> list[str]:
    """The `split:` section: the current-batch rule and what stays out of the features."""
    out = prof.with_role("datetime", "period")
    lines = ["split:",
             _comment(f"  current: {scalar(prof.current)}", prof.current_reason
                      if prof.current else "no rule: see current_share"),
             _comment(f"  current_share: {scalar(prof.current_share)}", prof.current_reason
                      if prof.current_share else "the rule above decides")]
    lines += wrapped_flow(2, "drop_columns", out,
                          "used by the current rule / dates: kept out of the model (or "
                          "give it their parts: features.date_parts)" if out else "")
    lines += [f"  test_size: {TEST_SIZE}", "  seed: 42",
              _comment("  stratify: true", "on the classes, or target deciles"), ""]
    return lines


def features_lines(prof: Profile) -> list[str]:
    """The `features:` section: no rule yet, with examples on this table's own columns."""
    numeric = [c.name for c in prof.columns.values()
               if c.role == "feature" and c.kind in ("integer", "numeric")
               and c.name not in prof.categorical]
    levels = sorted((c for c in prof.columns.values() if c.name in prof.categorical),
                    key=lambda c: -(len(c.categories or ())))
    dates = prof.with_role("datetime")
    lines = ["features:                   # declared features, made inside the model (fitted "
             "per CV fold, applied",
             "                            # wherever it predicts); every kind and key: "
             "conf/features/default.yaml"]
    lines.append("  derive: {}                # e.g. " + (
        f"{numeric[0]}_per_{numeric[1]}: {numeric[0]} / {numeric[1]}" if len(numeric) > 1
        else "ratio: a / b"))
    lines.append("  group_rare: {}            # e.g. " + (
        f"{levels[0].name}: {{top: 10}}  (other levels -> `other`)" if levels
        else "column: {min_share: 0.01}"))
    if dates:
        lines.append(f"  date_parts: {{}}            # e.g. {dates[0]}: [year, month, weekday] "
                     f"(then take {dates[0]} out of split.drop_columns)")
    return [*lines, ""]


def gate_lines(prof: Profile) -> list[str]:
    """The per-table part of `gate:`: model name, absolute thresholds, slices."""
    lines = ["gate:",
             _comment(f"  model_name: {scalar(prof.model_name)}", "registered model name"),
             "  thresholds: {}             # absolute bounds in this table's units, e.g. "
             + ("roc_auc: {min: 0.7}" if prof.labels else "rmse: {max: 10}")
             + "; the policy",
             "                             # (conf/gate/) already requires beating a baseline "
             "predictor"]
    if prof.labels and len(prof.labels) == 2:  # accuracy barely moves on an imbalanced table
        lines.append(_comment("  shadow: {metric: roc_auc}", "promotion judged on ROC AUC on "
                              "labelled shadow traffic"))
    if not prof.slices:
        lines.append(_comment("  slices: {}", prof.slice_reason))
        return [*lines, ""]
    lines.append(_comment("  slices:", prof.slice_reason))
    for column, floors in prof.slices.items():
        for metric, bound in floors.items():
            lines.append(f"    {scalar(column)}: {{{metric}: {{{next(iter(bound))}: "
                         f"{scalar(next(iter(bound.values())))}}}}}")
    return [*lines, ""]


def drift_lines(prof: Profile) -> list[str]:
    """The per-table part of `drift:`: important columns and the retrain rule."""
    lines = ["drift:"]
    if prof.important:
        lines.append(_comment("  per_column:", prof.important_reason))
        lines += [f"    {scalar(c)}: {{important: true}}" for c in prof.important]
    else:
        lines.append("  per_column: {}")
    lines.append(_comment("  retrain:", f"`mlgate retrain`: {prof.retrain_reason}"))
    lines += wrapped_flow(4, "overrides", prof.retrain)
    return lines


def render(prof: Profile, command: str, when: str) -> str:
    """The whole file."""
    head = ["# @package _global_",
            f"# Data profile of {prof.source} ({prof.n_rows:,} rows x {len(prof.columns)} "
            f"columns), written by",
            f"#   {command}",
            f"# on {when}. Kinds and cardinalities were inferred on {prof.sample_rows:,} rows; "
            "counts, null shares,",
            "# categories and the current-batch cut on all of them. Edit anything: it is your "
            "table's config.",
            ""]
    body = (task_lines(prof) + data_lines(prof) + validate_lines(prof) + split_lines(prof)
            + features_lines(prof) + gate_lines(prof) + drift_lines(prof))
    return "\n".join(head + body) + "\n"
