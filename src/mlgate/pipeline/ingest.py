"""Stage ingest: read `data.source`, drop leakage columns, write data/raw/dataset.parquet."""

from pathlib import Path

from mlgate.base import paths
from mlgate.base.io import write_parquet
from mlgate.base.params import require
from mlgate.core.ingest import ingest, load_source


def run(params: dict) -> None:
    """Load, clean and write the raw dataset."""
    data = require(params, "data")
    df = load_source(require(params, "data.source"), Path.cwd())
    write_parquet(paths.RAW, ingest(df, list(data.get("drop_columns") or []), data.get("filter"),
                                    data.get("datetime")))

