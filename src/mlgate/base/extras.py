"""Optional dependencies (the `[dask]` and `[spark]` extras), imported when a config key asks
for them, with an error that names the key and the install command when they are missing."""

from __future__ import annotations

import importlib
from types import ModuleType

from mlgate.base.errors import ConfigError


def import_extra(module: str, key: str, install: str, note: str = "") -> ModuleType:
    """`module`, or ConfigError: config key `key` needs it; install with `install`."""
    try:
        return importlib.import_module(module)
    except ImportError as exc:
        raise ConfigError(f"`{key}` needs {module}, which is not installed: run `{install}`"
                          f"{note} ({exc})") from exc
