"""Shared tracking: credentials from .env, the fail-fast health check, server settings."""

from __future__ import annotations

import http.server
import os
import stat
import threading
from pathlib import Path

import pytest

from mlgate.adapters.serving import free_port
from mlgate.adapters.tracking import (
    TrackingServerError,
    check_server,
    configure,
    load_credentials,
    parse_dotenv,
    tracking_uri,
)
from mlgate.admin.server import (
    auth_ini,
    database_sql,
    ensure_dotenv,
    missing_secrets,
    mlflow_server_cmd,
    pg_uri,
    server_env,
)
from mlgate.base.errors import ConfigError
from tests.defaults import server_config

TRACKING = {"uri": "http://127.0.0.1:5050", "artifact_root": None, "experiment": "mlgate",
            "server": {"postgres_port": 5433, "data_dir": ".mlgate/server", "database": "mlflow",
                       "auth": True, "workers": 2}}


def test_parse_dotenv_skips_comments_and_strips_quotes():
    text = "# c\n\nexport A=1\nB = 'two words'\nC=\"x=y\"\nnot a pair\n"
    assert parse_dotenv(text) == {"A": "1", "B": "two words", "C": "x=y"}


def test_credentials_come_from_dotenv_at_dvc_root_and_env_wins(tmp_path, monkeypatch):
    (tmp_path / ".env").write_text("MLFLOW_TRACKING_USERNAME=alice\n"
                                   "MLFLOW_TRACKING_PASSWORD=from-file\nOTHER=x\n")
    monkeypatch.chdir(tmp_path.parent)  # a queued experiment runs elsewhere, DVC_ROOT says where
    monkeypatch.setenv("DVC_ROOT", str(tmp_path))
    monkeypatch.setenv("MLFLOW_TRACKING_USERNAME", "")  # restored (unset) after the test
    monkeypatch.setenv("MLFLOW_TRACKING_PASSWORD", "from-env")
    assert load_credentials() == ["MLFLOW_TRACKING_USERNAME"]
    assert os.environ["MLFLOW_TRACKING_USERNAME"] == "alice"
    assert os.environ["MLFLOW_TRACKING_PASSWORD"] == "from-env"
    assert "OTHER" not in os.environ


class _Health(http.server.BaseHTTPRequestHandler):
    status = 200

    def do_GET(self):
        self.send_response(self.status if self.path == "/health" else 404)
        self.end_headers()
        self.wfile.write(b"OK")

    def log_message(self, *args):
        pass


@pytest.fixture
def health_server():
    """A real HTTP server on 127.0.0.1 answering /health with `status` (stopped at the end)."""
    servers = []

    def start(status: int) -> str:
        handler = type("Handler", (_Health,), {"status": status})
        server = http.server.HTTPServer(("127.0.0.1", 0), handler)
        threading.Thread(target=server.serve_forever, daemon=True).start()
        servers.append(server)
        return f"http://127.0.0.1:{server.server_address[1]}"

    yield start
    for server in servers:
        server.shutdown()
        server.server_close()


def test_health_check_passes_when_the_server_answers(health_server):
    check_server(health_server(200))


def test_health_check_names_the_uri_when_nothing_listens():
    uri = f"http://127.0.0.1:{free_port()}"
    with pytest.raises(TrackingServerError, match="make server") as err:
        check_server(uri)
    assert uri in str(err.value)


def test_health_check_fails_on_a_server_error(health_server):
    uri = health_server(503)
    with pytest.raises(TrackingServerError, match="HTTP 503") as err:
        check_server(uri)
    assert uri in str(err.value)


def test_configure_fails_fast_on_a_down_server(monkeypatch, tmp_path):
    uri = f"http://127.0.0.1:{free_port()}"
    monkeypatch.setenv("DVC_ROOT", str(tmp_path))
    monkeypatch.setenv("MLFLOW_TRACKING_URI", uri)
    with pytest.raises(TrackingServerError, match=uri.replace(".", r"\.")):
        configure(TRACKING)


def test_tracking_section_may_hold_server_settings(monkeypatch):
    monkeypatch.delenv("MLFLOW_TRACKING_URI", raising=False)
    assert tracking_uri(TRACKING) == "http://127.0.0.1:5050"


