"""Train: PyCaret CV of each configured candidate, optional tuning, finalize on all rows."""

from __future__ import annotations

import logging
import math
import re
import time
import warnings
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
from pandas.api import types as ptypes
from sklearn import metrics as skm

from mlgate.base.errors import ConfigError, DataError, MlgateError
from mlgate.base.names import metric_name
from mlgate.base.params import check_number, check_section
from mlgate.core.features import DeclaredFeatures, declared_features, engineer, text_columns
from mlgate.core.model_steps import FeatureSteps, MissingAsNaN
from mlgate.core.onboard import looks_like_dates

log = logging.getLogger(__name__)

TASKS = {"classification": "ClassificationExperiment", "regression": "RegressionExperiment"}
TRAIN_KEYS = {"estimators", "fold", "sort", "n_jobs", "seed", "setup", "tune", "parallel", "dask"}
TUNE_KEYS = {"enabled", "n_iter", "grid", "choose_better"}
PARALLEL = ("none", "dask")  # where the candidates are cross-validated
# setup() arguments mlgate owns; config may not override them through `train.setup`.
RESERVED_SETUP = {"data", "target", "session_id", "fold", "n_jobs", "verbose", "html",
                  "log_experiment", "system_log", "categorical_features", "test_data",
                  "custom_pipeline", "custom_pipeline_position"}
# How PyCaret and scikit-learn report a metric they could not compute on a fold (and then
# replace by an error score): PyCaret's scorer wrapper, scikit-learn's _score, a failed fit.
SCORE_FAILURES = (re.compile(r"Metric '(?P<metric>.*?)' failed and error score"),
                  re.compile(r"Scoring failed\. The score on this train-test partition"),
                  re.compile(r"fits failed out of a total of"))
# PyCaret CV columns where smaller is better (all others: larger is better).
LOWER_IS_BETTER = {"MAE", "MSE", "RMSE", "RMSLE", "MAPE", "TT (Sec)"}


class TrainingError(MlgateError):
    """A candidate could not be trained; the message names it."""


@dataclass(frozen=True)
class TuneConfig:
    """`train.tune`: PyCaret tune_model of the best candidate (random search)."""

    enabled: bool
    n_iter: int
    grid: dict[str, dict[str, list]] | None  # per estimator id; absent: PyCaret's space
    choose_better: bool


@dataclass(frozen=True)
class DaskConfig:
    """`train.dask`: a LocalCluster on 127.0.0.1 (address null) or a running scheduler."""

    address: str | None  # e.g. tcp://scheduler:8786; null: start a LocalCluster
    n_workers: int  # LocalCluster only
    threads_per_worker: int  # LocalCluster only
    connect_timeout: float  # seconds to reach `address`

    @classmethod
    def from_params(cls, section: dict[str, Any] | None) -> DaskConfig:
        """Build from `train.dask`, naming an unknown key or a bad value."""
        cfg = cls(**check_section(section, "train.dask", set(cls.__dataclass_fields__)))
        for key, kind, what in (("n_workers", int, "integer"), ("threads_per_worker", int,
                                "integer"), ("connect_timeout", int | float, "number")):
            value = getattr(cfg, key)
            if isinstance(value, bool) or not isinstance(value, kind) or value <= 0:
                raise ConfigError(f"`train.dask.{key}` must be a positive {what}, not {value!r}")
        if cfg.address is not None and not isinstance(cfg.address, str):
            raise ConfigError(f"`train.dask.address` must be null or an address like "
                              f"tcp://scheduler:8786, not {cfg.address!r}")
        return cfg


