"""The registration gate: declared checks in, a machine-readable decision out (pure).

Validation checks (metric thresholds, per-slice floors, latency budget, signature and input
example) decide whether a candidate may be registered at all. Improvement checks (against the
champion, scored on the same test data) decide which alias a registered candidate takes.
"""

from __future__ import annotations

import re
from dataclasses import asdict, dataclass, field, replace
from typing import Any

from mlgate.base.errors import ConfigError
from mlgate.base.params import check_keys, check_number, check_section
from mlgate.core.evaluation import GREATER_IS_BETTER
from mlgate.core.shadow import ShadowConfig

GATE_KEYS = {"model_name", "alias", "challenger_alias", "thresholds", "baseline", "improvement",
             "latency", "slices", "slice_min_rows", "unchecked_slices", "fail_on_reject",
             "allow_unvalidated", "shadow"}
IMPROVEMENT_KEYS = {"metric", "min_delta", "min_relative"}
MARGIN_KEYS = {"min_delta", "min_relative"}
UNCHECKED_POLICIES = ("report", "fail")
LATENCY_KEYS = {"max_ms_per_1000_rows"}
ALIAS_RE = re.compile(r"^[A-Za-z_][\w-]*$")
# Outcomes written to reports/gate.json and the `mlgate.gate` run tag.
CHAMPION, CHALLENGER, REJECTED, SMOKE_FAILED = "champion", "challenger", "rejected", "smoke_failed"
PASS, FAIL, SKIP = "pass", "fail", "skip"
# A check that could not be made (a slice metric undefined there, a slice below
# slice_min_rows): never a pass; gate.unchecked_slices decides whether it blocks.
UNCHECKED = "unchecked"


@dataclass(frozen=True)
class Threshold:
    """Absolute bounds for one metric."""

    metric: str
    min: float | None = None
    max: float | None = None


@dataclass(frozen=True)
class SliceFloor:
    """Bounds for one metric on every value of one column (a fairness check)."""

    column: str
    bound: Threshold


@dataclass(frozen=True)
class Improvement:
    """How much a candidate must beat the champion by to take its alias."""

    metric: str | None
    min_delta: float | None
    min_relative: float | None


@dataclass(frozen=True)
class BaselineMargin:
    """How much a candidate must beat the baseline predictor by on one metric."""

    metric: str
    min_delta: float | None
    min_relative: float | None


@dataclass(frozen=True)
class GateConfig:
    """`gate:` params: registered model, aliases, every declared check and the policy flags."""

    model_name: str
    thresholds: tuple[Threshold, ...]
    improvement: Improvement
    max_latency_ms: float | None
    slices: tuple[SliceFloor, ...]
    slice_min_rows: int
    baseline: tuple[BaselineMargin, ...]
    unchecked_slices: str
    alias: str
    challenger_alias: str
    fail_on_reject: bool
    allow_unvalidated: bool
    shadow: ShadowConfig

    @classmethod
    def from_params(cls, section: dict[str, Any]) -> GateConfig:
        """Build from the `gate:` section, naming every unknown key or metric."""
        section = check_section(section, "gate", GATE_KEYS)
        thresholds = tuple(_threshold(m, b, f"gate.thresholds.{m}")
                           for m, b in (section["thresholds"] or {}).items() if b is not None)
        alias, challenger = _aliases(section)
        policy = section["unchecked_slices"]
        if policy not in UNCHECKED_POLICIES:
            raise ConfigError(f"`gate.unchecked_slices` must be one of {list(UNCHECKED_POLICIES)}, "
                              f"got {policy!r}")
        return cls(model_name=_model_name(section["model_name"]), thresholds=thresholds,
                   baseline=_baseline(section["baseline"] or {}), unchecked_slices=policy,
                   improvement=_improvement(section["improvement"]),
                   max_latency_ms=_latency(section["latency"]),
                   slices=_slices(section["slices"] or {}),
                   slice_min_rows=check_number(section["slice_min_rows"],
                                               "gate.slice_min_rows", low=1, integer=True),
                   alias=alias, challenger_alias=challenger,
                   fail_on_reject=_flag(section, "fail_on_reject"),
                   allow_unvalidated=_flag(section, "allow_unvalidated"),
                   shadow=ShadowConfig.from_params(section["shadow"]))

    @property
    def key_metrics(self) -> list[str]:
        """The metrics this gate looks at: thresholds first, then the improvement metric."""
        names = ([t.metric for t in self.thresholds] + [b.metric for b in self.baseline]
                 + [self.improvement.metric or ""])
        return [m for i, m in enumerate(names) if m and m not in names[:i]]


