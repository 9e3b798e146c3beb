"""The broken-input corpus (tests/data/bad/cases.yaml) through the real stages and `mlgate predict`.

One pipeline run is built per module (tiny data, v1 @champion); each case runs in a copy of it.
A broken input must exit 1 at its stage with the declared message and no traceback, change no
output (and leave no half-written or temporary file), and leave MLflow and the registry exactly
as they were.
"""

from __future__ import annotations

import hashlib
import json
import subprocess
from pathlib import Path

import mlflow
import pandas as pd
import pytest
import yaml
from mlflow import MlflowClient

from tests.e2e.conftest import BIN, ROOT, Repo, copy_repo

pytestmark = pytest.mark.e2e

CASES = yaml.safe_load((ROOT / "tests/data/bad/cases.yaml").read_text())["cases"]
OUTPUT_DIRS = ("data/raw", "data/processed", "data/predictions", "models", "reports")
MODEL = "mlgate-randhie"


def md5(path: Path) -> str:
    return hashlib.md5(path.read_bytes()).hexdigest()


def outputs(root: Path) -> dict[str, str]:
    """{path: md5} of every pipeline output file, and of the MLflow store."""
    files = [p for d in OUTPUT_DIRS for p in (root / d).rglob("*") if p.is_file()]
    return {str(p.relative_to(root)): md5(p) for p in [*files, root / "mlflow.db"]}


def registry(root: Path) -> dict:
    """Every registered model with its versions (tags), aliases and tags."""
    uri = f"sqlite:///{root / 'mlflow.db'}"
    client = MlflowClient(tracking_uri=uri, registry_uri=uri)
    return {m.name: {"aliases": dict(m.aliases), "tags": dict(m.tags),
                     "versions": {v.version: dict(v.tags) for v in
                                  client.search_model_versions(f"name = '{m.name}'")}}
            for m in client.search_registered_models()}


@pytest.fixture(scope="module")
def baseline(ran_template, tmp_path_factory) -> Path:
    """The template after one full `dvc repro`: outputs in place, a champion in the registry."""
    path = tmp_path_factory.mktemp("bad-input") / "repo"
    copy_repo(ran_template, path)
    assert registry(path)[MODEL]["aliases"].get("champion"), "the baseline needs a champion"
    return path


def set_source(repo: Repo, rel: str) -> None:
    """data.source -> the case file; min_rows below the corpus's 30 rows (only the defect fails)."""
    params = yaml.safe_load((repo.path / "params.yaml").read_text())
    params["data"]["source"] = rel
    params["validate"]["min_rows"] = 10
    (repo.path / "params.yaml").write_text(yaml.safe_dump(params, sort_keys=False))


def stage(repo: Repo, name: str) -> subprocess.CompletedProcess:
    return repo.run(str(BIN / "python"), f"stages/{name}.py", check=False)


def run_ingest(repo: Repo, rel: str, tmp: Path) -> tuple[subprocess.CompletedProcess, str, set]:
    set_source(repo, rel)
    return stage(repo, "ingest"), rel, set()


def run_validate(repo: Repo, rel: str, tmp: Path) -> tuple[subprocess.CompletedProcess, str, set]:
    """ingest must accept the file; validate must reject it (and says so in its report)."""
    set_source(repo, rel)
    ingest = stage(repo, "ingest")
    assert ingest.returncode == 0, f"ingest should pass this file on:\n{ingest.stderr[-2000:]}"
    return stage(repo, "validate"), rel, {"data/raw/dataset.parquet", "reports/validation.json"}


def run_score(repo: Repo, rel: str, tmp: Path) -> tuple[subprocess.CompletedProcess, str, set]:
    """The file becomes the score stage's current batch."""
    current = "data/processed/current.parquet"
    pd.read_csv(repo.path / rel).to_parquet(repo.path / current, index=False)
    return stage(repo, "score"), current, {current}


def run_predict(repo: Repo, rel: str, tmp: Path) -> tuple[subprocess.CompletedProcess, str, set]:
    proc = repo.run(str(BIN / "mlgate"), "predict", "--input", rel, "--output",
                    str(tmp / "scored.parquet"), check=False)
    return proc, rel, set()


RUNNERS = {"ingest": run_ingest, "validate": run_validate, "score": run_score,
           "predict": run_predict}


def error_line(proc: subprocess.CompletedProcess) -> str:
    """The last ERROR log line of a failed stage or command."""
    errors = [ln for ln in proc.stderr.splitlines() if " ERROR " in ln]
    assert errors, f"no error logged:\n{proc.stderr[-3000:]}"
    return errors[-1]


def check_rejected(case: dict, proc: subprocess.CompletedProcess, source: str) -> None:
    assert proc.returncode == 1, f"exit {proc.returncode}:\n{proc.stderr[-3000:]}"
    assert "Traceback" not in proc.stderr, proc.stderr[-3000:]
    line = error_line(proc)
    if case["stage"] != "predict":
        assert f"stage {case['stage']} failed: " in line, line
    for part in case["message"]:
        assert part.replace("{file}", source) in line, line


@pytest.mark.parametrize("name", sorted(CASES))
def test_bad_input(name: str, baseline: Path, tmp_path: Path) -> None:
    case = CASES[name]
    repo = Repo(tmp_path / "repo")
    copy_repo(baseline, repo.path)
    before, registered = outputs(repo.path), registry(repo.path)
    proc, source, may_change = RUNNERS[case["stage"]](repo, f"tests/data/bad/{case['file']}",
                                                      tmp_path)
    if case.get("expect") == "ok":
        assert proc.returncode == 0, proc.stderr[-3000:]
        check_reordered(repo, tmp_path / "scored.parquet", repo.path / source)
    else:
        check_rejected(case, proc, source)
        assert not (tmp_path / "scored.parquet").exists()
    after = outputs(repo.path)
    changed = {k for k in {*before, *after} if before.get(k) != after.get(k)} - may_change
    assert changed == set(), f"outputs changed, appeared or vanished: {sorted(changed)}"
    assert sorted(str(p) for p in repo.path.rglob("*.tmp")) == [], "temporary files left"
    assert registry(repo.path) == registered
    if case["stage"] == "validate":
        report = json.loads((repo.path / "reports/validation.json").read_text())
        assert report["passed"] is False and len(report["failures"]) == 1, report


def check_reordered(repo: Repo, scored: Path, batch: Path) -> None:
    """Reordered columns are aligned: the champion's predictions on the original order."""
    df = pd.read_csv(batch)
    original = df[df.columns[::-1]]
    mlflow.set_tracking_uri(f"sqlite:///{repo.path / 'mlflow.db'}")
    try:
        expected = mlflow.pyfunc.load_model(f"models:/{MODEL}@champion").predict(
            original.drop(columns=["binexp"]))
    finally:
        mlflow.set_tracking_uri(None)
    out = pd.read_parquet(scored)
    assert len(out) == len(df) and list(out["prediction"]) == list(expected)
