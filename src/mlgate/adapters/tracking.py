"""MLflow tracking anchored at the repository root (never the cwd), with DVC-aware tags."""

from __future__ import annotations

import hashlib
import logging
import os
import subprocess
import sys
import time
import urllib.error
import urllib.request
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from importlib.metadata import PackageNotFoundError, version
from pathlib import Path
from typing import Any

import cloudpickle
import mlflow
import mlflow.data
import mlflow.sklearn
from mlflow import MlflowClient
from mlflow.entities import LoggedModelInput, Metric, Param, RunTag
from mlflow.exceptions import MlflowException
from mlflow.models import infer_signature

from mlgate.base.errors import ConfigError, MlgateError
from mlgate.base.names import metric_name
from mlgate.base.params import check_section, repo_root
from mlgate.base.processes import owner_gone, process_owner
from mlgate.core import model_steps

log = logging.getLogger(__name__)

TRACKING_KEYS = {"uri", "artifact_root", "experiment", "server"}
DOTENV = ".env"
CREDENTIAL_VARS = ("MLFLOW_TRACKING_USERNAME", "MLFLOW_TRACKING_PASSWORD", "MLFLOW_TRACKING_TOKEN")
HEALTH_TIMEOUT_S = 3.0


class TrackingServerError(MlgateError):
    """The tracking server does not answer: the message names its URI and how to start it."""


def resolve_uri(uri: str, root: Path) -> str:
    """Anchor a relative sqlite/file URI at `root`; leave server URIs untouched."""
    if uri.startswith("sqlite:///"):
        path = Path(uri.removeprefix("sqlite:///"))
        return "sqlite:///" + str(path if path.is_absolute() else root / path)
    if "://" not in uri:
        path = Path(uri)
        return str(path if path.is_absolute() else root / path)
    return uri


def tracking_uri(cfg: dict[str, Any], root: Path | None = None) -> str:
    """MLFLOW_TRACKING_URI when set, else `tracking.uri` anchored at the repository root."""
    if os.environ.get("MLFLOW_TRACKING_URI"):
        return os.environ["MLFLOW_TRACKING_URI"]
    check_section(cfg, "tracking", {"uri", "artifact_root", "experiment"}, {"server"})
    if not cfg["uri"]:
        raise ConfigError("`tracking.uri` must name the MLflow store, got an empty value")
    return resolve_uri(str(cfg["uri"]), root or repo_root())


def artifact_location(cfg: dict[str, Any], root: Path | None = None) -> str | None:
    """`tracking.artifact_root` as an absolute file URI (None: the server decides)."""
    value = check_section(cfg, "tracking", TRACKING_KEYS - {"server"}, {"server"})[
        "artifact_root"]
    if not value or "://" in str(value):
        return value or None
    path = Path(value)
    return (path if path.is_absolute() else (root or repo_root()) / path).as_uri()


def parse_dotenv(text: str) -> dict[str, str]:
    """KEY=VALUE lines of a .env file (comments, blanks and `export ` prefixes ignored)."""
    out: dict[str, str] = {}
    for raw in text.splitlines():
        line = raw.strip().removeprefix("export ").strip()
        if not line or line.startswith("#") or "=" not in line:
            continue
        key, value = (part.strip() for part in line.split("=", 1))
        if len(value) >= 2 and value[0] == value[-1] and value[0] in "'\"":
            value = value[1:-1]
        out[key] = value
    return out


def read_dotenv(root: Path | None = None) -> dict[str, str]:
    """The `.env` file at the repository root (DVC_ROOT in queued experiments), if any."""
    path = (root or repo_root()) / DOTENV
    return parse_dotenv(path.read_text(encoding="utf-8")) if path.is_file() else {}


def load_credentials(root: Path | None = None) -> list[str]:
    """Copy MLflow credentials from `.env` into the environment where it has none; names set."""
    found = read_dotenv(root)
    loaded = [name for name in CREDENTIAL_VARS if found.get(name) and not os.environ.get(name)]
    for name in loaded:
        os.environ[name] = found[name]
    return loaded


def is_server(uri: str) -> bool:
    """True for an http(s) tracking URI (a tracking server, not an embedded store)."""
    return uri.lower().startswith(("http://", "https://"))


def check_server(uri: str, timeout: float = HEALTH_TIMEOUT_S) -> None:
    """GET <uri>/health; TrackingServerError naming the URI when nothing (healthy) answers."""
    try:
        with urllib.request.urlopen(f"{uri.rstrip('/')}/health", timeout=timeout):
            return
    except urllib.error.HTTPError as exc:
        if exc.code < 500:  # it answers (a proxy may guard /health): MLflow will say more
            return
        reason = f"HTTP {exc.code} from /health"
    except (urllib.error.URLError, OSError) as exc:
        reason = str(getattr(exc, "reason", exc))
    raise TrackingServerError(
        f"MLflow tracking server {uri} is not reachable ({reason}). Start it with `make server` "
        "(`mlgate server start`), or point tracking.uri / MLFLOW_TRACKING_URI at a running server")


