"""Benchmark: mlgate's train stage vs PyCaret with its own defaults, on the same data.

Both run as fresh Python processes (imports included) on the training split of the default
configuration, alternating order, each `--repeats` times; the script prints wall times and
the ratio. Run: `make bench-train` (or `python bench/train_vs_pycaret.py --repeats 2`).
"""

from __future__ import annotations

import argparse
import logging
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import yaml

ROOT = Path(__file__).resolve().parents[1]
log = logging.getLogger("bench")

PYCARET_DEFAULTS = """
import sys, pandas as pd
from pycaret.{module} import {cls}
train = pd.read_parquet("data/processed/train.parquet")
exp = {cls}()
exp.setup(data=train, target=sys.argv[1], session_id=42, verbose=False, html=False)
best = exp.compare_models(include=sys.argv[2].split(","), verbose=False)
exp.finalize_model(best)
"""


def prepare(workdir: Path, params: dict) -> None:
    """Write params.yaml and the processed splits for the default config into `workdir`."""
    from mlgate.base.io import write_parquet
    from mlgate.core.ingest import ingest, load_source
    from mlgate.core.split import SplitConfig, split_all

    data = params["data"]
    df = ingest(load_source(data["source"], ROOT), data["drop_columns"], data.get("filter"))
    parts = split_all(df, data["target"], SplitConfig.from_params(params["split"]),
                      params["task"]["type"])
    for name in ("train", "test"):
        write_parquet(workdir / f"data/processed/{name}.parquet", parts[name])
    shutil.copy(ROOT / "params.yaml", workdir / "params.yaml")
    (workdir / "dvc.yaml").write_text("stages: {}\n")


def timed(cmd: list[str], cwd: Path, env: dict[str, str]) -> float:
    """Wall time of one command, failing loudly if it fails."""
    started = time.perf_counter()
    proc = subprocess.run(cmd, cwd=cwd, env=env, capture_output=True, text=True)
    if proc.returncode != 0:
        raise SystemExit(f"{cmd[:3]} failed:\n{proc.stderr[-3000:]}")
    return time.perf_counter() - started


def main() -> None:
    """Run both ways, alternating, and print the times and ratio."""
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--repeats", type=int, default=2)
    args = parser.parse_args()
    logging.basicConfig(level=logging.INFO, format="%(message)s")
    params = yaml.safe_load((ROOT / "params.yaml").read_text())
    task, target = params["task"]["type"], params["data"]["target"]
    estimators = ",".join(params["train"]["estimators"])
    cls = {"classification": "ClassificationExperiment", "regression": "RegressionExperiment"}
    script = PYCARET_DEFAULTS.format(module=task, cls=cls[task])
    with tempfile.TemporaryDirectory() as tmp:
        work = Path(tmp)
        prepare(work, params)
        env = {**os.environ, "MLFLOW_TRACKING_URI": f"sqlite:///{work}/mlflow.db",
               "PYCARET_CUSTOM_LOGGING_PATH": os.devnull}
        env.pop("DVC_ROOT", None)
        subprocess.run([sys.executable, "-c", "import mlflow; mlflow.search_experiments()"],
                       env=env, cwd=work, check=True, capture_output=True)  # create the store
        runs = {
            "mlgate train stage": [sys.executable, str(ROOT / "stages/train.py")],
            "PyCaret defaults": [sys.executable, "-c", script, target, estimators],
        }
        times: dict[str, list[float]] = {name: [] for name in runs}
        for i in range(args.repeats):
            order = list(runs) if i % 2 == 0 else list(runs)[::-1]
            for name in order:
                times[name].append(timed(runs[name], work, env))
                log.info("repeat %d: %-20s %.1f s", i + 1, name, times[name][-1])
    report(times, params, estimators)


def report(times: dict[str, list[float]], params: dict, estimators: str) -> None:
    """Print the median times and the ratio."""
    med = {k: statistics.median(v) for k, v in times.items()}
    ours, theirs = med["mlgate train stage"], med["PyCaret defaults"]
    sys.stdout.write(
        f"\nTrain benchmark ({params['task']['type']}, {estimators}; {os.cpu_count()} CPUs)\n"
        f"  mlgate train stage (fold={params['train']['fold']}, n_jobs="
        f"{params['train']['n_jobs']}, MLflow logging, child runs, model): {ours:.1f} s\n"
        f"  PyCaret defaults   (fold=10, n_jobs=-1, no logging):            {theirs:.1f} s\n"
        f"  ratio mlgate / PyCaret defaults: {ours / theirs:.2f}\n")


if __name__ == "__main__":
    main()