@dataclass(frozen=True)
class TrainConfig:
    """`train:` params plus the task and the dataset's target and categorical columns."""

    target: str
    estimators: tuple[str, ...]
    task: str
    fold: int
    sort: str
    n_jobs: int
    seed: int
    categorical: tuple[str, ...]
    setup: dict[str, Any]
    tune: TuneConfig
    parallel: str
    dask: DaskConfig
    # `features`: compiled by with_features from the section and the training columns
    features: DeclaredFeatures | None = field(default=None, compare=False)

    @classmethod
    def from_params(cls, data: dict[str, Any], section: dict[str, Any],
                    task: str) -> TrainConfig:
        """Build from the `data:`, `train:` and `task.type` params."""
        section = check_section(section, "train", TRAIN_KEYS)
        if task not in TASKS:
            raise ConfigError(f"`task.type` must be one of {sorted(TASKS)}, not {task!r}")
        setup = dict(section["setup"] or {})
        clash = sorted(RESERVED_SETUP & set(setup))
        if clash:
            raise ConfigError(f"`train.setup` may not set {clash}: mlgate sets them itself")
        if not section["estimators"]:
            raise ConfigError("`train.estimators` must list at least one PyCaret model id")
        tune = check_section(section["tune"], "train.tune", TUNE_KEYS - {"grid"}, {"grid"})
        check_ranges(section, tune)
        return cls(target=data["target"], estimators=tuple(section["estimators"]), task=task,
                   categorical=tuple(data.get("categorical") or ()), setup=setup,
                   tune=TuneConfig(**{"grid": None, **tune}), parallel=parallel_mode(section),
                   dask=DaskConfig.from_params(section["dask"]),
                   **{k: section[k] for k in ("fold", "sort", "n_jobs", "seed")})


def with_features(cfg: TrainConfig, section: Any, train: pd.DataFrame,
                  datetimes: dict[str, str | None] | None, root: Path) -> TrainConfig:
    """cfg with the `features` section compiled against the raw training columns."""
    return replace(cfg, features=declared_features(
        section, train.drop(columns=[cfg.target], errors="ignore"), cfg.target,
        cfg.categorical, datetimes or {}, root))


def check_ranges(section: dict[str, Any], tune: dict[str, Any]) -> None:
    """Range-check the numeric `train.*` keys, naming the key."""
    # one fold is no cross-validation: PyCaret needs at least 2
    check_number(section["fold"], "train.fold", low=2, integer=True)
    check_number(section["seed"], "train.seed", low=0, integer=True)
    if section["n_jobs"] != -1:
        check_number(section["n_jobs"], "train.n_jobs (or -1: all cores)", low=1, integer=True)
    check_number(tune["n_iter"], "train.tune.n_iter", low=1, integer=True)


def parallel_mode(section: dict[str, Any]) -> str:
    """`train.parallel`: none (CV in this process) or dask (one Dask task per candidate)."""
    mode = "none" if section["parallel"] is None else section["parallel"]
    if mode not in PARALLEL:
        raise ConfigError(f"`train.parallel` must be one of {list(PARALLEL)}, not {mode!r}")
    return mode


@dataclass
class Candidate:
    """One cross-validated candidate: its CV means and stds, hyperparameters and fit time."""

    id: str
    name: str
    model: Any
    cv: dict[str, float]
    cv_std: dict[str, float]
    seconds: float

    @property
    def params(self) -> dict[str, Any]:
        """The estimator's hyperparameters."""
        return self.model.get_params() if hasattr(self.model, "get_params") else {}


@dataclass
class TrainResult:
    """The finalized pipeline, every candidate, the winner and the optional tuned model."""

    model: Any
    candidates: list[Candidate]
    best: Candidate
    tuned: Candidate | None = None

    @property
    def best_id(self) -> str:
        """PyCaret id of the winning estimator."""
        return self.best.id

    @property
    def leaderboard(self) -> pd.DataFrame:
        """CV means of every candidate (and the tuned model), best first."""
        rows = [*self.candidates, *([self.tuned] if self.tuned else [])]
        board = pd.DataFrame([{"Model": c.name, **c.cv, "TT (Sec)": round(c.seconds, 3)}
                              for c in rows], index=pd.Index([c.id for c in rows], name="id"))
        return board

    @property
    def cv_metrics(self) -> dict[str, float]:
        """The final model's cross-validated metrics, with MLflow-safe names."""
        chosen = self.tuned or self.best
        return {metric_name(k): v for k, v in chosen.cv.items() if math.isfinite(v)}


def check_features(train: pd.DataFrame, cfg: TrainConfig) -> None:
    """Refuse, naming the column, what PyCaret would fail on deep inside setup or predict."""
    for col in train.columns:
        s = train[col]
        if col == cfg.target:
            continue
        if ptypes.is_datetime64_any_dtype(s):
            raise ConfigError(f"column `{col}` is a datetime: the model takes its parts; declare "
                              f"them (`features.date_parts.{col}: [year, month, weekday]`) or "
                              "list it in `split.drop_columns` (it can still drive "
                              "`split.current`)")
        if s.dtype == object and looks_like_dates(s.head(1000))[0]:
            raise ConfigError(f"column `{col}` holds dates stored as text (e.g. "
                              f"{s.dropna().iloc[0]!r}); declare it in `data.datetime` and list "
                              "it in `split.drop_columns`, or drop it (`data.drop_columns`)")