# The values each metric can take; a bound outside them can never be met (or never fail).
METRIC_RANGE = {"roc_auc": (0.0, 1.0), "accuracy": (0.0, 1.0), "balanced_accuracy": (0.0, 1.0),
                "f1": (0.0, 1.0), "precision": (0.0, 1.0), "recall": (0.0, 1.0),
                "log_loss": (0.0, None), "rmse": (0.0, None), "mae": (0.0, None),
                "mape": (0.0, None), "r2": (None, 1.0)}


def _known_metric(metric: str, key: str) -> None:
    """Raise ConfigError when `metric` is not one mlgate computes."""
    if metric not in GREATER_IS_BETTER:
        raise ConfigError(f"`{key}`: unknown metric {metric!r}; use one of "
                          f"{sorted(GREATER_IS_BETTER)}")


def _number(value: Any, key: str, low: float | None = None,
            high: float | None = None) -> float | None:
    """A finite number in [low, high] as a float, or None; else ConfigError naming the key."""
    value = check_number(value, key, low=low, high=high, optional=True)
    return None if value is None else float(value)


def _threshold(metric: str, bounds: Any, key: str) -> Threshold:
    """Parse `{min: x}` / `{max: y}` for one metric."""
    _known_metric(metric, key)
    if not isinstance(bounds, dict) or not bounds or set(bounds) - {"min", "max"}:
        raise ConfigError(f"`{key}` must be a mapping with `min` and/or `max`")
    low, high = METRIC_RANGE[metric]
    return Threshold(metric, _number(bounds.get("min"), f"{key}.min", low, high),
                     _number(bounds.get("max"), f"{key}.max", low, high))


def _model_name(value: Any) -> str:
    """The registered model name: a non-empty string (the data profile sets it)."""
    if not isinstance(value, str) or not value.strip():
        raise ConfigError(f"`gate.model_name` must name the registered model, got {value!r}; "
                          "the data profile (conf/data/<name>.yaml) sets it")
    return value


def _baseline(section: dict[str, Any]) -> tuple[BaselineMargin, ...]:
    """Parse `gate.baseline: {metric: {min_delta, min_relative}}` (null: not checked)."""
    margins = []
    for metric, rule in section.items():
        key = f"gate.baseline.{metric}"
        if rule is None:
            continue
        _known_metric(metric, key)
        if not isinstance(rule, dict):
            raise ConfigError(f"`{key}` must be a mapping with `min_delta` and/or `min_relative`")
        check_keys(rule, MARGIN_KEYS, key)
        margins.append(BaselineMargin(metric, *_margin(rule, key)))
    return tuple(margins)


def _margin(rule: dict[str, Any], key: str,
            required: bool = True) -> tuple[float | None, float | None]:
    """(min_delta, min_relative) of a margin rule (an absent one: not checked); `required`:
    at least one is set."""
    delta = _number(rule.get("min_delta"), f"{key}.min_delta")
    relative = _number(rule.get("min_relative"), f"{key}.min_relative")
    if required and delta is None and relative is None:
        raise ConfigError(f"`{key}`: set `min_delta` and/or `min_relative`")
    return delta, relative


def _improvement(section: dict[str, Any]) -> Improvement:
    """Parse `gate.improvement`: metric, absolute and/or relative margin."""
    section = check_section(section, "gate.improvement", IMPROVEMENT_KEYS)
    metric = section["metric"]
    if metric is not None:
        _known_metric(metric, "gate.improvement.metric")
    return Improvement(metric, *_margin(section, "gate.improvement",
                                        required=metric is not None))


def _latency(section: dict[str, Any]) -> float | None:
    """Parse `gate.latency.max_ms_per_1000_rows` (None: no budget)."""
    section = check_section(section, "gate.latency", LATENCY_KEYS)
    value = _number(section["max_ms_per_1000_rows"], "gate.latency.max_ms_per_1000_rows")
    if value is not None and value <= 0:
        raise ConfigError("`gate.latency.max_ms_per_1000_rows` must be > 0")
    return value


