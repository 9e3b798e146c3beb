"""Split: separate the current batch by a rule, then a seeded stratified train/test split."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np
import pandas as pd
from sklearn.model_selection import train_test_split

from mlgate.base.errors import ConfigError, DataError
from mlgate.base.frames import row_mask
from mlgate.base.names import BATCH_COLUMN
from mlgate.base.params import check_number, check_section


@dataclass(frozen=True)
class SplitConfig:
    """`split:` params: the current-batch rule and the train/test split settings."""

    current: str | None
    drop_columns: tuple[str, ...]
    test_size: float
    seed: int
    stratify: bool
    current_share: float | None  # a seeded share of rows, when there is no rule

    @classmethod
    def from_params(cls, section: dict[str, Any]) -> SplitConfig:
        """Build from the `split:` section of params.yaml."""
        section = check_section(section, "split", {"current", "current_share", "drop_columns",
                                                   "test_size", "seed", "stratify"})
        check_number(section["test_size"], "split.test_size", low=0, high=1,
                     open_low=True, open_high=True)
        check_number(section["seed"], "split.seed", low=0, integer=True)
        share = check_number(section["current_share"], "split.current_share", low=0,
                             high=1, open_low=True, open_high=True, optional=True)
        if (section["current"] is None) == (share is None):
            raise ConfigError("set exactly one of `split.current` (a pandas expression) and "
                              "`split.current_share` (a seeded share of rows)")
        drop = tuple(section["drop_columns"] or ())
        return cls(**{**section, "drop_columns": drop})


def split_current(df: pd.DataFrame, rule: str) -> tuple[pd.DataFrame, pd.DataFrame]:
    """Rows where `rule` (a pandas query) holds are the current batch; the rest model data."""
    return _parts(df, row_mask(df, rule, "split.current"), f"`split.current` = {rule!r}")


def current_by_share(df: pd.DataFrame, share: float, seed: int
                     ) -> tuple[pd.DataFrame, pd.DataFrame]:
    """A seeded `share` of the rows is the current batch (a smaller share: a subset of it)."""
    n = round(share * len(df))
    chosen = np.random.default_rng(seed).permutation(len(df))[:n]
    mask = pd.Series(False, index=df.index)
    mask.iloc[chosen] = True
    return _parts(df, mask, f"`split.current_share` = {share}")


def _parts(df: pd.DataFrame, mask: pd.Series, what: str) -> tuple[pd.DataFrame, pd.DataFrame]:
    """(model rows, current rows) of `mask`; both must be non-empty."""
    model, current = df[~mask], df[mask]
    if model.empty or current.empty:
        raise DataError(f"{what} leaves {len(model)} model rows and {len(current)} current "
                        "rows; both must be non-empty")
    return model.reset_index(drop=True), current.reset_index(drop=True)


def strata(y: pd.Series, task: str, bins: int = 10) -> pd.Series:
    """Stratification labels: the classes, or target deciles for regression."""
    if task == "regression":
        return pd.qcut(y.rank(method="first"), q=min(bins, len(y) // 2), labels=False)
    return y


def train_test(df: pd.DataFrame, target: str, cfg: SplitConfig,
               task: str = "classification") -> tuple[pd.DataFrame, pd.DataFrame]:
    """Seeded train/test split, stratified on the target (deciles in regression) if set."""
    strat = strata(df[target], task) if cfg.stratify else None
    try:
        train, test = train_test_split(df, test_size=cfg.test_size, random_state=cfg.seed,
                                       stratify=strat)
    except ValueError as exc:
        raise DataError(f"train/test split of {len(df)} rows failed: {exc}") from exc
    return train.reset_index(drop=True), test.reset_index(drop=True)


def split_all(df: pd.DataFrame, target: str, cfg: SplitConfig,
              task: str = "classification") -> dict[str, pd.DataFrame]:
    """Return {'train', 'test', 'current'} with `drop_columns` removed from each."""
    missing = [c for c in cfg.drop_columns if c not in df.columns]
    if missing:
        raise ConfigError(f"`split.drop_columns` names column(s) not in the data: {missing}")
    model, current = split_current(df, cfg.current) if cfg.current is not None else \
        current_by_share(df, cfg.current_share, cfg.seed)
    train, test = train_test(model, target, cfg, task)
    drop = [*cfg.drop_columns, *([BATCH_COLUMN] if BATCH_COLUMN in df.columns else [])]
    return {name: part.drop(columns=drop) for name, part in
            (("train", train), ("test", test), ("current", current))}
