"""The mypyc-compiled build runs the same TCP: same bytes as the pure package.

``EMUTCP_COMPILE=1 pip install .`` compiles the modules setup.py lists with
mypyc (docs/compiled.md).  This test builds them from this checkout into a
scratch tree and runs, against that tree, the tests that pin what goes on the
wire: the golden pcap (its md5 is the pure build's), both engines datagram for
datagram, byte-identical trial JSON through routers and AQMs, the wire format's
property tests; and the real-UDP tests (GSO/GRO, coalescing, a reader
waiting on the socket itself) over the compiled core.  A compiler
difference that changed a single byte fails here.

Needs a C compiler, Python's headers, mypy and setuptools; .ci/run installs the
first two and sets EMUTCP_REQUIRE_COMPILER=1, so it cannot skip there.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import sysconfig
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
# Tests that pin bytes on the wire and in results, and the real-UDP path's,
# rerun on the compiled tree.
PINNING_TESTS = (
    "tests/test_golden_pcap.py",
    "tests/test_sim.py",
    "tests/test_network_model.py",
    "tests/test_wire_property.py",
    "tests/test_core_fastpaths.py",
    "tests/test_sim_wire.py",
    "tests/test_sim_fast_paths.py",
    "tests/test_link_fast.py",
    "tests/test_coalesce.py",
    "tests/test_segment.py",
    "tests/test_udp_gso.py",
    "tests/test_udp_reader.py",
)


def _missing_toolchain() -> str | None:
    if shutil.which(sysconfig.get_config_var("CC").split()[0] or "cc") is None:
        return "no C compiler"
    if not (Path(sysconfig.get_paths()["include"]) / "Python.h").exists():
        return "no Python.h (python3-dev)"
    for module in ("mypyc", "setuptools"):
        try:
            __import__(module)
        except ImportError:
            return f"{module} is not installed"
    return None


@pytest.fixture(scope="module")
def compiled_tree(tmp_path_factory: pytest.TempPathFactory) -> Path:
    missing = _missing_toolchain()
    if missing:
        if os.environ.get("EMUTCP_REQUIRE_COMPILER"):
            pytest.fail(f"EMUTCP_REQUIRE_COMPILER is set but {missing}")
        pytest.skip(f"cannot build the compiled core: {missing}")
    tree = tmp_path_factory.mktemp("compiled")
    shutil.copytree(ROOT / "emutcp", tree / "emutcp", ignore=shutil.ignore_patterns("*.so"))
    shutil.copy(ROOT / "setup.py", tree)
    shutil.copy(ROOT / "pyproject.toml", tree)
    env = {**os.environ, "EMUTCP_COMPILE": "1"}
    build = subprocess.run(
        [sys.executable, "setup.py", "build_ext", "--inplace"],
        cwd=tree,
        env=env,
        capture_output=True,
        text=True,
    )
    assert build.returncode == 0, build.stdout[-3000:] + build.stderr[-3000:]
    assert list((tree / "emutcp" / "core").glob("connection.*.so")), "mypyc built nothing"
    return tree


def test_the_compiled_build_reports_itself(compiled_tree: Path) -> None:
    out = subprocess.run(
        [
            sys.executable,
            "-c",
            "import emutcp, emutcp.core.connection as c; print(emutcp.COMPILED, c.__file__)",
        ],
        cwd=compiled_tree,
        capture_output=True,
        text=True,
        check=True,
    ).stdout.split()
    assert out[0] == "True"
    assert out[1].endswith(".so") and out[1].startswith(str(compiled_tree))


def test_the_compiled_build_puts_the_same_bytes_on_the_wire(compiled_tree: Path) -> None:
    # cwd first on sys.path (python -m): the compiled tree shadows any install.
    env = {**os.environ, "EMUTCP_EXPECT_COMPILED": "1", "PYTHONDONTWRITEBYTECODE": "1"}
    run = subprocess.run(
        [
            sys.executable,
            "-m",
            "pytest",
            "-q",
            "-p",
            "no:cacheprovider",
            "-p",
            "no:xdist",
            "--rootdir",
            str(ROOT),
            *(str(ROOT / t) for t in PINNING_TESTS),
        ],
        cwd=compiled_tree,
        env=env,
        capture_output=True,
        text=True,
    )
    assert run.returncode == 0, run.stdout[-4000:] + run.stderr[-2000:]
    assert " passed" in run.stdout and " failed" not in run.stdout
