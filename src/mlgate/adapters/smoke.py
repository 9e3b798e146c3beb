"""Smoke test: load a registered version in a fresh process and predict on its input example.

The fresh process sees only what the registry holds (no objects of the training process), the
way `mlgate predict` or `mlflow models serve` will load it.
"""

from __future__ import annotations

import json
import logging
import os
import subprocess
import sys
from dataclasses import dataclass

import mlflow.pyfunc

log = logging.getLogger(__name__)

SMOKE_TIMEOUT_S = 600.0


@dataclass(frozen=True)
class SmokeResult:
    """Whether the version loaded and predicted, with the evidence either way."""

    ok: bool
    detail: str


def smoke_test(model_uri: str, tracking_uri: str, timeout: float = SMOKE_TIMEOUT_S
               ) -> SmokeResult:
    """Run `python -m mlgate.adapters.smoke MODEL_URI` against `tracking_uri`; the outcome."""
    env = {**os.environ, "MLFLOW_TRACKING_URI": tracking_uri}
    try:
        proc = subprocess.run([sys.executable, "-m", "mlgate.adapters.smoke", model_uri], env=env,
                              capture_output=True, text=True, timeout=timeout, check=False)
    except subprocess.TimeoutExpired:
        return SmokeResult(False, f"loading {model_uri} took longer than {timeout:.0f} s")
    if proc.returncode != 0:
        last = (proc.stderr.strip().splitlines() or [f"exit code {proc.returncode}"])[-1]
        return SmokeResult(False, f"{model_uri} failed in a fresh process: {last}"[:1000])
    detail = (proc.stdout.strip().splitlines() or ["{}"])[-1]
    log.info("smoke test of %s passed: %s", model_uri, detail)
    return SmokeResult(True, detail)


def predict_example(model_uri: str) -> dict[str, object]:
    """Load `model_uri` as pyfunc and predict on its saved input example."""
    model = mlflow.pyfunc.load_model(model_uri)
    example = model.input_example
    if example is None:
        raise RuntimeError(f"{model_uri} has no input example")
    predictions = model.predict(example)
    if len(predictions) != len(example):
        raise RuntimeError(f"{len(predictions)} predictions for {len(example)} example rows")
    return {"model_uri": model_uri, "rows": len(example),
            "predictions": [str(p) for p in list(predictions)[:5]]}


def main(argv: list[str]) -> int:
    """Child entry point: one JSON line on success, the error on stderr and exit 1 otherwise."""
    if len(argv) != 1:
        sys.stderr.write("usage: python -m mlgate.adapters.smoke MODEL_URI\n")
        return 2
    try:
        sys.stdout.write(json.dumps(predict_example(argv[0])) + "\n")
    except Exception as exc:  # report any failure to the parent as one line
        sys.stderr.write(f"{type(exc).__name__}: {exc}".replace("\n", " ") + "\n")
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
