"""Batch scoring on Apache Spark: `score.engine: spark` (optional extra: `pip install -e .[spark]`).

Spark replaces only the predict step. `mlgate.core.scoring.score_batch` checks the batch in pandas
exactly as with the pandas engine, then calls `predict` / `predict_proba` of a `SparkModel`,
which runs the logged MLflow model through `mlflow.pyfunc.spark_udf` on a session built from
`score.spark` (master `local[2]` by default; a cluster's master URL runs the same code).
pyspark is imported inside functions only: the default install does not need it.
"""

from __future__ import annotations

import logging
import os
import shutil
import sys
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import mlflow
import mlflow.pyfunc
import numpy as np
import pandas as pd
from mlflow.models import Model, ModelSignature

from mlgate.base.errors import MlgateError
from mlgate.base.extras import import_extra
from mlgate.core.scoring import ScoreConfig, SparkConfig

log = logging.getLogger(__name__)

INSTALL_HINT = "pip install -e .[spark]"
PROBA_FN = "predict_proba"
# numpy kind of the model's output -> spark_udf result type that carries it without loss.
RESULT_TYPES = {"i": "long", "u": "long", "f": "double", "b": "boolean"}


def _session_class() -> Any:
    """pyspark's SparkSession; ConfigError naming the install command when pyspark is missing."""
    return import_extra("pyspark.sql", "score.engine: spark", INSTALL_HINT,
                        " (Spark also needs Java 17+)").SparkSession


def build_session(cfg: SparkConfig) -> Any:
    """A SparkSession for `cfg`; MlgateError naming the master when Spark cannot start."""
    builder = _session_class().builder.master(cfg.master).appName(cfg.app_name)
    if cfg.local:  # workers are this machine's processes: this interpreter, loopback only
        os.environ.setdefault("PYSPARK_PYTHON", sys.executable)
        os.environ.setdefault("SPARK_LOCAL_IP", "127.0.0.1")
    for key, value in cfg.properties().items():
        builder = builder.config(key, value)
    try:
        session = builder.getOrCreate()
    except Exception as exc:  # no JVM, or an unreachable master: pyspark raises several types
        raise MlgateError(f"cannot start Spark at score.spark.master={cfg.master!r}: {exc} "
                          "(Spark needs Java 17+: `java` on PATH or JAVA_HOME)") from exc
    log.info("Spark %s session %r on %s", session.version, cfg.app_name, cfg.master)
    return session


@contextmanager
def spark_session(cfg: SparkConfig) -> Iterator[Any]:
    """The active session if there is one (left running), else a new one, stopped at exit."""
    active = _session_class().getActiveSession()
    session = active or build_session(cfg)
    try:
        yield session
    finally:
        if active is None:
            session.stop()


def download_model(model_uri: str, dest: Path) -> tuple[Path, Any]:
    """A local copy of the logged model and its MLmodel; MlgateError when it is not one."""
    os.environ.setdefault("MLFLOW_ENABLE_ARTIFACTS_PROGRESS_BAR", "false")  # keep stderr clean
    try:
        local = Path(mlflow.artifacts.download_artifacts(artifact_uri=model_uri,
                                                         dst_path=str(dest)))
        meta = Model.load(str(local))
    except Exception as exc:  # MlflowException or OSError, depending on the store
        raise MlgateError(f"score.engine=spark scores a logged MLflow model; {model_uri} is not "
                          f"one that can be loaded here: {exc}") from exc
    signature = meta.signature
    if signature is None or signature.inputs is None or signature.outputs is None:
        raise MlgateError(f"{model_uri} has no input/output signature: score.engine=spark needs "
                          "one to name the input columns and type the predictions")
    return local, meta


def proba_variant(local: Path, dest: Path) -> Path:
    """A copy of the sklearn-flavor model whose pyfunc predict is `predict_proba`."""
    shutil.copytree(local, dest)
    meta = Model.load(str(dest))
    pyfunc = meta.flavors.get("python_function", {})
    if pyfunc.get("loader_module") != "mlflow.sklearn":
        raise MlgateError(f"score.engine=spark: class probabilities need a model logged with the "
                          f"sklearn flavor, found loader {pyfunc.get('loader_module')!r}")
    pyfunc["predict_fn"] = PROBA_FN  # what mlflow.sklearn.log_model(pyfunc_predict_fn=...) sets
    meta.signature = ModelSignature(inputs=meta.signature.inputs, params=meta.signature.params)
    meta.save(str(dest / "MLmodel"))
    return dest


class SparkModel:
    """predict / predict_proba of a logged MLflow model, computed by Spark pandas UDFs."""

    def __init__(self, session: Any, model_uri: str, workdir: Path):
        self.session, self.model_uri, self.workdir = session, model_uri, workdir
        self.local, self.meta = download_model(model_uri, workdir / "model")
        self.feature_names_in_ = np.asarray(self.meta.signature.inputs.input_names(), dtype=object)
        self.output_dtype = np.dtype(self.meta.signature.outputs.numpy_types()[0])
        self._predict = self._udf(self.local, RESULT_TYPES.get(self.output_dtype.kind, "string"))
        self._proba: Any = None

    def _udf(self, path: Path, result_type: str) -> Any:
        """mlflow.pyfunc.spark_udf of the model at `path`, in this Python environment."""
        return mlflow.pyfunc.spark_udf(self.session, str(path), result_type=result_type,
                                       env_manager="local")

    def _apply(self, udf: Any, X: pd.DataFrame) -> np.ndarray:
        """Run `udf` over the rows of X (columns passed by name, row order kept)."""
        from pyspark.sql import functions as F  # lazy: optional extra [spark]

        frame = self.session.createDataFrame(X)
        columns = F.struct(*[F.col(f"`{c}`") for c in X.columns])
        return frame.select(udf(columns).alias("out")).toPandas()["out"].to_numpy()

    def predict(self, X: pd.DataFrame) -> np.ndarray:
        """The model's predictions, typed as its signature declares (missing ones kept)."""
        values = self._apply(self._predict, X)
        return values if pd.isna(values).any() else values.astype(self.output_dtype)

    def predict_proba(self, X: pd.DataFrame) -> np.ndarray:
        """Class probabilities (rows x classes) from the sklearn model's predict_proba."""
        if self._proba is None:
            path = proba_variant(self.local, self.workdir / PROBA_FN)
            self._proba = self._udf(path, "array<double>")
        return np.vstack(self._apply(self._proba, X)).astype(float)


@contextmanager
def engine_model(cfg: ScoreConfig, model: Any, model_uri: str) -> Iterator[Any]:
    """What score_batch predicts with: `model` (engine pandas) or a SparkModel of `model_uri`."""
    if cfg.engine != "spark":
        yield model
        return
    spark_cfg = SparkConfig.from_params(cfg.spark)
    with spark_session(spark_cfg) as session, \
            tempfile.TemporaryDirectory(prefix="mlgate-spark-") as tmp:
        log.info("score.engine=spark: %s via mlflow.pyfunc.spark_udf on %s", model_uri,
                 session.sparkContext.master)
        yield SparkModel(session, model_uri, Path(tmp))
