"""Compose conf/ into params.yaml exactly as `dvc exp run` does (DVC's own Hydra helper)."""

from __future__ import annotations

import tempfile
from pathlib import Path

import yaml


def compose(root: Path, overrides: list[str] | None = None) -> dict:
    """Compose conf/config.yaml with Hydra overrides and return the resulting params."""
    with tempfile.TemporaryDirectory() as tmp:
        out = Path(tmp) / "params.yaml"
        compose_to(out, root, overrides)
        return yaml.safe_load(out.read_text(encoding="utf-8"))


def compose_to(output: Path, root: Path, overrides: list[str] | None = None) -> None:
    """Write the composed config to `output` with DVC's compose_and_dump."""
    from dvc.utils.hydra import compose_and_dump  # lazy: DVC, ~1 s: only composing needs it

    compose_and_dump(output, str((root / "conf").resolve()), None, "config", str(root),
                     list(overrides or []))
