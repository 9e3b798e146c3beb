"""Benchmark: what explaining a batch costs beside scoring it, per explainer.

The repository's trained pipeline (models/model.pkl, the pipeline's preprocessing and declared
features) with three final estimators, refitted on the training split: LightGBM (the tree
explainer), logistic regression (the linear explainer) and Gaussian naive Bayes (the
model-agnostic permutation explainer). For each, alternately `--repeats` times on the same
`--rows` rows (RAND HIE resampled): `model.predict_proba` (scoring) and
`mlgate.core.explain.with_reasons(..., top_k=3)` (what `score.explain.top_k: 3` and `mlgate
explain` run). The model-agnostic explainer refuses a batch above `explain.agnostic_max_rows`,
so it is timed on that many rows and its time per 100,000 rows is scaled from it (it is linear
in rows: each row is explained on its own); the table says which numbers are scaled.
Needs `make run` first (models/model.pkl and data/processed/). Run:
`python bench/explain_cost.py [--rows 100000] [--repeats 3]`.
"""

from __future__ import annotations

import argparse
import copy
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from bench._common import ROOT, emit, log, markdown_table, median, ratio
from mlgate.base.io import read_model, read_table
from mlgate.base.params import load_params
from mlgate.core.explain import ExplainConfig, with_reasons


def estimators() -> dict:
    """One final estimator per explainer."""
    from lightgbm import LGBMClassifier
    from sklearn.linear_model import LogisticRegression
    from sklearn.naive_bayes import GaussianNB

    return {"tree (LightGBM)": LGBMClassifier(verbose=-1, random_state=0),
            "linear (logistic regression)": LogisticRegression(max_iter=2000),
            "permutation (naive Bayes)": GaussianNB()}


def timed(fn) -> float:
    """Seconds one call of `fn` takes."""
    started = time.perf_counter()
    fn()
    return time.perf_counter() - started


def main() -> None:
    """Time scoring and explaining per explainer; print seconds per 100,000 rows and ratios."""
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--rows", type=int, default=100_000)
    parser.add_argument("--repeats", type=int, default=3)
    args = parser.parse_args()
    params = load_params(ROOT / "params.yaml")
    target = params["data"]["target"]
    cfg = ExplainConfig.from_params(params["explain"])
    base = read_model(ROOT / "models/model.pkl")
    train = read_table(ROOT / "data/processed/train.parquet")
    X, y = train.drop(columns=[target]), train[target]
    rows = X.sample(args.rows, replace=True, random_state=1).reset_index(drop=True)
    table, notes = [], []
    for name, estimator in estimators().items():
        model = copy.deepcopy(base)
        model.steps[-1] = (model.steps[-1][0], estimator)
        model.fit(X, y)
        agnostic = name.startswith("permutation")
        batch = rows.head(cfg.agnostic_max_rows) if agnostic else rows
        scored = batch.assign(prediction=model.predict(batch))
        times: dict[str, list[float]] = {"score": [], "explain": []}
        for i in range(args.repeats):
            for what in (("score", "explain") if i % 2 == 0 else ("explain", "score")):
                times[what].append(timed(
                    (lambda m=model: m.predict_proba(rows)) if what == "score" else
                    (lambda s=scored, m=model: with_reasons(s, list(X.columns), m, train, cfg,
                                                            "classification", 3))))
            log(f"{name}, repeat {i + 1}: score {times['score'][-1]:.2f} s on {len(rows):,} "
                f"rows, explain {times['explain'][-1]:.2f} s on {len(batch):,} rows")
        scale = args.rows / len(batch)  # scoring is always timed on every row
        s, e = median(times["score"]), median(times["explain"]) * scale
        table.append([name, len(batch), s, e, ratio(e, s),
                      "scaled from the row cap" if agnostic else "measured"])
        if agnostic:
            notes.append(f"{name}: explaining timed on explain.agnostic_max_rows = "
                         f"{len(batch)} rows (a larger batch is refused), x{scale:.0f} for "
                         f"{args.rows:,} rows; scoring timed on all {args.rows:,}")
    emit("explain_cost", {
        "title": f"Scoring vs explaining (top 3 reasons per row), seconds per {args.rows:,} "
                 f"rows, median of {args.repeats}",
        "table": markdown_table(["explainer", "rows timed", f"score s / {args.rows:,}",
                                 f"explain s / {args.rows:,}", "explain / score", "how"],
                                table),
        "notes": notes})


if __name__ == "__main__":
    main()
