"""Benchmark: what the declared features cost at scoring time.

Two pipelines are trained the same way on the same RAND HIE rows (PyCaret, `lr`, 2 folds): one
with the RAND HIE profile's `features` section, one without. Both then score the same batch
(`--rows` rows resampled from the table), alternately, `--repeats` times; the feature step is
also timed alone. Prints the median ratio (with / without features) and the step's seconds
per million rows. Run: `python bench/features_cost.py [--rows 1000000] [--repeats 3]`.
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from bench._common import ROOT, emit, log, markdown_table, median, ratio
from mlgate.adapters.tracking import feature_steps
from mlgate.base.params import load_params
from mlgate.core.ingest import randhie_path
from mlgate.engines.selection import train_model
from mlgate.engines.training import TrainConfig, with_features

TRAIN_ROWS = 5000


def trained(params: dict, train, features: bool):
    """A finalized PyCaret pipeline (lr, 2 folds) with or without the profile's features."""
    section = {**params["train"], "estimators": ["lr"], "fold": 2, "parallel": "none"}
    cfg = TrainConfig.from_params(params["data"], section, params["task"]["type"])
    rules = params["features"] if features else {
        **params["features"], **{k: {} for k in ("lookup", "derive", "interact", "group_rare",
                                                 "bin", "date_parts")}, "drop": [],
        "custom": None}
    cfg = with_features(cfg, rules, train, params["data"].get("datetime"), ROOT)
    return train_model(train, cfg).model


def main() -> None:
    """Train both, score the batch alternately, print the ratio."""
    import pandas as pd

    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--rows", type=int, default=1_000_000)
    parser.add_argument("--repeats", type=int, default=3)
    args = parser.parse_args()
    params = load_params(ROOT / "params.yaml")
    target = params["data"]["target"]
    table = pd.read_csv(randhie_path()).drop(columns=[*params["data"]["drop_columns"],
                                                      *params["split"]["drop_columns"]])
    train = table.sample(TRAIN_ROWS, random_state=0).reset_index(drop=True)
    batch = table.drop(columns=[target]).sample(args.rows, replace=True, random_state=1)
    batch = batch.reset_index(drop=True)
    log(f"training with and without features on {TRAIN_ROWS} rows")
    models = {"with": trained(params, train, True), "without": trained(params, train, False)}
    steps = feature_steps(models["with"])
    times: dict[str, list[float]] = {"with": [], "without": [], "step": []}
    for i in range(args.repeats):
        for name in (("with", "without") if i % 2 == 0 else ("without", "with")):
            started = time.perf_counter()
            models[name].predict_proba(batch)
            times[name].append(time.perf_counter() - started)
        started = time.perf_counter()
        steps.transform(batch)
        times["step"].append(time.perf_counter() - started)
        log(f"repeat {i + 1}: with {times['with'][-1]:.2f} s, without "
            f"{times['without'][-1]:.2f} s, feature step {times['step'][-1]:.2f} s")
    per_million = median(times["step"]) / args.rows * 1e6
    rows = [["predict_proba with features", median(times["with"])],
            ["predict_proba without features", median(times["without"])],
            ["the feature step alone", median(times["step"])]]
    emit("features_cost", {
        "title": f"Declared features at scoring: {args.rows:,} rows, median of {args.repeats}",
        "table": markdown_table(["what", "seconds"], rows),
        "ratio_with_over_without": ratio(median(times["with"]), median(times["without"])),
        "step_seconds_per_million_rows": round(per_million, 3),
        "notes": [f"with / without: {ratio(median(times['with']), median(times['without']))}",
                  f"feature step: {per_million:.2f} s per million rows "
                  f"({len(steps.rules)} rules: " + ", ".join(r['key'] for r in steps.rules)
                  + ")"]})


if __name__ == "__main__":
    main()
