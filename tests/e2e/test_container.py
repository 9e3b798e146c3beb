"""`mlgate models dockerfile`: MLflow's own Docker build context for the champion, pinned to the
model's logged requirements, written without ever replacing what is there.

There is no container runtime here, so the image is not built: the fast test checks the
context (Dockerfile, model, pins) and the refusals; the slow one builds a fresh virtual
environment from only the context's requirements and predicts with the model in it.
"""

from __future__ import annotations

import platform
import shutil
import subprocess
import sys
import textwrap
import time
from pathlib import Path

import mlflow
import numpy as np
import pytest
import yaml

from mlgate.adapters.container import write_context
from mlgate.adapters.tracking import feature_steps
from mlgate.base.errors import MlgateError
from mlgate.engines.selection import train_model
from mlgate.engines.training import with_features
from tests.defaults import train_config
from tests.e2e.conftest import clean_env
from tests.e2e.test_features import BLOCK
from tests.e2e.test_registry import (
    MODEL,
    ROOT,
    TARGET,
    Store,
    champion_v1,
    fit,
    in_store,
    split_frames,
)

pytestmark = pytest.mark.e2e

PINS = ("mlflow==3.17.2", "pycaret==3.3.2", "scikit-learn==1.4.2")


def snapshot(path: Path) -> dict[str, bytes]:
    """Every file below `path` with its content."""
    return {str(p.relative_to(path)): p.read_bytes() for p in path.rglob("*") if p.is_file()}


def leftovers(parent: Path) -> list[str]:
    """Temp directories a context write left beside its target."""
    return sorted(p.name for p in parent.glob(".*.tmp"))


def check_context(out: Path) -> list[str]:
    """Assert the context holds MLflow's Dockerfile and the model; return its requirements."""
    dockerfile = (out / "Dockerfile").read_text()
    assert f"FROM python:{platform.python_version()}-slim" in dockerfile, "the model's Python"
    assert "RUN pip install mlflow==3.17.2" in dockerfile
    assert "COPY model_dir /opt/ml/model" in dockerfile
    assert "env_manager='local'" in dockerfile and "C._serve('local')" in dockerfile
    model = out / "model_dir"
    assert (model / "model.pkl").is_file()
    mlmodel = yaml.safe_load((model / "MLmodel").read_text())
    assert mlmodel["flavors"]["python_function"]["loader_module"] == "mlflow.sklearn"
    meta = yaml.safe_load((model / "registered_model_meta").read_text())
    assert (meta["model_name"], str(meta["model_version"])) == (MODEL, "1")
    env = yaml.safe_load((model / "python_env.yaml").read_text())
    assert env["python"] == platform.python_version()
    assert env["dependencies"] == ["-r requirements.txt"]
    requirements = (model / "requirements.txt").read_text().split()
    for pin in PINS:
        assert pin in requirements, f"{pin} missing from {requirements}"
    return requirements


@pytest.fixture(scope="module")
def champion(tmp_path_factory, params, randhie) -> tuple[Store, object, tuple]:
    """A store whose `mlgate-e2e` v1 is @champion, the model, and the (train, test) frames."""
    frames = split_frames(randhie, params)
    model = fit("linear", frames[0])
    store = Store(tmp_path_factory.mktemp("store"), params)
    champion_v1(store, model, frames)
    return store, model, frames


def test_context_holds_the_pinned_champion_and_never_replaces_a_directory(champion):
    store, model, frames = champion
    out = store.root / "image"
    proc = store.cli("dockerfile", "--out", str(out))
    assert f"{MODEL} @champion is v1" in proc.stdout
    assert f"docker build -t {MODEL}:v1 image\n" in proc.stdout, proc.stdout
    assert f"docker run -p 127.0.0.1:5001:8080 {MODEL}:v1\n" in proc.stdout
    check_context(out)
    assert "model_dir/requirements.txt" in proc.stdout and "mlflow==3.17.2" in proc.stdout
    assert leftovers(store.root) == []
    X = frames[1].dropna().drop(columns=[TARGET]).head(20)
    in_context = mlflow.pyfunc.load_model(str(out / "model_dir"))
    np.testing.assert_array_equal(np.asarray(in_context.predict(X)), model.predict(X))

    (out / "notes.txt").write_text("mine\n")
    before = snapshot(out)
    again = store.cli("dockerfile", "--out", str(out), check=False)
    assert again.returncode == 1, again.stderr
    assert f"{out} exists and is not empty" in again.stderr
    assert "Traceback" not in again.stderr
    assert snapshot(out) == before and leftovers(store.root) == []


