"""Benchmark: what `mlgate watch` adds to the work it does for one batch.

One batch of `--rows` RAND HIE rows (resampled, shaped like data.source) goes, alternately,
`--repeats` times:
- through the watcher (`mlgate.pipeline.watch.watch(..., once=True)` on a fresh inbox: admit
  with the contract check and SHA-256, hold, read again, score, drift, snapshot, ledger, the
  scored rows kept for late labels), and
- through the same functions called directly in one process (champion contract, read the
  file, `check_delivery`: score, drift, snapshot).
Both load the champion and write their snapshot to a scratch monitoring workspace (not the
repository's). Needs a champion in the repository's registry (`make run` first).
Run: `python bench/watch_cost.py [--rows 100000] [--repeats 3]`.
"""

from __future__ import annotations

import argparse
import copy
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from bench._common import ROOT, emit, log, markdown_table, median, ratio
from mlgate.base.io import read_table
from mlgate.base.params import load_params
from mlgate.core.ingest import randhie_path
from mlgate.pipeline.drift import champion_contract, check_delivery
from mlgate.pipeline.watch import watch


def direct(params: dict, path: Path, name: str, drop: list[str]) -> float:
    """Seconds for the champion contract, reading the file and check_delivery."""
    started = time.perf_counter()
    contract = champion_contract(params)
    batch = read_table(path)
    check_delivery(params, contract, batch.drop(columns=[c for c in drop if c in batch]),
                   name, str(path))
    return time.perf_counter() - started


def watched(params: dict, path: Path, scratch: Path, i: int) -> float:
    """Seconds for one `watch --once` over a fresh inbox holding the file."""
    inbox = scratch / f"inbox{i}"
    inbox.mkdir()
    (inbox / path.name).symlink_to(path)
    started = time.perf_counter()
    done = watch(params, inbox, once=True, root=ROOT)
    elapsed = time.perf_counter() - started
    assert len(done) == 1, done
    return elapsed


def main() -> None:
    """Time both paths alternately and print the ratio and the time per batch."""
    import pandas as pd

    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--rows", type=int, default=100_000)
    parser.add_argument("--repeats", type=int, default=3)
    args = parser.parse_args()
    params = copy.deepcopy(load_params(ROOT / "params.yaml"))
    drop = [*params["data"]["drop_columns"], *params["split"]["drop_columns"]]
    table = pd.read_csv(randhie_path())
    with tempfile.TemporaryDirectory() as tmp:
        scratch = Path(tmp)
        params["monitor"]["workspace"] = str(scratch / "monitoring")
        params["monitor"]["watch"].update(settle_s=0, retrain="off", min_rows=1)
        params["drift"]["actions"]["investigate"] = 1.0  # the loop must not stop the bench
        path = scratch / "batch.parquet"
        table.sample(args.rows, replace=True, random_state=1).to_parquet(path, index=False)
        times: dict[str, list[float]] = {"watch": [], "direct": []}
        for i in range(args.repeats):
            for name in (("watch", "direct") if i % 2 == 0 else ("direct", "watch")):
                times[name].append(watched(params, path, scratch, i) if name == "watch"
                                   else direct(params, path, f"direct{i}", drop))
            log(f"repeat {i + 1}: watch {times['watch'][-1]:.2f} s, direct "
                f"{times['direct'][-1]:.2f} s")
    w, d = median(times["watch"]), median(times["direct"])
    emit("watch_cost", {
        "title": f"One {args.rows:,}-row batch through `mlgate watch` vs the same functions "
                 f"called directly, median of {args.repeats}",
        "table": markdown_table(["path", "seconds per batch"],
                                [["mlgate watch --once (fresh inbox)", w],
                                 ["direct: contract + read + check_delivery", d]]),
        "ratio_watch_over_direct": ratio(w, d),
        "notes": [f"watch / direct: {ratio(w, d)}; the watcher's own work (SHA-256 twice, "
                  "the contract check at admission, a second read, the scored rows written "
                  f"for late labels, the ledger): {w - d:.2f} s per batch"]})


if __name__ == "__main__":
    main()
