"""emutcp's build backend: setuptools, plus the optional mypyc-compiled build.

``pip install .`` builds the pure-Python package, as always.  With
``EMUTCP_COMPILE=1`` the build also asks for mypy (whose mypyc compiles the
sans-IO core and the simulation engine to C extensions; see setup.py and
docs/compiled.md).  A compiled *editable* install is refused: the extension
modules would shadow every later edit of the .py files they came from.
"""

from __future__ import annotations

import os
import tomllib
from typing import Any

from setuptools import build_meta as _setuptools
from setuptools.build_meta import *  # noqa: F403 (the PEP 517 hooks we do not change)

MYPYC_REQUIREMENT = "mypy>=2.0"
REQUIREMENTS_ONLY = "_EMUTCP_BUILD_REQUIREMENTS_ONLY"  # read by setup.py


def _compile() -> bool:
    return os.environ.get("EMUTCP_COMPILE", "") == "1"


def get_requires_for_build_wheel(config_settings: dict[str, Any] | None = None) -> list[str]:
    if not _compile():
        return _setuptools.get_requires_for_build_wheel(config_settings)
    # setuptools runs setup.py to learn its requirements; mypy is not there yet.
    os.environ[REQUIREMENTS_ONLY] = "1"
    try:
        needs = _setuptools.get_requires_for_build_wheel(config_settings)
        # mypyc type-checks the whole import graph: the runtime dependencies too.
        return [*needs, MYPYC_REQUIREMENT, *_runtime_dependencies()]
    finally:
        del os.environ[REQUIREMENTS_ONLY]


def _runtime_dependencies() -> list[str]:
    with open("pyproject.toml", "rb") as f:
        deps: list[str] = tomllib.load(f)["project"]["dependencies"]
    return deps


def get_requires_for_build_editable(config_settings: dict[str, Any] | None = None) -> list[str]:
    _refuse_compiled_editable()
    return _setuptools.get_requires_for_build_editable(config_settings)


def build_editable(
    wheel_directory: str,
    config_settings: dict[str, Any] | None = None,
    metadata_directory: str | None = None,
) -> str:
    _refuse_compiled_editable()
    return _setuptools.build_editable(wheel_directory, config_settings, metadata_directory)


def _refuse_compiled_editable() -> None:
    if _compile():
        raise SystemExit(
            "emutcp: EMUTCP_COMPILE=1 needs a regular install (pip install .), not -e: "
            "compiled modules would hide your edits of the .py files"
        )
