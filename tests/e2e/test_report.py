"""End to end: docs/ci.md's workflow. The run scripts of its steps `Pipeline (gate fails on
rejection)` and `Report` run verbatim (bash, as GitHub runs them) in a copy of the repository,
for a candidate that passes and for one the gate rejects; only the environment differs.

The copy has run the pipeline once (`ran_repo`, shared with other e2e tests), as a CI job
that pulled the DVC outputs has: the step's `-S gate.fail_on_reject=true` reruns register,
score and drift, and the rejection reruns register only. A run from scratch is
tests/e2e/test_pipeline.py's."""

from __future__ import annotations

import json
import re
import subprocess

import pytest
import yaml

from tests.e2e.conftest import ROOT, Repo

pytestmark = pytest.mark.e2e

PIPELINE, REPORT = "Pipeline (gate fails on rejection)", "Report"
# GitHub's default shell for `run:` on Linux runners
SHELL = ["bash", "--noprofile", "--norc", "-eo", "pipefail", "-c"]
# the copy's git has no `origin`: the report compares with its own baseline branch
AGAINST = "main"


def workflow() -> dict:
    """The GitHub Actions workflow in docs/ci.md's fenced YAML block."""
    blocks = re.findall(r"```yaml\n(.*?)```", (ROOT / "docs/ci.md").read_text(), re.S)
    flows = [doc for doc in map(yaml.safe_load, blocks) if isinstance(doc, dict) and "jobs" in doc]
    assert len(flows) == 1, "docs/ci.md holds one workflow"
    return flows[0]


def job_and_steps() -> tuple[dict, dict[str, dict]]:
    jobs = list(workflow()["jobs"].values())
    assert len(jobs) == 1
    steps = {s["name"]: s for s in jobs[0]["steps"] if "name" in s}
    return jobs[0], steps


def run_step(repo: Repo, name: str, **env: str) -> subprocess.CompletedProcess:
    """The step's `run:` script, verbatim, with the job's and step's plain env (the `${{ }}`
    expressions only GitHub can evaluate are left out) and `env` on top."""
    job, steps = job_and_steps()
    step = steps[name]
    declared = {**job.get("env", {}), **step.get("env", {})}
    plain = {k: str(v) for k, v in declared.items() if "${{" not in str(v)}
    return subprocess.run([*SHELL, step["run"]], cwd=repo.path,
                          env={**repo.env, **plain, **env}, capture_output=True, text=True,
                          timeout=900)


def test_the_workflow_fails_on_rejection_and_still_reports(ran_repo: Repo):
    repo = ran_repo
    job, steps = job_and_steps()
    assert "REPORT_AGAINST" in job["env"] and "$REPORT_AGAINST" in steps[REPORT]["run"]
    assert "dvc exp run -S gate.fail_on_reject=true" in steps[PIPELINE]["run"]
    assert steps[REPORT]["if"] == "always()"
    checkout = next(s for s in job["steps"] if s.get("uses", "").startswith("actions/checkout"))
    assert checkout["with"]["fetch-depth"] == 0

    # a candidate that passes: the whole pipeline, then the report
    passed = run_step(repo, PIPELINE)
    assert passed.returncode == 0, passed.stdout[-3000:] + passed.stderr[-3000:]
    assert "Running stage 'register'" in passed.stdout
    assert "Running stage 'train'" not in passed.stdout, "only the gate's params changed"
    made = run_step(repo, REPORT, REPORT_AGAINST=AGAINST)
    assert made.returncode == 0, made.stderr[-3000:]
    text = (repo.path / "report.md").read_text()
    gate = json.loads((repo.path / "reports/gate.json").read_text())
    drift = json.loads((repo.path / "reports/drift.json").read_text())
    assert gate["decision"] == "champion" and gate["config"]["fail_on_reject"] is True
    assert text.splitlines()[0] == ("## mlgate: registered as champion — `mlgate-randhie` v1 "
                                    "(@champion)")
    auc = next(c for c in gate["checks"] if c["name"] == "roc_auc_min")
    champion = gate["previous_champion"]  # the run before: the same model, v1
    assert champion["version"] == "1" and "| champion value (v1) |" in text
    assert (f"| `roc_auc_min` | {auc['value']:.6g} | ≥ 0.65 | "
            f"{champion['metrics']['roc_auc']:.6g} | pass | mlflow |") in text
    # DVC's table: the tiny run's metrics against the committed full-data ones
    assert f"`dvc metrics diff --md {AGAINST}`" in text
    assert re.search(r"^\| reports/metrics\.json +\| roc_auc +\|", text, re.M), text
    assert (f"Verdict **{drift['verdict']}**, action **{drift['action']}**: "
            f"{drift['n_drifted']} of {drift['n_columns']} columns drifted") in text
    assert f"| rows | {json.loads((repo.path / 'reports/score.json').read_text())['n_rows']} |" \
        in text
    assert "- [reports/figures/roc.png](reports/figures/roc.png)" in text
    assert "- drift report: [reports/drift.html](reports/drift.html)" in text
    assert "did not run after this gate decision" not in text

    # a pull request that raises a threshold no model meets: only register reruns, and fails
    profile = repo.path / "conf/data/by_task/tiny_classification.yaml"
    before = profile.read_text()
    profile.write_text(before.replace("roc_auc: {min: 0.65}", "roc_auc: {min: 0.999}"))
    assert profile.read_text() != before
    rejected = run_step(repo, PIPELINE)
    out = rejected.stdout + rejected.stderr
    assert rejected.returncode != 0, out[-3000:]
    assert "gate decision `rejected` and gate.fail_on_reject is true" in out, out[-3000:]
    assert "Running stage 'train'" not in rejected.stdout
    made = run_step(repo, REPORT, REPORT_AGAINST=AGAINST)
    assert made.returncode == 0, made.stderr[-3000:]
    text = (repo.path / "report.md").read_text()
    assert text.startswith("## mlgate: rejected — `mlgate-randhie`, not registered")
    table = [line for line in text.split("### Gate checks")[1].splitlines()
             if line.startswith("| `")]
    assert table[0].startswith("| `roc_auc_min` |") and "| ≥ 0.999 |" in table[0], table
    assert "| **fail** | mlflow |" in table[0]
    assert "roc_auc = " in text and "violates >= 0.999" in text
    assert "Score and drift did not run after this gate decision" in text
    assert re.search(r"^\| reports/metrics\.json +\| roc_auc +\|", text, re.M)

    # a revision DVC does not know: one line naming it, exit 1, the old report left alone
    bad = run_step(repo, REPORT, REPORT_AGAINST="origin/no-such-branch")
    assert bad.returncode == 1 and "Traceback" not in bad.stderr
    assert "revision `origin/no-such-branch`" in bad.stderr, bad.stderr
    assert (repo.path / "report.md").read_text() == text
