"""Reading params.yaml and locating the repository root."""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

import yaml

from mlgate.errors import ConfigError

PARAMS_FILE = "params.yaml"


def repo_root(start: Path | None = None) -> Path:
    """Return the real repository root: DVC_ROOT when DVC sets it, else the nearest dvc.yaml."""
    if os.environ.get("DVC_ROOT"):
        return Path(os.environ["DVC_ROOT"]).resolve()
    here = (start or Path.cwd()).resolve()
    for candidate in (here, *here.parents):
        if (candidate / "dvc.yaml").exists():
            return candidate
    return here


def load_params(path: Path | str = PARAMS_FILE) -> dict[str, Any]:
    """Load params.yaml as a plain dict, with a clear error when it is missing or malformed."""
    path = Path(path)
    if not path.exists():
        raise ConfigError(f"{path}: not found (run `make params` to compose it from conf/)")
    try:
        params = yaml.safe_load(path.read_text(encoding="utf-8"))
    except yaml.YAMLError as exc:
        raise ConfigError(f"{path}: not valid YAML: {exc}") from exc
    if not isinstance(params, dict):
        raise ConfigError(f"{path}: expected a mapping at the top level")
    return params


def require(params: dict[str, Any], dotted: str) -> Any:
    """Return params[dotted key], raising ConfigError naming the key when it is absent."""
    node: Any = params
    for part in dotted.split("."):
        if not isinstance(node, dict) or part not in node:
            raise ConfigError(f"params.yaml: missing key `{dotted}`")
        node = node[part]
    return node


def check_keys(section: dict[str, Any], allowed: set[str], prefix: str) -> None:
    """Raise ConfigError naming every key of `section` that is not in `allowed`."""
    unknown = sorted(set(section) - allowed)
    if unknown:
        names = ", ".join(f"`{prefix}.{k}`" for k in unknown)
        raise ConfigError(f"params.yaml: unknown key(s) {names}; allowed: {sorted(allowed)}")