def connect(uri: str, root: Path | None = None) -> str:
    """Point MLflow at `uri`; for a server, load credentials and check that it answers first."""
    if is_server(uri):
        load_credentials(root)
        check_server(uri)
    mlflow.set_tracking_uri(uri)
    return uri


def configure(cfg: dict[str, Any]) -> str:
    """Point MLflow at the store and return the experiment id (created on first use)."""
    uri = connect(tracking_uri(cfg))
    name = cfg["experiment"]
    exp = mlflow.get_experiment_by_name(name)
    if exp is not None:
        return exp.experiment_id
    log.info("creating MLflow experiment %r in %s", name, uri)
    return create_experiment(name, artifact_location(cfg))


def create_experiment(name: str, location: str | None) -> str:
    """Create experiment `name`; when a parallel worker created it first, return that one."""
    try:
        return mlflow.create_experiment(name, artifact_location=location)
    except MlflowException:
        exp = mlflow.get_experiment_by_name(name)
        if exp is None:
            raise
        return exp.experiment_id


def git_commit(root: Path | None = None) -> str | None:
    """The current git commit of the repository, if there is one."""
    try:
        out = subprocess.run(["git", "rev-parse", "HEAD"], cwd=root or Path.cwd(),
                             capture_output=True, text=True, timeout=10, check=True)
    except (OSError, subprocess.SubprocessError):
        return None
    return out.stdout.strip() or None


DVC_ENV_TAGS = (("DVC_EXP_NAME", "dvc.exp_name"), ("DVC_EXP_BASELINE_REV", "dvc.baseline_rev"))


def dvc_tags(stage: str) -> dict[str, str]:
    """Tags naming the DVC stage, experiment and baseline commit where DVC sets them."""
    tags = {f"mlgate.stage.{stage}": "done", "mlgate.last_stage": stage,
            **content_tags({"params_yaml": Path("params.yaml")})}
    for env, tag in DVC_ENV_TAGS:
        if os.environ.get(env):
            tags[tag] = os.environ[env]
    commit = git_commit()
    if commit:
        tags["git.commit"] = commit
    return tags


def flatten(params: dict[str, Any], prefix: str = "") -> dict[str, str]:
    """Flatten nested params to dotted keys with string values (MLflow params)."""
    out: dict[str, str] = {}
    for key, value in params.items():
        name = f"{prefix}{key}"
        if isinstance(value, dict) and value:
            out.update(flatten(value, f"{name}."))
        else:
            out[name] = str(value)[:6000]
    return out


@contextmanager
def pipeline_run(cfg: dict[str, Any], stage: str, run_info: dict[str, Any] | None = None):
    """Start the pipeline's MLflow run (train), or reopen it from run.json (later stages)."""
    experiment_id = configure(cfg)
    if run_info is None:
        mark_killed_runs(experiment_id)
        run = mlflow.start_run(experiment_id=experiment_id,
                               run_name=os.environ.get("DVC_EXP_NAME") or None)
    else:
        run = mlflow.start_run(run_id=resolve_run_id(run_info, experiment_id))
    with run:
        mlflow.set_tags({**dvc_tags(stage), RUN_OWNER_TAG: process_owner()})
        yield run


RUN_OWNER_TAG = "mlgate.owner"  # host:pid of the stage process that has the run open


def mark_killed_runs(experiment_id: str) -> list[str]:
    """Runs left RUNNING by a stage that was killed (owner process gone): set them KILLED."""
    client = MlflowClient()
    running = client.search_runs([experiment_id], filter_string="attributes.status = 'RUNNING'",
                                 max_results=1000)
    killed = [r.info.run_id for r in running
              if RUN_OWNER_TAG in r.data.tags and owner_gone(r.data.tags[RUN_OWNER_TAG])]
    for run_id in killed:
        client.set_terminated(run_id, status="KILLED")
        log.warning("MLflow run %s was left RUNNING by a killed stage: marked KILLED", run_id)
    return killed


def model_run(run_info: dict[str, Any]) -> Any:
    """The MLflow run that trained the model (run.json), checked to exist in the store."""
    run_id = str(run_info.get("run_id"))
    try:
        return mlflow.get_run(run_id)
    except Exception as exc:  # MlflowException for unknown ids, others for a broken store
        raise ConfigError(f"MLflow run {run_id!r} (from models/run.json) is not in the store "
                          f"{mlflow.get_tracking_uri()}: {exc}. "
                          "Rerun `dvc repro -f train`.") from exc


