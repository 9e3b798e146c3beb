"""The registration gate: declared thresholds in, a machine-readable decision out (pure)."""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from typing import Any

from mlgate.errors import ConfigError
from mlgate.evaluation import GREATER_IS_BETTER
from mlgate.params import check_keys

GATE_KEYS = {"model_name", "alias", "thresholds", "improvement", "allow_unvalidated"}


@dataclass(frozen=True)
class Threshold:
    """Absolute bounds for one metric."""

    metric: str
    min: float | None = None
    max: float | None = None


@dataclass(frozen=True)
class GateConfig:
    """`gate:` params: registered model name, thresholds and required improvement."""

    model_name: str
    thresholds: tuple[Threshold, ...]
    improvement_metric: str | None = None
    min_improvement: float = 0.0
    alias: str = "champion"
    allow_unvalidated: bool = False

    @classmethod
    def from_params(cls, section: dict[str, Any]) -> GateConfig:
        """Build from the `gate:` section, rejecting unknown metrics and keys."""
        check_keys(section, GATE_KEYS, "gate")
        thresholds = tuple(_threshold(m, b) for m, b in (section.get("thresholds") or {}).items())
        imp = section.get("improvement") or {}
        check_keys(imp, {"metric", "min_delta"}, "gate.improvement")
        if imp.get("metric") is not None:
            _known_metric(imp["metric"], "gate.improvement.metric")
        return cls(model_name=section.get("model_name") or "mlgate", thresholds=thresholds,
                   improvement_metric=imp.get("metric"),
                   min_improvement=float(imp.get("min_delta", 0.0)),
                   alias=section.get("alias", "champion"),
                   allow_unvalidated=bool(section.get("allow_unvalidated", False)))


def _known_metric(metric: str, key: str) -> None:
    """Raise ConfigError when `metric` is not one mlgate computes."""
    if metric not in GREATER_IS_BETTER:
        raise ConfigError(f"`{key}`: unknown metric {metric!r}; use one of "
                          f"{sorted(GREATER_IS_BETTER)}")


def _threshold(metric: str, bounds: Any) -> Threshold:
    """Parse `{min: x}` / `{max: y}` for one metric."""
    _known_metric(metric, f"gate.thresholds.{metric}")
    if not isinstance(bounds, dict) or not bounds or set(bounds) - {"min", "max"}:
        raise ConfigError(f"`gate.thresholds.{metric}` must be a mapping with `min` and/or `max`")
    return Threshold(metric, bounds.get("min"), bounds.get("max"))


@dataclass(frozen=True)
class Check:
    """One gate check with its value, threshold and verdict."""

    name: str
    metric: str
    threshold: float | None
    value: float | None
    passed: bool
    reason: str


@dataclass
class GateDecision:
    """All checks and the overall verdict."""

    passed: bool
    checks: list[Check] = field(default_factory=list)

    @property
    def reasons(self) -> list[str]:
        """The reasons of the failed checks."""
        return [c.reason for c in self.checks if not c.passed]

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready form."""
        return {"passed": self.passed, "checks": [asdict(c) for c in self.checks],
                "reasons": self.reasons}


def absolute_checks(metrics: dict[str, float], thresholds: tuple[Threshold, ...]) -> list[Check]:
    """Compare each metric with its declared min/max."""
    checks = []
    for t in thresholds:
        value = metrics.get(t.metric)
        for kind, bound in (("min", t.min), ("max", t.max)):
            if bound is None:
                continue
            ok = value is not None and (value >= bound if kind == "min" else value <= bound)
            op = ">=" if kind == "min" else "<="
            checks.append(Check(f"{t.metric}_{kind}", t.metric, float(bound), value, ok,
                                f"{t.metric} = {value} {'satisfies' if ok else 'violates'} "
                                f"{op} {bound}"))
    return checks


def improvement_check(metrics: dict[str, float], champion: dict[str, float] | None,
                      cfg: GateConfig) -> list[Check]:
    """Candidate must beat the champion (scored on the same test data) by the declared delta."""
    m = cfg.improvement_metric
    if m is None:
        return []
    if champion is None:
        return [Check("improvement", m, cfg.min_improvement, None, True,
                      "no current champion: improvement check does not apply")]
    sign = 1.0 if GREATER_IS_BETTER[m] else -1.0
    delta = round(sign * (metrics[m] - champion[m]), 6)
    ok = delta >= cfg.min_improvement
    return [Check("improvement", m, cfg.min_improvement, delta, ok,
                  f"{m} improves on champion by {delta} ({'>=' if ok else '<'} "
                  f"{cfg.min_improvement})")]


def decide(metrics: dict[str, float], champion: dict[str, float] | None,
           cfg: GateConfig) -> GateDecision:
    """Apply every declared check; with none declared, refuse unless allow_unvalidated."""
    checks = absolute_checks(metrics, cfg.thresholds) + improvement_check(metrics, champion, cfg)
    if not cfg.thresholds and not cfg.allow_unvalidated:
        checks.append(Check("declared_thresholds", "*", None, None, False,
                            "no thresholds declared in gate.thresholds; set some, or "
                            "gate.allow_unvalidated: true"))
    return GateDecision(passed=all(c.passed for c in checks), checks=checks)


def gate_report(decision: GateDecision, cfg: GateConfig, metrics: dict[str, float],
                champion: tuple[str | None, dict[str, float] | None],
                registered_version: str | None, run_id: str) -> dict[str, Any]:
    """The content of reports/gate.json."""
    return {
        "decision": "registered" if registered_version else "rejected",
        **decision.to_dict(),
        "model_name": cfg.model_name,
        "alias": cfg.alias if registered_version else None,
        "registered_version": registered_version,
        "candidate": {"run_id": run_id, "metrics": metrics},
        "previous_champion": ({"version": champion[0], "metrics": champion[1]}
                              if champion[0] else None),
        "thresholds": {t.metric: {"min": t.min, "max": t.max} for t in cfg.thresholds},
        "improvement": {"metric": cfg.improvement_metric, "min_delta": cfg.min_improvement},
    }


def version_tags(decision: GateDecision, metrics: dict[str, float], run_id: str) -> dict[str, str]:
    """Tags for a registered model version: validation status, the gate's numbers, the run."""
    tags = {"validation_status": "passed" if decision.passed else "failed", "mlflow.run": run_id}
    tags.update({f"metric.{k}": str(v) for k, v in metrics.items()})
    tags.update({f"check.{c.name}": f"{c.value} vs {c.threshold}: {'pass' if c.passed else 'fail'}"
                 for c in decision.checks})
    return tags
