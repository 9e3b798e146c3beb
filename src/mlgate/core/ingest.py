"""Ingest: load the configured source and drop leakage columns."""

from __future__ import annotations

import importlib.util
import logging
from pathlib import Path

import pandas as pd

from mlgate.base.errors import ConfigError, DataError
from mlgate.base.frames import default_index, row_mask
from mlgate.base.io import read_table
from mlgate.base.names import BATCH_COLUMN, SOURCE_BATCH

log = logging.getLogger(__name__)

BUILTIN_SOURCES = ("randhie",)


def randhie_path() -> Path:
    """Path of the RAND Health Insurance Experiment CSV that ships inside statsmodels."""
    spec = importlib.util.find_spec("statsmodels")  # locating it, not importing it (~0.1 s)
    if spec is None or not spec.submodule_search_locations:
        raise ConfigError("data.source: `randhie` ships inside statsmodels, which is not "
                          "installed (pip install statsmodels)")
    return Path(spec.submodule_search_locations[0]) / "datasets" / "randhie" / "src" / "randhie.csv"


def resolve_source(source: str, root: Path) -> Path:
    """Map `data.source` (a built-in name or a CSV/Parquet path) to a file path."""
    if not isinstance(source, str) or not source.strip():
        raise ConfigError("params.yaml: `data.source` must be a built-in name or a file path")
    if source in BUILTIN_SOURCES:
        return randhie_path()
    path = Path(source)
    return path if path.is_absolute() else root / path


def load_source(source: str, root: Path) -> pd.DataFrame:
    """Read the source table; errors name the file and `data.source`."""
    path = resolve_source(source, root)
    if source not in BUILTIN_SOURCES and not path.exists():
        raise DataError(f"data.source: file not found: {path}")
    df = read_table(path)
    if df.empty:
        raise DataError(f"data.source: {path}: the table is empty ({df.shape[1]} column(s), "
                        "no data rows)")
    return df


def drop_columns(df: pd.DataFrame, columns: list[str]) -> pd.DataFrame:
    """Drop configured columns; a configured column that is absent is a config error."""
    missing = [c for c in columns if c not in df.columns]
    if missing:
        raise ConfigError(f"`data.drop_columns` names column(s) not in the data: {missing}")
    return df.drop(columns=list(columns))


def apply_filter(df: pd.DataFrame, rule: str | None) -> pd.DataFrame:
    """Keep the rows where `data.filter` (a pandas expression) holds; None keeps every row."""
    if not rule:
        return df
    mask = row_mask(df, rule, "data.filter")
    log.info("data.filter %r keeps %d of %d rows", rule, int(mask.sum()), len(df))
    return df[mask]


def parse_datetimes(df: pd.DataFrame, formats: dict[str, str | None]) -> pd.DataFrame:
    """Parse the `data.datetime` columns ({column: strftime format, or null for ISO 8601}).

    Missing values stay missing (NaT); any other value that does not match is an error
    naming the column, the format and an example.
    """
    if not formats:
        return df
    if not isinstance(formats, dict):
        raise ConfigError("`data.datetime` must map column names to a strftime format "
                          "(or null for ISO 8601), e.g. {signup: '%Y-%m-%d'}")
    missing = [c for c in formats if c not in df.columns]
    if missing:
        raise ConfigError(f"`data.datetime` names column(s) not in the data: {missing}")
    out = df.copy()
    for col, fmt in formats.items():
        if pd.api.types.is_datetime64_any_dtype(out[col]):
            continue
        parsed = pd.to_datetime(out[col], errors="coerce", format=fmt or "ISO8601")
        bad = parsed.isna() & out[col].notna()
        if bad.any():
            raise DataError(f"`data.datetime.{col}`: {int(bad.sum())} value(s) do not match "
                            f"format {fmt or 'ISO 8601'!r}, e.g. {out[col][bad].iloc[0]!r}")
        out[col] = parsed
    return out


def ingest(df: pd.DataFrame, drop: list[str], rule: str | None = None,
           datetimes: dict[str, str | None] | None = None) -> pd.DataFrame:
    """Return the ingested table: dates parsed, rows filtered, leakage columns dropped."""
    if df.shape[1] == 0 or df.empty:
        raise DataError(f"data.source: the table is empty ({df.shape[0]} rows, "
                        f"{df.shape[1]} columns)")
    out = drop_columns(apply_filter(parse_datetimes(df, datetimes or {}), rule), drop)
    if out.empty:
        raise DataError(f"`data.filter` = {rule!r} leaves no rows")
    log.info("ingested %d rows x %d columns (dropped %d)", len(out), out.shape[1], len(drop))
    return default_index(out)


def delivered_files(folder: Path) -> list[Path]:
    """The delivered batches in `folder` (Parquet written by `mlgate watch`), in name order."""
    return sorted(folder.glob("*.parquet")) if folder.is_dir() else []


def with_delivered(df: pd.DataFrame, batches: dict[str, pd.DataFrame], drop: list[str],
                   datetimes: dict[str, str | None] | None = None) -> pd.DataFrame:
    """The ingested table plus each delivered batch, every row named by BATCH_COLUMN.

    `data.filter` is not applied to delivered rows (it selects rows of data.source, e.g. the
    first period of a stream); `data.drop_columns` and `data.datetime` are, where present.
    A delivered batch must hold the table's columns; extra ones are an error naming the file.
    """
    if not batches:
        return df
    parts = [df.assign(**{BATCH_COLUMN: SOURCE_BATCH})]
    for name, batch in batches.items():
        batch = parse_datetimes(batch.drop(columns=[c for c in drop if c in batch.columns]),
                                {c: f for c, f in (datetimes or {}).items() if c in batch})
        missing = [c for c in df.columns if c not in batch.columns]
        extra = [c for c in batch.columns if c not in df.columns]
        if missing or extra:
            raise DataError(f"delivered batch {name}: columns differ from data.source "
                            f"(missing {missing}, extra {extra})")
        parts.append(batch[list(df.columns)].assign(**{BATCH_COLUMN: name}))
    out = pd.concat(parts, ignore_index=True)
    log.info("ingest: %d delivered batch(es) add %d rows", len(batches), len(out) - len(df))
    return default_index(out)
