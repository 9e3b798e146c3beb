"""Shadow scoring: how a challenger would have done on the traffic the champion answered (pure).

The champion's answers are what is returned and written; the challenger scores the same rows
on the side. One comparison per batch (agreement, the shift between the two models' outputs
and, when the batch is labelled, both models' metric on it) is kept per challenger version,
one tag per batch, so that a batch checked again replaces its own record instead of counting
twice. `evidence` sums them up for `mlgate models promote`, which refuses a challenger whose
metric on labelled traffic is worse than the champion's by more than `gate.shadow` allows.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Any

import numpy as np
import pandas as pd
from scipy import stats

from mlgate.base.errors import ConfigError
from mlgate.base.params import check_number, check_section
from mlgate.core.evaluation import GREATER_IS_BETTER
from mlgate.core.scoring import PREDICTION, PROBABILITY, batch_metric

SHADOW_KEYS = {"metric", "max_metric_drop", "max_relative_drop", "agree_within"}
# the metrics batch_metric computes on a labelled batch (roc_auc: binary with probabilities)
BATCH_METRICS = {"classification": ("accuracy", "roc_auc"), "regression": ("rmse",)}
TAG_PREFIX = "shadow.batch."  # + batch id: one JSON record per batch on the challenger version


@dataclass(frozen=True)
class ShadowConfig:
    """`gate.shadow:` the metric compared on labelled traffic and how much worse may pass."""

    metric: str
    max_metric_drop: float | None  # absolute, in the metric's units
    max_relative_drop: float | None  # share of the champion's value, e.g. 0.05
    agree_within: float  # regression: rows agree when |difference| <= this x std(champion)

    @classmethod
    def from_params(cls, section: Any) -> ShadowConfig:
        """Build from `gate.shadow`, naming a missing, unknown or bad key."""
        s = check_section(section, "gate.shadow", SHADOW_KEYS)
        known = sorted({m for names in BATCH_METRICS.values() for m in names})
        if s["metric"] not in known:
            raise ConfigError(f"`gate.shadow.metric` must be one of {known} (computed on a "
                              f"labelled batch), got {s['metric']!r}")
        for key in ("max_metric_drop", "max_relative_drop"):
            check_number(s[key], f"gate.shadow.{key}", low=0, optional=True)
        check_number(s["agree_within"], "gate.shadow.agree_within", low=0, open_low=True)
        return cls(s["metric"], *(None if s[k] is None else float(s[k])
                                  for k in ("max_metric_drop", "max_relative_drop")),
                   float(s["agree_within"]))


def agreement(champion: pd.Series, challenger: pd.Series, task: str, within: float) -> float:
    """Share of rows where the two models agree: same label, or (regression) a difference of
    at most `within` x the standard deviation of the champion's predictions."""
    if task == "classification":
        return float((champion.astype(str).to_numpy() == challenger.astype(str).to_numpy())
                     .mean())
    a, b = champion.to_numpy(dtype=float), challenger.to_numpy(dtype=float)
    spread = float(np.std(a)) or 1.0
    return float((np.abs(a - b) <= within * spread).mean())


def output_shift(champion: pd.DataFrame, challenger: pd.DataFrame, task: str) -> dict[str, Any]:
    """How far apart the two models' output distributions are on the same rows.

    `ks`: the two-sample Kolmogorov-Smirnov statistic of the probability (classification,
    when both give one) or of the prediction (regression); `class_share_change`: the total
    variation distance between the predicted label shares (classification)."""
    out: dict[str, Any] = {}
    column = PROBABILITY if task == "classification" else PREDICTION
    if column in champion and column in challenger:
        a, b = champion[column].to_numpy(dtype=float), challenger[column].to_numpy(dtype=float)
        out["ks"] = round(float(stats.ks_2samp(a, b).statistic), 6)
        if task == "regression":
            out["mean_difference"] = round(float(np.mean(b - a)), 6)
    if task == "classification":
        shares = pd.concat([champion[PREDICTION].astype(str).value_counts(normalize=True),
                            challenger[PREDICTION].astype(str).value_counts(normalize=True)],
                           axis=1).fillna(0.0)
        out["class_share_change"] = round(float(0.5 * (shares.iloc[:, 0] - shares.iloc[:, 1])
                                                .abs().sum()), 6)
    return out