def resolve_run_id(run_info: dict[str, Any], experiment_id: str) -> str:
    """The run later stages log to: the model's run, or this DVC experiment's own run.

    A DVC experiment that did not retrain (only a drift or gate param changed, or train came
    from the run-cache) still gets its own row in MLflow, linked to the model's run.
    """
    trained = model_run(run_info)
    exp_name = os.environ.get("DVC_EXP_NAME")
    if not exp_name or trained.data.tags.get("dvc.exp_name") == exp_name:
        return trained.info.run_id
    return experiment_run(exp_name, trained, experiment_id)


def experiment_run(exp_name: str, trained: Any, experiment_id: str) -> str:
    """Find or create the run of DVC experiment `exp_name` that reuses the `trained` model."""
    client = MlflowClient()
    query = (f"tags.`dvc.exp_name` = '{exp_name}' and "
             f"tags.`mlgate.model_run_id` = '{trained.info.run_id}'")
    found = client.search_runs([experiment_id], filter_string=query, max_results=1)
    if found:
        return found[0].info.run_id
    run = client.create_run(experiment_id, run_name=exp_name,
                            tags={"dvc.exp_name": exp_name,
                                  "mlgate.model_run_id": trained.info.run_id})
    _copy_training(client, trained, run.info.run_id)
    log.info("DVC experiment %s reuses the model of MLflow run %s: logging to new run %s",
             exp_name, trained.info.run_id, run.info.run_id)
    return run.info.run_id


def _copy_training(client: Any, trained: Any, run_id: str) -> None:
    """Copy the model run's params, CV metrics and model tags so the new row is complete."""
    now = int(time.time() * 1000)
    params = [Param(k, v) for k, v in trained.data.params.items()]
    metrics = [Metric(k, v, now, 0) for k, v in trained.data.metrics.items()
               if k.startswith("cv_")]
    tags = [RunTag(k, v) for k, v in trained.data.tags.items()
            if k.startswith("mlgate.") and k not in ("mlgate.gate", "mlgate.drift_verdict")]
    for i in range(0, max(len(params), 1), 100):  # MLflow accepts 100 params per batch
        client.log_batch(run_id, params=params[i:i + 100],
                         metrics=metrics if i == 0 else [], tags=tags if i == 0 else [])


