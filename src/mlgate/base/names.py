"""Names mlgate gives things in MLflow, shared by the engines that make them and the adapters
that log them."""

from __future__ import annotations

import re


def metric_name(column: str) -> str:
    """PyCaret leaderboard column -> MLflow-safe metric name: `TT (Sec)` -> `cv_tt_sec`."""
    return "cv_" + re.sub(r"[^a-z0-9]+", "_", column.lower()).strip("_")
