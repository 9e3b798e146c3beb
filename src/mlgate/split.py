"""Split: separate the current batch by a rule, then a seeded stratified train/test split."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import pandas as pd
from sklearn.model_selection import train_test_split

from mlgate.errors import ConfigError, DataError
from mlgate.frames import row_mask
from mlgate.params import check_keys


@dataclass(frozen=True)
class SplitConfig:
    """`split:` params: the current-batch rule and the train/test split settings."""

    current: str
    drop_columns: tuple[str, ...] = ()
    test_size: float = 0.2
    seed: int = 42
    stratify: bool = True

    @classmethod
    def from_params(cls, section: dict[str, Any]) -> SplitConfig:
        """Build from the `split:` section of params.yaml."""
        check_keys(section, {"current", "drop_columns", "test_size", "seed", "stratify"}, "split")
        if not 0.0 < float(section.get("test_size", 0.2)) < 1.0:
            raise ConfigError("`split.test_size` must be between 0 and 1")
        drop = tuple(section.get("drop_columns") or ())
        return cls(**{**section, "drop_columns": drop})


def split_current(df: pd.DataFrame, rule: str) -> tuple[pd.DataFrame, pd.DataFrame]:
    """Rows where `rule` (a pandas query) holds are the current batch; the rest model data."""
    mask = row_mask(df, rule, "split.current")
    model, current = df[~mask], df[mask]
    if model.empty or current.empty:
        raise DataError(f"`split.current` = {rule!r} leaves {len(model)} model rows and "
                        f"{len(current)} current rows; both must be non-empty")
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
    model, current = split_current(df, cfg.current)
    train, test = train_test(model, target, cfg, task)
    drop = list(cfg.drop_columns)
    return {name: part.drop(columns=drop) for name, part in
            (("train", train), ("test", test), ("current", current))}
