"""emutcp's build backend: setuptools, plus the optional mypyc-compiled build.

``pip install .`` builds the pure-Python package, as always.  With
``EMUTCP_COMPILE=1`` the build also asks for mypy (whose mypyc compiles the
sans-IO core, the simulation engine and the link model to C extensions; see
setup.py and docs/compiled.md), and only ``build_wheel`` compiles: every other
hook runs setup.py with mypyc switched off.  A compiled *editable* install is
refused: the extension modules would shadow every later edit of the .py files.
"""

from __future__ import annotations

import contextlib
import os
import tomllib
from collections.abc import Iterator
from typing import Any

from setuptools import build_meta as _setuptools
from setuptools.build_meta import *  # noqa: F403 (the PEP 517 hooks we do not change)

MYPYC_REQUIREMENT = "mypy>=2.0"
SKIP_MYPYC = "_EMUTCP_SKIP_MYPYC"  # read by setup.py

Settings = dict[str, Any] | None


def _compile() -> bool:
    return os.environ.get("EMUTCP_COMPILE", "") == "1"


@contextlib.contextmanager
def _without_mypyc() -> Iterator[None]:
    """setup.py runs for metadata, requirements and the sdist too: no mypyc there."""
    old = os.environ.get(SKIP_MYPYC)
    os.environ[SKIP_MYPYC] = "1"
    try:
        yield
    finally:
        if old is None:
            del os.environ[SKIP_MYPYC]
        else:
            os.environ[SKIP_MYPYC] = old


def _runtime_dependencies() -> list[str]:
    with open("pyproject.toml", "rb") as f:
        deps: list[str] = tomllib.load(f)["project"]["dependencies"]
    return deps


def _refuse_compiled_editable() -> None:
    if _compile():
        raise SystemExit(
            "emutcp: EMUTCP_COMPILE=1 needs a regular install (pip install .), not -e: "
            "compiled modules would hide your edits of the .py files"
        )


def get_requires_for_build_wheel(config_settings: Settings = None) -> list[str]:
    with _without_mypyc():
        needs = _setuptools.get_requires_for_build_wheel(config_settings)
    # mypyc type-checks the whole import graph: the runtime dependencies too.
    extra = [MYPYC_REQUIREMENT, *_runtime_dependencies()] if _compile() else []
    return [*needs, *extra]


def prepare_metadata_for_build_wheel(
    metadata_directory: str, config_settings: Settings = None
) -> str:
    with _without_mypyc():
        return _setuptools.prepare_metadata_for_build_wheel(metadata_directory, config_settings)


def get_requires_for_build_sdist(config_settings: Settings = None) -> list[str]:
    with _without_mypyc():
        return _setuptools.get_requires_for_build_sdist(config_settings)


def build_sdist(sdist_directory: str, config_settings: Settings = None) -> str:
    with _without_mypyc():
        return _setuptools.build_sdist(sdist_directory, config_settings)


def get_requires_for_build_editable(config_settings: Settings = None) -> list[str]:
    _refuse_compiled_editable()
    return _setuptools.get_requires_for_build_editable(config_settings)


def prepare_metadata_for_build_editable(
    metadata_directory: str, config_settings: Settings = None
) -> str:
    _refuse_compiled_editable()
    return _setuptools.prepare_metadata_for_build_editable(metadata_directory, config_settings)


def build_editable(
    wheel_directory: str,
    config_settings: Settings = None,
    metadata_directory: str | None = None,
) -> str:
    _refuse_compiled_editable()
    return _setuptools.build_editable(wheel_directory, config_settings, metadata_directory)
