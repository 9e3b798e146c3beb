"""Shared tracking: the pipeline and a 2-worker queue against a PostgreSQL-backed MLflow server.

One repository copy and one server (`mlgate server start`: PostgreSQL + `mlflow server` with
basic-auth and proxied artifacts, on free loopback ports) are shared by the module; the server
is stopped by pid at the end.
"""

from __future__ import annotations

import json
import shutil
import tempfile
from pathlib import Path

import mlflow
import psycopg2
import pytest
import yaml
from mlflow import MlflowClient
from mlflow.exceptions import MlflowException

from mlgate.adapters.serving import free_port
from mlgate.adapters.tracking import read_dotenv
from tests.e2e.conftest import BIN, Repo
from tests.e2e.test_sweep import experiments

pytestmark = pytest.mark.e2e

MODEL = "mlgate-randhie"
PIPELINE = ("-S", "tracking=server", "-S", "train.estimators=[lr]")  # one quick candidate


def configure_server(repo: Repo, pg_dir: Path) -> None:
    """Point the copy's conf/tracking/server.yaml at free ports and a pg_dir `postgres` reaches."""
    conf = repo.path / "conf/tracking/server.yaml"
    spec = yaml.safe_load(conf.read_text())
    port, pg_port = free_port(), free_port()
    assert port != pg_port
    spec["uri"] = f"http://127.0.0.1:{port}"
    spec["server"].update(postgres_port=pg_port, pg_dir=str(pg_dir), workers=1)  # 2 cores
    conf.write_text(yaml.safe_dump(spec))


def mlgate(repo: Repo, *args: str, check: bool = True):
    """Run the venv's `mlgate` in the copy."""
    return repo.run(str(BIN / "mlgate"), *args, check=check)


def server_status(repo: Repo) -> dict:
    """`mlgate server status --json` of the copy (exit 1 when it is down)."""
    return json.loads(mlgate(repo, "server", "status", "--json", check=False).stdout)


@pytest.fixture(scope="module")
def served(template, tmp_path_factory):
    """A copy of the repository whose tracking server runs; stopped by pid at the end."""
    path = tmp_path_factory.mktemp("served") / "repo"
    shutil.copytree(template, path, symlinks=True)
    repo = Repo(path)
    pg_parent = Path(tempfile.mkdtemp(prefix="mlgate-pg-"))  # pytest's tmp is private to root
    pg_parent.chmod(0o755)
    configure_server(repo, pg_parent / "pg")
    repo.commit("tracking=server on free loopback ports")
    try:
        mlgate(repo, "server", "start")
        yield repo
    finally:
        mlgate(repo, "server", "stop", check=False)
        shutil.rmtree(pg_parent, ignore_errors=True)


@pytest.fixture(scope="module")
def pipeline(served):
    """The whole pipeline run once with `-S tracking=server` (no code change)."""
    served.dvc("exp", "run", *PIPELINE)
    return served


@pytest.fixture
def as_user(served, monkeypatch):
    """Switch this process's MLflow identity to a user of the copy's .env; return the URI."""
    secrets = read_dotenv(served.path)
    monkeypatch.setenv("MLFLOW_HTTP_REQUEST_MAX_RETRIES", "0")

    def login(role: str) -> MlflowClient:
        monkeypatch.setenv("MLFLOW_TRACKING_USERNAME", secrets[f"MLGATE_{role}_USERNAME"])
        monkeypatch.setenv("MLFLOW_TRACKING_PASSWORD", secrets[f"MLGATE_{role}_PASSWORD"])
        uri = server_status(served)["uri"]
        mlflow.set_tracking_uri(uri)
        return MlflowClient(uri)

    return login


def postgres_rows(repo: Repo, sql: str) -> list[tuple]:
    """Query the server's PostgreSQL database directly (the role's password is in .env)."""
    spec = yaml.safe_load((repo.path / "conf/tracking/server.yaml").read_text())["server"]
    password = read_dotenv(repo.path)["MLGATE_PG_PASSWORD"]
    with psycopg2.connect(host="127.0.0.1", port=spec["postgres_port"], user="mlflow",
                          password=password, dbname="mlflow") as conn, conn.cursor() as cur:
        cur.execute(sql)
        return cur.fetchall()


