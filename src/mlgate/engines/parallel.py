"""`train.parallel: dask`: cross-validate each candidate as a Dask task; MLflow stays here."""

from __future__ import annotations

import hashlib
import importlib.metadata
import logging
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import Any

import pandas as pd
from threadpoolctl import threadpool_info, threadpool_limits

from mlgate.base.errors import MlgateError
from mlgate.base.extras import import_extra
from mlgate.engines.training import (
    Candidate,
    DaskConfig,
    TrainConfig,
    TrainingError,
    cross_validate,
    make_experiment,
)

log = logging.getLogger(__name__)

INSTALL_HINT = "pip install -e .[dask]"
# Packages that decide the CV numbers: every worker must run the driver's versions.
SAME_VERSIONS = ("mlgate", "pycaret", "scikit-learn", "pandas", "numpy")
# One PyCaret experiment at a time per worker process (PyCaret's FugueBackend does the same).
_WORKER_LOCK = threading.Lock()
# Per worker process: the last experiment set up, by (data, config) key; setup runs once.
_EXPERIMENTS: dict[str, Any] = {}


def import_distributed() -> Any:
    """The `distributed` module, or a ConfigError naming the extra to install."""
    return import_extra("distributed", "train.parallel: dask", INSTALL_HINT)


@contextmanager
def quiet_dask() -> Iterator[None]:
    """Only warnings from `distributed` while we hold a cluster (it logs every connection)."""
    logger = logging.getLogger("distributed")
    level = logger.level
    logger.setLevel(max(logging.WARNING, logger.getEffectiveLevel()))
    try:
        yield
    finally:
        logger.setLevel(level)


@contextmanager
def local_client(cfg: DaskConfig) -> Iterator[Any]:
    """Start a LocalCluster on 127.0.0.1 (worker processes), yield its Client, close both."""
    distributed = import_distributed()
    cluster = distributed.LocalCluster(n_workers=cfg.n_workers, processes=True,
                                       host="127.0.0.1", threads_per_worker=cfg.threads_per_worker,
                                       dashboard_address=None, silence_logs=logging.WARNING)
    with cluster, distributed.Client(cluster) as client:
        log.info("started a Dask LocalCluster at %s: %d worker process(es) x %d thread(s)",
                 cluster.scheduler_address, cfg.n_workers, cfg.threads_per_worker)
        yield client
    log.info("closed the Dask LocalCluster")


@contextmanager
def remote_client(cfg: DaskConfig) -> Iterator[Any]:
    """Connect to the scheduler at `cfg.address` and wait for a worker; disconnect after."""
    distributed = import_distributed()
    try:
        client = distributed.Client(cfg.address, timeout=cfg.connect_timeout)
    except (OSError, TimeoutError, ValueError) as exc:
        raise MlgateError(f"`train.dask.address` = {cfg.address!r}: cannot connect to the Dask "
                          f"scheduler within {cfg.connect_timeout} s: {exc}") from exc
    with client:
        try:
            client.wait_for_workers(1, timeout=cfg.connect_timeout)
        except TimeoutError as exc:
            raise MlgateError(f"`train.dask.address` = {cfg.address!r}: no Dask worker joined "
                              f"within {cfg.connect_timeout} s") from exc
        log.info("connected to the Dask scheduler at %s: %d worker(s)", cfg.address,
                 len(client.scheduler_info()["workers"]))
        yield client


@contextmanager
def dask_client(cfg: DaskConfig) -> Iterator[Any]:
    """A Client: on our own LocalCluster (`address: null`) or on a running cluster."""
    with quiet_dask(), (local_client(cfg) if cfg.address is None else remote_client(cfg)) as c:
        yield c


def check_workers(client: Any) -> None:
    """Refuse workers whose mlgate, PyCaret, scikit-learn, pandas or numpy differ from ours."""
    for package in SAME_VERSIONS:
        here = importlib.metadata.version(package)
        there = client.run(importlib.metadata.version, package, on_error="return")
        bad = {worker: str(v) for worker, v in there.items() if v != here}
        if bad:
            raise MlgateError(f"Dask worker(s) {sorted(bad)} have {package} "
                              f"{sorted(set(bad.values()))}, this process {here}: install the "
                              f"same environment on every worker ({INSTALL_HINT})")


def thread_counts() -> dict[str, int]:
    """This process's BLAS and OpenMP thread counts, per threadpoolctl user API."""
    counts: dict[str, int] = {}
    for pool in threadpool_info():
        counts[pool["user_api"]] = max(counts.get(pool["user_api"], 1), pool["num_threads"])
    return counts


def cv_task(train: pd.DataFrame, cfg: TrainConfig, estimator: str, position: str,
            threads: dict[str, int]) -> Candidate:
    """On a worker: CV one candidate in the experiment set up from the same rows and seed.

    The fits run with the driver's BLAS/OpenMP thread counts (`threads`): Dask starts workers
    with OMP_NUM_THREADS=1, and an ill-conditioned fit (say `lr` without `normalize`) depends
    on the BLAS thread count; matched, the numbers equal those of `parallel: none`.
    """
    with _WORKER_LOCK:
        exp = worker_experiment(train, cfg)
        with threadpool_limits(limits=threads):
            return cross_validate(exp, estimator, position)


def worker_experiment(train: pd.DataFrame, cfg: TrainConfig) -> Any:
    """This worker's experiment for these rows and config: set up once, reused by its tasks."""
    key = hashlib.sha256(pd.util.hash_pandas_object(train).values.tobytes()
                         + repr((train.dtypes.to_dict(), cfg)).encode()).hexdigest()
    if key not in _EXPERIMENTS:
        _EXPERIMENTS.clear()  # keep one: a long-lived worker must not pile up experiments
        _EXPERIMENTS[key] = make_experiment(train, cfg)
    return _EXPERIMENTS[key]


def _result(future: Any, estimator: str) -> Candidate:
    """A finished task's Candidate; a worker-side failure becomes a TrainingError naming it."""
    try:
        return future.result()
    except MlgateError:
        raise
    except Exception as exc:  # KilledWorker, a worker without mlgate, ...
        raise TrainingError(f"candidate {estimator!r} failed on Dask: "
                            f"{type(exc).__name__}: {exc}") from exc


def cross_validate_on_dask(train: pd.DataFrame, cfg: TrainConfig,
                           on_candidate: Callable[[Candidate], None] | None = None
                           ) -> list[Candidate]:
    """CV every candidate as a Dask task; `on_candidate` runs here as each one finishes."""
    distributed = import_distributed()
    started, n, done, threads = time.perf_counter(), len(cfg.estimators), {}, thread_counts()
    with dask_client(cfg.dask) as client:
        check_workers(client)
        data = client.scatter(train)
        futures = {client.submit(cv_task, data, cfg, est, f"{i}/{n}", threads, pure=False): est
                   for i, est in enumerate(cfg.estimators, 1)}
        for future in distributed.as_completed(futures):
            candidate = _result(future, futures[future])
            worker = ", ".join(client.who_has([future]).get(future.key, ())) or "?"
            log.info("candidate %s (%d/%d done): CV in %.1f s on Dask worker %s: %s %.4f",
                     candidate.id, len(done) + 1, n, candidate.seconds, worker, cfg.sort,
                     candidate.cv.get(cfg.sort, float("nan")))
            done[candidate.id] = candidate
            if on_candidate:
                on_candidate(candidate)
    log.info("%d candidate(s) cross-validated on Dask in %.1f s (sum of their CV times %.1f s)",
             n, time.perf_counter() - started, sum(c.seconds for c in done.values()))
    return [done[est] for est in cfg.estimators]
