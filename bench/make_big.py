"""Generate the scale benchmark's table: the RAND HIE data resampled to N rows, with noise.

Rows are drawn with replacement (seeded) from the table that ships with statsmodels, so every
column keeps its type, the integer-coded categoricals (`plan`, `site`, ...) only take values
they have in the original, the target `binexp` stays 0/1 and null shares stay about the same.
Continuous columns (floats with more than 50 distinct values: income, age, spend, health
indices) get Gaussian noise of 5% of their standard deviation, clipped to the original range,
so the big table is not just repeated rows. Written to bench/.data/ (git-ignored, never
committed). Run: `python bench/make_big.py --rows 1000000`.
"""

from __future__ import annotations

import argparse
import time
from pathlib import Path

import numpy as np
import pandas as pd
from _common import DATA_DIR, log

NOISE = 0.05
MIN_DISTINCT = 50


def continuous(df: pd.DataFrame) -> list[str]:
    """Float columns with many distinct values (the others are codes or few-level scores)."""
    return [c for c in df.columns
            if pd.api.types.is_float_dtype(df[c]) and df[c].nunique() > MIN_DISTINCT]


def resample(source: pd.DataFrame, rows: int, seed: int) -> pd.DataFrame:
    """`rows` rows drawn with replacement; noise on the continuous columns, clipped to range."""
    rng = np.random.default_rng(seed)
    big = source.iloc[rng.integers(0, len(source), rows)].reset_index(drop=True)
    for col in continuous(source):
        lo, hi = source[col].min(), source[col].max()
        noise = rng.normal(0.0, NOISE * source[col].std(), rows)
        big[col] = (big[col] + noise).clip(lo, hi)  # NaN stays NaN
    return big


def big_path(rows: int) -> Path:
    """Where the table of `rows` rows is written."""
    return DATA_DIR / f"randhie_{rows}.parquet"


def make(rows: int, seed: int = 0, force: bool = False) -> Path:
    """Write (unless present) the resampled table; return its path."""
    from mlgate.core.ingest import randhie_path

    path = big_path(rows)
    if path.exists() and not force:
        log(f"{path} exists")
        return path
    started = time.perf_counter()
    big = resample(pd.read_csv(randhie_path()), rows, seed)
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_suffix(".tmp")
    big.to_parquet(tmp, index=False)
    tmp.replace(path)
    log(f"wrote {path}: {len(big):,} rows x {big.shape[1]} columns, "
        f"{path.stat().st_size / 2**20:.0f} MiB in {time.perf_counter() - started:.1f} s")
    return path


def main() -> None:
    """Command line."""
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--rows", type=int, default=1_000_000)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--force", action="store_true", help="rewrite even if present")
    args = parser.parse_args()
    make(args.rows, args.seed, args.force)


if __name__ == "__main__":
    main()
