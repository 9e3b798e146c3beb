"""Train: PyCaret setup + compare_models over configured estimators + finalize_model."""

from __future__ import annotations

import logging
import re
from dataclasses import dataclass, field
from typing import Any

import pandas as pd

from mlgate.errors import ConfigError
from mlgate.params import check_keys

log = logging.getLogger(__name__)

TRAIN_KEYS = {"estimators", "fold", "sort", "n_jobs", "seed", "setup"}
# setup() arguments mlgate owns; config may not override them through `train.setup`.
RESERVED_SETUP = {"data", "target", "session_id", "fold", "n_jobs", "verbose", "html",
                  "log_experiment", "system_log", "categorical_features", "test_data"}


@dataclass(frozen=True)
class TrainConfig:
    """`train:` params plus the dataset's target and categorical columns."""

    target: str
    estimators: tuple[str, ...]
    fold: int = 5
    sort: str = "AUC"
    n_jobs: int = 1
    seed: int = 42
    categorical: tuple[str, ...] = ()
    setup: dict[str, Any] = field(default_factory=dict)

    @classmethod
    def from_params(cls, data: dict[str, Any], section: dict[str, Any]) -> TrainConfig:
        """Build from the `data:` and `train:` sections of params.yaml."""
        check_keys(section, TRAIN_KEYS, "train")
        setup = dict(section.get("setup") or {})
        clash = sorted(RESERVED_SETUP & set(setup))
        if clash:
            raise ConfigError(f"`train.setup` may not set {clash}: mlgate sets them itself")
        if not section.get("estimators"):
            raise ConfigError("`train.estimators` must list at least one PyCaret model id")
        return cls(target=data["target"], estimators=tuple(section["estimators"]),
                   categorical=tuple(data.get("categorical") or ()), setup=setup,
                   **{k: section[k] for k in ("fold", "sort", "n_jobs", "seed") if k in section})


@dataclass
class TrainResult:
    """The finalized pipeline, the CV leaderboard and the winner's id."""

    model: Any
    leaderboard: pd.DataFrame
    best_id: str

    @property
    def cv_metrics(self) -> dict[str, float]:
        """The winner's cross-validated metrics (numeric leaderboard columns)."""
        row = self.leaderboard.loc[self.best_id]
        return {metric_name(str(k)): float(v) for k, v in row.items()
                if isinstance(v, int | float)}


def metric_name(column: str) -> str:
    """PyCaret leaderboard column -> MLflow-safe metric name: `TT (Sec)` -> `cv_tt_sec`."""
    return "cv_" + re.sub(r"[^a-z0-9]+", "_", column.lower()).strip("_")


def make_experiment(train: pd.DataFrame, cfg: TrainConfig):
    """Run PyCaret setup with mlgate's fixed choices (no PyCaret logging, no nested jobs)."""
    from pycaret.classification import ClassificationExperiment

    exp = ClassificationExperiment()
    exp.setup(data=train, target=cfg.target, session_id=cfg.seed, fold=cfg.fold,
              n_jobs=cfg.n_jobs, categorical_features=list(cfg.categorical) or None,
              verbose=False, html=False, log_experiment=False, system_log=False, **cfg.setup)
    return exp


def check_estimators(exp, estimators: tuple[str, ...]) -> None:
    """Reject estimator ids PyCaret does not know, naming them and the valid ones."""
    known = set(exp.models().index)
    unknown = [e for e in estimators if e not in known]
    if unknown:
        raise ConfigError(f"`train.estimators`: unknown PyCaret model id(s) {unknown}; "
                          f"available: {sorted(known)}")


def train_model(train: pd.DataFrame, cfg: TrainConfig) -> TrainResult:
    """Compare the configured estimators by CV, then refit the best on all training rows."""
    exp = make_experiment(train, cfg)
    check_estimators(exp, cfg.estimators)
    log.info("comparing %d candidate(s) with %d-fold CV: %s", len(cfg.estimators), cfg.fold,
             ", ".join(cfg.estimators))
    best = exp.compare_models(include=list(cfg.estimators), sort=cfg.sort, n_select=1,
                              errors="raise", verbose=False)
    board = exp.pull().copy()
    best_id = str(board.index[0])
    log.info("best candidate: %s (%s = %.4f)", best_id, cfg.sort, board.iloc[0][cfg.sort])
    return TrainResult(model=exp.finalize_model(best), leaderboard=board, best_id=best_id)