def test_pipeline_lands_in_postgres_with_proxied_artifacts(pipeline, as_user):
    client = as_user("ADMIN")
    run_info = json.loads((pipeline.path / "models/run.json").read_text())
    run = client.get_run(run_info["run_id"])
    assert run.data.metrics["test_roc_auc"] > 0.5 and run.data.tags["mlgate.gate"] == "champion"
    champion = client.get_model_version_by_alias(MODEL, "champion")
    assert champion.run_id == run.info.run_id
    rows = postgres_rows(pipeline, "SELECT r.run_uuid, m.value FROM runs r JOIN latest_metrics m "
                                   "ON m.run_uuid = r.run_uuid WHERE m.key = 'test_roc_auc'")
    assert (run.info.run_id, run.data.metrics["test_roc_auc"]) in rows
    assert (MODEL, int(champion.version)) in postgres_rows(
        pipeline, "SELECT name, version FROM model_versions")
    assert run.info.artifact_uri.startswith("mlflow-artifacts:/"), "artifacts go via the proxy"
    fetched = Path(mlflow.artifacts.download_artifacts(f"models:/{MODEL}@champion")) / "MLmodel"
    stored = list((pipeline.path / ".mlgate/server/artifacts").rglob("MLmodel"))
    assert fetched.read_bytes() in [p.read_bytes() for p in stored], "fetched via the proxy"
    assert not (pipeline.path / "mlflow.db").exists(), "nothing went to the embedded store"


@pytest.mark.slow
def test_two_worker_queue_lands_on_the_server(pipeline, as_user):
    """Two queued experiments (only drift params change) on two workers: two rows on the server."""
    pipeline.dvc("exp", "run", "--queue", *PIPELINE, "-S", "drift.drift_share=0.3,0.5")
    pipeline.dvc("queue", "start", "-j", "2")
    status = pipeline.wait_for_queue()
    assert "Failed" not in status, status
    queued = {name: data["params"]["params.yaml"]["data"]["drift"]["drift_share"]
              for name, data in experiments(pipeline).items()
              if data["params"]["params.yaml"]["data"]["drift"]["drift_share"] in (0.3, 0.5)}
    assert sorted(queued.values()) == [0.3, 0.5], queued
    client = as_user("ADMIN")
    exp = client.get_experiment_by_name("mlgate")
    model_run = json.loads((pipeline.path / "models/run.json").read_text())["run_id"]
    for name in queued:
        runs = client.search_runs([exp.experiment_id], f"tags.`dvc.exp_name` = '{name}'")
        assert len(runs) == 1, name
        run = runs[0]
        assert run.info.run_name == name and "drift_share_drifted" in run.data.metrics
        assert run.data.tags["mlgate.model_run_id"] == model_run, "linked to the trained model"
        assert "train.fold" in run.data.params and run.data.tags["mlgate.last_stage"] == "drift"


def test_reader_browses_but_cannot_register_or_move_aliases(pipeline, as_user):
    reader = as_user("READER")
    exp = reader.get_experiment_by_name("mlgate")
    assert reader.search_runs([exp.experiment_id]), "the reader can browse runs"
    champion = reader.get_model_version_by_alias(MODEL, "champion")
    denied = [lambda: reader.create_model_version(MODEL, champion.source, champion.run_id),
              lambda: reader.set_registered_model_alias(MODEL, "reviewed", champion.version),
              lambda: reader.create_registered_model("reader-own-model"),
              lambda: reader.create_run(exp.experiment_id)]
    for call in denied:
        with pytest.raises(MlflowException) as err:
            call()
        assert err.value.error_code == "PERMISSION_DENIED"
    admin = as_user("ADMIN")
    admin.set_registered_model_alias(MODEL, "reviewed", champion.version)
    assert admin.get_model_version_by_alias(MODEL, "reviewed").version == champion.version


@pytest.mark.slow  # ~75 s: a second server start; the server path itself stays in make test
def test_server_down_fails_fast_naming_the_uri_then_rerun_succeeds(pipeline, as_user):
    before = server_status(pipeline)
    assert before["healthy"] and before["mlflow_pid"] and before["postgres_pid"]
    mlgate(pipeline, "server", "stop")
    after = server_status(pipeline)
    assert not after["healthy"] and after["mlflow_pid"] is None and after["postgres_pid"] is None
    down = pipeline.run(str(BIN / "python"), "stages/score.py", check=False)
    assert down.returncode != 0
    assert before["uri"] in down.stderr and "make server" in down.stderr, down.stderr[-2000:]
    mlgate(pipeline, "server", "start")
    pipeline.run(str(BIN / "python"), "stages/score.py")  # champion fetched via the proxy
    run_id = json.loads((pipeline.path / "models/run.json").read_text())["run_id"]
    history = as_user("ADMIN").get_metric_history(run_id, "score_n_rows")
    assert len(history) >= 2, "the rerun logged to the restarted server, whose data persisted"
