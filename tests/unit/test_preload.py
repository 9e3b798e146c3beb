"""The preloading fork server and its launcher (the dvc.yaml cmd), as real processes.

Each test gets its own runtime directory (so its own servers) and a light preload list, except
the one that checks the real list; every server a test starts is stopped by its pid.
"""

from __future__ import annotations

import json
import os
import shutil
import signal
import subprocess
import sys
import tempfile
import textwrap
import time
from pathlib import Path

import pytest

from mlgate.base.processes import alive
from mlgate.supervise import preload

PYTHON = sys.executable


@pytest.fixture
def env() -> dict[str, str]:
    """A private runtime dir (short path: socket names are limited to 107 bytes)."""
    rundir = tempfile.mkdtemp(prefix="mlgpl-", dir="/tmp")
    env = {k: v for k, v in os.environ.items() if not k.startswith(("MLGATE_", "PYTEST_"))}
    env.update(XDG_RUNTIME_DIR=rundir, MLGATE_PRELOAD_MODULES="json")
    yield env
    for pid in server_pids(env):
        os.kill(pid, signal.SIGKILL)
    shutil.rmtree(rundir)


@pytest.fixture
def server(env) -> dict[str, str]:
    """`env` with its server started and listening (`python -m mlgate.supervise.preload start`)."""
    start(env)
    return env


def start(env: dict[str, str]) -> None:
    subprocess.run([PYTHON, "-m", "mlgate.supervise.preload", "start"], env=env, check=True,
                   timeout=180, capture_output=True)


def server_pids(env: dict[str, str]) -> list[int]:
    """Pids in the live servers' pidfiles of this runtime dir."""
    pids = []
    for pidfile in Path(env["XDG_RUNTIME_DIR"]).glob("mlgate-preload-*/*.pid"):
        pid = json.loads(pidfile.read_text())["pid"]
        if alive(pid):
            pids.append(pid)
    return pids


def script(tmp_path: Path, body: str) -> Path:
    path = tmp_path / "job.py"
    path.write_text(textwrap.dedent(body))
    return path


def launch(path: Path, *args: str, env: dict, **kw) -> subprocess.Popen:
    return subprocess.Popen([PYTHON, "-m", "mlgate.supervise.launch", str(path), *args], env=env,
                            cwd=path.parent, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                            text=True, **kw)


def wait_for(check, timeout: float = 30.0) -> None:
    deadline = time.monotonic() + timeout
    while not check():
        assert time.monotonic() < deadline, "timed out"
        time.sleep(0.05)


REPORT = """
    import json, os, sys
    print(json.dumps({"argv": sys.argv, "cwd": os.getcwd(), "foo": os.environ.get("FOO"),
                      "umask": os.umask(0o22), "stdin": sys.stdin.read(), "pid": os.getpid(),
                      "pgid": os.getpgid(0), "mlgate": [m for m in sys.modules
                                                        if m.startswith("mlgate")],
                      "path0": sys.path[0], "main": sys.modules["__main__"].__file__}))
    print("to stderr", file=sys.stderr)
    sys.exit(int(sys.argv[1]))
"""


def test_a_stage_runs_in_a_forked_child_with_the_callers_state(tmp_path, server):
    path = script(tmp_path, REPORT)
    proc = launch(path, "3", env={**server, "FOO": "bar"}, stdin=subprocess.PIPE, umask=0o077)
    out, err = proc.communicate("piped in", timeout=60)
    assert proc.returncode == 3, err
    seen = json.loads(out)
    assert seen["argv"] == [str(path), "3"] and seen["cwd"] == str(tmp_path)
    assert seen["foo"] == "bar" and seen["stdin"] == "piped in" and "to stderr" in err
    assert seen["umask"] == 0o077  # the caller's
    assert seen["pid"] != proc.pid and seen["pgid"] == seen["pid"]  # its own process group
    assert seen["mlgate"] == [], "mlgate modules must be imported fresh by the stage"
    assert seen["path0"] == str(tmp_path) and seen["main"] == str(path)
    assert len(server_pids(server)) == 1


