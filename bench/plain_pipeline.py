"""The pipeline's work as ONE plain Python script: the 'no framework' side of bench/overhead.py.

Run in a checkout of the project (`python bench/plain_pipeline.py`): one process, no DVC, the
tables kept in memory from step to step, one MLflow run opened once. It does the same work as
`dvc repro` of dvc.yaml, step for step, with the same mlgate functions and settings from
params.yaml (the stages' own `mlgate.pipeline.<stage>` functions, called on the tables in
memory): ingest, validate, split; PyCaret training with a child run per candidate and the
logged model; evaluation with plot data, figures and their logging; the gate with slices,
latency, registration, the fresh-process smoke test and the alias moves; scoring of the
current batch and the reference with the champion; the Evidently drift report with its logging
and the reference stored with the model's run. It writes every file the pipeline declares as
an output (so both sides leave the same results), but never reads one back.

What it leaves out is what the framework adds: DVC (stage hashing, dvc.lock, the cache and
run-cache), one Python process per stage (interpreter start and imports of pandas, MLflow,
PyCaret, Evidently again in each stage), reading inputs back from Parquet/JSON/pickle, and
reopening the MLflow run in every stage.
"""

from __future__ import annotations

import logging
import sys
import time
from collections.abc import Iterator
from contextlib import ExitStack, contextmanager
from pathlib import Path

import mlflow

from mlgate.adapters.tracking import dvc_tags
from mlgate.adapters.tracking import pipeline_run as open_run
from mlgate.base import paths
from mlgate.base.io import write_parquet
from mlgate.base.params import load_params, require
from mlgate.core.gate import GateConfig
from mlgate.core.scoring import ScoreConfig
from mlgate.pipeline import drift, evaluate, ingest, register, score, split, train, validate
from mlgate.pipeline.stage import setup_logging

log = logging.getLogger("plain")
ROOT = Path.cwd()


@contextmanager
def timed(name: str, tag: bool = True) -> Iterator[None]:
    """Tag the run as the stage would (stage done, params.yaml hash, git commit) and log how
    long the step took (bench/overhead.py puts it beside the stage's time)."""
    if tag:
        mlflow.set_tags(dvc_tags(name))
    started = time.perf_counter()
    yield
    log.info("plain step %s done in %.1f s", name, time.perf_counter() - started)


def main() -> None:
    """Run every step in this process, in the pipeline's order, on the tables in memory."""
    setup_logging()
    started = time.perf_counter()
    params = load_params()
    with timed("ingest", tag=False):
        raw = ingest.load(params, ROOT)
        write_parquet(paths.RAW, raw)
    with timed("validate", tag=False):
        validate.check(params, raw)
    with timed("split", tag=False):
        parts = split.split(params, raw)
        for name, path in (("train", paths.TRAIN), ("test", paths.TEST),
                           ("current", paths.CURRENT)):
            write_parquet(path, parts[name])  # the files MLflow's datasets point at (md5)
    with ExitStack() as stack:  # the one MLflow run, open from train to drift
        with timed("train", tag=False):
            run = stack.enter_context(open_run(require(params, "tracking"), "train"))
            model, run_info = train.train(params, parts["train"], run)
        with timed("evaluate"):
            _, own = evaluate.measure(params, model, parts["test"], parts["train"])
            metrics = evaluate.record(params, model, parts["test"], run_info, own)
        with timed("register"):
            cfg = GateConfig.from_params(require(params, "gate"))
            cand = register.measure(params, cfg, model, metrics, parts["train"], parts["test"],
                                    run_info)
            labels = register.labels_of(params, model, parts["test"])
            register.finish(cfg, register.decide(params, cfg, cand, parts, labels))
        with timed("score"):
            cfg = ScoreConfig.from_params(require(params, "score"))
            scored = score.score(params, cfg, parts["train"], parts["current"], run_info)
            score.log_results(scored)
        with timed("drift"):
            cfg = drift.config(params)
            summary, snapshot = drift.check(params, cfg, scored["reference"], scored["current"])
            drift.log_results(summary)
            drift.monitor(params, cfg, summary, snapshot, scored["current"], scored["report"],
                          drift.batch_name(params), require(params, "data.target"),
                          require(params, "task.type"))
            drift.store_reference(run_info, scored["report"])
            line = drift.verdict(summary, cfg)
    log.info("plain pipeline done in %.1f s; %s", time.perf_counter() - started, line)


if __name__ == "__main__":
    sys.exit(main())