def test_secrets_generated_once_and_private(tmp_path, monkeypatch):
    for name in ("MLGATE_ADMIN_PASSWORD", "MLFLOW_TRACKING_USERNAME", "MLFLOW_TRACKING_PASSWORD"):
        monkeypatch.delenv(name, raising=False)
    (tmp_path / ".env").write_text("KEEP=1\nMLGATE_READER_USERNAME=viewer")
    first = ensure_dotenv(tmp_path)
    assert first["KEEP"] == "1" and first["MLGATE_READER_USERNAME"] == "viewer"
    assert first["MLFLOW_TRACKING_USERNAME"] == first["MLGATE_ADMIN_USERNAME"] == "admin"
    assert first["MLFLOW_TRACKING_PASSWORD"] == first["MLGATE_ADMIN_PASSWORD"]
    assert len(first["MLGATE_PG_PASSWORD"]) >= 24
    assert stat.S_IMODE((tmp_path / ".env").stat().st_mode) == 0o600
    assert ensure_dotenv(tmp_path) == first, "a second start keeps the same secrets"


def test_own_tracking_identity_is_never_replaced():
    new = missing_secrets({"MLFLOW_TRACKING_USERNAME": "me", "MLFLOW_TRACKING_PASSWORD": "pw"})
    assert "MLFLOW_TRACKING_USERNAME" not in new and "MLFLOW_TRACKING_PASSWORD" not in new


def test_server_config_anchors_paths_and_rejects_remote_or_unknown(tmp_path):
    cfg = server_config(TRACKING, tmp_path)
    assert cfg.port == 5050 and cfg.data_dir == (tmp_path / ".mlgate/server").resolve()
    with pytest.raises(ConfigError, match="127.0.0.1"):
        server_config({**TRACKING, "uri": "https://mlflow.example.org"}, tmp_path)
    with pytest.raises(ConfigError, match="tracking.server.colour"):
        server_config({**TRACKING, "server": {"colour": 1}}, tmp_path)
    with pytest.raises(ConfigError, match="tracking.server.database"):
        server_config({**TRACKING, "server": {"database": "x; drop"}}, tmp_path)
    with pytest.raises(ConfigError, match="tracking.server.postgres_port"):
        server_config({**TRACKING, "server": {"postgres_port": "5433"}}, tmp_path)
    for key, bad in (("postgres_port", 70000), ("workers", 0), ("start_timeout", -1)):
        with pytest.raises(ConfigError, match=f"tracking.server.{key}"):
            server_config({**TRACKING, "server": {key: bad}}, tmp_path)


def test_no_secret_on_the_command_line_or_in_files(tmp_path):
    cfg = server_config(TRACKING, tmp_path)
    values = {"MLGATE_PG_PASSWORD": "pg-Xyzzy-123", "MLGATE_ADMIN_USERNAME": "admin",
              "MLGATE_ADMIN_PASSWORD": "admin-Xyzzy-123", "MLGATE_SERVER_SECRET_KEY": "k"}
    cmd = mlflow_server_cmd(cfg)
    assert cmd[cmd.index("--host") + 1] == "127.0.0.1" and "basic-auth" in cmd
    assert cmd[cmd.index("--artifacts-destination") + 1] == str(cfg.artifacts_dir)
    text = " ".join(cmd) + auth_ini(cfg) + pg_uri(cfg, "mlflow")
    assert "Xyzzy" not in text
    env = server_env(cfg, values)
    assert env["PGPASSWORD"] == "pg-Xyzzy-123"
    assert env["MLFLOW_AUTH_ADMIN_PASSWORD"] == "admin-Xyzzy-123"
    no_auth = server_config({**TRACKING, "server": {"auth": False}}, tmp_path)
    assert "basic-auth" not in mlflow_server_cmd(no_auth)


def test_database_sql_quotes_the_password_and_creates_what_is_missing():
    sql = database_sql("mlflow", ["mlflow", "mlflow_auth"], "it's")
    assert "PASSWORD 'it''s'" in sql
    assert sql.count("CREATE DATABASE") == 2 and "WHERE NOT EXISTS" in sql
    with pytest.raises(ConfigError):
        database_sql("mlflow", ["bad-name"], "x")


def test_relative_pg_dir_is_under_the_repository(tmp_path):
    cfg = server_config(TRACKING, tmp_path)
    assert cfg.pg_data.is_relative_to(tmp_path.resolve()) and cfg.pg_data.name == "data"
    assert Path(cfg.state_path).name == "server.json"
