"""The optional mypyc-compiled build (docs/compiled.md); metadata is in pyproject.toml.

``EMUTCP_COMPILE=1 pip install .`` compiles the modules below with mypyc, the
compiler mypy ships: the same typed Python source, as C extensions that run the
per-segment path about twice as fast (benchmarks/simulation.py prints which
build it measured).  Without the variable the package is pure Python.
"""

from __future__ import annotations

import os
from pathlib import Path

from setuptools import setup

# The per-segment hot path: the sans-IO core, the discrete-event engine and the
# link model.  Not compiled: sim/apps.py and transport/topology.py (users subclass
# the applications, the trio network subclasses the topology builder, and an
# interpreted class cannot inherit from a compiled one), the link profile and
# the queue disciplines (plain data and user-facing validation), the shells.
COMPILED_PACKAGES = ("emutcp/core",)
COMPILED_MODULES = (
    "emutcp/sim/engine.py",
    "emutcp/sim/network.py",
    "emutcp/sim/payload_crc.py",
    "emutcp/sim/wire.py",
    "emutcp/transport/link.py",
    "emutcp/transport/timeline.py",
)


def compiled_sources(root: Path = Path(__file__).parent) -> list[str]:
    """Every source file mypyc compiles, relative to ``root``."""
    files = [str(p.relative_to(root)) for d in COMPILED_PACKAGES for p in (root / d).glob("*.py")]
    return sorted(files) + list(COMPILED_MODULES)


ext_modules = []
compile_now = os.environ.get("EMUTCP_COMPILE", "") == "1"
# The build backend runs this file for metadata and the sdist too, without mypyc.
if compile_now and not os.environ.get("_EMUTCP_SKIP_MYPYC"):
    try:
        from mypyc.build import mypycify
    except ImportError:
        raise SystemExit("emutcp: EMUTCP_COMPILE=1 needs mypy>=2.0 (pip install mypy)") from None
    ext_modules = mypycify(compiled_sources(), opt_level="3")

setup(ext_modules=ext_modules)
