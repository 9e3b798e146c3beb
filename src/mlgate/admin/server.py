"""The shared tracking server: PostgreSQL + `mlflow server` with proxied artifacts, on loopback.

`start` installs PostgreSQL when missing (Debian's package), runs a project-local cluster as the
`postgres` user, creates the role and databases, starts `mlflow server` (optionally its
basic-auth app with an admin and a read-only user), health-checks it and records both pids;
`stop` stops them by pid. Secrets live in `.env` at the repository root (git-ignored),
generated once; `conf/` holds only ports, directories and switches.
"""

from __future__ import annotations

import base64
import glob
import importlib.util
import json
import logging
import os
import pwd
import re
import secrets
import shlex
import signal
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.parse
import urllib.request
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import mlflow

from mlgate.adapters.compose import compose
from mlgate.adapters.serving import ModelServer, mlflow_command, wait_healthy
from mlgate.adapters.tracking import DOTENV, check_server, connect, create_experiment, read_dotenv
from mlgate.base.errors import ConfigError, MlgateError
from mlgate.base.files import write_text_atomic
from mlgate.base.io import read_json, write_atomic, write_json
from mlgate.base.params import check_number, check_section
from mlgate.base.processes import alive, command_line, escalate, group_pids, stop_group

log = logging.getLogger(__name__)

HOST = "127.0.0.1"
LOOPBACK = ("127.0.0.1", "localhost")
SERVER_KEYS = {"postgres_port", "data_dir", "pg_dir", "artifacts_dir", "database", "auth",
               "workers", "start_timeout"}
IDENTIFIER = re.compile(r"^[a-z_][a-z0-9_]{0,50}$")
PG_INITDB_GLOB = "/usr/lib/postgresql/*/bin/initdb"
STATE_FILE = "server.json"
STOP_TIMEOUT_S = 30.0
GENERATED = ("MLGATE_PG_PASSWORD", "MLGATE_ADMIN_PASSWORD", "MLGATE_READER_PASSWORD",
             "MLGATE_SERVER_SECRET_KEY")
USER_NAMES = {"MLGATE_ADMIN_USERNAME": "admin", "MLGATE_READER_USERNAME": "reader"}


# ---- configuration -------------------------------------------------------------------------

@dataclass(frozen=True)
class ServerConfig:
    """Where and how the shared server runs (from `tracking.server`, paths absolute)."""

    uri: str
    port: int
    postgres_port: int
    data_dir: Path
    pg_dir: Path
    artifacts_dir: Path
    database: str
    auth: bool
    workers: int
    start_timeout: float
    experiment: str

    @classmethod
    def from_params(cls, tracking: dict[str, Any], root: Path) -> ServerConfig:
        """Validate `tracking` (uri + `server:` block) and anchor relative paths at `root`."""
        tracking = check_section(tracking, "tracking", {"uri", "experiment"},
                                 {"artifact_root", "server"})
        server = tracking.get("server")
        if not isinstance(server, dict):
            raise ConfigError("tracking.server: missing; select the group with tracking=server")
        server = check_section(server, "tracking.server", SERVER_KEYS)
        database = str(server["database"])
        if not IDENTIFIER.match(database):
            raise ConfigError(f"tracking.server.database {database!r}: use lower-case letters, "
                              "digits and underscores")
        uri = str(tracking["uri"] or "")
        return cls(uri=uri, port=loopback_port(uri),
                   postgres_port=check_number(server["postgres_port"],
                                              "tracking.server.postgres_port", low=1,
                                              high=65535, integer=True),
                   data_dir=_path(server, "data_dir", root),
                   pg_dir=_path(server, "pg_dir", root),
                   artifacts_dir=_path(server, "artifacts_dir", root),
                   database=database, auth=bool(server["auth"]),
                   workers=check_number(server["workers"], "tracking.server.workers",
                                        low=1, integer=True),
                   start_timeout=float(check_number(server["start_timeout"],
                                                    "tracking.server.start_timeout", low=0,
                                                    open_low=True)),
                   experiment=str(tracking["experiment"]))

    @property
    def state_path(self) -> Path:
        """The JSON file recording the pids of the running server."""
        return self.data_dir / STATE_FILE

    @property
    def pg_data(self) -> Path:
        """The PostgreSQL cluster directory."""
        return self.pg_dir / "data"

    @property
    def pg_socket_dir(self) -> Path:
        """The directory of PostgreSQL's unix socket (private to its owner)."""
        return self.pg_dir / "run"

    @property
    def auth_database(self) -> str:
        """The database of MLflow's basic-auth users and permissions."""
        return f"{self.database}_auth"