def test_force_replaces_only_once_the_new_context_is_complete(champion):
    store = champion[0]
    out = store.root / "build" / "docker"
    out.mkdir(parents=True)
    (out / "old.txt").write_text("old\n")
    with in_store(store.root):
        mlflow.set_tracking_uri(store.uri)
        with pytest.raises(MlgateError, match="MLflow could not generate a Dockerfile"):
            write_context(f"models:/{MODEL}/7", out, force=True)  # no such version
        assert snapshot(out) == {"old.txt": b"old\n"} and leftovers(out.parent) == []
        ctx = write_context(f"models:/{MODEL}/1", out, force=True)
    assert ctx.path == out and "old.txt" not in snapshot(out) and "Dockerfile" in ctx.files
    assert leftovers(out.parent) == []
    assert (out.stat().st_mode & 0o777) != 0o700, "the mode mkdir gives, not mkdtemp's"
    check_context(out)


def test_no_champion_is_named(champion):
    store = champion[0]
    store.client().create_registered_model("mlgate-e2e-empty")
    out = store.root / "none"
    proc = store.cli("dockerfile", "--model", "mlgate-e2e-empty", "--out", str(out), check=False)
    assert proc.returncode == 1 and "Traceback" not in proc.stderr
    assert "registered model 'mlgate-e2e-empty' has no alias 'champion'" in proc.stderr
    assert not out.exists() and leftovers(store.root) == []


def fresh_venv(path: Path, model_dir: Path) -> tuple[Path, dict[str, str]]:
    """A virtual environment with only what the image's install step installs from the
    context: python_env.yaml's build dependencies and the model's requirements.txt."""
    base = shutil.which("python3.11") or sys.executable
    env = {k: v for k, v in clean_env(path).items() if k not in ("PYTHONPATH", "VIRTUAL_ENV")}
    subprocess.run([base, "-m", "venv", str(path / "venv")], check=True, env=env, cwd=path,
                   timeout=300)
    spec = yaml.safe_load((model_dir / "python_env.yaml").read_text())
    deps = [*spec["build_dependencies"], *spec["dependencies"]]
    args = [str(model_dir / "requirements.txt") if d == "requirements.txt" else d
            for dep in deps for d in dep.split()]
    python = path / "venv/bin/python"
    pip = subprocess.run([str(python), "-m", "pip", "install", *args], capture_output=True,
                         text=True, env=env, cwd=path, timeout=1800)
    assert pip.returncode == 0, pip.stdout[-2000:] + pip.stderr[-3000:]
    check = subprocess.run([str(python), "-m", "pip", "check"], capture_output=True, text=True,
                           env=env, cwd=path, timeout=300)
    assert check.returncode == 0, check.stdout[-3000:]
    return python, env


@pytest.mark.slow
def test_model_in_the_context_predicts_in_a_fresh_venv_from_its_requirements(
        tmp_path, params, randhie):
    """A PyCaret pipeline with the committed declared features, as the train stage makes and
    logs it, registered as champion: its context's requirements alone load and run it."""
    started = time.monotonic()
    train, test = split_frames(randhie, params)
    cfg = with_features(
        train_config({"target": TARGET, "categorical": ["plan", "site"]},
                     {"estimators": ["lr"], "fold": 2}),
        params["features"], train, params["data"]["datetime"], ROOT)
    model = train_model(train, cfg).model
    assert type(model).__module__.startswith("pycaret") and feature_steps(model) is not None
    (tmp_path / "repo").mkdir()
    store = Store(tmp_path / "repo", params)
    champion_v1(store, model, (train, test))
    out = tmp_path / "context"
    store.cli("dockerfile", "--out", str(out))
    check_context(out)

    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    python, env = fresh_venv(elsewhere, out / "model_dir")
    X = test.drop(columns=[TARGET]).head(200)
    X.to_parquet(elsewhere / "rows.parquet", index=False)
    script = BLOCK + textwrap.dedent(f'''
        import sys, mlflow, numpy as np, pandas as pd
        assert sys.prefix == {str(elsewhere / "venv")!r}, sys.prefix
        X = pd.read_parquet("rows.parquet")
        model = mlflow.pyfunc.load_model({str(out / "model_dir")!r})
        np.save("labels.npy", np.asarray(model.predict(X)))
        np.save("proba.npy", mlflow.sklearn.load_model({str(out / "model_dir")!r})
                .predict_proba(X))
    ''')
    proc = subprocess.run([str(python), "-c", script], cwd=elsewhere, env=env,
                          capture_output=True, text=True, timeout=600)
    assert proc.returncode == 0, proc.stderr[-3000:]
    here = mlflow.pyfunc.load_model(str(out / "model_dir"))
    np.testing.assert_array_equal(np.load(elsewhere / "labels.npy"),
                                  np.asarray(here.predict(X)))
    np.testing.assert_array_equal(np.load(elsewhere / "labels.npy"), model.predict(X))
    np.testing.assert_allclose(np.load(elsewhere / "proba.npy"), model.predict_proba(X),
                               rtol=0, atol=1e-12)
    print(f"fresh-venv check took {time.monotonic() - started:.0f} s")
