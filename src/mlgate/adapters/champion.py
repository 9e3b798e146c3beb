"""The scoring model and its reference data: registry champion, fallback file, MLflow artifacts.

IO at the edge for the score and drift stages and the `mlgate predict` / `drift` commands.
The reference (training rows scored by the model, plus the training profile) is stored as
artifacts `reference/reference.parquet` and `reference/profile.json` of the MLflow run that
trained the model, so any registered version leads to its own reference through its run id.
"""

from __future__ import annotations

import json
import logging
import os
import tempfile
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import joblib
import mlflow
import pandas as pd
from mlflow import MlflowClient
from mlflow.models import get_model_info

from mlgate.adapters.registry import current_version, load_version
from mlgate.base.errors import MlgateError
from mlgate.core.scoring import Profile

log = logging.getLogger(__name__)

REFERENCE_DIR = "reference"
REFERENCE_FILE = "reference.parquet"
PROFILE_FILE = "profile.json"


@dataclass(frozen=True)
class Scorer:
    """A loaded model and where it came from (recorded in every scoring output)."""

    model: Any
    uri: str
    source: str
    version: str | None = None
    run_id: str | None = None

    def describe(self) -> dict[str, Any]:
        """The provenance fields written to reports and MLflow."""
        return {"model_uri": self.uri, "model_source": self.source,
                "model_version": self.version, "model_run_id": self.run_id}


def load_champion(model_name: str, alias: str) -> Scorer:
    """The version holding `alias`, loaded with its sklearn flavor; MlgateError when none."""
    mv = current_version(model_name, alias)
    if mv is None:
        raise MlgateError(f"no version of registered model {model_name!r} holds alias "
                          f"{alias!r} in {mlflow.get_registry_uri()}: run the pipeline "
                          "(`dvc repro`) until a model passes the gate")
    log.info("scoring with %s v%s (@%s)", model_name, mv.version, alias)
    return Scorer(load_version(model_name, str(mv.version)), f"models:/{model_name}/{mv.version}",
                  "registry", str(mv.version), mv.run_id)


def load_challenger(model_name: str, alias: str, challenger_alias: str) -> Scorer | None:
    """The version holding `challenger_alias` when there is one and it is not the champion."""
    mv, champion = current_version(model_name, challenger_alias), current_version(model_name,
                                                                                  alias)
    if mv is None or (champion is not None and str(champion.version) == str(mv.version)):
        return None
    log.info("shadow scoring with %s v%s (@%s)", model_name, mv.version, challenger_alias)
    return Scorer(load_version(model_name, str(mv.version)), f"models:/{model_name}/{mv.version}",
                  "registry", str(mv.version), mv.run_id)


def load_scorer(model_name: str, alias: str, model_path: Path,
                run_info: dict[str, Any]) -> Scorer:
    """The champion when the registry has one, else the model file just trained."""
    if current_version(model_name, alias) is not None:
        return load_champion(model_name, alias)
    log.warning("no %s@%s in the registry: scoring with %s (run %s)", model_name, alias,
                model_path, run_info.get("run_id"))
    return Scorer(joblib.load(model_path), str(run_info.get("model_uri") or model_path), "file",
                  None, run_info.get("run_id"))


def signature_inputs(model_uri: str) -> list[dict[str, Any]]:
    """The input columns of a logged model's signature; MlgateError when it has none."""
    signature = get_model_info(model_uri).signature
    if signature is None or signature.inputs is None:
        raise MlgateError(f"{model_uri} has no input signature: cannot check a batch against it")
    return signature.inputs.to_dict()


def log_reference(run_id: str, reference: Path, profile: Path) -> None:
    """Store the reference table and the training profile with the model's MLflow run."""
    client = MlflowClient()
    for path in (reference, profile):
        client.log_artifact(run_id, str(path), REFERENCE_DIR)
    log.info("stored the drift reference (%s, %s) with MLflow run %s", reference.name,
             profile.name, run_id)


def fetch_reference(run_id: str) -> tuple[pd.DataFrame, Profile]:
    """The reference table and profile stored with `run_id`; MlgateError naming what is missing."""
    os.environ.setdefault("MLFLOW_ENABLE_ARTIFACTS_PROGRESS_BAR", "false")  # keep stderr clean
    with tempfile.TemporaryDirectory() as tmp:
        try:
            local = Path(mlflow.artifacts.download_artifacts(
                run_id=run_id, artifact_path=REFERENCE_DIR, dst_path=tmp))
        except Exception as exc:  # MlflowException or OSError, depending on the store
            raise MlgateError(f"MLflow run {run_id} has no `{REFERENCE_DIR}/` artifacts: {exc}. "
                              "Rerun the pipeline's score and drift stages "
                              "(`dvc repro -f score drift`) to store them") from exc
        missing = [f for f in (REFERENCE_FILE, PROFILE_FILE) if not (local / f).exists()]
        if missing:
            raise MlgateError(f"MLflow run {run_id}: `{REFERENCE_DIR}/` lacks {missing}")
        reference = pd.read_parquet(local / REFERENCE_FILE)
        profile = Profile.from_dict(json.loads((local / PROFILE_FILE).read_text()))
    return reference, profile