def _slices(section: dict[str, Any]) -> tuple[SliceFloor, ...]:
    """Parse `gate.slices: {column: {metric: {min, max}}}`."""
    floors = []
    for column, metrics in section.items():
        if metrics is None:  # `-S gate.slices.<column>=null` switches one column off
            continue
        if not isinstance(metrics, dict) or not metrics:
            raise ConfigError(f"`gate.slices.{column}` must map metrics to `min`/`max` bounds")
        floors += [SliceFloor(str(column), _threshold(m, b, f"gate.slices.{column}.{m}"))
                   for m, b in metrics.items() if b is not None]
    return tuple(floors)


def _aliases(section: dict[str, Any]) -> tuple[str, str]:
    """The champion and challenger alias names, valid for MLflow and distinct."""
    names = (section["alias"], section["challenger_alias"])
    for key, name in zip(("alias", "challenger_alias"), names, strict=True):
        if not ALIAS_RE.match(str(name)) or name.lower() == "latest" or re.match(r"^[vV]\d+$",
                                                                                 name):
            raise ConfigError(f"`gate.{key}`: {name!r} is not a usable MLflow alias")
    if names[0] == names[1]:
        raise ConfigError("`gate.alias` and `gate.challenger_alias` must differ")
    return names


def _flag(section: dict[str, Any], key: str) -> bool:
    """A boolean key, else ConfigError naming it."""
    value = section[key]
    if not isinstance(value, bool):
        raise ConfigError(f"`gate.{key}` must be true or false, got {value!r}")
    return value



@dataclass(frozen=True)
class Check:
    """One gate check: what was measured, against what, and the verdict (pass/fail/skip)."""

    name: str
    kind: str
    metric: str
    value: float | None
    threshold: float | None
    status: str
    reason: str
    decided_by: str = "mlgate"  # mlflow: mlflow.validate_evaluation_results gave the verdict

    @property
    def passed(self) -> bool:
        """True unless the check failed (a skipped or unchecked check does not block)."""
        return self.status != FAIL

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready form, with `passed` spelled out."""
        return {**asdict(self), "passed": self.passed}


@dataclass(frozen=True)
class SliceScore:
    """The candidate's metrics on the rows where `column == value`, or why they are missing.

    `skipped`: why no metric was computed on this slice (fewer than gate.slice_min_rows);
    `undefined`: per metric, why that metric is undefined on these rows.
    """

    column: str
    value: Any
    rows: int
    metrics: dict[str, float] | None = None
    skipped: str | None = None
    undefined: dict[str, str] = field(default_factory=dict)


@dataclass(frozen=True)
class Evidence:
    """What the register stage measured on the candidate besides its test metrics."""

    slices: tuple[SliceScore, ...] = ()
    latency_ms: float | None = None
    has_signature: bool = True
    has_input_example: bool = True
    baseline: dict[str, float] | None = None  # the baseline predictor's test metrics
    baseline_predictor: str | None = None  # what it is, e.g. DummyClassifier(strategy='prior')


@dataclass(frozen=True)
class ChampionScore:
    """The current champion scored on the candidate's test data (or why it could not be)."""

    version: str
    metrics: dict[str, float] | None = None
    error: str | None = None


def _bound_check(name: str, kind: str, metric: str, value: float | None,
                 bound: Threshold, metrics: dict[str, float] | None = None) -> list[Check]:
    """One check per declared side (min/max) of `bound`.

    With the candidate's `metrics` (absolute thresholds, not slices), a lone bound in the
    metric's own direction (a min of a greater-is-better metric, a max of a lower-is-better
    one) is MLflow's `MetricThreshold(threshold=...)`, decided by
    `mlflow.validate_evaluation_results`; a bound against the direction, or a min and a max on
    one metric, MLflow cannot express: mlgate decides those.
    """
    checks = []
    both = bound.min is not None and bound.max is not None
    for side, limit in (("min", bound.min), ("max", bound.max)):
        if limit is None:
            continue
        ok = value is not None and (value >= limit if side == "min" else value <= limit)
        by = "mlgate"
        if (metrics is not None and value is not None and not both
                and (side == "min") == GREATER_IS_BETTER[metric]):
            ok, by = mlflow_verdict(metric, {"threshold": limit}, metrics) is None, "mlflow"
        op = ">=" if side == "min" else "<="
        checks.append(Check(f"{name}_{side}", kind, metric, value, limit, PASS if ok else FAIL,
                            f"{name} = {value} {'satisfies' if ok else 'violates'} {op} {limit}",
                            by))
    return checks


