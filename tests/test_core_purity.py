"""The sans-IO core must not do I/O or read clocks (DESIGN.md point 1)."""

import ast
import pathlib

import emutcp.core

FORBIDDEN = {"trio", "socket", "time", "asyncio", "select", "selectors", "threading"}


def test_core_imports_no_io_or_clock_modules():
    core = pathlib.Path(emutcp.core.__file__).parent
    offenders = []
    for path in sorted(core.glob("*.py")):
        for node in ast.walk(ast.parse(path.read_text())):
            if isinstance(node, ast.Import):
                names = [a.name for a in node.names]
            elif isinstance(node, ast.ImportFrom) and node.level == 0:
                names = [node.module or ""]
            else:
                continue
            offenders += [f"{path.name}: {n}" for n in names if n.split(".")[0] in FORBIDDEN]
    assert offenders == []
