"""`mlgate remote` (`make remote`): DVC's default remote for data and models.

The remote is written to .dvc/config, which is committed: every clone pushes to and pulls from
the same storage. Default: the directory `mlgate-dvc-remote` beside the repository, stored as an
absolute path, so a clone anywhere on this machine (or on a shared mount) finds it. A bucket
works the same way (`--url s3://bucket/path`, with the `dvc-s3` plugin); credentials never go to
.dvc/config: `dvc remote modify --local storage access_key_id ...` writes .dvc/config.local,
which DVC keeps out of git.
"""

from __future__ import annotations

import argparse
import importlib.util
import logging
import subprocess
import sys
from pathlib import Path
from typing import Any
from urllib.parse import urlparse

from mlgate.base.errors import MlgateError
from mlgate.base.params import repo_root

log = logging.getLogger("mlgate")

DEFAULT_NAME = "storage"
DEFAULT_DIR = "mlgate-dvc-remote"
# URL scheme -> (module, the pip package of the DVC plugin that handles it).
PLUGINS = {"s3": ("dvc_s3", "dvc-s3"), "gs": ("dvc_gs", "dvc-gs"),
           "azure": ("dvc_azure", "dvc-azure"), "ssh": ("dvc_ssh", "dvc-ssh")}


def remote_url(root: Path, url: str | None) -> str:
    """The URL to store: a bucket URL as given, a local path made absolute (default beside root)."""
    if url and urlparse(url).scheme not in ("", "file"):
        return url
    path = Path(urlparse(url).path if url else root.parent / DEFAULT_DIR).expanduser()
    return str(path if path.is_absolute() else (Path.cwd() / path).resolve())


def missing_plugin(url: str) -> str | None:
    """The pip package DVC needs for `url` when it is not installed, else None."""
    module, package = PLUGINS.get(urlparse(url).scheme, (None, None))
    if module is None or importlib.util.find_spec(module) is not None:
        return None
    return package


def add_remote(root: Path, name: str, url: str) -> None:
    """`dvc remote add -d --force NAME URL` in .dvc/config; MlgateError with DVC's message."""
    cmd = [sys.executable, "-m", "dvc", "remote", "add", "--project", "-d", "--force", name, url]
    proc = subprocess.run(cmd, cwd=root, capture_output=True, text=True, check=False)
    if proc.returncode:
        raise MlgateError(f"`dvc remote add -d --force {name} {url}` exited {proc.returncode}: "
                          f"{(proc.stderr or proc.stdout).strip()}")


def cmd_remote(args: argparse.Namespace) -> None:
    """Configure the default DVC remote and say what to do next."""
    root = repo_root()
    url = remote_url(root, args.url)
    package = missing_plugin(url)
    if package:
        log.warning("DVC needs the %s plugin to reach %s: pip install %s", package, url, package)
    add_remote(root, args.name, url)
    if "://" not in url:  # a directory: create it now, so a bad path fails here, not at push
        try:
            Path(url).mkdir(parents=True, exist_ok=True)
        except OSError as exc:
            raise MlgateError(f"cannot create the DVC remote directory {url}: {exc}") from exc
    sys.stdout.write(f"DVC remote {args.name!r} (default) -> {url} in .dvc/config\n"
                     "next: commit .dvc/config, then `dvc push` (clones: `dvc pull`)\n")


def register_remote(sub: Any) -> None:
    """Add the `remote` sub-command to the `mlgate` parser."""
    r = sub.add_parser("remote", help="set DVC's default remote (data, models) in .dvc/config")
    r.add_argument("--url", help=f"a directory or a bucket URL, e.g. s3://bucket/mlgate "
                                 f"(default: ../{DEFAULT_DIR} beside the repository)")
    r.add_argument("--name", default=DEFAULT_NAME, help="remote name (default: %(default)s)")
    r.set_defaults(func=cmd_remote)
