"""The segment checksum's CRC-32 comes from the fastest library present
(core/crc.py: python-isal when installed, else zlib); both must give zlib's
values for every input, so the choice changes no byte on the wire."""

from __future__ import annotations

import importlib
import zlib

import pytest
from hypothesis import given
from hypothesis import strategies as st

from emutcp.core import crc


@given(st.binary(max_size=3000), st.integers(0, 2**32 - 1))
def test_the_chosen_crc_is_zlibs(data: bytes, start: int) -> None:
    assert crc.crc32(data) == zlib.crc32(data)
    assert crc.crc32(data, start) == zlib.crc32(data, start)
    assert crc.crc32(memoryview(data)[1:]) == zlib.crc32(data[1:])


def test_without_isal_zlib_computes_it(monkeypatch: pytest.MonkeyPatch) -> None:
    def missing(name: str) -> object:
        raise ImportError(name)

    monkeypatch.setattr(importlib, "import_module", missing)
    assert crc._fastest() == (zlib.crc32, "zlib")


def test_the_environment_can_force_zlib(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("EMUTCP_CRC", "zlib")
    assert crc._fastest() == (zlib.crc32, "zlib")


def test_a_fast_crc_that_disagrees_is_not_used(monkeypatch: pytest.MonkeyPatch) -> None:
    class Wrong:
        @staticmethod
        def crc32(data: bytes, value: int = 0) -> int:
            return zlib.crc32(data, value) ^ 1

    monkeypatch.setattr(importlib, "import_module", lambda name: Wrong)
    assert crc._fastest() == (zlib.crc32, "zlib")


def test_isal_is_used_when_installed(monkeypatch: pytest.MonkeyPatch) -> None:
    try:
        isal_zlib = importlib.import_module("isal.isal_zlib")
    except ImportError:
        pytest.skip("python-isal is not installed (the fast extra)")
    monkeypatch.delenv("EMUTCP_CRC", raising=False)
    assert crc._fastest() == (isal_zlib.crc32, "isal")
