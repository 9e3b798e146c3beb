"""`mlgate report`: the Markdown rendered from the gate, drift and score reports (pure), the
reading of the workspace, and the command's one-line errors."""

from __future__ import annotations

import hashlib
import json
import logging
from pathlib import Path

import pytest
import yaml

from mlgate.base.errors import DataError
from mlgate.cli.main import main
from mlgate.core.gate import ChampionScore, Evidence, Outcome, SliceScore, decide, gate_report
from mlgate.pipeline.report import Inputs, drift_is_current, gather, render
from tests.defaults import NO_BASELINE_NOR_LATENCY, gate_config

METRICS = {"roc_auc": 0.80, "f1": 0.85, "accuracy": 0.8, "log_loss": 0.42}
DRIFT = {
    "verdict": "drift", "share_drifted": 0.4, "n_drifted": 2, "n_columns": 5,
    "drift_share_threshold": 0.05, "action": "investigate",
    "action_reasons": ["drifted share 0.400 >= investigate at 0.30"],
    "columns": {"age": {"score": 0.3, "drifted": True}, "site": {"score": 0.01, "drifted": False},
                "income": {"score": 0.2, "drifted": True}},
    "prediction_drift": {"prediction": {"score": 0.2, "drifted": True}},
    "target_drift": {"y": {"score": 0.01, "drifted": False}},
    "quality": {"missing_values": 7, "out_of_range_values": 2, "new_category_values": 1},
}
SCORE = {"model_uri": "models:/m/3", "model_source": "registry", "n_rows": 424,
         "n_features": 5, "has_labels": True, "n_unseen_categories": 0,
         "prediction_share": {"0": 0.25, "1": 0.75}, "probability_mean": 0.71}
DIFF = ("| Path | Metric | main | workspace | Change |\n|---|---|---|---|---|\n"
        "| reports/metrics.json | roc_auc | 0.79 | 0.8 | 0.01 |\n")
EMPTY_DIFF = "| Path   | Metric   | HEAD   | workspace   | Change   |\n|--------|----------|\n"


def gate(metrics, champion, outcome, evidence=None, **policy) -> dict:
    """A real reports/gate.json, made by the gate from small inputs."""
    cfg = gate_config({"model_name": "m", "thresholds": {"roc_auc": {"min": 0.7},
                                                         "log_loss": {"max": 0.5}},
                       "improvement": {"metric": "roc_auc", "min_delta": 0.01},
                       **NO_BASELINE_NOR_LATENCY, **policy})
    decision = decide(metrics, champion, cfg, evidence)
    return gate_report(decision, cfg, metrics, outcome, {"run_id": "r1"})


def report(gate_json, diff=DIFF, against="main", **inputs) -> str:
    return render(Inputs(gate_json, DRIFT, SCORE, **inputs), diff, against)


def row(text: str, check: str) -> str:
    """The check table's row of `check`."""
    return next(line for line in text.splitlines() if line.startswith(f"| `{check}` |"))


def test_a_champion_report_has_the_title_the_check_table_and_the_champion_value():
    text = report(gate(METRICS, ChampionScore("3", {**METRICS, "roc_auc": 0.78}),
                       Outcome("champion", "4", "champion")),
                  figures=["reports/figures/roc.png"], drift_html="reports/drift.html")
    assert text.splitlines()[0] == "## mlgate: registered as champion — `m` v4 (@champion)"
    assert "| check | value | threshold | champion value (v3) | verdict | decided by |" in text
    assert row(text, "roc_auc_min") == "| `roc_auc_min` | 0.8 | ≥ 0.7 | 0.78 | pass | mlflow |"
    assert row(text, "log_loss_max") == "| `log_loss_max` | 0.42 | ≤ 0.5 | 0.42 | pass | mlflow |"
    assert row(text, "improvement") == "| `improvement` | 0.02 | ≥ 0.01 | 0.78 | pass | mlflow |"
    assert row(text, "signature") == "| `signature` | yes | required | — | pass | mlgate |"
    assert "Why:" not in text.split("### Gate checks")[0]
    assert "- [reports/figures/roc.png](reports/figures/roc.png)" in text
    assert "- drift report: [reports/drift.html](reports/drift.html)" in text