def _path(section: dict[str, Any], key: str, root: Path) -> Path:
    """A directory key of `tracking.server`, anchored at the repository root when relative."""
    if not section[key]:
        raise ConfigError(f"`tracking.server.{key}` must name a directory, got {section[key]!r}")
    path = Path(str(section[key]))
    return (path if path.is_absolute() else root / path).resolve()


def loopback_port(uri: str) -> int:
    """The port of an http://127.0.0.1:PORT URI; ConfigError for anything this can't start."""
    parts = urllib.parse.urlsplit(uri)
    if parts.scheme != "http" or parts.hostname not in LOOPBACK or not parts.port:
        raise ConfigError(f"tracking.uri {uri!r}: `mlgate server start` starts a server on "
                          "http://127.0.0.1:<port> only; a remote server is run by its owner "
                          "(point tracking.uri at it and skip `make server`)")
    return parts.port


def load_config(root: Path, option: str = "server") -> ServerConfig:
    """Compose conf/ with `tracking=<option>` (as `dvc exp run -S` does) into a ServerConfig."""
    return ServerConfig.from_params(compose(root, [f"tracking={option}"])["tracking"], root)


# ---- secrets (.env) ------------------------------------------------------------------------

def missing_secrets(existing: dict[str, str]) -> dict[str, str]:
    """The .env entries to add: default user names and generated secrets not yet present."""
    new = {k: v for k, v in USER_NAMES.items() if not existing.get(k)}
    new.update({k: secrets.token_urlsafe(24) for k in GENERATED if not existing.get(k)})
    merged = {**existing, **new}
    if not existing.get("MLFLOW_TRACKING_USERNAME") and not existing.get(
            "MLFLOW_TRACKING_PASSWORD"):  # the pipeline's identity: the admin
        new["MLFLOW_TRACKING_USERNAME"] = merged["MLGATE_ADMIN_USERNAME"]
        new["MLFLOW_TRACKING_PASSWORD"] = merged["MLGATE_ADMIN_PASSWORD"]
    return new


def ensure_dotenv(root: Path) -> dict[str, str]:
    """Add missing secrets to `<root>/.env` (mode 600); return its values, environment first."""
    path = root / DOTENV
    existing = read_dotenv(root)
    new = missing_secrets(existing)
    if new:
        text = path.read_text(encoding="utf-8") if path.exists() else ""
        text += ("" if not text or text.endswith("\n") else "\n")
        text += "# mlgate tracking server secrets (generated; never commit)\n"
        text += "".join(f"{k}={v}\n" for k, v in new.items())
        write_text_atomic(path, text, mode=0o600)  # never readable by others
        log.info("wrote %s to %s", ", ".join(new), path)
    values = {**existing, **new}
    return {k: os.environ.get(k) or v for k, v in values.items()}


def stop_postgres_pid(pid: int, timeout: float = STOP_TIMEOUT_S) -> bool:
    """Fast shutdown (SIGINT) of the postmaster `pid`, then SIGQUIT, then SIGKILL."""
    return escalate(lambda sig: os.kill(pid, sig),
                     (signal.SIGINT, signal.SIGQUIT, signal.SIGKILL),
                     lambda: not alive(pid), timeout)


