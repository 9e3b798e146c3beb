"""The inference log's shape: what one served request adds, when a file is due (pure).

`mlgate models serve --log` keeps every answered request as rows: the inputs as the scoring
server parsed them, then these columns. A rotated file is a delivery like any other batch:
`mlgate watch` and `mlgate drift --current` drop the columns below before the model's batch
contract is checked (see `mlgate.pipeline.drift.not_inputs`), and a late labels file joins
the rows by `served_request_id` (+ `served_row` when a request held several rows).
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass
from datetime import datetime
from typing import Any

import numpy as np
import pandas as pd

from mlgate.base.errors import ConfigError
from mlgate.base.params import check_number, check_section

REQUEST_ID = "served_request_id"
ROW = "served_row"  # the row's position in its request, from 0
AT = "served_at"  # UTC time the answer was sent
VERSION = "served_version"  # the registered version that answered
PREDICTION = "served_prediction"  # what was answered
SHADOW_VERSION = "shadow_version"  # --shadow: the challenger that scored the row on the side
SHADOW_PREDICTION = "shadow_prediction"
COLUMNS = (REQUEST_ID, ROW, AT, VERSION, PREDICTION, SHADOW_VERSION, SHADOW_PREDICTION)
JOIN_KEYS = (REQUEST_ID, ROW)
HEADER = "X-Request-ID"
_GOOD_ID = re.compile(r"^[A-Za-z0-9._:-]{1,128}$")
PREFIX = "served-"


@dataclass(frozen=True)
class InferenceLogConfig:
    """`monitor.inference_log:` the folder the served rows go to and when a file is cut."""

    folder: str  # relative to the repository root; the watcher's inbox by default
    rotate_rows: int  # a file is written once this many rows are held ...
    rotate_s: float  # ... or when the oldest held row is this old (and at shutdown)

    @classmethod
    def from_params(cls, section: Any) -> InferenceLogConfig:
        """Build from `monitor.inference_log`, naming a missing, unknown or bad key."""
        s = check_section(section, "monitor.inference_log", {"folder", "rotate_rows",
                                                             "rotate_s"})
        if not isinstance(s["folder"], str) or not s["folder"].strip():
            raise ConfigError("`monitor.inference_log.folder` must be a folder path, got "
                              f"{s['folder']!r}")
        check_number(s["rotate_rows"], "monitor.inference_log.rotate_rows", low=1, integer=True)
        check_number(s["rotate_s"], "monitor.inference_log.rotate_s", low=0, open_low=True)
        return cls(s["folder"], int(s["rotate_rows"]), float(s["rotate_s"]))

    def due(self, rows: int, oldest_age_s: float | None) -> bool:
        """True when the held rows must be written to a file now."""
        return rows >= self.rotate_rows or (rows > 0 and oldest_age_s is not None
                                            and oldest_age_s >= self.rotate_s)


def request_id(header: str | None, fresh: str) -> str:
    """The caller's X-Request-ID when it is a sane token, else `fresh`."""
    return header if header and _GOOD_ID.match(header) else fresh


def prediction_values(predictions: Any, n: int) -> list[Any]:
    """One answered value per row: a label or number; several outputs per row as JSON."""
    if isinstance(predictions, pd.DataFrame):
        if predictions.shape[1] == 1:
            return predictions.iloc[:, 0].tolist()
        return [json.dumps(r, default=str) for r in predictions.to_dict(orient="records")]
    values = predictions.tolist() if isinstance(predictions, pd.Series | np.ndarray) \
        else list(predictions)
    if len(values) != n:
        raise ValueError(f"{len(values)} predictions for {n} rows")
    return [json.dumps(v, default=str) if isinstance(v, list | dict) else v for v in values]


def log_rows(inputs: Any, predictions: Any, rid: str, version: str, at: datetime
             ) -> pd.DataFrame:
    """The rows one answered request adds to the log: its inputs, then the log's columns."""
    frame = inputs.copy() if isinstance(inputs, pd.DataFrame) else pd.DataFrame(inputs)
    frame = frame.reset_index(drop=True).drop(columns=[c for c in COLUMNS if c in frame])
    values = prediction_values(predictions, len(frame))
    return frame.assign(**{REQUEST_ID: rid, ROW: np.arange(len(frame), dtype="int64"),
                           AT: pd.Timestamp(at), VERSION: str(version), PREDICTION: values})


def file_name(first: datetime, pid: int, seq: int) -> str:
    """A log file's name: when its first row was answered, the server's pid, a sequence."""
    return f"{PREFIX}{first.strftime('%Y%m%dT%H%M%S')}-{pid}-{seq:05d}.parquet"