def check_folds(train: pd.DataFrame, cfg: TrainConfig) -> None:
    """Stratified CV needs every class in every fold: at least `train.fold` rows per class."""
    if cfg.task != "classification" or cfg.target not in train.columns:
        return
    counts = train[cfg.target].value_counts()
    if len(counts) and counts.min() < cfg.fold:
        raise ConfigError(f"`train.fold` = {cfg.fold}, but class {counts.idxmin()!r} of "
                          f"`{cfg.target}` has only {counts.min()} training row(s); lower "
                          "train.fold or drop the rare class (`data.filter`)")


def make_experiment(train: pd.DataFrame, cfg: TrainConfig):
    """Run PyCaret setup with mlgate's fixed choices (no PyCaret logging, no nested jobs).

    The first step of the pipeline makes missing text values NaN (model_steps.MissingAsNaN),
    and classification gets correct AUC, Recall, Prec. and F1 scorers (register_scorers).
    """
    import pycaret.classification  # lazy: PyCaret, ~4 s: only training needs it
    import pycaret.regression  # lazy: PyCaret, ~4 s: only training needs it

    if cfg.target not in train.columns:
        raise DataError(f"training data lacks the target column `{cfg.target}`")
    raw = train
    if cfg.features is not None:
        engineered = engineer(cfg.features, train.drop(columns=[cfg.target]))
        train = engineered.assign(**{cfg.target: train[cfg.target]})
    check_features(train, cfg)
    check_folds(train, cfg)
    module = pycaret.classification if cfg.task == "classification" else pycaret.regression
    exp = getattr(module, TASKS[cfg.task])()
    try:
        exp.setup(data=train, target=cfg.target, session_id=cfg.seed, fold=cfg.fold,
                  n_jobs=cfg.n_jobs, categorical_features=categorical_features(train, cfg),
                  verbose=False, html=False, log_experiment=False, system_log=False,
                  custom_pipeline=[("missing_as_nan", MissingAsNaN())],
                  custom_pipeline_position=0, **cfg.setup)
    except (TypeError, ValueError) as exc:  # bad train.setup options, unusable columns
        raise TrainingError(f"PyCaret setup() failed on the training data: {exc} (check "
                            "`train.setup` and the column kinds in `validate.columns`)") from exc
    if cfg.features is not None:
        start_from_raw_rows(exp, raw, cfg)
    if cfg.task == "classification":
        register_scorers(exp)
    return exp


def categorical_features(train: pd.DataFrame, cfg: TrainConfig) -> list[str] | None:
    """The declared categories plus every other text column (kept, or made by a rule).

    PyCaret treats only the listed columns as categorical once a list is given, so a text
    column left out of `data.categorical` (`mlgate data add` leaves out one whose rarest level
    is on few rows) or a level column a rule made (a lookup, a grouped level, an interaction)
    must be listed too: else PyCaret takes it for a number and setup() fails on its text.
    """
    declared = [c for c in cfg.categorical if c in train.columns and c != cfg.target]
    made = [c for c in text_columns(train.drop(columns=[cfg.target])) if c not in declared]
    return declared + made or None


def start_from_raw_rows(exp: Any, raw: pd.DataFrame, cfg: TrainConfig) -> None:
    """Make the experiment's pipeline start from the raw columns, with the features its first
    step after MissingAsNaN, so CV fits them on each fold's rows and finalize on all rows.

    PyCaret 3.3.2 decides every column's kind, and builds its steps' column lists, from the
    frame given to setup() before it adds `custom_pipeline`: a column the custom step makes
    would be neither imputed nor encoded. So setup() ran on the engineered frame (its kinds
    and lists are those of the engineered columns); here its rows are swapped for the raw
    ones (same index and dtypes as at scoring: not shrunk to float32 as setup shrinks its
    frame, so bin edges learned here compare the same way on a scored batch) and the feature
    step goes in front.
    """
    from pycaret.internal.preprocess.transformers import (
        TransformerWrapper,  # lazy: PyCaret, ~4 s: only training needs it
    )

    columns = [c for c in raw.columns if c != cfg.target] + [cfg.target]
    exp.data = raw[columns].loc[exp.data.index]
    names = [name for name, _ in exp.pipeline.steps]
    position = names.index("missing_as_nan") + 1 if "missing_as_nan" in names else 0
    exp.pipeline.steps.insert(position, ("features", TransformerWrapper(
        FeatureSteps(**cfg.features.steps.get_params()))))
    exp.pipeline.fit(exp.X_train, exp.y_train)