def port_in_use(port: int) -> bool:
    """True when something accepts connections on 127.0.0.1:`port`."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.settimeout(1.0)
        return sock.connect_ex((HOST, port)) == 0


def run(cmd: list[str], what: str, stdin: str | None = None,
        env: dict[str, str] | None = None) -> str:
    """Run a setup command; MlgateError naming `what` with its output when it fails."""
    try:
        proc = subprocess.run(cmd, input=stdin, capture_output=True, text=True, env=env,
                              timeout=900, check=False)
    except (OSError, subprocess.TimeoutExpired) as exc:
        raise MlgateError(f"{what} failed: {exc}") from exc
    if proc.returncode != 0:
        tail = "\n".join((proc.stdout + proc.stderr).strip().splitlines()[-15:])
        raise MlgateError(f"{what} failed (exit {proc.returncode}): {shlex.join(cmd)}\n{tail}")
    return proc.stdout


# ---- PostgreSQL ----------------------------------------------------------------------------

def pg_bin_dir() -> Path | None:
    """The bin directory of the newest Debian PostgreSQL install, if any."""
    found = [Path(p).parent for p in glob.glob(PG_INITDB_GLOB)]
    versions = [(int(d.parent.name) if d.parent.name.isdigit() else 0, d) for d in found]
    return max(versions)[1] if versions else None


def install_postgres() -> Path:
    """Debian's `postgresql` package (apt-get install when missing); its bin directory."""
    found = pg_bin_dir()
    if found:
        return found
    if os.geteuid() != 0:
        raise MlgateError("PostgreSQL is not installed (no /usr/lib/postgresql/*/bin/initdb): "
                          "run `sudo apt-get install -y postgresql`, then retry")
    env = {**os.environ, "DEBIAN_FRONTEND": "noninteractive"}
    log.info("installing PostgreSQL: apt-get install -y postgresql")
    try:
        run(["apt-get", "install", "-y", "-q", "postgresql"], "apt-get install", env=env)
    except MlgateError:
        run(["apt-get", "update", "-q"], "apt-get update", env=env)
        run(["apt-get", "install", "-y", "-q", "postgresql"], "apt-get install", env=env)
    found = pg_bin_dir()
    if not found:
        raise MlgateError(f"apt-get installed postgresql but {PG_INITDB_GLOB} is missing")
    return found


def as_postgres(cmd: list[str]) -> list[str]:
    """Run `cmd` as the `postgres` user when we are root (PostgreSQL refuses to run as root)."""
    return ["runuser", "-u", "postgres", "--", *cmd] if os.geteuid() == 0 else cmd


def prepare_pg_dir(cfg: ServerConfig) -> None:
    """Create the cluster's directories, owned by the user PostgreSQL runs as, mode 700."""
    for path in (cfg.pg_dir, cfg.pg_socket_dir):
        path.mkdir(parents=True, exist_ok=True)
        path.chmod(0o700)
        if os.geteuid() == 0:
            user = pwd.getpwnam("postgres")
            os.chown(path, user.pw_uid, user.pw_gid)
    if subprocess.run(as_postgres(["test", "-w", str(cfg.pg_dir)]), check=False).returncode:
        raise MlgateError(f"the `postgres` user cannot write {cfg.pg_dir} (a parent directory "
                          "is private): set tracking.server.pg_dir in conf/tracking/server.yaml "
                          "to a directory it can reach")


def init_cluster(bin_dir: Path, cfg: ServerConfig) -> None:
    """initdb the project's cluster once: unix socket trusted (private dir), TCP by password."""
    if (cfg.pg_data / "PG_VERSION").exists():
        return
    log.info("creating PostgreSQL cluster in %s", cfg.pg_data)
    run(as_postgres([str(bin_dir / "initdb"), "-D", str(cfg.pg_data), "-U", "postgres",
                     "--auth-local=trust", "--auth-host=scram-sha-256", "-E", "UTF8",
                     "--no-locale"]), "initdb")


def postmaster_pid(cfg: ServerConfig) -> int | None:
    """The pid of the cluster's running postmaster (from postmaster.pid), else None."""
    try:
        pid = int((cfg.pg_data / "postmaster.pid").read_text().split()[0])
    except (OSError, ValueError, IndexError):
        return None
    return pid if alive(pid) and "postgres" in command_line(pid) else None


def start_postgres(bin_dir: Path, cfg: ServerConfig) -> int:
    """Start the cluster on 127.0.0.1:postgres_port (pg_ctl -w waits until it accepts)."""
    running = postmaster_pid(cfg)
    if running:
        return running
    if port_in_use(cfg.postgres_port):
        raise MlgateError(f"port {cfg.postgres_port} on {HOST} is in use: set "
                          "tracking.server.postgres_port in conf/tracking/server.yaml")
    options = (f"-p {cfg.postgres_port} -c listen_addresses={HOST} "
               f"-k {shlex.quote(str(cfg.pg_socket_dir))}")
    run(as_postgres([str(bin_dir / "pg_ctl"), "-D", str(cfg.pg_data), "-l",
                     str(cfg.pg_dir / "postgres.log"), "-w", "-t", "120", "-o", options,
                     "start"]), "pg_ctl start")
    pid = postmaster_pid(cfg)
    if not pid:
        raise MlgateError(f"PostgreSQL did not start: see {cfg.pg_dir / 'postgres.log'}")
    return pid


