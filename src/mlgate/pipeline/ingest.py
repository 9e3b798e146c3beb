"""Stage ingest: read `data.source`, drop leakage columns, write data/raw/dataset.parquet."""

from pathlib import Path

import pandas as pd

from mlgate.base import paths
from mlgate.base.io import read_table, write_parquet
from mlgate.base.params import require
from mlgate.core.ingest import delivered_files, ingest, load_source, with_delivered


def load(params: dict, root: Path) -> pd.DataFrame:
    """The raw dataset: `data.source` read, cleaned and parsed as `data:` declares, plus the
    batches `mlgate watch` delivered (data/delivered/)."""
    data = require(params, "data")
    drop = list(data.get("drop_columns") or [])
    df = ingest(load_source(require(params, "data.source"), root), drop, data.get("filter"),
                data.get("datetime"))
    batches = {p.stem: read_table(p) for p in delivered_files(root / paths.DELIVERED)}
    return with_delivered(df, batches, drop, data.get("datetime"))


def run(params: dict) -> None:
    """Load, clean and write the raw dataset."""
    write_parquet(paths.RAW, load(params, Path.cwd()))
