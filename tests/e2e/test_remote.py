"""End to end: `mlgate remote` (make remote), dvc push, a fresh clone pulls and is up to date."""

from __future__ import annotations

import hashlib
from pathlib import Path

import pytest
import yaml

from mlgate.cli import remote as cli_remote
from mlgate.cli.remote import missing_plugin, remote_url
from tests.e2e.conftest import BIN, Repo

pytestmark = pytest.mark.e2e

MUST_MOVE = ["data/raw/dataset.parquet", "data/processed/train.parquet",
             "data/processed/current.parquet", "models/model.pkl", "models/run.json",
             "reports/drift.html"]


def outputs(root: Path) -> list[str]:
    """Every file under every output dvc.lock records (directories expanded)."""
    lock = yaml.safe_load((root / "dvc.lock").read_text())
    paths = [root / out["path"] for stage in lock["stages"].values()
             for out in [*stage.get("outs", [])]]
    files = [f for p in paths for f in ([p] if p.is_file() else sorted(p.rglob("*")))]
    return sorted(str(f.relative_to(root)) for f in files if f.is_file())


def md5s(root: Path, rels: list[str]) -> dict[str, str]:
    """MD5 of each file (None when it is missing)."""
    return {r: hashlib.md5((root / r).read_bytes()).hexdigest() if (root / r).is_file() else None
            for r in rels}


def test_push_clone_pull_is_up_to_date(ran_repo: Repo, tmp_path: Path) -> None:
    repo = ran_repo
    out = repo.run(str(BIN / "mlgate"), "remote")  # what `make remote` runs
    remote = tmp_path / "mlgate-dvc-remote"  # the default: beside the repository
    assert str(remote) in out.stdout and remote.is_dir()
    config = (repo.path / ".dvc/config").read_text()
    assert "remote = storage" in config and f"url = {remote}" in config
    pushed = repo.dvc("push")
    assert "pushed" in pushed.stdout and any(p.is_file() for p in remote.rglob("*"))
    repo.commit("pipeline outputs and the DVC remote")

    clone = Repo(tmp_path / "clone")
    repo.run("git", "clone", "-q", str(repo.path), str(clone.path))
    files = outputs(repo.path)
    assert set(MUST_MOVE) <= set(files)
    assert all(md5 is None for md5 in md5s(clone.path, MUST_MOVE).values())  # not in git
    clone.dvc("pull")
    assert md5s(clone.path, files) == md5s(repo.path, files)
    status = clone.dvc("status")
    assert "Data and pipelines are up to date." in status.stdout
    rerun = clone.dvc("repro")
    assert "Running stage" not in rerun.stdout, rerun.stdout
    assert "Data and pipelines are up to date." in rerun.stdout
    assert not (clone.path / "mlflow.db").exists()  # no stage ran: the clone has no MLflow store


def test_remote_url_and_plugins(tmp_path: Path, monkeypatch) -> None:
    root = tmp_path / "repo"
    assert remote_url(root, None) == str(tmp_path / "mlgate-dvc-remote")  # beside the repository
    assert remote_url(root, "s3://bucket/mlgate") == "s3://bucket/mlgate"
    assert remote_url(root, f"file://{tmp_path}/store") == str(tmp_path / "store")
    monkeypatch.chdir(tmp_path)
    assert remote_url(root, "shared/store") == str((tmp_path / "shared/store").resolve())
    monkeypatch.setattr(cli_remote.importlib.util, "find_spec", lambda name: None)
    assert missing_plugin("s3://bucket/mlgate") == "dvc-s3"
    assert missing_plugin(str(tmp_path)) is None