def test_a_rejected_report_lists_failed_checks_first_with_the_reasons():
    weak = {**METRICS, "roc_auc": 0.6}
    text = report(gate(weak, None, Outcome("rejected")))
    assert text.splitlines()[0] == "## mlgate: rejected — `m`, not registered (registry unchanged)"
    assert "- roc_auc = 0.6 violates >= 0.7" in text.split("### Gate checks")[0]
    table = [line for line in text.split("### Gate checks")[1].splitlines()
             if line.startswith("| `")]
    verdicts = [line.split(" | ")[4] for line in table]
    assert verdicts[0] == "**fail**" and "**fail**" not in verdicts[verdicts.index("pass"):], table
    assert row(text, "roc_auc_min") == "| `roc_auc_min` | 0.6 | ≥ 0.7 | — | **fail** | mlflow |"
    # no champion: the improvement check is skipped, and listed with why
    assert "- `improvement` (skip): no current champion: the candidate takes the alias" in text


def test_challenger_and_smoke_failed_titles_say_why():
    challenger = report(gate(METRICS, ChampionScore("3", METRICS),
                             Outcome("challenger", "4", "challenger")))
    assert challenger.startswith("## mlgate: registered as challenger — `m` v4 (@challenger)")
    assert "- roc_auc improves on champion v3 by 0.0" in challenger
    smoke = gate(METRICS, None, Outcome("smoke_failed", "5", None, "failed", "boom: no module x"))
    text = report(smoke)
    assert text.startswith("## mlgate: smoke failed — `m` v5 (no alias)")
    assert "- boom: no module x" in text


def test_unchecked_slices_are_listed_and_never_counted_as_passed():
    evidence = Evidence(slices=(SliceScore("site", 1, 40, skipped="40 rows < 100"),))
    text = report(gate(METRICS, None, Outcome("champion", "1", "champion"), evidence,
                       slices={"site": {"roc_auc": {"min": 0.6}}}))
    assert "(1 check(s) unchecked: slice.site.1.roc_auc" in text
    assert "- `slice.site.1.roc_auc_min` (unchecked): site=1 (40 rows): " in text
    assert "0 failed, 2 skipped or unchecked" in text


def test_the_metrics_diff_is_dvcs_own_table_or_says_nothing_changed():
    ok = gate(METRICS, None, Outcome("champion", "1", "champion"))
    text = report(ok)
    assert "`dvc metrics diff --md main`" in text
    assert "| reports/metrics.json | roc_auc | 0.79 | 0.8 | 0.01 |" in text
    assert "<details>" not in text
    same = report(ok, diff=EMPTY_DIFF, against="HEAD")
    assert "No metric changed against `HEAD`." in same and "| Path" not in same
    long = DIFF + "".join(f"| reports/drift.json | columns.c{i}.score | 0.1 | 0.2 | 0.1 |\n"
                          for i in range(25))
    folded = report(ok, diff=long).split("### Metrics")[1].split("### Drift")[0]
    assert "<details>\n<summary>26 metrics changed</summary>\n\n| Path |" in folded
    assert "| reports/drift.json | columns.c24.score | 0.1 | 0.2 | 0.1 |\n\n</details>" in folded


def test_the_drift_section_gives_verdict_action_columns_and_the_scored_batch():
    text = report(gate(METRICS, None, Outcome("champion", "1", "champion")))
    drift = text.split("### Drift")[1]
    assert ("Verdict **drift**, action **investigate**: 2 of 5 columns drifted (share 0.4; "
            "the dataset drifts from 0.05): `age`, `income`.") in drift
    assert "Why: drifted share 0.400 >= investigate at 0.30." in drift
    assert "Outputs and labels drifted: `prediction` (checked: `prediction`, `y`)." in drift
    assert "7 missing values, 2 out of the reference range, 1 new categories" in drift
    assert "| rows | 424 |" in drift and "| model | `models:/m/3` (registry) |" in drift
    assert "| prediction share | 0: 0.25, 1: 0.75 |" in drift
    assert "did not run after this gate decision" not in drift
    stale = report(gate(METRICS, None, Outcome("rejected")), drift_current=False)
    assert "Score and drift did not run after this gate decision" in stale
    assert "no figures in `reports/figures/`" in stale and "no drift report at" in stale


