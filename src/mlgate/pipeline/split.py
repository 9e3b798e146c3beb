"""Stage split: current batch by rule, then seeded stratified train/test of the model data."""

import logging

import pandas as pd

from mlgate.base import paths
from mlgate.base.errors import DataError
from mlgate.base.io import read_json, read_table, write_parquet
from mlgate.base.params import require
from mlgate.core.split import SplitConfig, split_all

log = logging.getLogger("mlgate.split")
FILES = (("train", paths.TRAIN), ("test", paths.TEST), ("current", paths.CURRENT))


def split(params: dict, raw: pd.DataFrame) -> dict[str, pd.DataFrame]:
    """Split `raw` into train, test and current; write each under data/processed/."""
    cfg = SplitConfig.from_params(require(params, "split"))
    parts = split_all(raw, require(params, "data.target"), cfg, require(params, "task.type"))
    for name, path in FILES:
        write_parquet(path, parts[name])
    log.info("split: %s", {k: len(v) for k, v in parts.items()})
    return parts


def run(params: dict) -> None:
    """Split data/raw/dataset.parquet once validation has passed."""
    if not read_json(paths.VALIDATION).get("passed"):
        raise DataError(f"{paths.VALIDATION} says validation failed; fix the data first")
    split(params, read_table(paths.RAW))
