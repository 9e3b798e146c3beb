"""From gate decision to registry: register, smoke-test, then compare-and-set the aliases.

Everything that writes to the registry runs under the repository's registry lock, and the
champion is re-read inside it: two pipelines finishing together cannot both become champion
on the strength of a comparison with a champion that is no longer current.

Crash safety: a version is created `pending`, tagged `passed` only after its smoke test, and
only then can an alias move to it; so an alias never points at an unverified version. A
registering process killed half-way (kill -9, power loss) leaves a `pending` version. Seen
under the lock (held only by live processes), such a version is orphaned: the candidate's own
one is resumed by the next run instead of registering the model twice; any other whose owner
(`registration.owner` = host:pid) is gone is tagged `interrupted` (never promoted without
--force; rerunning its pipeline resumes it).
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable
from dataclasses import asdict, dataclass, field
from typing import Any

from mlgate.adapters.locks import registry_lock
from mlgate.adapters.registry import (
    current_version,
    register_version,
    set_alias,
    set_champion,
    set_version_tags,
    validated_version,
    versions_with_status,
)
from mlgate.adapters.smoke import smoke_test
from mlgate.base.processes import owner_gone, process_owner
from mlgate.core.gate import (
    CHAMPION,
    REJECTED,
    SMOKE_FAILED,
    ChampionScore,
    Evidence,
    GateConfig,
    GateDecision,
    Outcome,
    decide,
    version_tags,
)

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class GateCandidate:
    """The model the pipeline just trained: where it is logged and what the gate measured."""

    model_uri: str
    run_id: str
    metrics: dict[str, float]
    evidence: Evidence = field(default_factory=Evidence)
    provenance: dict[str, str] = field(default_factory=dict)

    def tags(self, decision: GateDecision) -> dict[str, str]:
        """Version tags: the gate's numbers, the run, git/DVC/data provenance."""
        return {**self.provenance,
                **version_tags(decision, self.metrics, self.run_id, self.evidence)}

    def summary(self) -> dict[str, Any]:
        """The candidate part of reports/gate.json (without metrics)."""
        ev = self.evidence
        return {"run_id": self.run_id, "model_uri": self.model_uri,
                "latency_ms_per_1000_rows": ev.latency_ms, "has_signature": ev.has_signature,
                "has_input_example": ev.has_input_example,
                "slices": [asdict(s) for s in ev.slices], "provenance": self.provenance,
                "baseline": {"predictor": ev.baseline_predictor, "metrics": ev.baseline}
                if ev.baseline is not None else None}


Rescore = Callable[[], ChampionScore | None]


def _same_champion(seen: ChampionScore | None, current: Any | None) -> bool:
    """True when the alias still points where it did when the champion was scored."""
    if current is None or seen is None:
        return current is None and seen is None
    return str(current.version) == seen.version


def recheck(decision: GateDecision, cfg: GateConfig, cand: GateCandidate,
            rescore: Rescore) -> GateDecision:
    """Inside the lock: re-read the champion; if it moved, score the new one and decide again."""
    if _same_champion(decision.champion, current_version(cfg.model_name, cfg.alias)):
        return decision
    log.info("the %s changed while this candidate was evaluated: comparing again", cfg.alias)
    return decide(cand.metrics, rescore(), cfg, cand.evidence)


def _move_aliases(cfg: GateConfig, version: str, role: str) -> str:
    """Give `version` the champion (with history) or the challenger alias; return it."""
    if role == CHAMPION:
        set_champion(cfg.model_name, version, cfg.alias, cfg.challenger_alias)
        return cfg.alias
    set_alias(cfg.model_name, version, cfg.challenger_alias)
    return cfg.challenger_alias


PENDING, INTERRUPTED = "pending", "interrupted"
# host:pid of the process registering a `pending` version
REGISTRATION_OWNER_TAG = "registration.owner"


