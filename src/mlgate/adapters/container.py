"""A Docker build context for a registered model, written by MLflow's own Dockerfile generator."""

from __future__ import annotations

import errno
import logging
import os
import re
import shlex
import shutil
import tempfile
from dataclasses import dataclass, replace
from pathlib import Path

import yaml

from mlgate.base.errors import MlgateError
from mlgate.base.files import umask

log = logging.getLogger(__name__)

DEFAULT_DIR = Path("build") / "docker"  # under the repository root; git-ignored
# "local": FROM python:<the model's Python>-slim, `pip install mlflow==<this MLflow>`, then pip
# installs the model's python_env.yaml (pip, setuptools, wheel, its requirements.txt) and
# `gunicorn[gevent]` into that interpreter. "virtualenv" would switch to ubuntu:24.04 with pyenv
# cloned from GitHub at its newest tag and the Python built by pyenv: more parts, no more pins.
ENV_MANAGER = "local"
MODEL_DIR = "model_dir"  # where MLflow's generator puts the model (pyfunc.backend._MODEL_DIR_NAME)
IMAGE_PORT = 8080  # nginx in MLflow's image listens here, in front of uvicorn on 8000
HOST_PORT = 5001


@dataclass(frozen=True)
class DockerContext:
    """A written build context: where, for which model, what it holds and what it pins."""

    path: Path
    model_uri: str
    files: list[str]
    base_image: str
    requirements: list[str]
    unpinned: list[str]


def check_target(out: Path, force: bool = False) -> None:
    """MlgateError when `out` is not a directory, or holds anything and `force` is off."""
    if out.is_symlink() or (out.exists() and not out.is_dir()):
        raise MlgateError(f"{out} exists and is not a directory; choose another --out")
    if out.is_dir() and any(out.iterdir()) and not force:
        raise MlgateError(f"{out} exists and is not empty; nothing was written "
                          "(--force replaces it, or choose another --out)")


def generate(model_uri: str, out: Path) -> None:
    """Run MLflow's generator (`mlflow models generate-dockerfile`) for `model_uri` into `out`."""
    from mlflow.models.flavor_backend_registry import get_flavor_backend  # lazy: heavy

    os.environ.setdefault("MLFLOW_ENABLE_ARTIFACTS_PROGRESS_BAR", "false")  # keep stderr clean
    try:
        backend = get_flavor_backend(model_uri, docker_build=True, env_manager=ENV_MANAGER)
        if not backend.can_build_image():
            raise MlgateError(f"{model_uri}: MLflow cannot build an image for this model")
        backend.generate_dockerfile(model_uri, str(out), install_java=False,
                                    install_mlflow=False)
    except MlgateError:
        raise
    except Exception as exc:  # MlflowException, OSError, "No suitable flavor backend"
        raise MlgateError(f"MLflow could not generate a Dockerfile for {model_uri}: "
                          f"{type(exc).__name__}: {exc}") from exc


def requirement_lines(path: Path) -> list[str]:
    """The requirement lines of a requirements.txt (no blanks, no comments)."""
    lines = (line.split("#", 1)[0].strip() for line in path.read_text().splitlines())
    return [line for line in lines if line]


def unpinned(ctx: Path) -> list[str]:
    """Requirements in the context's model directory that name no exact version."""
    model = ctx / MODEL_DIR
    loose = [f"{req} ({MODEL_DIR}/requirements.txt)"
             for req in requirement_lines(model / "requirements.txt")
             if "==" not in req and not req.startswith("-")]
    env = yaml.safe_load((model / "python_env.yaml").read_text()) or {}
    for key in ("build_dependencies", "dependencies"):
        loose += [f"{req} ({MODEL_DIR}/python_env.yaml {key})" for req in env.get(key) or []
                  if "==" not in req and not str(req).startswith("-")]
    return loose


def base_image(dockerfile: Path) -> str:
    """The image named by the Dockerfile's FROM line."""
    for line in dockerfile.read_text().splitlines():
        if line.startswith("FROM "):
            return line.split()[1]
    raise MlgateError(f"{dockerfile} has no FROM line")


