"""Benchmark 2: no-op `dvc repro` vs `dvc status` on the same repository (target: repro <= 1.2 s).

In a throwaway copy of the repository (default data, fast train preset: the train preset does
not change what a no-op checks) the pipeline is run once, untimed; then both commands are run
alternately `--repeats` times, each checked to be a no-op; prints medians and the ratio.
`--here` times this repository as it is instead (run `make run` first).
Run: `python bench/noop_repro.py` (`make bench-noop`).
"""

from __future__ import annotations

import argparse
import tempfile
import time
from pathlib import Path

from _common import BIN, ROOT, Copy, emit, log, make_copy, markdown_table, median, ratio

TARGET_S = 1.2


def timed(copy: Copy, command: str) -> float:
    """Wall time of `dvc <command>`; stop when it was not a no-op."""
    started = time.perf_counter()
    out = copy.run(BIN / "dvc", command).stdout
    seconds = time.perf_counter() - started
    if command == "repro" and "Running stage" in out:
        raise SystemExit(f"`dvc repro` did work, not a no-op:\n{out}")
    if command == "status" and "up to date" not in out:
        raise SystemExit(f"`dvc status` reports changes, the repository is not up to date:\n{out}")
    return seconds


def measure(copy: Copy, repeats: int) -> dict[str, list[float]]:
    """Alternate the two commands (order swapped every repeat)."""
    times: dict[str, list[float]] = {"dvc repro": [], "dvc status": []}
    for i in range(repeats):
        for command in (("repro", "status") if i % 2 == 0 else ("status", "repro")):
            times[f"dvc {command}"].append(timed(copy, command))
    return times


def main() -> None:
    """Prepare (or use) the repository, time both commands, report."""
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--repeats", type=int, default=7)
    parser.add_argument("--here", action="store_true", help="time this repository as it is")
    parser.add_argument("--quick", action="store_true", help="2,500-row sample")
    args = parser.parse_args()
    if args.here:
        times, where = measure(Copy(ROOT), args.repeats), "this repository"
    else:
        with tempfile.TemporaryDirectory(prefix="mlgate-bench-") as tmp:
            copy = make_copy(Path(tmp) / "repo", rows=2500 if args.quick else None, train="fast")
            log("untimed: dvc repro")
            copy.dvc("repro")
            times = measure(copy, args.repeats)
        where = "a fresh copy after one `dvc repro` (" + \
            ("2,500-row sample" if args.quick else "default data") + ", train=fast)"
    med = {k: median(v) for k, v in times.items()}
    rows = [[k, med[k], ", ".join(f"{t:.2f}" for t in v)] for k, v in times.items()]
    rows.append(["ratio repro / status", ratio(med["dvc repro"], med["dvc status"]), ""])
    emit("noop", {
        "title": f"2. No-op `dvc repro` vs `dvc status` (median of {args.repeats}, alternating)",
        "table": markdown_table(["command", "median s", "runs s"], rows),
        "headline": f"no-op dvc repro {med['dvc repro']:.2f} s vs dvc status "
                    f"{med['dvc status']:.2f} s (ratio "
                    f"{ratio(med['dvc repro'], med['dvc status'])})",
        "ratios": {"repro_vs_status": ratio(med["dvc repro"], med["dvc status"])},
        "seconds": med, "runs": times, "target": f"no-op dvc repro <= {TARGET_S} s",
        "met": med["dvc repro"] <= TARGET_S,
        "notes": [f"Measured in {where}; both commands are checked to find nothing to do.",
                  "Both commands load the repository and compare every dependency, parameter "
                  "and output with dvc.lock (file hashes come from DVC's state database)."]})
    log(f"done in {where}")


if __name__ == "__main__":
    main()
