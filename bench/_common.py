"""Shared by the benchmarks: a throwaway copy of the repository, timing, results for RESULTS.md.

Every benchmark works in a committed copy of this tree (what `git ls-files` lists plus
untracked files that are not ignored, like the e2e tests' template), with the venv's `dvc` and
`python` first on PATH and no MLFLOW_*/DVC_* variables inherited from the caller.
"""

from __future__ import annotations

import json
import os
import shutil
import statistics
import subprocess
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

ROOT = Path(__file__).resolve().parents[1]
BIN = Path(sys.executable).parent
RESULTS_DIR = ROOT / "bench" / ".results"
DATA_DIR = ROOT / "bench" / ".data"
SKIP = ("bench/.data/", "bench/.results/")  # never copied, even when not git-ignored
TIMEOUT_S = 3600


def project_files() -> list[str]:
    """Tracked and untracked-but-not-ignored files: what a fresh clone of this tree holds."""
    out = subprocess.run(["git", "ls-files", "--cached", "--others", "--exclude-standard", "-z"],
                         cwd=ROOT, capture_output=True, text=True, check=True).stdout
    return [f for f in out.split("\0")
            if f and not f.startswith(SKIP) and (ROOT / f).is_file()]


def clean_env() -> dict[str, str]:
    """A user's environment: the venv first on PATH, no inherited MLflow/DVC variables."""
    env = {k: v for k, v in os.environ.items()
           if not k.startswith(("MLFLOW_", "DVC_", "PYTEST_", "VIRTUAL_ENV"))}
    env["PATH"] = f"{BIN}{os.pathsep}{env.get('PATH', '')}"
    env["VIRTUAL_ENV"] = str(BIN.parent)
    env["GIT_AUTHOR_NAME"] = env["GIT_COMMITTER_NAME"] = "mlgate-bench"
    env["GIT_AUTHOR_EMAIL"] = env["GIT_COMMITTER_EMAIL"] = "bench@mlgate.invalid"
    return env


class Failed(SystemExit):
    """A benchmarked command failed: the benchmark stops and shows its output."""


@dataclass
class Copy:
    """A committed copy of the project with helpers to run (and time) commands in it."""

    path: Path
    env: dict[str, str] = field(default_factory=clean_env)
    last_stderr: str = ""

    def run(self, *cmd: str | Path, cwd: Path | None = None,
            check: bool = True) -> subprocess.CompletedProcess:
        """Run a command in the copy; stop the benchmark with its output when it fails."""
        proc = subprocess.run([str(c) for c in cmd], cwd=cwd or self.path, env=self.env,
                              capture_output=True, text=True, timeout=TIMEOUT_S)
        self.last_stderr = proc.stderr
        if check and proc.returncode != 0:
            raise Failed(f"{' '.join(map(str, cmd))} exited {proc.returncode} in {self.path}\n"
                         f"--- stdout\n{proc.stdout[-3000:]}\n--- stderr\n{proc.stderr[-5000:]}")
        return proc

    def stop_preload(self) -> None:
        """Stop the preload servers of this venv (the next stage starts one and preloads)."""
        self.run(*self.python("-m", "mlgate.supervise.preload", "stop"))

    def timed(self, *cmd: str | Path, cwd: Path | None = None) -> float:
        """Wall time in seconds of one successful command."""
        started = time.perf_counter()
        self.run(*cmd, cwd=cwd)
        return time.perf_counter() - started

    def dvc(self, *args: str) -> subprocess.CompletedProcess:
        """Run the venv's dvc in the copy."""
        return self.run(BIN / "dvc", *args)

    def python(self, *args: str | Path) -> list[str]:
        """A command line running the venv's python."""
        return [str(BIN / "python"), *map(str, args)]

    def commit(self, message: str) -> None:
        """Commit everything (DVC experiments need a baseline commit)."""
        self.run("git", "add", "-A")
        self.run("git", "commit", "-q", "-m", message)

    def stage_commands(self) -> list[tuple[str, str]]:
        """(stage name, cmd) of every stage of dvc.yaml, in file (= pipeline) order."""
        stages = yaml.safe_load((self.path / "dvc.yaml").read_text())["stages"]
        return [(name, spec["cmd"]) for name, spec in stages.items()]

    def stage_script(self, name: str) -> str:
        """The script a stage's cmd runs (`python -m mlgate.supervise.launch stages/<name>.py`)."""
        cmd = dict(self.stage_commands())[name].split()
        return next(arg for arg in cmd if arg.endswith(".py"))

    def params(self) -> dict[str, Any]:
        """The copy's params.yaml."""
        return yaml.safe_load((self.path / "params.yaml").read_text())


