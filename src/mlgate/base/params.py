"""Reading params.yaml, locating the repository root, and the one validation kit every config
section uses: known keys, required keys (defaults live in conf/ only), numbers in range."""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

import yaml

from mlgate.base.errors import ConfigError

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


def check_section(section: Any, prefix: str, required: set[str],
                  optional: frozenset[str] | set[str] = frozenset()) -> dict[str, Any]:
    """`section` as a dict, after checking it is a mapping with every `required` key and no key
    outside required | optional; ConfigError naming the full key otherwise.

    Defaults live in conf/ only (the group's default.yaml or the data profile): a key that is
    missing here was dropped from params.yaml, and code never guesses its value.
    """
    if not isinstance(section, dict):
        raise ConfigError(f"`{prefix}` must be a mapping, got {section!r}")
    check_keys(section, set(required) | set(optional), prefix)
    missing = sorted(set(required) - set(section))
    if missing:
        names = ", ".join(f"`{prefix}.{k}`" for k in missing)
        raise ConfigError(f"params.yaml: missing key(s) {names}; every default lives in conf/ "
                          "(run `make params` to compose params.yaml from it)")
    return dict(section)


def check_number(value: Any, key: str, *, low: float | None = None, high: float | None = None,
                 integer: bool = False, open_low: bool = False, open_high: bool = False,
                 optional: bool = False) -> Any:
    """Return `value` if it is a number in range, else raise ConfigError naming `key`.

    low/high bound the value (inclusive unless open_low/open_high); integer: whole numbers
    only; optional: None is accepted as is.
    """
    if value is None and optional:
        return None
    kind = "an integer" if integer else "a number"
    ok = (isinstance(value, int | float) and not isinstance(value, bool)
          and (not integer or isinstance(value, int)) and value == value
          and value not in (float("inf"), float("-inf")))
    if ok:
        ok = ((low is None or (value > low if open_low else value >= low))
              and (high is None or (value < high if open_high else value <= high)))
    if not ok:
        raise ConfigError(f"`{key}` must be {kind}{_range_text(low, high, open_low, open_high)}"
                          f"{' or null' if optional else ''}, got {value!r}")
    return value


def _range_text(low: float | None, high: float | None, open_low: bool, open_high: bool) -> str:
    """' in [0, 1]', ' >= 2', ' > 0', ... for messages."""
    if low is not None and high is not None:
        return f" in {'(' if open_low else '['}{low}, {high}{')' if open_high else ']'}"
    if low is not None:
        return f" {'>' if open_low else '>='} {low}"
    if high is not None:
        return f" {'<' if open_high else '<='} {high}"
    return ""
