"""Assemble bench/RESULTS.md from the benchmarks' results (bench/.results/*.json) and the machine.

Run: `python bench/report.py` (the last step of `make bench`).
"""

from __future__ import annotations

import json
import os
import platform
import subprocess
import sys
import time
from importlib.metadata import PackageNotFoundError, version
from pathlib import Path

from _common import RESULTS_DIR, ROOT

ORDER = ("overhead", "overhead_big", "noop", "incremental", "scale", "sweep")
COMMANDS = {"overhead": "python bench/overhead.py",
            "overhead_big": "python bench/overhead.py --big 1000000 --train fast",
            "noop": "python bench/noop_repro.py",
            "incremental": "python bench/incremental.py", "scale": "python bench/scale.py",
            "sweep": "python bench/sweep.py"}
OPTIONAL = {"overhead_big"}  # not part of `make bench`: an extra data point when present
SHORT = {"overhead_big": "1b. Framework overhead on 1,000,000 rows (extra, not in `make bench`)"}
PACKAGES = ("dvc", "mlflow", "pycaret", "scikit-learn", "lightgbm", "pandas", "numpy",
            "pyarrow", "evidently", "hydra-core")
OUT = ROOT / "bench" / "RESULTS.md"


def cpu_model() -> str:
    """The CPU model name from /proc/cpuinfo (platform's answer elsewhere)."""
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or "unknown"


def ram_gib() -> str:
    """Total RAM in GiB from /proc/meminfo."""
    try:
        for line in Path("/proc/meminfo").read_text().splitlines():
            if line.startswith("MemTotal:"):
                return f"{int(line.split()[1]) / 2**20:.1f} GiB"
    except OSError:
        pass
    return "unknown"


def git(*args: str) -> str:
    """Output of a git command in the repository ('' when it fails)."""
    proc = subprocess.run(["git", *args], cwd=ROOT, capture_output=True, text=True)
    return proc.stdout.strip() if proc.returncode == 0 else ""


def machine() -> list[tuple[str, str]]:
    """What the numbers were measured on."""
    dirty = " (with uncommitted changes)" if git("status", "--porcelain", "--untracked-files=no") \
        else ""
    versions = []
    for name in PACKAGES:
        try:
            versions.append(f"{name} {version(name)}")
        except PackageNotFoundError:
            continue
    return [("date of this report", time.strftime("%Y-%m-%d %H:%M %Z")
             + " (each benchmark's own finish time is in its section)"),
            ("git commit", (git("rev-parse", "--short", "HEAD") or "unknown") + dirty),
            ("CPU", f"{cpu_model()}, {os.cpu_count()} logical cores"),
            ("RAM", ram_gib()), ("OS", platform.platform()),
            ("Python", platform.python_version()), ("packages", ", ".join(versions))]


def verdict(result: dict) -> str:
    """Target line: met / NOT met / no target."""
    if result.get("met") is None:
        return f"target: {result['target']}"
    return f"target: {result['target']} — **{'met' if result['met'] else 'NOT met'}**"


def section(result: dict) -> str:
    """One benchmark's Markdown section."""
    notes = "\n".join(f"- {n}" for n in result.get("notes", []))
    return (f"## {result['title']}\n\n`{result['command']}` (finished {result['finished']}, "
            f"load average at the end {result['load_avg_at_end']})  \n{verdict(result)}\n\n"
            f"{result['table']}\n\n{notes}\n")


def main() -> None:
    """Write bench/RESULTS.md."""
    results = {n: json.loads((RESULTS_DIR / f"{n}.json").read_text())
               for n in ORDER if (RESULTS_DIR / f"{n}.json").exists()}
    missing = [n for n in ORDER if n not in results and n not in OPTIONAL]
    head = ["# Benchmarks", "",
            "`make bench` runs the five benchmarks below, each in a throwaway copy of the "
            "repository with the venv's `dvc` and `python`, and writes this file "
            "(`python bench/report.py` rebuilds it from `bench/.results/*.json`). Each "
            "benchmark runs its sides alternately in one run and reports medians and the "
            "ratio; absolute times depend on the machine and on what else runs on it, the "
            "ratios much less.", "", "## Machine", "",
            *(f"- {k}: {v}" for k, v in machine()), ""]
    if missing:
        head += [f"Not run yet: {', '.join(COMMANDS[n] for n in missing)}.", ""]
    OUT.write_text("\n".join([*head, summary_table(results), ""]) + "\n" + read_findings()
                   + "\n".join(section(r) for r in results.values()))
    sys.stdout.write(f"wrote {OUT} ({len(results)} results, missing: {missing or 'none'})\n")


def summary_table(results: dict[str, dict]) -> str:
    """One line per benchmark: the headline numbers and the target."""
    rows = ["| benchmark | result | target |", "| --- | --- | --- |"]
    for r in results.values():
        name = SHORT.get(r["name"], r["title"].split(" (")[0])
        rows.append(f"| {name} | {r.get('headline', r['ratios'])} | "
                    f"{verdict(r).removeprefix('target: ')} |")
    return "## Summary\n\n" + "\n".join(rows) + "\n"


def read_findings() -> str:
    """bench/FINDINGS.md (hand-written findings: profile, what was cut) if present."""
    path = ROOT / "bench" / "FINDINGS.md"
    return path.read_text().rstrip() + "\n\n" if path.exists() else ""


if __name__ == "__main__":
    main()
