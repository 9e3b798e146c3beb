"""The one entry point every stage script uses: logging, params, clean failure."""

from __future__ import annotations

import atexit
import logging
import os
import sys
import threading
import time
from collections.abc import Callable
from typing import Any

from mlgate.base.errors import is_user_error
from mlgate.base.params import load_params

log = logging.getLogger("mlgate")


def setup_logging() -> None:
    """Log to stderr with a short, stage-prefixed format."""
    level = os.environ.get("MLGATE_LOG_LEVEL", "INFO").upper()
    logging.basicConfig(level=level, format="%(asctime)s %(name)s %(levelname)s %(message)s",
                        datefmt="%H:%M:%S", stream=sys.stderr)


def stage_main(name: str, body: Callable[[dict[str, Any]], str | None]) -> None:
    """Run a stage body with params.yaml; user errors exit 1 with a one-line message.

    A body may return a verdict line; it is logged last, after the timing line. On success
    the process ends here (exit 0, see exit_without_teardown).
    """
    setup_logging()
    os.environ.setdefault("DVC_STAGE", name)
    started = time.perf_counter()
    try:
        verdict = body(load_params())
    except Exception as exc:
        if not is_user_error(exc):
            raise
        log.error("stage %s failed: %s", name, exc)
        exit_without_teardown(1)
        sys.exit(1)
    log.info("stage %s done in %.1f s", name, time.perf_counter() - started)
    if verdict:
        log.info("%s", verdict)
    exit_without_teardown()


def exit_without_teardown(code: int = 0) -> None:
    """End the stage process as a normal exit does, minus the interpreter's final teardown.

    The atexit handlers run (MLflow, logging, temporary files) as on a normal exit; only the
    freeing of every module and object is skipped, which the OS does anyway: 1-2 s of CPU in
    a stage that imported MLflow, PyCaret or Evidently (see bench/). With a non-daemon thread
    still alive, the stage returns and the interpreter exits as usual (joining it).
    Also used on failure: a native thread pool torn down at exit once aborted a failed stage
    ("terminate called without an active exception", exit -6 instead of 1).
    """
    main = threading.main_thread()
    if any(t is not main and not t.daemon for t in threading.enumerate()):
        return
    atexit._run_exitfuncs()
    sys.stdout.flush()
    sys.stderr.flush()
    os._exit(code)
