"""Row selection rules written in config as pandas expressions."""

from __future__ import annotations

import pandas as pd

from mlgate.base.errors import ConfigError


def row_mask(df: pd.DataFrame, rule: str, key: str) -> pd.Series:
    """Evaluate config key `key` (a pandas expression) to one True/False per row."""
    try:
        mask = df.eval(rule)
    except Exception as exc:  # pandas raises several types for bad expressions
        raise ConfigError(f"`{key}` = {rule!r} cannot be evaluated: {exc}") from exc
    if not (isinstance(mask, pd.Series) and pd.api.types.is_bool_dtype(mask)):
        raise ConfigError(f"`{key}` = {rule!r} must give True/False per row")
    return mask


def default_index(df: pd.DataFrame) -> pd.DataFrame:
    """df with a 0..n-1 RangeIndex; no copy when it already has one."""
    index = df.index
    if isinstance(index, pd.RangeIndex) and index.start == 0 and index.step == 1:
        return df
    return df.reset_index(drop=True)