def recover_interrupted(model_name: str, model_uri: str) -> str | None:
    """Under the lock: tag orphaned `pending` versions; return the candidate's own, if any."""
    own = None
    for mv in versions_with_status(model_name, (PENDING, INTERRUPTED)):
        if mv.source == model_uri and own is None:
            own = str(mv.version)
            log.warning("%s v%s: its registration was interrupted; resuming it", model_name, own)
        elif (mv.tags.get("validation_status") == PENDING
              and owner_gone(mv.tags.get(REGISTRATION_OWNER_TAG))):
            log.warning("%s v%s: registration interrupted (its process died); tagged %s",
                        model_name, mv.version, INTERRUPTED)
            set_version_tags(model_name, str(mv.version), {
                "validation_status": INTERRUPTED,
                "smoke_test": "interrupted: the registering process died before the smoke test "
                              "finished; rerun its pipeline to resume it"})
    return own


def pending_version(name: str, cand: GateCandidate, decision: GateDecision, own: str | None) -> str:
    """The candidate's version tagged `pending`: its interrupted one resumed, or a new one."""
    tags = {**cand.tags(decision), "validation_status": PENDING,
            REGISTRATION_OWNER_TAG: process_owner()}
    if own is None:
        return register_version(cand.model_uri, name, tags)
    set_version_tags(name, own, tags)
    return own


def register_candidate(cfg: GateConfig, cand: GateCandidate, decision: GateDecision,
                       rescore: Rescore, tracking_uri: str) -> tuple[GateDecision, Outcome]:
    """Register a passing candidate, smoke-test it, then compare-and-set the aliases."""
    name = cfg.model_name
    with registry_lock():
        own = recover_interrupted(name, cand.model_uri)
        existing = validated_version(name, cand.model_uri)
        if existing is not None:
            return reuse_version(cfg, cand, decision, rescore, existing)
        version = pending_version(name, cand, decision, own)
        smoke = smoke_test(f"models:/{name}/{version}", tracking_uri)
        if not smoke.ok:
            set_version_tags(name, version, {"validation_status": "failed",
                                             "smoke_test": f"failed: {smoke.detail}"[:5000]})
            log.error("smoke test failed; aliases unchanged: %s", smoke.detail)
            return decision, Outcome(SMOKE_FAILED, version, None, "failed", smoke.detail)
        decision = recheck(decision, cfg, cand, rescore)
        # `passed` first, aliases second: a crash in between leaves a passed version without
        # an alias (the next run moves the aliases), never an alias on an unverified version.
        set_version_tags(name, version, {**cand.tags(decision), "validation_status": "passed",
                                         "smoke_test": "passed", "gate.role": decision.role,
                                         "gate.decided_at_ms": str(int(time.time() * 1000))})
        alias = _move_aliases(cfg, version, decision.role)
    return decision, Outcome(decision.role, version, alias, "passed", smoke.detail)


def reuse_version(cfg: GateConfig, cand: GateCandidate, decision: GateDecision, rescore: Rescore,
                  version: str) -> tuple[GateDecision, Outcome]:
    """The same logged model passed the gate before: move aliases, never register it twice."""
    log.info("%s v%s was registered from this model already: not registering it again",
             cfg.model_name, version)
    champion = current_version(cfg.model_name, cfg.alias)
    if champion is not None and str(champion.version) == version:
        return decision, Outcome(CHAMPION, version, cfg.alias, "passed earlier",
                                 "this model is already the champion")
    decision = recheck(decision, cfg, cand, rescore)
    alias = _move_aliases(cfg, version, decision.role)
    return decision, Outcome(decision.role, version, alias, "passed earlier",
                             "model already registered; aliases updated")


def run_gate(cfg: GateConfig, cand: GateCandidate, rescore: Rescore,
             tracking_uri: str) -> tuple[GateDecision, Outcome]:
    """Decide; register and move aliases only when every validation check passed."""
    decision = decide(cand.metrics, rescore(), cfg, cand.evidence)
    if not decision.passed:
        log.warning("gate rejected the candidate: %s", "; ".join(decision.reasons))
        return decision, Outcome(REJECTED)
    return register_candidate(cfg, cand, decision, rescore, tracking_uri)
