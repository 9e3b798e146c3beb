"""Benchmark: no-op `dvc repro` vs `dvc status` on this repository (target: repro <= 1.2 s).

Both commands are run alternately `--repeats` times in the repository as it is (run
`make run` first so that everything is up to date); prints medians and the ratio.
Run: `make bench-noop`.
"""

from __future__ import annotations

import argparse
import os
import statistics
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
DVC = str(Path(sys.executable).parent / "dvc")


def timed(args: list[str]) -> tuple[float, str]:
    """Wall time and stdout of one dvc command in the repository."""
    env = {**os.environ, "PATH": f"{Path(sys.executable).parent}{os.pathsep}{os.environ['PATH']}"}
    started = time.perf_counter()
    proc = subprocess.run([DVC, *args], cwd=ROOT, env=env, capture_output=True, text=True,
                          check=True)
    return time.perf_counter() - started, proc.stdout


def main() -> None:
    """Alternate the two commands and print medians and the ratio."""
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--repeats", type=int, default=5)
    args = parser.parse_args()
    times: dict[str, list[float]] = {"dvc repro": [], "dvc status": []}
    for _ in range(args.repeats):
        seconds, out = timed(["repro"])
        if "up to date" not in out:
            raise SystemExit(f"`dvc repro` did work, not a no-op: run `make run` first\n{out}")
        times["dvc repro"].append(seconds)
        times["dvc status"].append(timed(["status"])[0])
    med = {k: statistics.median(v) for k, v in times.items()}
    sys.stdout.write(
        f"no-op dvc repro: {med['dvc repro']:.2f} s   dvc status: {med['dvc status']:.2f} s   "
        f"ratio {med['dvc repro'] / med['dvc status']:.2f}   (median of {args.repeats}, "
        f"{os.cpu_count()} CPUs; target repro <= 1.2 s: "
        f"{'met' if med['dvc repro'] <= 1.2 else 'NOT met'})\n")


if __name__ == "__main__":
    main()