def mlflow_verdict(metric: str, rule: dict[str, float], candidate: dict[str, float],
                   baseline: dict[str, float] | None = None) -> str | None:
    """MLflow's verdict on one MetricThreshold: None when it passes, else MLflow's message.

    One check per call, so that every check keeps its own value and verdict. MLflow 3.17's
    MetricThreshold takes Python numbers only (not numpy scalars): everything is float()-ed.
    """
    import mlflow  # lazy: MLflow, ~1 s: only deciding the gate needs it
    from mlflow.models import EvaluationResult, MetricThreshold
    from mlflow.models.evaluation.validation import ModelValidationFailedException

    threshold = MetricThreshold(**{k: float(v) for k, v in rule.items()},
                                greater_is_better=GREATER_IS_BETTER[metric])

    def result(metrics: dict[str, float]) -> EvaluationResult:
        return EvaluationResult({k: float(v) for k, v in metrics.items() if v is not None}, {})

    try:
        mlflow.validate_evaluation_results({metric: threshold}, result(candidate),
                                           result(baseline) if baseline is not None else None)
    except ModelValidationFailedException as exc:
        return str(exc.message)
    return None


def absolute_checks(metrics: dict[str, float], thresholds: tuple[Threshold, ...]) -> list[Check]:
    """Compare each test metric with its declared min/max."""
    return [c for t in thresholds
            for c in _bound_check(t.metric, "threshold", t.metric, metrics.get(t.metric), t,
                                  metrics)]


def slice_checks(scores: tuple[SliceScore, ...], floors: tuple[SliceFloor, ...],
                 unchecked: str = "report") -> list[Check]:
    """Each slice floor on each value of its column.

    A floor whose metric is undefined on a slice, or a slice below gate.slice_min_rows, is
    `unchecked` with the reason; with gate.unchecked_slices: fail it fails instead.
    """
    checks = []
    for floor in floors:
        metric = floor.bound.metric
        for s in (s for s in scores if s.column == floor.column):
            name = f"slice.{s.column}.{s.value}.{metric}"
            why = s.skipped or s.undefined.get(metric)
            value = None if why else (s.metrics or {}).get(metric)
            found = _bound_check(name, "slice", metric, value, floor.bound)
            if why:
                status = FAIL if unchecked == "fail" else UNCHECKED
                found = [replace(c, status=status,
                                 reason=f"{s.column}={s.value} ({s.rows} rows): {metric} not "
                                        f"checked: {why}"
                                        + (" (gate.unchecked_slices: fail)" if status == FAIL
                                           else "")) for c in found]
            checks += found
    return checks


def baseline_checks(metrics: dict[str, float], baseline: dict[str, float] | None,
                    margins: tuple[BaselineMargin, ...]) -> list[Check]:
    """The candidate vs the baseline predictor on the same test rows, per declared margin."""
    checks = []
    for m in margins:
        name = f"baseline.{m.metric}"
        if baseline is None or baseline.get(m.metric) is None or metrics.get(m.metric) is None:
            checks.append(Check(name, "baseline", m.metric, metrics.get(m.metric), None, FAIL,
                                f"{m.metric} of the candidate or of the baseline predictor is "
                                "missing"))
            continue
        checks += _margins(name, "baseline", metrics[m.metric], baseline[m.metric],
                           m.metric, (m.min_delta, m.min_relative),
                           f"the baseline predictor ({m.metric} {baseline[m.metric]})")
    return checks


def latency_check(latency_ms: float | None, budget: float | None) -> list[Check]:
    """Prediction time per 1,000 rows within the declared budget."""
    if budget is None:
        return []
    ok = latency_ms is not None and latency_ms <= budget
    return [Check("latency_ms_per_1000_rows", "latency", "latency_ms_per_1000_rows", latency_ms,
                  budget, PASS if ok else FAIL,
                  f"predicting 1000 rows takes {latency_ms} ms "
                  f"({'within' if ok else 'over'} the budget of {budget} ms)")]


def artifact_checks(evidence: Evidence) -> list[Check]:
    """The logged model must carry a signature and an input example (serving needs both)."""
    return [Check(name, "artifact", name, float(ok), 1.0, PASS if ok else FAIL,
                  f"logged model {'has' if ok else 'has no'} {name.replace('_', ' ')}")
            for name, ok in (("signature", evidence.has_signature),
                             ("input_example", evidence.has_input_example))]