def test_the_shadow_challenger_is_reported_when_the_batch_was_shadow_scored():
    shadow = {"champion_version": "3", "challenger_version": "4", "rows": 424,
              "agreement": 0.9175, "shift": {"ks": 0.12, "class_share_change": 0.03},
              "labelled_rows": 424, "metrics": {"champion": {"accuracy": 0.81},
                                                "challenger": {"accuracy": 0.79}}}
    g = gate(METRICS, None, Outcome("champion", "1", "champion"))
    assert "Shadow:" not in report(g)
    text = render(Inputs(g, DRIFT, {**SCORE, "shadow": shadow}), DIFF, "main")
    assert ("Shadow: challenger v4 on the same batch: agreement 91.8% of 424 rows, output "
            "shift ks 0.12, class_share_change 0.03.") in text
    assert "On its labels (424 rows): accuracy champion 0.81, challenger 0.79." in text
    broken = render(Inputs(g, DRIFT, {**SCORE, "shadow": {**shadow, "error": "missing `a`"}}),
                    DIFF, "main")
    assert "Shadow: challenger v4 on the same batch could not score it: missing `a`" in broken


def write_reports(root: Path, gate_json: dict) -> None:
    (root / "reports").mkdir(parents=True, exist_ok=True)
    for name, data in (("gate", gate_json), ("drift", DRIFT), ("score", SCORE)):
        (root / f"reports/{name}.json").write_text(json.dumps(data))


def md5(path: Path) -> str:
    return hashlib.md5(path.read_bytes()).hexdigest()


def test_gather_reads_the_workspace_and_dvc_lock_says_whether_drift_is_current(tmp_path):
    write_reports(tmp_path, gate(METRICS, None, Outcome("champion", "1", "champion")))
    (tmp_path / "reports/figures").mkdir()
    for name in ("roc.png", "lift.png"):
        (tmp_path / "reports/figures" / name).write_bytes(b"png")
    assert drift_is_current(tmp_path) is None  # no dvc.lock
    lock = {"stages": {
        "score": {"deps": [{"path": "reports/gate.json",
                            "md5": md5(tmp_path / "reports/gate.json")}]},
        "drift": {"deps": [{"path": "reports/score.json",
                            "md5": md5(tmp_path / "reports/score.json")}]}}}
    (tmp_path / "dvc.lock").write_text(yaml.safe_dump(lock))
    inputs = gather(tmp_path)
    assert inputs.figures == ["reports/figures/lift.png", "reports/figures/roc.png"]
    assert inputs.drift_html is None and inputs.drift_current is True
    assert inputs.gate["decision"] == "champion" and inputs.score["n_rows"] == 424
    # a new gate decision that score did not see (the pipeline stopped at the gate)
    write_reports(tmp_path, gate({**METRICS, "roc_auc": 0.6}, None, Outcome("rejected")))
    assert drift_is_current(tmp_path) is False


def test_a_missing_or_broken_report_is_an_error_naming_the_file(tmp_path):
    write_reports(tmp_path, gate(METRICS, None, Outcome("champion", "1", "champion")))
    (tmp_path / "reports/drift.json").unlink()
    with pytest.raises(DataError, match=r"reports/drift\.json: not found .* run the pipeline"):
        gather(tmp_path)
    (tmp_path / "reports/drift.json").write_text("{not json")
    with pytest.raises(DataError, match=r"reports/drift\.json: not a valid report"):
        gather(tmp_path)


def test_the_command_exits_1_with_one_line_when_a_report_is_missing(tmp_path, monkeypatch,
                                                                      caplog, capsys):
    (tmp_path / "dvc.yaml").write_text("stages: {}\n")
    monkeypatch.chdir(tmp_path)
    monkeypatch.delenv("DVC_ROOT", raising=False)
    with caplog.at_level(logging.ERROR, "mlgate"), pytest.raises(SystemExit) as exit_:
        main(["report", "--output", str(tmp_path / "report.md")])
    assert exit_.value.code == 1
    assert "reports/gate.json: not found" in caplog.text and "run the pipeline" in caplog.text
    assert not (tmp_path / "report.md").exists() and capsys.readouterr().out == ""