def cv_roc_auc(y_true: Any, y_score: Any, sample_weight: Any = None) -> float:
    """PyCaret's `AUC` column: binary ROC AUC, or one-vs-rest weighted by class prevalence.

    PyCaret 3.3.2's own scorer asks for decision_function first; since scikit-learn 1.4 a
    multiclass decision_function reaches roc_auc_score, which needs probabilities, fails, and
    PyCaret records 0.0 (pycaret#3932, PR #3935). Ours asks for predict_proba first.
    """
    y_score = np.asarray(y_score)
    if y_score.ndim == 1:  # binary: the positive class's probability (or decision value)
        return float(skm.roc_auc_score(y_true, y_score, sample_weight=sample_weight))
    return float(skm.roc_auc_score(y_true, y_score, multi_class="ovr", average="weighted",
                                   sample_weight=sample_weight))


def _averaging(y_true: Any, y_pred: Any) -> dict[str, Any]:
    """Binary: of the positive (last sorted) label, as mlgate's test metrics; else weighted."""
    labels = np.unique(np.concatenate([np.asarray(y_true), np.asarray(y_pred)]))
    return {"average": "binary", "pos_label": labels[-1]} if len(labels) == 2 else \
        {"average": "weighted"}


def label_metric(score: Callable[..., float]) -> Callable[..., float]:
    """A CV column from predicted labels: `score` of the positive class, or weighted."""
    def metric(y_true: Any, y_pred: Any, sample_weight: Any = None) -> float:
        return float(score(y_true, y_pred, zero_division=0, sample_weight=sample_weight,
                           **_averaging(y_true, y_pred)))

    metric.__name__ = metric.__qualname__ = f"cv_{score.__name__}"
    return metric


# PyCaret metric id -> (score function, response methods). PyCaret 3.3.2 decides "binary"
# by y_true being 0/1, but its CV hands over the labels as they are: with text or boolean
# labels ("no"/"yes") its Recall, Prec. and F1 silently become weighted averages over both
# classes. These compute the positive class's, as for 0/1 labels and as the test metrics do.
CV_SCORERS = {"auc": (cv_roc_auc, ("predict_proba", "decision_function")),
              "recall": (label_metric(skm.recall_score), "predict"),
              "precision": (label_metric(skm.precision_score), "predict"),
              "f1": (label_metric(skm.f1_score), "predict")}


def register_scorers(exp: Any) -> None:
    """Replace PyCaret's AUC, Recall, Prec. and F1 of this experiment, keeping their columns.

    The containers are swapped in `exp._all_metrics`, where PyCaret's own add_metric puts
    metrics; add_metric would append a column and return 0.0 on failure. Ours return NaN on
    failure, so a metric that could not be computed never ranks a candidate.
    """
    from pycaret.containers.metrics.classification import (
        ClassificationMetricContainer,  # lazy: PyCaret, ~4 s: only training needs it
    )
    from pycaret.internal.metrics import (
        make_scorer_with_error_score,  # lazy: PyCaret, ~4 s: only training needs it
    )

    for metric_id, (func, response) in CV_SCORERS.items():
        old = exp._all_metrics[metric_id]
        exp._all_metrics[metric_id] = ClassificationMetricContainer(
            id=metric_id, name=old.name, display_name=old.display_name, score_func=func,
            scorer=make_scorer_with_error_score(func, response_method=response,
                                                error_score=np.nan),
            target="pred_proba" if metric_id == "auc" else "pred")


@contextmanager
def failed_scores(estimator: str) -> Iterator[None]:
    """Log, naming the candidate, every CV metric that failed on a fold (PyCaret and
    scikit-learn turn those into an error score and only warn); other warnings pass on."""
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        yield
    failures: dict[str, list[str]] = {}
    for w in caught:
        text = str(w.message)
        match = next((p.search(text) for p in SCORE_FAILURES if p.search(text)), None)
        if match is None:
            warnings.warn_explicit(w.message, w.category, w.filename, w.lineno)
            continue
        what = match.groupdict().get("metric") or text.splitlines()[0][:120]
        cause = [line for line in text.splitlines() if line.strip()][-1][:200]
        failures.setdefault(what, []).append(cause)
    for what, causes in failures.items():
        log.warning("candidate %s: %s could not be computed on %d fold(s) (%s); its CV value "
                    "is NaN and never ranks the candidate", estimator, what, len(causes),
                    causes[0])