def compare(champion: pd.DataFrame, challenger: pd.DataFrame, target: str | None, task: str,
            cfg: ShadowConfig) -> dict[str, Any]:
    """One batch's comparison of the two scored frames (same rows, same order): rows,
    agreement, output shift, and both models' metrics on the labelled rows."""
    if len(champion) != len(challenger):
        raise ValueError(f"shadow: {len(champion)} champion rows vs {len(challenger)}")
    record: dict[str, Any] = {
        "rows": len(champion),
        "agreement": round(agreement(champion[PREDICTION], challenger[PREDICTION], task,
                                     cfg.agree_within), 6),
        "shift": output_shift(champion, challenger, task)}
    if target and target in champion:
        labelled = champion[target].notna()
        both = {who: batch_metric(frame.assign(**{target: champion[target].to_numpy()}),
                                  target, task)
                for who, frame in (("champion", champion), ("challenger", challenger))}
        if both["champion"] is not None:
            record["labelled_rows"] = int(labelled.sum())
            record["metrics"] = {who: {k: round(v, 6) for k, v in m.items()}
                                 for who, m in both.items()}
    return record


def tag(batch_id: str, record: dict[str, Any]) -> tuple[str, str]:
    """The version tag (key, compact JSON) that keeps one batch's record."""
    return f"{TAG_PREFIX}{batch_id}", json.dumps(record, separators=(",", ":"), sort_keys=True,
                                                 default=str)


def records(tags: dict[str, str]) -> dict[str, dict[str, Any]]:
    """batch id -> record, from a version's tags (unreadable ones skipped)."""
    out = {}
    for key, value in tags.items():
        if key.startswith(TAG_PREFIX):
            try:
                out[key[len(TAG_PREFIX):]] = json.loads(value)
            except ValueError:
                continue
    return out


def evidence(batches: dict[str, dict[str, Any]], champion_version: str | None,
             metric: str) -> dict[str, Any]:
    """The records against `champion_version` summed up: batches, rows, row-weighted
    agreement, and on labelled rows the row-weighted `metric` of both models."""
    mine = {b: r for b, r in batches.items()
            if champion_version is None or str(r.get("champion_version")) == str(champion_version)}
    rows = sum(int(r.get("rows", 0)) for r in mine.values())
    out: dict[str, Any] = {
        "champion_version": champion_version, "batches": len(mine), "rows": rows,
        "other_champions": len(batches) - len(mine),
        "agreement": round(sum(r["agreement"] * r["rows"] for r in mine.values()) / rows, 6)
        if rows else None,
        "metric": metric, "labelled_rows": 0, "champion": None, "challenger": None}
    scored = [r for r in mine.values()
              if metric in ((r.get("metrics") or {}).get("champion") or {})]
    weights = sum(int(r["labelled_rows"]) for r in scored)
    if weights:
        out["labelled_rows"] = weights
        for who in ("champion", "challenger"):
            out[who] = round(sum(r["metrics"][who][metric] * r["labelled_rows"]
                                 for r in scored) / weights, 6)
    return out


def judge(summary: dict[str, Any], cfg: ShadowConfig) -> tuple[bool | None, str]:
    """(True: may be promoted, False: worse than allowed, None: no labelled traffic), why."""
    metric = summary["metric"]
    if not summary["labelled_rows"]:
        return None, (f"no labelled shadow traffic against champion "
                      f"v{summary['champion_version']} yet ({summary['batches']} batch(es), "
                      f"{summary['rows']} rows scored in the shadow)")
    old, new = summary["champion"], summary["challenger"]
    drop = (old - new) if GREATER_IS_BETTER[metric] else (new - old)
    limits = []
    if cfg.max_metric_drop is not None:
        limits.append((cfg.max_metric_drop, f"gate.shadow.max_metric_drop={cfg.max_metric_drop}"))
    if cfg.max_relative_drop is not None:
        limits.append((cfg.max_relative_drop * abs(old),
                       f"gate.shadow.max_relative_drop={cfg.max_relative_drop}"))
    worse = [why for limit, why in limits if drop > limit + 1e-12]
    said = (f"{metric} on {summary['labelled_rows']} labelled rows: challenger {new:.4f} vs "
            f"champion {old:.4f} ({'worse' if drop > 0 else 'not worse'} by {abs(drop):.4f})")
    if worse:
        return False, f"{said}, more than {' and '.join(worse)} allows"
    return True, f"{said}, within {' and '.join(w for _, w in limits) or 'no declared limit'}"
