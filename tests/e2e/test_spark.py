"""End to end (opt-in: slow): score.engine=spark in the pipeline and in `mlgate predict`.

CI runs tests/unit/test_spark_scoring.py (same batch, both engines, identical frames); this
scenario adds the real PyCaret pipeline, the registry URI and the DVC stage.
"""

from __future__ import annotations

import hashlib
import json

import mlflow
import pandas as pd
import pytest
import yaml
from mlflow import MlflowClient

from mlgate.core.scoring import MODEL_URI
from tests.e2e.conftest import BIN, Repo, load

pytestmark = [pytest.mark.e2e, pytest.mark.slow]

MODEL = "mlgate-randhie"
SCORED = ["data/predictions/current.parquet", "data/predictions/reference.parquet"]


def digests(repo: Repo) -> dict[str, str]:
    return {rel: hashlib.md5((repo.path / rel).read_bytes()).hexdigest() for rel in SCORED}


def set_engine(repo: Repo, engine: str) -> None:
    path = repo.path / "params.yaml"
    params = yaml.safe_load(path.read_text())
    params["score"]["engine"] = engine
    path.write_text(yaml.safe_dump(params, sort_keys=False))


def champion_uri(repo: Repo) -> str:
    """models:/NAME/VERSION of @champion; registers the trained model when the gate refused it."""
    client = MlflowClient(tracking_uri=repo.tracking_uri(), registry_uri=repo.tracking_uri())
    try:
        version = client.get_model_version_by_alias(MODEL, "champion").version
    except Exception:  # no registered model or no alias yet (tiny data)
        mlflow.set_tracking_uri(repo.tracking_uri())
        run = json.loads((repo.path / "models/run.json").read_text())
        version = mlflow.register_model(run["model_uri"], MODEL).version
        client.set_registered_model_alias(MODEL, "champion", version)
    return f"models:/{MODEL}/{version}"


def test_spark_engine_in_the_pipeline(repo: Repo) -> None:
    pytest.importorskip("pyspark")
    repo.dvc("repro")
    pandas_digests = digests(repo)
    set_engine(repo, "spark")
    run = repo.dvc("repro")
    assert "Running stage 'score'" in run.stdout and "engine spark" in run.stderr
    assert digests(repo) == pandas_digests  # byte-identical predictions and reference
    assert "Running stage 'drift'" not in run.stdout  # so DVC skips drift

    uri = champion_uri(repo)
    repo.run(str(BIN / "mlgate"), "predict", "--input", "data/processed/current.parquet",
             "--output", "spark.parquet")
    predicted = pd.read_parquet(repo.path / "spark.parquet")
    assert (predicted[MODEL_URI] == uri).all()
    pd.testing.assert_frame_equal(predicted.drop(columns=[MODEL_URI]),
                                  load(repo, SCORED[0]).drop(columns=[MODEL_URI]),
                                  check_exact=True)
    assert adhoc_drift(repo, "spark") == adhoc_drift(repo, "pandas")


def adhoc_drift(repo: Repo, engine: str) -> dict:
    """`mlgate drift --current` on the current batch with `score.engine: <engine>`."""
    set_engine(repo, engine)
    out = repo.run(str(BIN / "mlgate"), "drift", "--current", "data/processed/current.parquet",
                   "--json", f"drift-{engine}.json", "--fail-on", "never", check=False)
    assert out.returncode == 0, out.stderr[-3000:]
    assert ("score.engine=spark" in out.stderr) == (engine == "spark")
    return json.loads((repo.path / f"drift-{engine}.json").read_text())