def check_estimators(exp, estimators: tuple[str, ...]) -> None:
    """Reject estimator ids PyCaret does not know, naming them and the valid ones."""
    known = set(exp.models().index)
    unknown = [e for e in estimators if e not in known]
    if unknown:
        raise ConfigError(f"`train.estimators`: unknown PyCaret model id(s) {unknown}; "
                          f"available: {sorted(known)}")


def _scores(exp) -> tuple[dict[str, float], dict[str, float]]:
    """Mean and std rows of PyCaret's last CV score grid (NaN where a fold failed)."""
    grid = exp.pull()
    return ({str(k): float(v) for k, v in grid.loc["Mean"].items()},
            {str(k): float(v) for k, v in grid.loc["Std"].items()})


def cross_validate(exp, estimator: str, position: str) -> Candidate:
    """CV one candidate with PyCaret create_model, logging progress."""
    name = str(exp.models().loc[estimator, "Name"])
    log.info("candidate %s: %s (%s) ...", position, estimator, name)
    started = time.perf_counter()
    try:
        with failed_scores(estimator):  # error_score NaN: a failed fold never scores 0.0
            model = exp.create_model(estimator, verbose=False, error_score=np.nan)
    except Exception as exc:  # PyCaret wraps estimator failures in many types
        raise TrainingError(f"candidate {estimator!r} failed to train: {exc}") from exc
    mean, std = _scores(exp)
    seconds = time.perf_counter() - started
    log.info("candidate %s: %s done in %.1f s: %s", position, estimator, seconds,
             ", ".join(f"{k} {v:.4f}" for k, v in mean.items()))
    return Candidate(estimator, name, model, mean, std, seconds)


def pick_best(candidates: list[Candidate], sort: str) -> Candidate:
    """The candidate with the best mean CV `sort` metric."""
    if sort not in candidates[0].cv:
        raise ConfigError(f"`train.sort` = {sort!r} is not a CV metric; use one of "
                          f"{sorted(candidates[0].cv)}")
    ranked = [c for c in candidates if math.isfinite(c.cv[sort])]
    for c in candidates:
        if c not in ranked:
            log.warning("candidate %s is not ranked: its CV %s could not be computed", c.id, sort)
    if not ranked:
        raise TrainingError(f"no candidate has a CV `{sort}` (train.sort): it failed on every "
                            "candidate; see the warnings above, or sort by another metric")
    sign = -1.0 if sort in LOWER_IS_BETTER else 1.0
    return max(ranked, key=lambda c: sign * c.cv[sort])


def tune(exp, best: Candidate, cfg: TrainConfig) -> Candidate:
    """PyCaret tune_model (random search, progress per fit) of the best candidate."""
    log.info("tuning %s: %d iterations x %d folds, optimising %s", best.id, cfg.tune.n_iter,
             cfg.fold, cfg.sort)
    started = time.perf_counter()
    grid = (cfg.tune.grid or {}).get(best.id)
    try:
        with failed_scores(f"{best.id} (tuning)"):
            model = exp.tune_model(best.model, n_iter=cfg.tune.n_iter, custom_grid=grid,
                                   optimize=cfg.sort, choose_better=cfg.tune.choose_better,
                                   verbose=False, tuner_verbose=2)
    except ValueError as exc:
        raise ConfigError(f"`train.tune.grid.{best.id}` = {grid} does not fit {best.name}: "
                          f"{exc}") from exc
    mean, std = _scores(exp)
    log.info("tuned %s in %.1f s: %s %.4f (untuned %.4f)", best.id,
             time.perf_counter() - started, cfg.sort, mean[cfg.sort], best.cv[cfg.sort])
    return Candidate(f"{best.id}_tuned", f"{best.name} (tuned)", model, mean, std,
                     time.perf_counter() - started)


def cross_validate_all(exp, estimators: tuple[str, ...],
                       on_candidate: Callable[[Candidate], None] | None = None) -> list[Candidate]:
    """CV the candidates one after the other in this process, in config order."""
    candidates = []
    for i, est in enumerate(estimators, 1):
        candidates.append(cross_validate(exp, est, f"{i}/{len(estimators)}"))
        if on_candidate:
            on_candidate(candidates[-1])
    return candidates
