"""Stage split: current batch by rule, then seeded stratified train/test of the model data."""

import logging

from mlgate.base import paths
from mlgate.base.errors import DataError
from mlgate.base.io import read_json, read_table, write_parquet
from mlgate.base.params import require
from mlgate.core.split import SplitConfig, split_all

log = logging.getLogger("mlgate.split")


def run(params: dict) -> None:
    """Write train, test and current parquet files under data/processed/."""
    if not read_json(paths.VALIDATION).get("passed"):
        raise DataError(f"{paths.VALIDATION} says validation failed; fix the data first")
    cfg = SplitConfig.from_params(require(params, "split"))
    parts = split_all(read_table(paths.RAW), require(params, "data.target"), cfg,
                      require(params, "task.type"))
    for name, path in (("train", paths.TRAIN), ("test", paths.TEST), ("current", paths.CURRENT)):
        write_parquet(path, parts[name])
    log.info("split: %s", {k: len(v) for k, v in parts.items()})

