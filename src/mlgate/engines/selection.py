"""Model selection: cross-validate every candidate (in this process or on Dask), pick the best
by `train.sort`, optionally tune it, refit it on all training rows."""

from __future__ import annotations

import logging
from collections.abc import Callable

import pandas as pd

from mlgate.engines.parallel import cross_validate_on_dask
from mlgate.engines.training import (
    Candidate,
    TrainConfig,
    TrainResult,
    check_estimators,
    cross_validate_all,
    make_experiment,
    pick_best,
    tune,
)

log = logging.getLogger("mlgate.engines.training")  # the training log's name, as before


def train_model(train: pd.DataFrame, cfg: TrainConfig,
                on_candidate: Callable[[Candidate], None] | None = None) -> TrainResult:
    """CV every candidate, pick the best by `sort`, optionally tune, refit on all rows."""
    exp = make_experiment(train, cfg)
    check_estimators(exp, cfg.estimators)
    log.info("%s: %d candidate(s), %d-fold CV, sorted by %s, parallel=%s", cfg.task,
             len(cfg.estimators), cfg.fold, cfg.sort, cfg.parallel)
    if cfg.parallel == "dask":
        candidates = cross_validate_on_dask(train, cfg, on_candidate)
    else:
        candidates = cross_validate_all(exp, cfg.estimators, on_candidate)
    best = pick_best(candidates, cfg.sort)
    log.info("best candidate: %s (%s = %.4f)", best.id, cfg.sort, best.cv[cfg.sort])
    tuned = tune(exp, best, cfg) if cfg.tune.enabled else None
    if tuned and on_candidate:
        on_candidate(tuned)
    log.info("refitting %s on all %d training rows", (tuned or best).id, len(train))
    return TrainResult(exp.finalize_model((tuned or best).model), candidates, best, tuned)