def write_data_config(path: Path, name: str, source: str, min_rows: int | None = None) -> None:
    """conf/data/<name>.yaml = the randhie data group reading `source`; make it the default."""
    spec = yaml.safe_load((path / "conf/data/randhie.yaml").read_text())
    spec["data"]["source"] = source
    if min_rows is not None:
        spec["validate"]["min_rows"] = min_rows
    (path / f"conf/data/{name}.yaml").write_text("# @package _global_\n" + yaml.safe_dump(spec))
    for part in (path / "conf/data/by_task").glob("randhie_*.yaml"):  # its per-task parts
        text = part.read_text().replace("randhie_", f"{name}_")
        (part.parent / part.name.replace("randhie_", f"{name}_")).write_text(text)
    cfg = (path / "conf/config.yaml").read_text()
    (path / "conf/config.yaml").write_text(cfg.replace("- data: randhie", f"- data: {name}"))


def set_train(path: Path, preset: str) -> None:
    """Make `conf/train/<preset>.yaml` the default train group."""
    cfg = (path / "conf/config.yaml").read_text()
    (path / "conf/config.yaml").write_text(cfg.replace("- train: default", f"- train: {preset}"))


def sample_rows(rows: int, seed: int = 0):
    """`rows` rows of the RAND HIE table (the e2e tests' tiny data), as a DataFrame."""
    import pandas as pd

    from mlgate.core.ingest import randhie_path

    return pd.read_csv(randhie_path()).sample(rows, random_state=seed)


def make_copy(dest: Path, *, rows: int | None = None, source: str | None = None,
              train: str = "default") -> Copy:
    """A committed copy of the project at `dest` (default data, or a sample / another source)."""
    for rel in project_files():
        (dest / rel).parent.mkdir(parents=True, exist_ok=True)
        shutil.copy2(ROOT / rel, dest / rel)
    if rows is not None:
        sample_rows(rows).to_csv(dest / "data/external/bench.csv", index=False)
        write_data_config(dest, "bench", "data/external/bench.csv", min_rows=min(rows, 1000) // 2)
    elif source is not None:
        write_data_config(dest, "bench", source)
    if train != "default":
        set_train(dest, train)
    copy = Copy(dest)
    copy.run(BIN / "mlgate", "params")
    copy.run("git", "init", "-q", "-b", "main")
    copy.commit("benchmark copy of mlgate")
    copy.run(BIN / "mlgate", "init-store")  # created once, before any timed or parallel work
    return copy


def median(values: list[float]) -> float:
    """The median (of one value: that value)."""
    return statistics.median(values)


def ratio(a: float, b: float) -> float:
    """a / b, rounded for tables."""
    return round(a / b, 3) if b else float("inf")


def markdown_table(headers: list[str], rows: list[list[Any]]) -> str:
    """A GitHub-flavoured Markdown table (also readable on a terminal)."""
    def cell(v: Any) -> str:
        return f"{v:.2f}" if isinstance(v, float) else str(v)

    lines = ["| " + " | ".join(headers) + " |", "|" + " --- |" * len(headers)]
    lines += ["| " + " | ".join(cell(v) for v in row) + " |" for row in rows]
    return "\n".join(lines)


def emit(name: str, result: dict[str, Any]) -> Path:
    """Print the result table and one `BENCH_RESULT` JSON line; save it for bench/report.py."""
    result = {"name": name, "finished": time.strftime("%Y-%m-%d %H:%M:%S"),
              "command": " ".join(["python", *sys.argv]).replace(str(ROOT) + "/", ""),
              "load_avg_at_end": [round(x, 2) for x in os.getloadavg()], **result}
    sys.stdout.write(f"\n{result['title']}\n\n{result['table']}\n\n")
    for note in result.get("notes", []):
        sys.stdout.write(f"- {note}\n")
    sys.stdout.write("BENCH_RESULT " + json.dumps(result, default=str) + "\n")
    RESULTS_DIR.mkdir(parents=True, exist_ok=True)
    out = RESULTS_DIR / f"{name}.json"
    out.write_text(json.dumps(result, indent=2, default=str) + "\n")
    return out


def log(message: str) -> None:
    """Progress on stderr (stdout carries the table and the JSON line)."""
    sys.stderr.write(f"[{time.strftime('%H:%M:%S')}] {message}\n")
    sys.stderr.flush()