def sql_literal(text: str) -> str:
    """A SQL string literal (standard_conforming_strings: only quotes are doubled)."""
    return "'" + text.replace("'", "''") + "'"


def database_sql(role: str, databases: list[str], password: str) -> str:
    """psql script: the login role (password set) and its databases, created when missing."""
    for name in (role, *databases):
        if not IDENTIFIER.match(name):
            raise ConfigError(f"tracking.server.database: {name!r} is not a plain identifier")
    lines = [f"SELECT 'CREATE ROLE {role} LOGIN' WHERE NOT EXISTS "
             f"(SELECT FROM pg_roles WHERE rolname = '{role}')\\gexec",
             f"ALTER ROLE {role} LOGIN PASSWORD {sql_literal(password)};"]
    lines += [f"SELECT 'CREATE DATABASE {db} OWNER {role}' WHERE NOT EXISTS "
              f"(SELECT FROM pg_database WHERE datname = '{db}')\\gexec" for db in databases]
    return "\n".join(lines) + "\n"


def setup_database(bin_dir: Path, cfg: ServerConfig, password: str) -> None:
    """Create the MLflow role and databases through the private unix socket (SQL on stdin)."""
    dbs = [cfg.database, *([cfg.auth_database] if cfg.auth else [])]
    run(as_postgres([str(bin_dir / "psql"), "-X", "-q", "-v", "ON_ERROR_STOP=1", "-h",
                     str(cfg.pg_socket_dir), "-p", str(cfg.postgres_port), "-U", "postgres",
                     "-d", "postgres"]), "creating the MLflow database",
        stdin=database_sql(cfg.database, dbs, password))


def pg_uri(cfg: ServerConfig, database: str) -> str:
    """SQLAlchemy URI of `database` on the local cluster (the password comes from PGPASSWORD)."""
    return f"postgresql+psycopg2://{cfg.database}@{HOST}:{cfg.postgres_port}/{database}"


# ---- MLflow --------------------------------------------------------------------------------

def check_python_deps(auth: bool) -> None:
    """MlgateError naming the packages `mlflow server` needs here and are not installed."""
    needed = {"psycopg2": "psycopg2-binary", **({"flask_wtf": "Flask-WTF<2"} if auth else {})}
    missing = [pkg for module, pkg in needed.items() if importlib.util.find_spec(module) is None]
    if missing:
        raise MlgateError(f"the tracking server needs {', '.join(missing)}: "
                          f"{sys.executable} -m pip install {shlex.join(missing)}")


def auth_ini(cfg: ServerConfig) -> str:
    """MLflow basic-auth config: users in PostgreSQL; a user without grants may only read.

    With workspaces on, `grant_default_workspace_access` gives such users `default_permission`
    (READ) in the default workspace, and READ lacks the right to create experiments or models.
    The admin name and password come from the environment (MLFLOW_AUTH_ADMIN_*), never a file.
    """
    return ("[mlflow]\n"
            "default_permission = READ\n"
            f"database_uri = {pg_uri(cfg, cfg.auth_database)}\n"
            "authorization_function = mlflow.server.auth:authenticate_request_basic_auth\n"
            "grant_default_workspace_access = true\n"
            "auth_cache_ttl_seconds = 60\n")


def mlflow_server_cmd(cfg: ServerConfig) -> list[str]:
    """`mlflow server` on PostgreSQL with proxied artifacts, on 127.0.0.1 only.

    With auth: the basic-auth app, and workspaces (all in `default`) so that read-only users
    cannot create experiments or registered models of their own either.
    """
    cmd = [*mlflow_command(), "server", "--backend-store-uri", pg_uri(cfg, cfg.database),
           "--serve-artifacts", "--artifacts-destination", str(cfg.artifacts_dir),
           "--host", HOST, "--port", str(cfg.port), "--workers", str(cfg.workers)]
    return [*cmd, "--app-name", "basic-auth", "--enable-workspaces"] if cfg.auth else cmd


