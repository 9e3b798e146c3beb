"""File IO at the edges: atomic writes and table reading with clear errors."""

from __future__ import annotations

import csv
import json
from collections import Counter
from pathlib import Path
from typing import Any

import joblib
import pandas as pd

from mlgate.base.errors import DataError
from mlgate.base.files import write_atomic

TABLE_SUFFIXES = {".csv", ".parquet", ".pq"}


def write_json(path: Path | str, data: Any) -> None:
    """Write `data` as indented JSON, atomically."""
    text = json.dumps(data, indent=2, sort_keys=False, default=_json_default) + "\n"
    write_atomic(path, lambda tmp: tmp.write_text(text, encoding="utf-8"))


def read_json(path: Path | str) -> Any:
    """Read a JSON file, with a clear error naming the file."""
    path = Path(path)
    if not path.exists():
        raise DataError(f"{path}: not found (did the stage that writes it run?)")
    return json.loads(path.read_text(encoding="utf-8"))


def write_parquet(path: Path | str, df: pd.DataFrame) -> None:
    """Write a DataFrame to Parquet atomically (no index)."""
    write_atomic(path, lambda tmp: df.to_parquet(tmp, index=False))


def read_table(path: Path | str) -> pd.DataFrame:
    """Read a CSV or Parquet file; every failure names the file and the cause."""
    path = Path(path)
    if not path.exists():
        raise DataError(f"{path}: file not found")
    suffix = path.suffix.lower()
    if suffix not in TABLE_SUFFIXES:
        raise DataError(f"{path}: unsupported file type {suffix!r}; use .csv or .parquet")
    try:
        df = pd.read_parquet(path) if suffix != ".csv" else _read_csv(path)
    except DataError:
        raise
    except Exception as exc:  # pandas/pyarrow raise many types; report them all the same way
        raise DataError(f"{path}: cannot be read as {suffix[1:]}: {exc}") from exc
    return df


def _read_csv(path: Path) -> pd.DataFrame:
    """Read a UTF-8 CSV, rejecting empty files and duplicate column names."""
    try:
        with path.open(encoding="utf-8", newline="") as fh:
            header = next(csv.reader(fh), [])
        df = pd.read_csv(path, encoding="utf-8")
    except pd.errors.EmptyDataError as exc:
        raise DataError(f"{path}: file is empty (no header, no rows)") from exc
    except UnicodeDecodeError as exc:
        raise DataError(f"{path}: not UTF-8 text ({_utf8_error(path, exc)}); "
                        "re-save it as UTF-8") from exc
    dupes = sorted(name for name, n in Counter(header).items() if n > 1)
    if dupes:
        raise DataError(f"{path}: duplicate column names: {', '.join(dupes)}")
    return df


def _utf8_error(path: Path, exc: UnicodeDecodeError) -> str:
    """Where the first invalid byte is: pandas reports offsets within its read buffer."""
    data = path.read_bytes()
    try:
        data.decode("utf-8")
    except UnicodeDecodeError as first:
        line = data.count(b"\n", 0, first.start) + 1
        return f"{first.reason}: byte {data[first.start]:#04x} at offset {first.start}, line {line}"
    return f"{exc.reason} at byte {exc.start}"


def _json_default(obj: Any) -> Any:
    """Convert numpy scalars and paths for json.dumps."""
    if hasattr(obj, "item"):
        return obj.item()
    if isinstance(obj, Path):
        return str(obj)
    raise TypeError(f"not JSON serialisable: {type(obj).__name__}")


def read_model(path: Path | str) -> Any:
    """A pickled model (models/model.pkl), with a clear error naming the file."""
    path = Path(path)
    if not path.exists():
        raise DataError(f"{path}: not found (did the train stage run?)")
    try:
        return joblib.load(path)
    except Exception as exc:  # unpickling raises many types; report them all the same way
        raise DataError(f"{path}: cannot be loaded: {exc}") from exc