def declared_check(cfg: GateConfig) -> list[Check]:
    """Refuse a gate without metric checks unless `gate.allow_unvalidated` says otherwise."""
    if cfg.thresholds or cfg.baseline:
        return []
    if cfg.allow_unvalidated:
        return [Check("declared_thresholds", "config", "*", None, None, SKIP,
                      "no thresholds declared; allowed by gate.allow_unvalidated: true")]
    return [Check("declared_thresholds", "config", "*", None, None, FAIL,
                  "no thresholds declared in gate.thresholds or gate.baseline; set some, or "
                  "gate.allow_unvalidated: true")]


def improvement_checks(metrics: dict[str, float], champion: ChampionScore | None,
                       rule: Improvement) -> list[Check]:
    """Candidate vs champion on the same test data: absolute and/or relative margin."""
    m = rule.metric
    if champion is None:
        return [Check("improvement", "improvement", m or "*", None, None, SKIP,
                      "no current champion: the candidate takes the alias")]
    if m is None:
        return [Check("improvement", "improvement", "*", None, None, FAIL,
                      "no gate.improvement.metric declared: a champion is only replaced "
                      "by `mlgate models promote`")]
    if champion.metrics is None or m not in champion.metrics or metrics.get(m) is None:
        return [Check("improvement", "improvement", m, None, None, FAIL,
                      f"champion v{champion.version} could not be compared on {m}: "
                      f"{champion.error or 'metric missing'}")]
    return _margin_checks(metrics[m], champion.metrics[m], champion.version, rule)


def _margin_checks(new: float, old: float, version: str, rule: Improvement) -> list[Check]:
    """The absolute (`min_delta`) and relative (`min_relative`) margins over the champion."""
    return _margins("improvement", "improvement", new, old, str(rule.metric),
                    (rule.min_delta, rule.min_relative), f"champion v{version}")


def _margins(name: str, kind: str, new: float, old: float, metric: str,
             limits: tuple[float | None, float | None], against: str) -> list[Check]:
    """`new` beats `old` on `metric` by at least (min_delta, min_relative), in its direction.

    A positive margin is MLflow's `min_absolute_change` / `min_relative_change` (at most 1)
    against the other model's evaluation, decided by `mlflow.validate_evaluation_results`. A
    zero or negative margin ("not worse than"), or a relative one above 1, MLflow cannot
    express (it requires a change above 0): mlgate decides those. Against a zero value the
    relative change is undefined: mlgate fails it, MLflow requires any improvement.
    """
    delta = round((1.0 if GREATER_IS_BETTER[metric] else -1.0) * (new - old), 6)
    relative = round(delta / abs(old), 6) if old else None  # undefined against a zero
    checks = []
    for check, value, limit, key in ((name, delta, limits[0], "min_absolute_change"),
                                     (f"{name}_relative", relative, limits[1],
                                      "min_relative_change")):
        if limit is None:
            continue
        ok, by = value is not None and value >= limit, "mlgate"
        if limit > 0 and (key == "min_absolute_change" or limit <= 1):
            ok = mlflow_verdict(metric, {key: limit}, {metric: new}, {metric: old}) is None
            by = "mlflow"
        checks.append(Check(check, kind, metric, value, limit, PASS if ok else FAIL,
                            f"{metric} improves on {against} by {value}"
                            f"{' (relative)' if check.endswith('relative') else ''} "
                            f"({'>=' if ok else '<'} {limit})", by))
    return checks


@dataclass
class GateDecision:
    """Validation checks, improvement checks and what they imply."""

    checks: list[Check] = field(default_factory=list)
    improvement: list[Check] = field(default_factory=list)
    champion: ChampionScore | None = None

    @property
    def passed(self) -> bool:
        """True when no validation check failed: the candidate may be registered."""
        return all(c.passed for c in self.checks)

    @property
    def beats_champion(self) -> bool:
        """True when there is no champion or every improvement check passed."""
        return self.champion is None or all(c.passed for c in self.improvement)

    @property
    def role(self) -> str:
        """`rejected`, `champion` or `challenger` (before the smoke test)."""
        if not self.passed:
            return REJECTED
        return CHAMPION if self.beats_champion else CHALLENGER

    @property
    def reasons(self) -> list[str]:
        """The reasons of every failed check (validation first)."""
        return [c.reason for c in self.checks + self.improvement if not c.passed]

    @property
    def unchecked(self) -> list[Check]:
        """The checks that could not be made (never counted as passed)."""
        return [c for c in self.checks if c.status == UNCHECKED]