def describe(ctx: Path, model_uri: str) -> DockerContext:
    """Read back a generated context; MlgateError if MLflow left out a part of it."""
    needed = ["Dockerfile", f"{MODEL_DIR}/MLmodel", f"{MODEL_DIR}/requirements.txt",
              f"{MODEL_DIR}/python_env.yaml"]
    missing = [name for name in needed if not (ctx / name).is_file()]
    if missing:
        raise MlgateError(f"MLflow's generator wrote no {', '.join(missing)} for {model_uri}")
    files = sorted(str(p.relative_to(ctx)) for p in ctx.rglob("*") if p.is_file())
    return DockerContext(ctx, model_uri, files, base_image(ctx / "Dockerfile"),
                         requirement_lines(ctx / MODEL_DIR / "requirements.txt"), unpinned(ctx))


def move_into_place(tmp: Path, out: Path, force: bool) -> None:
    """Rename `tmp` to `out`; with `force` the old `out` goes only once the new one is in."""
    try:
        os.rename(tmp, out)  # onto a missing or empty directory: one atomic step
        return
    except OSError as exc:
        if exc.errno not in (errno.ENOTEMPTY, errno.EEXIST) or not force:
            check_target(out, force=False)  # raced: someone filled `out` meanwhile
            raise MlgateError(f"cannot move the context into {out}: {exc}") from exc
    old = Path(tempfile.mkdtemp(prefix=f".{out.name}.old.", suffix=".tmp", dir=out.parent))
    os.rename(out, old / out.name)
    try:
        os.rename(tmp, out)
    except OSError as exc:
        os.rename(old / out.name, out)
        raise MlgateError(f"cannot move the context into {out}: {exc}") from exc
    shutil.rmtree(old)


def write_context(model_uri: str, out: Path, force: bool = False) -> DockerContext:
    """Generate `model_uri`'s build context in a temp dir beside `out`, then rename it there."""
    check_target(out, force)
    out.parent.mkdir(parents=True, exist_ok=True)
    tmp = Path(tempfile.mkdtemp(prefix=f".{out.name}.", suffix=".tmp", dir=out.parent))
    try:
        tmp.chmod(0o777 & ~umask())  # mkdtemp makes it 0700: give it the mode mkdir gives
        log.info("generating a Docker build context for %s in %s", model_uri, tmp)
        generate(model_uri, tmp)
        ctx = describe(tmp, model_uri)
        move_into_place(tmp, out, force)
    finally:
        if tmp.exists():
            shutil.rmtree(tmp)
    if ctx.unpinned:
        log.warning("not pinned to an exact version: %s", "; ".join(ctx.unpinned))
    return replace(ctx, path=out)


def image_name(model_name: str, version: str) -> str:
    """A valid Docker image reference for one model version: lowercase name, tag v<version>."""
    slug = re.sub(r"[^a-z0-9]+", "-", model_name.lower()).strip("-") or "model"
    return f"{slug}:v{version}"


def shown(path: Path) -> str:
    """`path` relative to the working directory when it lies below it, else absolute; quoted."""
    try:
        text = str(path.relative_to(Path.cwd()))
    except ValueError:
        text = str(path)
    return shlex.quote(text)


def instructions(ctx: DockerContext, image: str) -> str:
    """What was written and the commands that build and run the image."""
    where = shown(ctx.path)
    lines = [f"wrote {len(ctx.files)} files to {ctx.path}:",
             *[f"  {name}" for name in ctx.files],
             f"base image: {ctx.base_image}",
             f"pinned ({MODEL_DIR}/requirements.txt): {' '.join(ctx.requirements)}"]
    if ctx.unpinned:
        lines.append(f"not pinned: {'; '.join(ctx.unpinned)}")
    lines += [f"build:  docker build -t {image} {where}",
              f"run:    docker run -p 127.0.0.1:{HOST_PORT}:{IMAGE_PORT} {image}",
              f"score:  curl -s http://127.0.0.1:{HOST_PORT}/invocations -H "
              f"'Content-Type: application/json' -d @{where}/{MODEL_DIR}/"
              "serving_input_example.json"]
    return "\n".join(lines) + "\n"
