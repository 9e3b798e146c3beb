"""A throwaway copy of the repository on tiny data, run with the real `dvc` and `python`."""

from __future__ import annotations

import os
import shutil
import sqlite3
import subprocess
import sys
import time
from collections.abc import Callable
from contextlib import closing
from pathlib import Path

import pandas as pd
import pytest
import yaml

ROOT = Path(__file__).resolve().parents[2]
BIN = Path(sys.executable).parent
SAMPLE_ROWS = 2500


def project_files() -> list[str]:
    """Tracked and untracked-but-not-ignored files: what a fresh clone of this tree holds."""
    out = subprocess.run(["git", "ls-files", "--cached", "--others", "--exclude-standard", "-z"],
                         cwd=ROOT, capture_output=True, text=True, check=True).stdout
    return [f for f in out.split("\0") if f and (ROOT / f).is_file()]


def clean_env(repo: Path) -> dict[str, str]:
    """The environment a user has: the venv first on PATH, no inherited MLflow/DVC variables."""
    env = {k: v for k, v in os.environ.items()
           if not k.startswith(("MLFLOW_", "DVC_", "PYTEST_"))}
    env["PATH"] = f"{BIN}{os.pathsep}{env.get('PATH', '')}"
    env["GIT_AUTHOR_NAME"] = env["GIT_COMMITTER_NAME"] = "mlgate-tests"
    env["GIT_AUTHOR_EMAIL"] = env["GIT_COMMITTER_EMAIL"] = "tests@mlgate.invalid"
    return env


class Repo:
    """A copy of the project in tmp_path, with helpers to run commands in it."""

    def __init__(self, path: Path):
        self.path = path
        self.env = clean_env(path)

    def run(self, *cmd: str, check: bool = True) -> subprocess.CompletedProcess:
        """Run a command in the copy; on unexpected failure show its output."""
        proc = subprocess.run(cmd, cwd=self.path, env=self.env, capture_output=True, text=True,
                              timeout=900)
        if check and proc.returncode != 0:
            raise AssertionError(f"{' '.join(cmd)} exited {proc.returncode}\n"
                                 f"--- stdout\n{proc.stdout[-4000:]}\n--- stderr\n"
                                 f"{proc.stderr[-4000:]}")
        return proc

    def dvc(self, *args: str, check: bool = True) -> subprocess.CompletedProcess:
        """Run the venv's dvc."""
        return self.run(str(BIN / "dvc"), *args, check=check)

    def wait_for_queue(self, timeout: float = 900, poll: float = 5) -> str:
        """Poll `dvc queue status` until nothing is queued or running; return the last status."""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            status = self.dvc("queue", "status").stdout
            if not any(word in status for word in ("Queued", "Running")):
                return status + self.failed_logs(status)
            time.sleep(poll)
        raise AssertionError(f"queue still busy after {timeout} s:\n{status}")

    def failed_logs(self, status: str) -> str:
        """The `dvc queue logs` of every failed task in a `dvc queue status` table."""
        failed = [line.split()[0] for line in status.splitlines()
                  if line.split()[-1:] == ["Failed"]]
        logs = [self.dvc("queue", "logs", task, check=False) for task in failed]
        return "".join(f"\n--- {t} ---\n{r.stdout[-4000:]}{r.stderr[-2000:]}"
                       for t, r in zip(failed, logs, strict=True))

    def commit(self, message: str) -> None:
        """Commit everything (DVC experiments need a baseline commit)."""
        self.run("git", "add", "-A")
        self.run("git", "commit", "-q", "-m", message)

    def tracking_uri(self) -> str:
        """The store the pipeline must have used: the copy's own root."""
        return f"sqlite:///{self.path / 'mlflow.db'}"


def write_tiny_config(repo: Path) -> None:
    """conf/data/tiny.yaml = randhie on a CSV sample; defaults: data=tiny, train=fast."""
    spec = yaml.safe_load((repo / "conf/data/randhie.yaml").read_text())
    spec["data"]["source"] = "data/external/tiny.csv"
    spec["validate"]["min_rows"] = 500
    (repo / "conf/data/tiny.yaml").write_text("# @package _global_\n" + yaml.safe_dump(spec))
    for part in (repo / "conf/data/by_task").glob("randhie_*.yaml"):  # its per-task parts
        text = part.read_text().replace("randhie_", "tiny_")
        (part.parent / part.name.replace("randhie_", "tiny_")).write_text(text)
    cfg = (repo / "conf/config.yaml").read_text()
    cfg = cfg.replace("- data: randhie", "- data: tiny").replace("- train: default",
                                                                   "- train: fast")
    (repo / "conf/config.yaml").write_text(cfg)


