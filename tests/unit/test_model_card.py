"""The model card: the decision and why, metrics against thresholds and the champion, every
check with who decided it, top features, data and how to reproduce; always within the limit."""

from mlgate.core.gate import (
    ChampionScore,
    Evidence,
    Outcome,
    SliceScore,
    decide,
    gate_report,
)
from mlgate.core.model_card import LIMIT, model_card
from tests.defaults import NO_BASELINE_NOR_LATENCY, gate_config

METRICS = {"roc_auc": 0.80, "accuracy": 0.8, "log_loss": 0.42}
EXPLANATION = {"rows": 500, "explainer": "tree", "estimator": "LGBMClassifier",
               "output": "log-odds",
               "features": [{"feature": "income_per_person", "mean_abs_shap": 0.31,
                             "engineered": True, "uses": ["income", "num"]},
                            {"feature": "age", "mean_abs_shap": 0.2, "engineered": False,
                             "uses": ["age"]}]}
DATA = {"train": {"path": "data/processed/train.parquet", "rows": 800, "md5": "a" * 32},
        "test": {"path": "data/processed/test.parquet", "rows": 200, "md5": "b" * 32}}
PROVENANCE = {"git.commit": "c0ffee", "dvc.exp_name": "brave-owl", "dvc.baseline_rev": "abc"}


def card(metrics, champion, outcome, evidence=None, **gate):
    cfg = gate_config({"model_name": "m", "thresholds": {"roc_auc": {"min": 0.7}},
                       "improvement": {"metric": "roc_auc", "min_delta": 0.01},
                       **NO_BASELINE_NOR_LATENCY, **gate})
    decision = decide(metrics, champion, cfg, evidence)
    report = gate_report(decision, cfg, metrics, outcome,
                         {"run_id": "r1", "provenance": PROVENANCE})
    return model_card(report, EXPLANATION, DATA)


def test_a_champion_card_says_why_and_how_to_reproduce():
    text = card(METRICS, ChampionScore("3", {**METRICS, "roc_auc": 0.78}),
                Outcome("champion", "4", "champion"))
    assert text.startswith("**Decision: champion.** v4 took @champion: it beats champion v3.")
    assert "| roc_auc | 0.8 | ≥ 0.7 | — | 0.78 |" in text  # candidate, threshold, champion
    assert "| roc_auc_min | 0.8 | 0.7 | pass | mlflow |" in text
    assert "| improvement | 0.02 | 0.01 | pass | mlflow |" in text
    assert "1. `income_per_person` 0.31 (made from income, num)" in text
    assert "`data/processed/train.parquet`, 800 rows, md5 `" + "a" * 32 in text
    assert "dvc exp apply brave-owl" in text and "git commit: `c0ffee`" in text


def test_a_challenger_card_gives_the_failed_improvement():
    text = card(METRICS, ChampionScore("3", METRICS), Outcome("challenger", "4", "challenger"))
    assert text.startswith("**Decision: challenger.** v4 took @challenger")
    assert "did not beat champion v3: roc_auc improves on champion v3 by 0.0" in text
    # a failed check is listed before the passed ones
    table = text.split("### Checks")[1]
    assert table.index("| improvement |") < table.index("| signature |")


def test_a_long_card_is_cut_to_the_registry_limit_and_says_so():
    slices = tuple(SliceScore("zip", f"z{i:04d}", 200, {"roc_auc": 0.75}) for i in range(400))
    text = card(METRICS, None, Outcome("champion", "1", "champion"), Evidence(slices=slices),
                slices={"zip": {"roc_auc": {"min": 0.6}}})
    assert len(text) <= LIMIT
    assert "more in the run's gate.json" in text
    assert "### Reproduce" in text and "dvc repro" in text  # the tail survives the cut
    assert "Skipped or unchecked: 1 (improvement: no current champion" in text
