"""Deliver RAND HIE's years 2-5 into the watcher's inbox, one file per year, in year order.

The README's monitoring demonstration: with `experiment=stream` the model is trained on year
1; each later year arrives as a file shaped like data.source (every column, labels included),
as a delivery from the source system would be.
"""

from __future__ import annotations

import argparse
import logging
import os
import time
from pathlib import Path

import pandas as pd

from mlgate.base.params import load_params, repo_root
from mlgate.core.ingest import randhie_path

log = logging.getLogger("stream_demo")


def main() -> None:
    """Write inbox/year<N>.csv for N in --years, modification times in year order."""
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--years", type=int, nargs="+", default=[2, 3, 4, 5])
    parser.add_argument("--inbox", type=Path, help="default: monitor.watch.inbox")
    args = parser.parse_args()
    root = repo_root()
    inbox = args.inbox or root / load_params(root / "params.yaml")["monitor"]["watch"]["inbox"]
    inbox.mkdir(parents=True, exist_ok=True)
    table = pd.read_csv(randhie_path())
    start = time.time() - 3600
    for i, year in enumerate(args.years):
        path = inbox / f"year{year}.csv"
        tmp = path.with_suffix(".csv.part")  # the watcher skips it until the rename
        table[table["year"] == year].to_csv(tmp, index=False)
        os.utime(tmp, (start + i, start + i))
        tmp.rename(path)
        log.info("delivered %s (%d rows)", path, int((table["year"] == year).sum()))


if __name__ == "__main__":
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(name)s %(message)s",
                        datefmt="%H:%M:%S")
    main()