@pytest.fixture(scope="session")
def template(tmp_path_factory, randhie) -> Path:
    """Build the tiny-data copy once; each test gets its own copy of it."""
    path = tmp_path_factory.mktemp("template") / "repo"
    for rel in project_files():
        (path / rel).parent.mkdir(parents=True, exist_ok=True)
        shutil.copy2(ROOT / rel, path / rel)
    randhie.sample(SAMPLE_ROWS, random_state=0).to_csv(path / "data/external/tiny.csv",
                                                       index=False)
    write_tiny_config(path)
    repo = Repo(path)
    repo.run(str(BIN / "python"), "-m", "mlgate.cli.main", "params")
    repo.run("git", "init", "-q", "-b", "main")
    repo.commit("tiny-data copy of mlgate")
    return path


@pytest.fixture
def repo(template, tmp_path) -> Repo:
    """A fresh copy of the template for one test."""
    dest = tmp_path / "repo"
    shutil.copytree(template, dest, symlinks=True)
    return Repo(dest)


@pytest.fixture(scope="session")
def ran_template(template, tmp_path_factory) -> Path:
    """The tiny-data copy after one full `dvc repro` (built once per test worker)."""
    path = tmp_path_factory.mktemp("ran") / "repo"
    shutil.copytree(template, path, symlinks=True)
    Repo(path).dvc("repro")
    return path


@pytest.fixture
def ran_repo(ran_template, tmp_path) -> Repo:
    """A fresh copy of the repository after a full pipeline run, with its own MLflow store."""
    dest = tmp_path / "repo"
    copy_repo(ran_template, dest)
    return Repo(dest)


def copy_repo(src: Path, dest: Path) -> None:
    """Copy a repository that has run, pointing its MLflow store at the copy's artifacts."""
    shutil.copytree(src, dest, symlinks=True)
    db = dest / "mlflow.db"
    if db.exists():
        rebase_store(db, str(src), str(dest))


def rebase_store(db: Path, old: str, new: str) -> None:
    """Replace the absolute path `old` by `new` in every text column of an MLflow SQLite store."""
    with closing(sqlite3.connect(db)) as con, con:
        tables = [r[0] for r in con.execute("SELECT name FROM sqlite_master WHERE type='table'")]
        for table in tables:
            for col in con.execute(f'PRAGMA table_info("{table}")').fetchall():
                if col[2].upper() in ("TEXT", "") or "CHAR" in col[2].upper():
                    con.execute(f'UPDATE "{table}" SET "{col[1]}" = replace("{col[1]}", ?, ?) '
                                f'WHERE instr("{col[1]}", ?) > 0', (old, new, old))


def load(repo: Repo, rel: str) -> pd.DataFrame:
    """Read a Parquet output of the copy."""
    return pd.read_parquet(repo.path / rel)


def onboard_and_run(repo: Repo, name: str, frame: pd.DataFrame, target: str,
                    edit: Callable[[dict], None] | None = None) -> dict:
    """A new user's two commands on a table: `mlgate data add`, `dvc exp run -S data=<name>`.

    `edit` changes the written profile (a dict) first, as a user edits the YAML file. The
    copy's defaults select train=fast (lr, dt). Returns the reports the run wrote, the
    experiment's output and the output of a second, plain `dvc repro`.
    """
    frame.to_csv(repo.path / f"data/external/{name}.csv", index=False)
    added = repo.run(str(BIN / "mlgate"), "data", "add", f"data/external/{name}.csv",
                     "--target", target)
    if edit is not None:
        profile = repo.path / f"conf/data/{name}.yaml"
        spec = yaml.safe_load(profile.read_text())
        edit(spec)
        profile.write_text("# @package _global_\n" + yaml.safe_dump(spec, sort_keys=False))
    repo.commit(f"onboard {name}")
    repo.run(str(BIN / "mlgate"), "init-store")
    run = repo.dvc("exp", "run", "-S", f"data={name}")
    reports = {key: yaml.safe_load((repo.path / f"reports/{key}.json").read_text())
               for key in ("train", "metrics", "gate", "score", "drift", "validation",
                           "explain")}
    board = pd.read_csv(repo.path / "reports/leaderboard.csv", index_col="id")
    return {**reports, "leaderboard": board, "added": added.stdout, "run": run.stdout,
            "repro": repo.dvc("repro").stdout,
            "params": yaml.safe_load((repo.path / "params.yaml").read_text())}


def check_champion_and_selection(out: dict, name: str, sort: str, also: str) -> None:
    """Registered as champion; the winner is the best by `sort` and within 0.03 on `also`."""
    board, best = out["leaderboard"], out["train"]["best_model"]
    lower = sort in ("RMSE", "MAE")
    assert board[sort].notna().all(), f"a CV {sort} failed:\n{board}"
    assert board.loc[best, sort] == (board[sort].min() if lower else board[sort].max())
    assert board.loc[best, also] >= board[also].max() - 0.03, board
    gate = out["gate"]
    assert (gate["decision"], gate["model_name"]) == ("champion", f"mlgate-{name}"), \
        gate["reasons"]
    assert out["score"]["model_uri"] == f"models:/mlgate-{name}/1"
    assert out["drift"]["action"] in ("none", "retrain", "investigate")
    assert out["validation"]["passed"]
    assert "Data and pipelines are up to date." in out["repro"]