def file_md5(path: Path) -> str:
    """MD5 of a file's bytes (the hash DVC uses for files)."""
    digest = hashlib.md5(usedforsecurity=False)
    with Path(path).open("rb") as fh:
        for block in iter(lambda: fh.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


# The contexts MLflow's UI shows in a run's Dataset column, one per pipeline use of a table.
TRAINING, EVALUATION, SCORING = "training", "evaluation", "scoring"


def model_id(model_uri: str) -> str | None:
    """The logged model's id in a `models:/m-...` URI (None for a registry URI)."""
    tail = model_uri.removeprefix("models:/")
    return tail if tail.startswith("m-") and "/" not in tail else None


DATASET_RETRIES = 3


def _dataset_race(exc: Exception) -> bool:
    """True for the SQL store's unique-key error on its `datasets` table (SQLite's or
    PostgreSQL's wording)."""
    text = str(exc).lower()
    return "datasets" in text and "unique" in text


def retry_dataset_race(fn: Callable[[], Any]) -> Any:
    """Call `fn`, which logs a dataset input; retry when another process inserted the same
    dataset at the same moment.

    MLflow 3.17's SQL store looks a dataset up by (experiment, name, digest) and inserts it
    when absent, without a lock: two queued experiments evaluating the same test table
    together both insert, and one fails on the unique key. Its insert is rolled back and
    nothing else was logged yet, so the retry finds the other's row and goes on.
    """
    for attempt in range(1, DATASET_RETRIES + 1):
        try:
            return fn()
        except MlflowException as exc:
            if not _dataset_race(exc) or attempt == DATASET_RETRIES:
                raise
            log.warning("another process logged the same MLflow dataset at the same moment; "
                        "retrying (%d/%d)", attempt, DATASET_RETRIES - 1)
            time.sleep(0.2 * attempt)
    raise AssertionError("unreachable")


def dataset(df: Any, path: Path, target: str | None) -> Any:
    """The table in `path` as an MLflow dataset: its source is the file's path in the
    repository and its digest the file's MD5 (DVC's hash), so the UI's Dataset column points
    at what `dvc` tracks."""
    return mlflow.data.from_pandas(df, source=str(path), name=Path(path).stem,
                                   digest=file_md5(path),
                                   targets=target if target in df.columns else None)


def log_dataset(df: Any, path: Path, context: str, target: str | None,
                model_uri: str | None = None) -> Any:
    """Log the table in `path` as an MLflow dataset of the active run, in `context` (linked
    to the logged model when `model_uri` names one, so the model's page lists it too);
    return the dataset (mlflow.models.evaluate takes it as its data)."""
    found = dataset(df, path, target)
    logged = model_id(model_uri) if model_uri else None
    retry_dataset_race(lambda: mlflow.log_input(
        found, context=context,
        tags={"dvc.path": str(path), "dvc.md5": found.digest, "rows": str(len(df))},
        model=LoggedModelInput(logged) if logged else None))
    return found


def content_tags(files: dict[str, Path]) -> dict[str, str]:
    """`mlgate.md5.<name>` tags for the given files (inputs, params.yaml)."""
    return {f"mlgate.md5.{name}": file_md5(path) for name, path in files.items()
            if Path(path).exists()}


PINNED = ("pycaret", "scikit-learn", "pandas", "numpy", "scipy", "lightgbm", "cloudpickle")


def pinned_requirements() -> list[str]:
    """Exact versions of the packages a logged PyCaret pipeline needs to load."""
    out = []
    for name in PINNED:
        try:
            out.append(f"{name}=={version(name)}")
        except PackageNotFoundError:
            continue
    return out


def feature_steps(model: Any) -> Any:
    """The model's declared-features step (model_steps.FeatureSteps), or None.

    Matched by class name: a model loaded from a pickle carries its own copy of the class.
    """
    for _, step in getattr(model, "steps", []):
        inner = getattr(step, "transformer", step)  # PyCaret wraps custom steps
        if type(inner).__name__ == model_steps.FeatureSteps.__name__:
            return inner
    return None


@contextmanager
def self_contained(model: Any) -> Iterator[None]:
    """Pickle the code of the steps mlgate puts in the model by value while inside.

    That is mlgate.core.model_steps and the module of the `features.custom` function (the
    repository's features/ package): a model pickled here loads and predicts where neither
    mlgate nor the repository is (a serving image, another directory).
    """
    steps = feature_steps(model)
    custom = getattr(steps, "custom", None)
    modules = [model_steps] + ([sys.modules[custom.__module__]] if custom is not None else [])
    for module in modules:
        cloudpickle.register_pickle_by_value(module)
    try:
        yield
    finally:
        for module in modules:
            cloudpickle.unregister_pickle_by_value(module)


def dump_model(model: Any, path: Path) -> None:
    """Write the fitted pipeline to `path`, self-contained (see self_contained)."""
    with self_contained(model), open(path, "wb") as fh:
        cloudpickle.dump(model, fh)


def log_features(model: Any) -> None:
    """Log the model's feature rules and the statistics fitted on the training split."""
    steps = feature_steps(model)
    if steps is None:
        return
    rules = [{k: v for k, v in r.items() if k != "mapping"} for r in steps.rules]
    mlflow.log_dict({"rules": rules, "fitted": getattr(steps, "fitted_", {}),
                     "custom": getattr(steps.custom, "__qualname__", None),
                     "drop": list(steps.drop)}, "features.json")


def log_model(model: Any, X: Any) -> Any:
    """Log a fitted pipeline (cloudpickle) with signature, input example and pinned deps.

    The signature is the raw columns' schema: declared features are made inside the model.
    The code of mlgate's steps is pickled by value (self_contained), so the logged model loads
    and predicts where mlgate is not installed (a serving image).
    """
    sample = X.head(100)
    with self_contained(model):
        return mlflow.sklearn.log_model(
            model, name="model",
            serialization_format=mlflow.sklearn.SERIALIZATION_FORMAT_CLOUDPICKLE,
            signature=infer_signature(sample, model.predict(sample)), input_example=X.head(5),
            pip_requirements=pinned_requirements())


def log_candidate(candidate: Any) -> str:
    """Log one CV candidate as a child run of the active run; return the child's run id."""
    parent = mlflow.active_run().info
    with mlflow.start_run(run_name=candidate.id, nested=True,
                          experiment_id=parent.experiment_id) as child:
        mlflow.log_params({k: str(v)[:6000] for k, v in candidate.params.items()})
        mlflow.log_metrics({metric_name(k): v for k, v in candidate.cv.items()})
        mlflow.log_metrics({f"{metric_name(k)}_std": v for k, v in candidate.cv_std.items()})
        mlflow.log_metric("fit_seconds", candidate.seconds)
        mlflow.set_tags({"mlgate.candidate": candidate.id, "mlgate.estimator": candidate.name})
    return child.info.run_id