def server_env(cfg: ServerConfig, values: dict[str, str]) -> dict[str, str]:
    """The server's environment: venv on PATH, database password, basic-auth bootstrap."""
    env = {k: v for k, v in os.environ.items() if not k.startswith(("MLFLOW_", "DVC_"))}
    env.update(PATH=f"{Path(sys.executable).parent}{os.pathsep}{env.get('PATH', '')}",
               PGPASSWORD=values["MLGATE_PG_PASSWORD"], MLFLOW_DISABLE_TELEMETRY="true")
    if cfg.auth:
        env.update(MLFLOW_AUTH_CONFIG_PATH=str(cfg.data_dir / "basic_auth.ini"),
                   MLFLOW_AUTH_ADMIN_USERNAME=values["MLGATE_ADMIN_USERNAME"],
                   MLFLOW_AUTH_ADMIN_PASSWORD=values["MLGATE_ADMIN_PASSWORD"],
                   MLFLOW_FLASK_SERVER_SECRET_KEY=values["MLGATE_SERVER_SECRET_KEY"])
    return env


def start_mlflow(cfg: ServerConfig, values: dict[str, str]) -> ModelServer:
    """Start `mlflow server` in its own process group, logging to data_dir; wait for /health."""
    if port_in_use(cfg.port):
        raise MlgateError(f"port {cfg.port} on {HOST} is in use: change the port of "
                          "tracking.uri in conf/tracking/server.yaml")
    cfg.artifacts_dir.mkdir(parents=True, exist_ok=True)
    if cfg.auth:
        write_atomic(cfg.data_dir / "basic_auth.ini",
                     lambda tmp: tmp.write_text(auth_ini(cfg), encoding="utf-8"))
    log_path = cfg.data_dir / "mlflow.log"
    with log_path.open("a", encoding="utf-8") as out:
        out.write(f"--- mlgate server start {time.strftime('%Y-%m-%d %H:%M:%S')}\n")
        out.flush()
        process = subprocess.Popen(mlflow_server_cmd(cfg), env=server_env(cfg, values),
                                   stdout=out, stderr=subprocess.STDOUT,
                                   stdin=subprocess.DEVNULL, start_new_session=True)
    server = ModelServer(process, cfg.uri.rstrip("/"), log_path, "mlflow server")
    try:
        wait_healthy(server, cfg.start_timeout, "/health")
    except BaseException:
        stop_group(process.pid, STOP_TIMEOUT_S)
        process.wait(timeout=STOP_TIMEOUT_S)
        raise
    return server


def _api(cfg: ServerConfig, path: str, body: dict[str, Any], user: str, password: str,
         method: str = "POST") -> tuple[int, dict[str, Any]]:
    """Call the server's REST API with basic auth; (status, JSON body)."""
    token = base64.b64encode(f"{user}:{password}".encode()).decode()
    request = urllib.request.Request(
        f"{cfg.uri.rstrip('/')}/api/2.0/mlflow/{path}", data=json.dumps(body).encode(),
        method=method, headers={"Authorization": f"Basic {token}",
                                "Content-Type": "application/json"})
    try:
        with urllib.request.urlopen(request, timeout=30) as resp:
            return resp.status, _json(resp.read())
    except urllib.error.HTTPError as exc:
        return exc.code, _json(exc.read())


def _json(body: bytes) -> dict[str, Any]:
    """A JSON response body, or {"message": text} when it is not JSON."""
    try:
        return json.loads(body or b"{}")
    except ValueError:
        return {"message": body.decode(errors="replace").strip()[:300]}


def ensure_reader(cfg: ServerConfig, values: dict[str, str]) -> None:
    """Create the read-only user (default permission READ), or reset its password from .env."""
    admin = (values["MLGATE_ADMIN_USERNAME"], values["MLGATE_ADMIN_PASSWORD"])
    user = {"username": values["MLGATE_READER_USERNAME"],
            "password": values["MLGATE_READER_PASSWORD"]}
    status, body = _api(cfg, "users/create", user, *admin)
    if status == 400 and body.get("error_code") == "RESOURCE_ALREADY_EXISTS":
        status, body = _api(cfg, "users/update-password", user, *admin, method="PATCH")
    if status == 401:
        raise MlgateError(f"{cfg.uri} refused admin {admin[0]!r} with the password in .env: the "
                          f"server's users (database {cfg.auth_database}) were created with "
                          "other credentials; restore .env, or `mlgate server stop` and delete "
                          f"{cfg.pg_dir} to start afresh")
    if status != 200:
        raise MlgateError(f"creating the read-only user {user['username']!r} on {cfg.uri} "
                          f"failed (HTTP {status}): {body.get('message', body)}")


