"""Stage validate: check the raw dataset against the declared schema; fail naming every rule."""

import logging

import pandas as pd

from mlgate.base import paths
from mlgate.base.errors import DataError
from mlgate.base.io import read_table, write_json
from mlgate.base.params import require
from mlgate.core.validation import Schema, describe_failures, validate

log = logging.getLogger("mlgate.validate")


def check(params: dict, raw: pd.DataFrame) -> dict:
    """Validate `raw`, write reports/validation.json; raise when any rule fails."""
    schema = Schema.from_params(require(params, "data.target"), require(params, "validate"))
    report = validate(raw, schema)
    write_json(paths.VALIDATION, report)
    if not report["passed"]:
        raise DataError(f"{paths.RAW} failed validation ({len(report['failures'])} problem(s)): "
                        f"{describe_failures(report)}")
    log.info("validation passed: %d rows, %d columns", report["n_rows"], report["n_columns"])
    return report


def run(params: dict) -> None:
    """Validate data/raw/dataset.parquet."""
    check(params, read_table(paths.RAW))
