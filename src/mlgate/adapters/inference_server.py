"""MLflow's scoring server with an inference log: `python -m mlgate.adapters.inference_server`.

The app is `mlflow.pyfunc.scoring_server.init(model)` itself, so `/invocations`, `/ping`,
`/health`, `/version`, the payload formats and the errors are MLflow's; mlgate adds one HTTP
middleware and wraps the model's `predict`. The wrapper hands the rows MLflow parsed and what
the model answered to the middleware (through a context variable, which `asyncio.to_thread`
carries into MLflow's worker thread); the middleware gives every response an `X-Request-ID`
header and, for an answered request, queues its rows. A writer thread cuts the queue into
Parquet files (rotated by rows or age, written under a temporary name and renamed, so a file
is whole or absent) and, with a shadow model, scores each file's rows with it off the request
path. SIGTERM/SIGINT make uvicorn finish the requests in flight; the held rows are then
written (the app's lifespan shutdown) before the process exits. With several uvicorn workers
each keeps its own log; the pid in a file's name tells them apart.
"""

from __future__ import annotations

import argparse
import contextlib
import contextvars
import inspect
import logging
import os
import threading
import time
import uuid
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pandas as pd

from mlgate.base.io import write_parquet
from mlgate.core.inference_log import (
    AT,
    COLUMNS,
    HEADER,
    SHADOW_PREDICTION,
    SHADOW_VERSION,
    InferenceLogConfig,
    file_name,
    log_rows,
    prediction_values,
    request_id,
)

log = logging.getLogger("mlgate.serve")

_answered: contextvars.ContextVar[dict | None] = contextvars.ContextVar("answered", default=None)


class LoggedModel:
    """A pyfunc model whose `predict` also records its input and answer for the request."""

    def __init__(self, model: Any):
        self._model = model
        self.metadata = model.metadata
        self._takes_params = "params" in inspect.signature(model.predict).parameters

    def predict(self, data: Any, params: dict[str, Any] | None = None) -> Any:
        """The wrapped model's answer, unchanged; the request's slot gets (data, answer)."""
        answer = self._model.predict(data, params=params) if self._takes_params \
            else self._model.predict(data)
        slot = _answered.get()
        if slot is not None:
            slot["data"], slot["answer"] = data, answer
        return answer

    def __getattr__(self, name: str) -> Any:
        """Everything else is the wrapped model's."""
        return getattr(self._model, name)


class InferenceLog:
    """Answered rows held in memory and cut into whole Parquet files by a writer thread."""

    def __init__(self, folder: Path, cfg: InferenceLogConfig,
                 shadow: tuple[Any, str] | None = None):
        self.folder, self.cfg, self.shadow = folder, cfg, shadow
        self._frames: list[pd.DataFrame] = []
        self._rows, self._first, self._since = 0, None, None
        self._seq = 0
        self._lock = threading.Lock()
        self._write_lock = threading.Lock()
        self._wake = threading.Event()
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name="inference-log", daemon=True)

    def start(self) -> None:
        """Create the folder and start the writer thread."""
        self.folder.mkdir(parents=True, exist_ok=True)
        self._thread.start()

    def append(self, rows: pd.DataFrame, at: datetime) -> None:
        """Hold one request's rows; wake the writer when a file is due."""
        with self._lock:
            self._frames.append(rows)
            self._rows += len(rows)
            if self._first is None:
                self._first, self._since = at, time.monotonic()
            due = self.cfg.due(self._rows, None)
        if due:
            self._wake.set()

    def _take(self, limit: int | None) -> tuple[list[pd.DataFrame], datetime | None]:
        """Up to `limit` held rows (all when None), in arrival order; a request's rows may be
        split across two files (its request id and row number join them)."""
        with self._lock:
            taken, n = [], 0
            while self._frames and (limit is None or n < limit):
                frame = self._frames.pop(0)
                if limit is not None and n + len(frame) > limit:
                    self._frames.insert(0, frame.iloc[limit - n:])
                    frame = frame.iloc[:limit - n]
                taken.append(frame)
                n += len(frame)
            first = self._first
            self._rows -= n
            if not self._frames:
                self._first, self._since = None, None
            else:  # the rest is as old as the next request's answer
                self._first = self._frames[0][AT].iloc[0].to_pydatetime()
        return taken, first

    def flush(self, limit: int | None = None) -> Path | None:
        """Write up to `limit` held rows (with the shadow's answers) to one file; its path."""
        with self._write_lock:
            frames, first = self._take(limit)
            if not frames:
                return None
            rows = pd.concat(frames, ignore_index=True)
            if self.shadow is not None:
                rows = self._shadowed(rows)
            self._seq += 1
            path = self.folder / file_name(first, os.getpid(), self._seq)
            write_parquet(path, rows)  # temporary name, then rename: whole or absent
        log.info("inference log: %d rows -> %s", len(rows), path)
        return path

    def _shadowed(self, rows: pd.DataFrame) -> pd.DataFrame:
        """The rows with the shadow model's answers beside the served ones (None on error)."""
        model, version = self.shadow
        inputs = rows.drop(columns=[c for c in COLUMNS if c in rows])
        try:
            answers = prediction_values(model.predict(inputs), len(rows))
        except Exception as exc:  # the shadow never costs the log: its rows keep no answer
            log.warning("shadow v%s could not score %d logged rows: %s", version, len(rows),
                        exc)
            answers = [None] * len(rows)
        return rows.assign(**{SHADOW_VERSION: str(version), SHADOW_PREDICTION: answers})

    def _age(self) -> float | None:
        """Seconds the oldest held row has waited (None when nothing is held)."""
        with self._lock:
            return None if self._since is None else time.monotonic() - self._since

    def _run(self) -> None:
        """Write a file whenever one is due, until stopped."""
        while not self._stop.is_set():
            self._wake.wait(timeout=min(1.0, self.cfg.rotate_s))
            self._wake.clear()
            try:
                while True:
                    with self._lock:
                        rows = self._rows
                    if rows >= self.cfg.rotate_rows:
                        self.flush(self.cfg.rotate_rows)  # whole files of rotate_rows rows
                    elif self.cfg.due(rows, self._age()):
                        self.flush()  # the oldest row waited rotate_s: what is held
                    else:
                        break
            except Exception:  # keep serving; say which rows were not written
                log.exception("inference log: could not write a file")

    def close(self) -> None:
        """Stop the writer and write what is still held."""
        self._stop.set()
        self._wake.set()
        if self._thread.is_alive():
            self._thread.join(timeout=30)
        self.flush()


