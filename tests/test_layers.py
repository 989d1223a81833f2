"""The layering rules of emutcp's architecture, checked on the source.

Each layer imports only the layers below it (README.md, "Layout"):

    tools -> lab -> socket/stream/aio -> host, emulated -> endpoint -> core
                                                              transport

* ``core/`` imports only ``core/`` (sans-IO: no I/O, no clock);
* ``transport/`` imports nothing of emutcp outside ``transport/``;
* ``lab/`` never imports ``tools/``; the library never imports ``lab/`` or
  ``tools/``;
* there is no import cycle among emutcp's modules (imports under
  ``if TYPE_CHECKING:`` are for annotations only and are not counted);
* no module touches another module's ``_private`` attributes, except the
  few listed here with their reason.
"""

from __future__ import annotations

import ast
import pathlib

import pytest

ROOT = pathlib.Path(__file__).resolve().parent.parent / "emutcp"


def _module_name(path: pathlib.Path) -> str:
    rel = path.relative_to(ROOT.parent).with_suffix("")
    parts = list(rel.parts)
    if parts[-1] == "__init__":
        parts.pop()
    return ".".join(parts)


def _is_type_checking(node: ast.If) -> bool:
    t = node.test
    return (isinstance(t, ast.Name) and t.id == "TYPE_CHECKING") or (
        isinstance(t, ast.Attribute) and t.attr == "TYPE_CHECKING"
    )


def _runtime_nodes(tree: ast.AST):
    """Every node except those under ``if TYPE_CHECKING:``."""
    stack = [tree]
    while stack:
        node = stack.pop()
        yield node
        for child in ast.iter_child_nodes(node):
            if isinstance(child, ast.If) and _is_type_checking(child):
                stack.extend(child.orelse)
                continue
            stack.append(child)


def _imports(path: pathlib.Path) -> set[str]:
    """The emutcp modules ``path`` imports at run time (absolute dotted names)."""
    module = _module_name(path)
    package = module if path.name == "__init__.py" else module.rpartition(".")[0]
    found: set[str] = set()
    for node in _runtime_nodes(ast.parse(path.read_text())):
        if isinstance(node, ast.Import):
            found.update(a.name for a in node.names if a.name.split(".")[0] == "emutcp")
        elif isinstance(node, ast.ImportFrom):
            if node.level:
                base = package.split(".")
                base = base[: len(base) - (node.level - 1)]
                target = ".".join(base + ([node.module] if node.module else []))
            else:
                target = node.module or ""
            if target.split(".")[0] != "emutcp":
                continue
            # "from . import demo" imports the submodule emutcp.tools.demo.
            for alias in node.names:
                candidate = f"{target}.{alias.name}"
                found.add(candidate if candidate in MODULES else target)
    return {m for m in found if m in MODULES}


FILES = sorted(ROOT.rglob("*.py"))
MODULES = {_module_name(p) for p in FILES}
GRAPH = {_module_name(p): _imports(p) for p in FILES}


def _layer(module: str) -> str:
    parts = module.split(".")
    return parts[1] if len(parts) > 2 else "library"


def test_core_imports_only_core():
    for module, deps in GRAPH.items():
        if _layer(module) == "core":
            assert {d for d in deps if _layer(d) != "core"} == set(), module


def test_transport_imports_nothing_above_it():
    for module, deps in GRAPH.items():
        if _layer(module) == "transport":
            assert {d for d in deps if _layer(d) != "transport"} == set(), module


def test_lab_never_imports_tools_and_the_library_neither():
    for module, deps in GRAPH.items():
        if module == "emutcp.__main__":
            continue  # ``python -m emutcp`` is the command itself
        if _layer(module) in ("lab", "library", "core", "transport"):
            assert {d for d in deps if _layer(d) == "tools"} == set(), module
        if _layer(module) in ("library", "core", "transport") and module != "emutcp.testing":
            assert {d for d in deps if _layer(d) == "lab"} == set(), module


def test_no_import_cycle():
    # Package __init__ modules re-export their children; an edge from a child
    # to its own package's __init__ is an ordinary import, not a layering
    # cycle, so only module -> module edges between distinct files count.
    state: dict[str, int] = {}
    path: list[str] = []

    def visit(m: str) -> None:
        state[m] = 1
        path.append(m)
        for d in sorted(GRAPH[m]):
            if d == m or m.startswith(d + "."):
                continue  # a module importing its own package
            if state.get(d) == 1:
                cycle = [*path[path.index(d) :], d]
                pytest.fail("import cycle: " + " -> ".join(cycle))
            if d not in state:
                visit(d)
        path.pop()
        state[m] = 2

    for m in sorted(GRAPH):
        if m not in state:
            visit(m)


# (module, "object._attribute") pairs allowed to reach into another module's
# privates, with the reason.  Keep this list short: add a public seam instead.
ALLOWED_REACH_INS = {
    # trio has no public knob for its run-queue shuffle; a seed must pin it
    # (tests/test_layers.py::test_trio_still_has_the_scheduler_rng fails if it moves).
    ("emutcp.lab.trial", "trio_run._r"),
}


def _private_reach_ins() -> set[tuple[str, str]]:
    found = set()
    for path in FILES:
        module = _module_name(path)
        tree = ast.parse(path.read_text())
        classes = {n.name for n in ast.walk(tree) if isinstance(n, ast.ClassDef)}
        for node in ast.walk(tree):
            if (
                isinstance(node, ast.Call)
                and getattr(node.func, "id", "") in ("getattr", "setattr", "hasattr")
                and len(node.args) >= 2
                and isinstance(node.args[1], ast.Constant)
                and str(node.args[1].value).startswith("_")
                and ast.unparse(node.args[0]) not in ("self", "cls")
            ):
                found.add((module, f"{ast.unparse(node.args[0])}.{node.args[1].value}"))
                continue
            if not isinstance(node, ast.Attribute):
                continue
            attr = node.attr
            if not attr.startswith("_") or attr.startswith("__"):
                continue
            owner = node.value
            if isinstance(owner, ast.Name) and owner.id in ("self", "cls", *classes):
                continue
            if isinstance(owner, ast.Call) and getattr(owner.func, "id", "") == "super":
                continue
            text = ast.unparse(owner)
            # Same-class access through another instance (``child._adopt``) is
            # the class's own business; it is written with a local of that class.
            if _same_module_instance(tree, text):
                continue
            found.add((module, f"{text}.{attr}"))
    return found


def _same_module_instance(tree: ast.AST, name: str) -> bool:
    """``name`` was assigned from a constructor call of a class defined in this module."""
    classes = {n.name for n in ast.walk(tree) if isinstance(n, ast.ClassDef)}
    for node in ast.walk(tree):
        if isinstance(node, ast.Assign) and isinstance(node.value, ast.Call):
            func = node.value.func
            if (
                isinstance(func, ast.Name)
                and func.id in classes
                and any(ast.unparse(t) == name for t in node.targets)
            ):
                return True
    return False


def test_no_reach_into_other_modules_privates():
    found = _private_reach_ins()
    assert found - ALLOWED_REACH_INS == set()
    assert found >= ALLOWED_REACH_INS, "an allowed reach-in is gone: drop it from the list"
    assert len(ALLOWED_REACH_INS) <= 3


def test_trio_still_has_the_scheduler_rng():
    """``pin_trio_scheduling`` seeds trio's private run-queue RNG; if trio
    renames it, seeded runs stop being repeatable: fail loudly here."""
    import random

    import trio._core._run as trio_run

    assert isinstance(getattr(trio_run, "_r", None), random.Random)
