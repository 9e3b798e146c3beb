"""Regenerate the broken-input corpus: `python tests/data/bad/generate.py` (deterministic).

Every case is a small table cut from the RAND HIE data (30 complete rows) and broken in one
way. cases.yaml says where each one enters the pipeline and what it must produce.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import numpy as np
import pandas as pd

from mlgate.core.ingest import randhie_path

HERE = Path(__file__).resolve().parent
ROWS = 30
# What ingest drops for the classification task, and the split's `year` (see params.yaml).
NOT_FEATURES = ["zper", "outpdol", "drugdol", "suppdol", "mentdol", "inpdol", "meddol",
                "totadm", "inpmis", "mentvis", "mdvis", "notmdvis", "lnmeddol", "year"]


def source_rows() -> pd.DataFrame:
    """30 rows of the raw source table without nulls (lnmeddol aside: it is null when binexp
    is 0, and ingest drops it), both target classes present."""
    df = pd.read_csv(randhie_path())
    df = df.dropna(subset=[c for c in df.columns if c != "lnmeddol"]).sample(ROWS, random_state=8)
    assert df["binexp"].nunique() == 2
    return df.reset_index(drop=True)


def with_values(df: pd.DataFrame, column: str, rows: list[int], value: object) -> pd.DataFrame:
    """A copy of df with `value` in `column` at `rows` (the column becomes object if needed)."""
    out = df.copy()
    if isinstance(value, str):
        out[column] = out[column].astype(object)
    out.loc[rows, column] = value
    return out


def csv_bytes(df: pd.DataFrame) -> bytes:
    """The table as UTF-8 CSV bytes, no index."""
    return df.to_csv(index=False).encode("utf-8")


def non_utf8(df: pd.DataFrame) -> bytes:
    """Valid CSV except for one Latin-1 encoded cell (b'\\xe9') on the 5th data row."""
    lines = csv_bytes(with_values(df, "income", [4], "ZZZ")).split(b"\n")
    return b"\n".join(line.replace(b"ZZZ", b"caf\xe9") for line in lines)


def duplicate_columns(df: pd.DataFrame) -> bytes:
    """A second `income` column (a bad join upstream): the header names it twice."""
    return csv_bytes(df.assign(income_2=df["income"])).replace(b"income_2", b"income", 1)


def source_cases(df: pd.DataFrame) -> dict[str, bytes]:
    """Broken versions of the raw source table (data.source)."""
    return {
        "empty_file": b"",
        "header_only": csv_bytes(df.head(0)),
        "missing_target": csv_bytes(df.drop(columns=["binexp"])),
        "one_class_target": csv_bytes(df.assign(binexp=1)),
        "wrong_dtype": csv_bytes(with_values(df, "income", [3, 7], "unknown")),
        "all_null_column": csv_bytes(df.assign(xage=np.nan)),
        "non_utf8": non_utf8(df),
        "duplicate_columns": duplicate_columns(df),
        "inf_values": csv_bytes(with_values(with_values(df, "income", [2], np.inf),
                                            "income", [5], -np.inf)),
    }


def batch_cases(df: pd.DataFrame) -> dict[str, bytes]:
    """Broken (and one merely reordered) batches to score with the champion."""
    batch = df.drop(columns=NOT_FEATURES)
    mutate: dict[str, Callable[[pd.DataFrame], pd.DataFrame]] = {
        "batch_unseen_category": lambda b: with_values(b, "site", [1, 2], 99),
        "batch_missing_column": lambda b: b.drop(columns=["income"]),
        "batch_reordered": lambda b: b[b.columns[::-1]],
        "batch_reordered_missing": lambda b: b[b.columns[::-1]].drop(columns=["xage", "plan"]),
        "batch_inf_values": lambda b: with_values(b, "income", [6], np.inf),
    }
    return {name: csv_bytes(fn(batch)) for name, fn in mutate.items()}


def main() -> None:
    """Write every case to <case>/data.csv (source) or <case>/batch.csv (scoring)."""
    df = source_rows()
    for kind, cases in (("data", source_cases(df)), ("batch", batch_cases(df))):
        for name, content in cases.items():
            (HERE / name).mkdir(exist_ok=True)
            (HERE / name / f"{kind}.csv").write_bytes(content)


if __name__ == "__main__":
    main()
