"""Benchmark 5, sweep: 4 queued experiments on 1 worker (sequential) vs `dvc queue start -j 2`.

The sweep of `make sweep`: `-S experiment=fast -S 'train.estimators=choice([lr],[lightgbm])'
-S 'train.fold=3,5'` (4 experiments), on the e2e tests' tiny data (a 2,500-row sample) to keep
the benchmark short. Each side gets its own fresh copy of the repository (so neither side can
restore stages from the other's run-cache), with the MLflow store created up front
(`mlgate init-store`, as `make sweep` does); the 4 experiments are queued untimed, then the
clock runs from `dvc queue start -j N` until `dvc queue status` (polled every
`--poll` seconds) shows nothing queued or running. Sides alternate over `--repeats`.
Run: `python bench/sweep.py`.
"""

from __future__ import annotations

import argparse
import json
import tempfile
import time
from pathlib import Path

from _common import Copy, emit, log, make_copy, markdown_table, median, ratio

SWEEP = ["-S", "experiment=fast", "-S", "train.estimators=choice([lr],[lightgbm])",
         "-S", "train.fold=3,5"]
SIDES = {"sequential (dvc queue start -j 1)": 1, "parallel (dvc queue start -j 2)": 2}
ROWS = 2500


def wait_idle(copy: Copy, poll: float, timeout: float = 3600) -> str:
    """Poll `dvc queue status` until nothing is queued or running; return the last status."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        status = copy.dvc("queue", "status").stdout
        if "Queued" not in status and "Running" not in status:
            return status
        time.sleep(poll)
    raise SystemExit(f"queue still busy after {timeout} s:\n{status}")


def wait_workers_gone(copy: Copy, timeout: float = 120) -> None:
    """Workers stop ~10 s after the queue empties; wait so the copy can be deleted."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if "0 active, 0 idle" in copy.dvc("queue", "status").stdout:
            return
        time.sleep(3)


def count_experiments(copy: Copy) -> int:
    """Experiments recorded in the copy (`dvc exp show --json`)."""
    rows = json.loads(copy.dvc("exp", "show", "--json").stdout)
    return sum(len(b.get("experiments") or []) for b in rows)


def run_side(tmp: Path, jobs: int, poll: float) -> float:
    """A fresh copy, the 4 experiments queued, timed from `queue start -j jobs` to done."""
    copy = make_copy(tmp / f"repo-j{jobs}", rows=ROWS, train="fast")
    copy.dvc("exp", "run", "--queue", *SWEEP)
    started = time.perf_counter()
    copy.dvc("queue", "start", "-j", str(jobs))
    status = wait_idle(copy, poll)
    seconds = time.perf_counter() - started
    wait_workers_gone(copy)
    if "Failed" in status or count_experiments(copy) != 4:
        raise SystemExit(f"the sweep on {jobs} worker(s) did not finish 4 experiments:\n"
                         f"{status}")
    return seconds


def main() -> None:
    """Run both sides (alternating over repeats), report the times and the speed-up."""
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--repeats", type=int, default=1)
    parser.add_argument("--poll", type=float, default=2.0)
    args = parser.parse_args()
    times: dict[str, list[float]] = {s: [] for s in SIDES}
    for i in range(args.repeats):
        order = list(SIDES) if i % 2 == 0 else list(SIDES)[::-1]
        for side in order:
            with tempfile.TemporaryDirectory(prefix="mlgate-bench-") as tmp:
                times[side].append(run_side(Path(tmp), SIDES[side], args.poll))
            log(f"{side}: {times[side][-1]:.1f} s")
    med = {k: median(v) for k, v in times.items()}
    seq, par = (med[s] for s in SIDES)
    rows = [[s, med[s], ", ".join(f"{t:.1f}" for t in times[s]), ratio(med[s], seq)]
            for s in SIDES]
    emit("sweep", {
        "title": f"5. Sweep: 4 experiments, 1 worker vs 2 workers ({ROWS:,}-row sample, "
                 f"median of {args.repeats})",
        "table": markdown_table(["side", "median s", "runs s", "ratio vs sequential"], rows),
        "headline": f"4 experiments: 1 worker {seq:.0f} s, 2 workers {par:.0f} s "
                    f"(speed-up {ratio(seq, par)}x)",
        "ratios": {"parallel_vs_sequential": ratio(par, seq), "speedup": ratio(seq, par)},
        "seconds": med, "runs": times, "target": "none set (reported)", "met": None,
        "notes": [f"Sweep: `dvc exp run --queue {' '.join(SWEEP)}` (the sweep of `make sweep`)"
                  f", on a {ROWS:,}-row sample with min_rows 500, as in the e2e tests.",
                  f"Timed from `dvc queue start -j N` until `dvc queue status` shows nothing "
                  f"queued or running (polled every {args.poll:g} s, so +-{args.poll:g} s); "
                  "each side in its own fresh copy (no shared run-cache); both sides check "
                  "that the 4 experiments finished.",
                  "Each experiment runs the whole pipeline (ingest to drift) in its own "
                  "temporary workspace; the 2 workers share 2 cores and the MLflow store, and "
                  "serialize registrations through the gate's lock."]})


if __name__ == "__main__":
    main()
