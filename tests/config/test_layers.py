"""The package's layers (docs/architecture.md): each imports only the layers below it, and no
two modules import each other, directly or around a loop, lazy imports included."""

from __future__ import annotations

from pathlib import Path

from tests.config.test_deps import SRC, imported, module_file

# A layer may import itself and the layers listed after it.
ALLOWED = {
    "base": {"base"},
    "core": {"core", "base"},
    "engines": {"engines", "core", "base"},
    "adapters": {"adapters", "engines", "core", "base"},
    "pipeline": {"pipeline", "adapters", "engines", "core", "base"},
    "cli": {"cli", "admin", "pipeline", "adapters", "engines", "core", "base"},
    "supervise": {"supervise", "base"},
    "admin": {"admin", "adapters", "engines", "core", "base"},
}


def modules() -> dict[str, Path]:
    """Every mlgate module (not package) by dotted name."""
    return {".".join(p.relative_to(SRC).with_suffix("").parts): p
            for p in (SRC / "mlgate").rglob("*.py") if p.name != "__init__.py"}


def graph() -> dict[str, set[str]]:
    """module -> the mlgate modules it imports (packages resolved to nothing)."""
    mods = modules()
    return {name: {m for m in imported(path) if m in mods} for name, path in mods.items()}


def layer(name: str) -> str:
    """mlgate.<layer>.<module> -> <layer>."""
    return name.split(".")[1]


def test_every_module_is_in_a_layer():
    assert {layer(m) for m in modules()} <= set(ALLOWED), sorted(modules())
    assert module_file("mlgate.pipeline.train") is not None


def test_each_layer_imports_only_the_layers_below_it():
    wrong = sorted(f"{a} imports {b}" for a, deps in graph().items() for b in deps
                   if layer(b) not in ALLOWED[layer(a)])
    assert not wrong, wrong


def test_no_import_cycles():
    edges, cycles = graph(), []
    state: dict[str, int] = {}  # 1: on the current path, 2: done

    def visit(node: str, path: list[str]) -> None:
        state[node] = 1
        for nxt in sorted(edges[node]):
            if state.get(nxt) == 1:
                cycles.append([*path[path.index(nxt):], nxt])
            elif nxt not in state:
                visit(nxt, [*path, nxt])
        state[node] = 2

    for node in sorted(edges):
        if node not in state:
            visit(node, [node])
    assert not cycles, cycles


def test_supervision_imports_only_the_standard_library_part_of_base():
    """The launcher runs before every stage: it must not pay for pandas or MLflow."""
    light = {"mlgate.base.files", "mlgate.base.processes"}
    used = {b for a, deps in graph().items() if layer(a) == "supervise" for b in deps
            if layer(b) == "base"}
    assert used <= light, used
