"""Types as documentation: mypy over emutcp/ (strict on core/ and transport/,
see pyproject.toml) must report nothing."""

from __future__ import annotations

import pathlib

import pytest

api = pytest.importorskip("mypy.api", reason="mypy is in the test extra")
ROOT = pathlib.Path(__file__).resolve().parent.parent


@pytest.mark.slow
def test_mypy_reports_no_error(monkeypatch):
    monkeypatch.chdir(ROOT)  # pyproject.toml's [tool.mypy] applies
    out, err, status = api.run(["--no-error-summary", "--cache-dir", "/tmp/emutcp-mypy-cache"])
    assert status == 0, out + err


def test_the_package_ships_its_types():
    assert (ROOT / "emutcp" / "py.typed").exists()
    assert "py.typed" in (ROOT / "pyproject.toml").read_text()
