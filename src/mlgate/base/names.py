"""Names mlgate gives things in MLflow, shared by the engines that make them and the adapters
that log them."""

from __future__ import annotations

import re


def metric_name(column: str) -> str:
    """PyCaret leaderboard column -> MLflow-safe metric name: `TT (Sec)` -> `cv_tt_sec`."""
    return "cv_" + re.sub(r"[^a-z0-9]+", "_", column.lower()).strip("_")


# Ingest adds this column when data/delivered/ holds batches that `mlgate watch` folded in:
# each row's batch (`source` for data.source), so `split.current` can name a delivered batch.
# Validation ignores it and split drops it: it is never a model feature.
BATCH_COLUMN = "mlgate_batch"
SOURCE_BATCH = "source"