def logged_app(model: Any, version: str, inference_log: InferenceLog) -> Any:
    """MLflow's scoring app for `model`, every answered request kept in `inference_log`."""
    from fastapi import Request
    from mlflow.pyfunc import scoring_server

    app = scoring_server.init(LoggedModel(model))

    @app.middleware("http")
    async def keep_request(request: Request, call_next: Any) -> Any:
        if request.url.path != "/invocations":
            return await call_next(request)
        rid = request_id(request.headers.get(HEADER), uuid.uuid4().hex)
        slot: dict[str, Any] = {}
        token = _answered.set(slot)
        try:
            response = await call_next(request)
        finally:
            _answered.reset(token)
        response.headers[HEADER] = rid
        if response.status_code == 200 and "data" in slot:
            at = datetime.now(UTC)
            try:
                inference_log.append(log_rows(slot["data"], slot["answer"], rid, version, at),
                                     at)
            except Exception:  # the answer is sent either way; say what was not kept
                log.exception("inference log: request %s not kept", rid)
        return response

    inner = app.router.lifespan_context

    @contextlib.asynccontextmanager
    async def lifespan(a: Any) -> Any:
        async with inner(a) as state:
            yield state
        inference_log.close()  # after uvicorn has finished the requests in flight

    app.router.lifespan_context = lifespan
    return app


ENV = "MLGATE_SERVE_"  # the worker's settings, passed by `main` through the environment


def build_app() -> Any:
    """The app of one uvicorn worker: models loaded, its own log started (from ENV*)."""
    import mlflow

    env = {k[len(ENV):].lower(): v for k, v in os.environ.items() if k.startswith(ENV)}
    logging.basicConfig(level=logging.INFO,
                        format="%(asctime)s %(name)s %(levelname)s %(message)s")
    model = mlflow.pyfunc.load_model(env["model_uri"])
    shadow = (mlflow.pyfunc.load_model(env["shadow_uri"]), env["shadow_version"]) \
        if env.get("shadow_uri") else None
    cfg = InferenceLogConfig(env["folder"], int(env["rotate_rows"]), float(env["rotate_s"]))
    inference_log = InferenceLog(Path(env["folder"]), cfg, shadow)
    inference_log.start()
    return logged_app(model, env["version"], inference_log)


def main(argv: list[str] | None = None) -> None:
    """Serve a registered version (and its shadow) with the log on 127.0.0.1."""
    import uvicorn

    p = argparse.ArgumentParser(prog="python -m mlgate.adapters.inference_server")
    for name in ("model-uri", "version", "folder", "rotate-rows", "rotate-s"):
        p.add_argument(f"--{name}", required=True)
    p.add_argument("--shadow-uri")
    p.add_argument("--shadow-version")
    p.add_argument("--host", default="127.0.0.1")
    p.add_argument("--port", type=int, required=True)
    p.add_argument("--workers", type=int, default=1)
    args = p.parse_args(argv)
    for key, value in vars(args).items():
        if key not in ("host", "port", "workers") and value is not None:
            os.environ[ENV + key.upper()] = str(value)
    uvicorn.run("mlgate.adapters.inference_server:build_app", factory=True, host=args.host,
                port=args.port, workers=args.workers, log_level="warning")


if __name__ == "__main__":
    main()