def test_the_first_stage_starts_the_server_and_later_ones_reuse_it(tmp_path, env):
    path = script(tmp_path, REPORT)
    first = launch(path, "0", env={**env, "FOO": "one"})
    seen = json.loads(first.communicate(timeout=60)[0])
    assert seen["foo"] == "one" and seen["pid"] != first.pid  # forked while it preloads
    pids = server_pids(env)
    second = launch(path, "0", env={**env, "FOO": "two"})
    seen = json.loads(second.communicate(timeout=60)[0])
    assert seen["foo"] == "two" and seen["pid"] != second.pid
    assert server_pids(env) == pids and len(pids) == 1


@pytest.mark.parametrize(("body", "code", "message"), [
    ("raise ValueError('bad value in job')", 1, "ValueError: bad value in job"),
    ("import sys; sys.exit('stopped: reason')", 1, "stopped: reason"),
    ("import os; os.kill(os.getpid(), 9)", -9, ""),
])
def test_failures_end_the_launcher_as_they_would_end_python(tmp_path, server, body, code,
                                                           message):
    proc = launch(script(tmp_path, body), env=server)
    _, err = proc.communicate(timeout=60)
    assert proc.returncode == code and message in err


def test_threads_end_as_at_interpreter_exit(tmp_path, server):
    """An idle executor left open does not hang the stage; a running thread is joined."""
    proc = launch(script(tmp_path, """
        import sys, threading, time
        from concurrent.futures import ThreadPoolExecutor
        sys.pool = ThreadPoolExecutor(2)  # kept alive, never shut down (hung before the fix)
        sys.pool.submit(time.sleep, 0.1).result()
        threading.Thread(target=lambda: (time.sleep(0.5), print("joined", flush=True))).start()
    """), env=server)
    out, err = proc.communicate(timeout=30)
    assert proc.returncode == 0 and out.strip() == "joined", err


def test_a_missing_script_fails_like_python(tmp_path, env):
    proc = launch(tmp_path / "nope.py", env=env)
    _, err = proc.communicate(timeout=60)
    assert proc.returncode == 2 and "nope.py" in err and "No such file" in err


SLEEPER = """
    import os, pathlib, subprocess, sys, time
    child = subprocess.Popen(["sleep", "300"])
    pathlib.Path("pids").write_text(f"{os.getpid()} {child.pid}")
    time.sleep(300)
"""


def started_pids(tmp_path: Path) -> list[int]:
    wait_for(lambda: len((tmp_path / "pids").read_text().split()) == 2
             if (tmp_path / "pids").exists() else False)
    return [int(p) for p in (tmp_path / "pids").read_text().split()]


def test_kill_9_of_the_caller_kills_the_stage_and_its_children(tmp_path, server):
    proc = launch(script(tmp_path, SLEEPER), env=server)
    pids = started_pids(tmp_path)
    proc.kill()
    proc.wait()
    wait_for(lambda: not any(alive(p) for p in pids), timeout=5)
    assert len(server_pids(server)) == 1  # the server itself lives on


def test_sigterm_is_forwarded_and_the_status_passed_back(tmp_path, server):
    proc = launch(script(tmp_path, SLEEPER), env=server)
    stage, _ = started_pids(tmp_path)
    assert stage != proc.pid
    proc.send_signal(signal.SIGTERM)
    proc.communicate(timeout=30)
    assert proc.returncode == -signal.SIGTERM and not alive(stage)


def test_a_killed_server_is_replaced_by_the_next_launch(tmp_path, server):
    [old] = server_pids(server)
    os.kill(old, signal.SIGKILL)  # leaves its socket file and pidfile behind
    wait_for(lambda: not alive(old))
    proc = launch(script(tmp_path, REPORT), "0", env=server)
    proc.communicate(timeout=60)
    assert proc.returncode == 0
    wait_for(lambda: server_pids(server) not in ([], [old]))


def test_stop_by_pid_and_the_idle_timeout_remove_the_server(tmp_path, server):
    [pid] = server_pids(server)
    subprocess.run([PYTHON, "-m", "mlgate.supervise.preload", "stop"], env=server, check=True,
                   timeout=60)
    assert not alive(pid) and not list(Path(server["XDG_RUNTIME_DIR"]).glob("*/*.sock"))
    start({**server, "MLGATE_PRELOAD_IDLE": "1"})
    [pid] = server_pids(server)
    wait_for(lambda: not alive(pid), timeout=15)
    assert not list(Path(server["XDG_RUNTIME_DIR"]).glob("*/*.sock"))