def decide(metrics: dict[str, float], champion: ChampionScore | None, cfg: GateConfig,
           evidence: Evidence | None = None) -> GateDecision:
    """Apply every declared check to the candidate and compare it with the champion."""
    evidence = evidence or Evidence()
    checks = (artifact_checks(evidence) + declared_check(cfg)
              + absolute_checks(metrics, cfg.thresholds)
              + baseline_checks(metrics, evidence.baseline, cfg.baseline)
              + slice_checks(evidence.slices, cfg.slices, cfg.unchecked_slices)
              + latency_check(evidence.latency_ms, cfg.max_latency_ms))
    return GateDecision(checks, improvement_checks(metrics, champion, cfg.improvement), champion)


@dataclass(frozen=True)
class Outcome:
    """What happened in the registry: the final decision, the version and alias it got."""

    decision: str
    version: str | None = None
    alias: str | None = None
    smoke_test: str = "not run"
    detail: str = ""


def check_rows(decision: GateDecision) -> list[dict[str, Any]]:
    """Every check (validation, then improvement) as one flat row."""
    return [c.to_dict() for c in decision.checks + decision.improvement]


def gate_report(decision: GateDecision, cfg: GateConfig, metrics: dict[str, float],
                outcome: Outcome, candidate: dict[str, Any]) -> dict[str, Any]:
    """The content of reports/gate.json."""
    champion = decision.champion
    candidate = dict(candidate)
    baseline = candidate.pop("baseline", None)
    return {
        "decision": outcome.decision,
        "passed": decision.passed,
        "model_name": cfg.model_name,
        "registered_version": outcome.version,
        "alias": outcome.alias,
        "smoke_test": {"status": outcome.smoke_test, "detail": outcome.detail},
        "checks": [c.to_dict() for c in decision.checks],
        "unchecked": {"count": len(decision.unchecked),
                      "checks": [{"name": c.name, "reason": c.reason}
                                 for c in decision.unchecked]},
        "improvement": [c.to_dict() for c in decision.improvement],
        "reasons": decision.reasons + ([outcome.detail] if outcome.decision == SMOKE_FAILED
                                       else []),
        "candidate": {**candidate, "metrics": metrics},
        "previous_champion": asdict(champion) if champion else None,
        "baseline": baseline,
        "config": config_summary(cfg),
    }


def config_summary(cfg: GateConfig) -> dict[str, Any]:
    """The declared checks, as they were applied."""
    return {
        "thresholds": {t.metric: {"min": t.min, "max": t.max} for t in cfg.thresholds},
        "baseline": {b.metric: {"min_delta": b.min_delta, "min_relative": b.min_relative}
                     for b in cfg.baseline},
        "improvement": asdict(cfg.improvement),
        "latency": {"max_ms_per_1000_rows": cfg.max_latency_ms},
        "slices": [{"column": s.column, "metric": s.bound.metric, "min": s.bound.min,
                    "max": s.bound.max} for s in cfg.slices],
        "slice_min_rows": cfg.slice_min_rows, "unchecked_slices": cfg.unchecked_slices,
        "alias": cfg.alias, "challenger_alias": cfg.challenger_alias,
        "fail_on_reject": cfg.fail_on_reject, "allow_unvalidated": cfg.allow_unvalidated,
    }


TAG_KEY_BAD = re.compile(r"[^\w.\- /:]")


def tag_key(name: str) -> str:
    """A model-version tag key MLflow accepts (alphanumerics, `_ - . / : space`)."""
    return TAG_KEY_BAD.sub("_", name)[:250]


def version_tags(decision: GateDecision, metrics: dict[str, float], run_id: str,
                 evidence: Evidence | None = None) -> dict[str, str]:
    """Tags for a registered version: validation status, the gate's numbers, the run."""
    tags = {"validation_status": "passed" if decision.passed else "failed", "run_id": run_id}
    tags.update({f"metric.{k}": str(v) for k, v in metrics.items()})
    tags.update({tag_key(f"check.{c.name}"): f"{c.value} vs {c.threshold}: {c.status}"
                 for c in decision.checks + decision.improvement})
    tags["unchecked_checks"] = str(len(decision.unchecked))
    if evidence is not None and evidence.latency_ms is not None:
        tags["latency_ms_per_1000_rows"] = str(evidence.latency_ms)
    if evidence is not None and evidence.baseline is not None:
        tags.update({f"baseline.{k}": str(v) for k, v in evidence.baseline.items()})
    if decision.champion is not None:
        tags["compared_with_champion"] = decision.champion.version
    return tags
