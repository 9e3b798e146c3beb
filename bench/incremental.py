"""Benchmark 3, incremental rerun: change only a drift parameter, time to the end vs drift alone.

In a throwaway copy of the repository (default data, fast train preset: only drift reruns, so
the train preset does not matter), after one untimed `dvc repro`, three sides alternate,
`--repeats` times each, every time with a new value of `drift.drift_share` (a value never seen
before, so DVC's run-cache cannot restore the stage):

- edit `drift.drift_share` in params.yaml, then `dvc repro` (checked: only `drift` ran);
- `dvc exp run -S drift.drift_share=<value>` (Hydra composes params.yaml; checked likewise);
- the drift stage alone: its dvc.yaml cmd
  (`python -m mlgate.supervise.launch stages/drift.py`), without DVC
  (like DVC's runs, it uses the preload server the warm-up started).

Ratios are against the drift stage alone. Run: `python bench/incremental.py`.
"""

from __future__ import annotations

import argparse
import re
import tempfile
import time
from pathlib import Path

from _common import BIN, Copy, emit, log, make_copy, markdown_table, median, ratio

SIDES = ("dvc repro (params.yaml edited)", "dvc exp run -S", "drift stage alone")
RAN = re.compile(r"Running stage '([\w-]+)'")
SHARE = re.compile(r"^(  drift_share: ).*$", re.MULTILINE)


def only_drift(out: str, what: str) -> None:
    """Stop unless exactly the drift stage ran."""
    ran = RAN.findall(out)
    if ran != ["drift"]:
        raise SystemExit(f"{what} ran {ran or 'no stage'}, expected only drift:\n{out[-3000:]}")


def set_share(copy: Copy, value: float) -> None:
    """Edit drift.drift_share in the copy's params.yaml (nothing else changes)."""
    path = copy.path / "params.yaml"
    text, n = SHARE.subn(rf"\g<1>{value}", path.read_text())
    if n != 1:
        raise SystemExit("params.yaml: expected exactly one `drift_share:` line")
    path.write_text(text)


def run_side(copy: Copy, side: str, value: float) -> float:
    """One timed run of `side` with drift_share = value."""
    if side == SIDES[0]:
        set_share(copy, value)
        started = time.perf_counter()
        out = copy.run(BIN / "dvc", "repro").stdout
    elif side == SIDES[1]:
        started = time.perf_counter()
        out = copy.run(BIN / "dvc", "exp", "run", "-S", f"drift.drift_share={value}").stdout
    else:
        set_share(copy, value)
        started = time.perf_counter()
        copy.run(*dict(copy.stage_commands())["drift"].split())
        return time.perf_counter() - started
    seconds = time.perf_counter() - started
    only_drift(out, side)
    return seconds


def main() -> None:
    """Build the copy, run it once, alternate the sides, report."""
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--repeats", type=int, default=5)
    parser.add_argument("--quick", action="store_true", help="2,500-row sample")
    args = parser.parse_args()
    times: dict[str, list[float]] = {s: [] for s in SIDES}
    with tempfile.TemporaryDirectory(prefix="mlgate-bench-") as tmp:
        copy = make_copy(Path(tmp) / "repo", rows=2500 if args.quick else None, train="fast")
        log("untimed: dvc repro")
        copy.dvc("repro")
        value = 0.05
        for i in range(args.repeats):
            for side in SIDES[i % 3:] + SIDES[:i % 3]:
                value = round(value + 0.001, 3)
                times[side].append(run_side(copy, side, value))
                log(f"{side} (drift_share={value}): {times[side][-1]:.1f} s")
        rows_note = copy.params()["score"]["reference_rows"]
    report(times, args, rows_note)


def report(times: dict[str, list[float]], args: argparse.Namespace, reference_rows: int) -> None:
    """Table, ratios vs the drift stage alone, notes."""
    med = {k: median(v) for k, v in times.items()}
    alone = med[SIDES[2]]
    rows = [[s, med[s], ", ".join(f"{t:.1f}" for t in times[s]), ratio(med[s], alone)]
            for s in SIDES]
    data = "2,500-row sample" if args.quick else "default data"
    emit("incremental", {
        "title": f"3. Incremental rerun after changing only `drift.drift_share` ({data}; "
                 f"median of {args.repeats}, alternating)",
        "table": markdown_table(["side", "median s", "runs s", "ratio vs drift alone"], rows),
        "headline": f"drift alone {alone:.1f} s; dvc repro {ratio(med[SIDES[0]], alone)}x, "
                    f"dvc exp run {ratio(med[SIDES[1]], alone)}x of it",
        "ratios": {"repro_vs_drift_alone": ratio(med[SIDES[0]], alone),
                   "exp_run_vs_drift_alone": ratio(med[SIDES[1]], alone)},
        "seconds": med, "runs": times, "target": "none set (reported)", "met": None,
        "notes": ["Every run uses a drift_share never used before in the copy, so the drift "
                  "stage really runs (no run-cache restore); the DVC sides are checked to run "
                  "only `drift`.",
                  f"The drift stage compares the scored current batch with the scored reference "
                  f"(at most score.reference_rows = {reference_rows} training rows), writes the "
                  "Evidently HTML and JSON and logs both to the pipeline's MLflow run.",
                  "`dvc exp run` also composes params.yaml with Hydra, stashes and commits the "
                  "experiment to a git ref: its extra time over `dvc repro` is that."]})


if __name__ == "__main__":
    main()