def test_a_stopping_server_stops_accepting_at_once_and_ends_after_its_stages(tmp_path, server):
    [pid] = server_pids(server)
    sleeper = launch(script(tmp_path, SLEEPER), env=server)
    started_pids(tmp_path)
    # Found before the signal: a stopping server may remove it before a glob after it runs.
    sock = next(Path(server["XDG_RUNTIME_DIR"]).glob("*/*.sock"))
    os.kill(pid, signal.SIGTERM)  # what `stop` sends
    wait_for(lambda: not sock.exists(), timeout=5)
    assert alive(pid)  # still serving the running stage
    (tmp_path / "other").mkdir()
    later = launch(script(tmp_path / "other", REPORT), "0", env=server)
    assert later.communicate(timeout=60)[0] and later.returncode == 0  # a new server took it
    assert [p for p in server_pids(server) if p != pid]
    sleeper.kill()
    wait_for(lambda: not alive(pid), timeout=10)


def test_preload_off_runs_the_script_in_the_launcher(tmp_path, env):
    proc = launch(script(tmp_path, REPORT), "4", env={**env, "MLGATE_PRELOAD": "0"})
    out, _ = proc.communicate(timeout=60)
    assert proc.returncode == 4 and json.loads(out)["pid"] == proc.pid
    assert server_pids(env) == []


def test_a_server_that_cannot_start_is_reported_and_not_retried(tmp_path, env):
    bad = {**env, "MLGATE_PRELOAD_MODULES": "no_such_module_xyz"}
    path = script(tmp_path, REPORT)
    first = launch(path, "5", env=bad)  # forked before the failure, or run here after it
    first.communicate(timeout=60)
    assert first.returncode == 5
    pidfile = next(Path(env["XDG_RUNTIME_DIR"]).glob("*/*.pid"))
    wait_for(lambda: json.loads(pidfile.read_text())["state"] == "failed")
    failed = json.loads(pidfile.read_text())
    second = launch(path, "5", env=bad)
    out, err = second.communicate(timeout=60)
    assert second.returncode == 5 and json.loads(out)["pid"] == second.pid
    assert "failed to start (ModuleNotFoundError" in err and ".log" in err
    assert json.loads(pidfile.read_text()) == failed  # no new attempt was made


FINGERPRINT = """
    import hashlib, io, json, os, sys
    import matplotlib
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    import mlflow, numpy as np, pandas as pd, sklearn
    fig, ax = plt.subplots()
    ax.barh([f"f{i}" for i in range(20)], np.linspace(0.05, 0.0, 20), xerr=0.01, color="tab:blue")
    png = io.BytesIO()
    fig.savefig(png, format="png")
    env = {k: v for k, v in os.environ.items()
           if k not in ("_MLFLOW_TELEMETRY_SESSION_ID", "MLGATE_PRELOAD")}
    print(json.dumps({"png": hashlib.md5(png.getvalue()).hexdigest(), "env": env,
                      "rc": {k: str(v) for k, v in matplotlib.rcParams.items()},
                      "pandas": str(pd.get_option("mode.chained_assignment")),
                      "preloaded": "pycaret.internal.pipeline" in sys.modules}))
"""


def test_the_real_preload_list_is_fork_safe_and_leaves_no_trace(tmp_path, env):
    """The default list preloads, and a child's shared state equals a new process's."""
    real = {k: v for k, v in env.items() if k != "MLGATE_PRELOAD_MODULES"}
    start(real)
    path = script(tmp_path, FINGERPRINT)
    seen = {}
    for mode in ("1", "0"):
        proc = launch(path, env={**real, "MLGATE_PRELOAD": mode})
        out, err = proc.communicate(timeout=180)
        assert proc.returncode == 0 and "without preloading" not in err, err
        seen[mode] = json.loads(out)
    assert seen["1"].pop("preloaded") and not seen["0"].pop("preloaded")
    assert seen["1"] == seen["0"]  # same figure bytes, settings, options and environment


def test_the_key_follows_import_time_settings_only():
    base = {"PATH": "/bin", "HOME": "/root"}
    key = preload.server_key(base)
    assert preload.server_key({**base, "DVC_ROOT": "/x", "MLFLOW_TRACKING_URI": "y"}) == key
    assert preload.server_key({**base, "KMP_INIT_AT_FORK": "FALSE"}) == key
    assert preload.server_key({**base, "OMP_NUM_THREADS": "1"}) != key
    assert preload.server_key({**base, "PYTHONPATH": "/src"}) != key
