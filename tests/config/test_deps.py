"""dvc.yaml lists, for every stage, each mlgate module the stage uses: `dvc repro` cannot keep
a result that a changed module would change.

A module is used by a stage when the stage script imports it, directly or through other mlgate
modules, at module level or inside a function (lazy imports count; so do the packages'
`__init__.py`, which every import of a submodule runs). The launcher and preload server that
start the stage (mlgate.supervise) are not: they run the script, the script does not import
them. Deps are listed by file, not by directory, so that a change reruns only the stages that
import the changed module (editing the onboarding code does not retrain the model).
"""

from __future__ import annotations

import ast
from pathlib import Path

import pytest
import yaml

ROOT = Path(__file__).resolve().parents[2]
SRC = ROOT / "src"
STAGES = yaml.safe_load((ROOT / "dvc.yaml").read_text())["stages"]


def module_file(name: str) -> Path | None:
    """The file of mlgate module `name` (a module or a package), None when it is not one."""
    base = SRC / name.replace(".", "/")
    for path in (base.with_suffix(".py"), base / "__init__.py"):
        if path.is_file():
            return path
    return None


def imported(path: Path) -> set[str]:
    """Every mlgate module `path` imports, wherever the import statement is."""
    names: set[str] = set()
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        if isinstance(node, ast.Import):
            names |= {a.name for a in node.names if a.name.split(".")[0] == "mlgate"}
        elif isinstance(node, ast.ImportFrom) and (node.module or "").split(".")[0] == "mlgate":
            names.add(node.module)
            # `from mlgate.base import paths` imports the module mlgate.base.paths
            names |= {f"{node.module}.{a.name}" for a in node.names
                      if module_file(f"{node.module}.{a.name}")}
    return names


def with_parents(name: str) -> set[str]:
    """`a.b.c` and the packages whose __init__ importing it runs: a, a.b."""
    parts = name.split(".")
    return {".".join(parts[:i]) for i in range(1, len(parts) + 1)}


def used_modules(script: Path) -> set[Path]:
    """The files of every mlgate module `script` uses, transitively."""
    seen: set[str] = set()
    todo = [n for name in imported(script) for n in with_parents(name)]
    while todo:
        name = todo.pop()
        if name in seen or module_file(name) is None:
            continue
        seen.add(name)
        todo += [n for new in imported(module_file(name)) for n in with_parents(new)]
    return {module_file(n) for n in seen}


@pytest.mark.parametrize("name", sorted(STAGES))
def test_dvc_yaml_lists_every_module_the_stage_uses(name):
    stage = STAGES[name]
    script = stage["cmd"].split()[-1]
    deps = {str(d) for d in stage["deps"]}
    needed = {str(p.relative_to(ROOT)) for p in used_modules(ROOT / script)}
    missing = sorted(needed - deps)
    assert not missing, f"stages.{name}.deps in dvc.yaml lacks: {missing} (run `make deps`)"
    listed = {d for d in deps if d.startswith("src/")}
    assert not listed - needed, f"stages.{name}.deps lists modules it does not use: " \
        f"{sorted(listed - needed)}"


def test_the_derivation_sees_lazy_imports(tmp_path):
    """A function-level import counts: the dependency cannot hide inside a function."""
    script = tmp_path / "stage.py"
    script.write_text("def main():\n    from mlgate.engines import parallel\n")
    files = {str(p.relative_to(ROOT)) for p in used_modules(script)}
    assert {"src/mlgate/engines/parallel.py", "src/mlgate/engines/training.py",
            "src/mlgate/engines/__init__.py", "src/mlgate/__init__.py"} <= files
    assert not any("supervise" in f for f in files)
