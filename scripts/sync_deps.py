"""Rewrite the src/ deps of every dvc.yaml stage from the stage script's imports (`make deps`).

The derivation is the one tests/config/test_deps.py checks dvc.yaml against; only the runs of
`- src/mlgate/...` lines change, everything else in dvc.yaml (comments included) stays.
"""

from __future__ import annotations

import re
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from tests.config.test_deps import STAGES, used_modules  # noqa: E402

SRC_DEP = re.compile(r"^      - src/mlgate/")
STAGE = re.compile(r"^  (\w+):$")


def synced(text: str) -> str:
    """dvc.yaml text with each stage's src/ deps replaced by the derived, sorted list."""
    lines, out, stage, i = text.split("\n"), [], None, 0
    while i < len(lines):
        if (m := STAGE.match(lines[i])) and m.group(1) in STAGES:
            stage = m.group(1)
        if SRC_DEP.match(lines[i]):
            while i < len(lines) and SRC_DEP.match(lines[i]):
                i += 1
            script = ROOT / STAGES[stage]["cmd"].split()[-1]
            out += sorted(f"      - {p.relative_to(ROOT)}" for p in used_modules(script))
            continue
        out.append(lines[i])
        i += 1
    return "\n".join(out)


if __name__ == "__main__":
    path = ROOT / "dvc.yaml"
    path.write_text(synced(path.read_text(encoding="utf-8")), encoding="utf-8")