def ensure_experiment(cfg: ServerConfig, root: Path) -> str:
    """Create the experiment once, before parallel workers race to (artifacts: the proxy)."""
    connect(cfg.uri, root)
    exp = mlflow.get_experiment_by_name(cfg.experiment)
    return exp.experiment_id if exp else create_experiment(cfg.experiment, None)


# ---- start / stop / status -----------------------------------------------------------------

def read_state(cfg: ServerConfig) -> dict[str, Any]:
    """The recorded pids and settings ({} when nothing was started)."""
    return read_json(cfg.state_path) if cfg.state_path.exists() else {}


def status(cfg: ServerConfig) -> dict[str, Any]:
    """What runs: pids (when alive), the URI and whether it answers /health."""
    state = read_state(cfg)
    mlflow_pid = state.get("mlflow_pid")
    healthy = True
    try:
        check_server(cfg.uri)
    except MlgateError:
        healthy = False
    return {"uri": cfg.uri, "healthy": healthy,
            "mlflow_pid": mlflow_pid if mlflow_pid and group_pids(mlflow_pid) else None,
            "postgres_pid": postmaster_pid(cfg), "postgres_port": cfg.postgres_port,
            "artifacts_dir": str(cfg.artifacts_dir), "auth": cfg.auth,
            "log": str(cfg.data_dir / "mlflow.log")}


def start(cfg: ServerConfig, root: Path) -> dict[str, Any]:
    """Start PostgreSQL and the MLflow server (when not already running); return the status."""
    current = status(cfg)
    if current["healthy"] and current["mlflow_pid"] and current["postgres_pid"]:
        log.info("tracking server already running at %s", cfg.uri)
        return current
    check_python_deps(cfg.auth)
    values = ensure_dotenv(root)
    cfg.data_dir.mkdir(parents=True, exist_ok=True)
    if current["mlflow_pid"]:  # running but unhealthy: restart it
        stop_group(current["mlflow_pid"], STOP_TIMEOUT_S)
    state = {"uri": cfg.uri, "postgres_pid": start_database(cfg, values)}
    write_json(cfg.state_path, state)
    try:
        state["mlflow_pid"] = start_mlflow(cfg, values).pid
        write_json(cfg.state_path, state)
        if cfg.auth:
            ensure_reader(cfg, values)
        ensure_experiment(cfg, root)
    except BaseException:
        stop(cfg)
        raise
    log.info("tracking server at %s (mlflow pid %d, postgres pid %d)", cfg.uri,
             state["mlflow_pid"], state["postgres_pid"])
    return status(cfg)


def start_database(cfg: ServerConfig, values: dict[str, str]) -> int:
    """Install, initialise and start PostgreSQL, create the MLflow role and databases; its pid."""
    bin_dir = install_postgres()
    prepare_pg_dir(cfg)
    init_cluster(bin_dir, cfg)
    pid = start_postgres(bin_dir, cfg)
    try:
        setup_database(bin_dir, cfg, values["MLGATE_PG_PASSWORD"])
    except BaseException:
        stop_postgres_pid(pid)
        raise
    return pid


def stop(cfg: ServerConfig) -> list[str]:
    """Stop the MLflow server (its process group) and PostgreSQL by pid; what was stopped."""
    state, stopped = read_state(cfg), []
    mlflow_pid = state.get("mlflow_pid")
    if mlflow_pid and any("mlflow" in command_line(p) for p in group_pids(mlflow_pid)):
        if not stop_group(mlflow_pid, STOP_TIMEOUT_S):
            raise MlgateError(f"mlflow server (process group {mlflow_pid}) did not stop")
        stopped.append(f"mlflow server (pid {mlflow_pid})")
    pg_pid = postmaster_pid(cfg)
    if pg_pid:
        if not stop_postgres_pid(pg_pid):
            raise MlgateError(f"PostgreSQL (pid {pg_pid}) did not stop")
        stopped.append(f"PostgreSQL (pid {pg_pid})")
    cfg.state_path.unlink(missing_ok=True)
    return stopped
