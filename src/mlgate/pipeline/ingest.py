"""Stage ingest: read `data.source`, drop leakage columns, write data/raw/dataset.parquet."""

from pathlib import Path

import pandas as pd

from mlgate.base import paths
from mlgate.base.io import write_parquet
from mlgate.base.params import require
from mlgate.core.ingest import ingest, load_source


def load(params: dict, root: Path) -> pd.DataFrame:
    """The raw dataset: `data.source` read, cleaned and parsed as `data:` declares."""
    data = require(params, "data")
    df = load_source(require(params, "data.source"), root)
    return ingest(df, list(data.get("drop_columns") or []), data.get("filter"),
                  data.get("datetime"))


def run(params: dict) -> None:
    """Load, clean and write the raw dataset."""
    write_parquet(paths.RAW, load(params, Path.cwd()))
