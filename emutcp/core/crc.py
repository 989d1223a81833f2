"""The segment checksum: CRC-32 (zlib's polynomial), from the fastest library here.

Every datagram carries ``zlib.crc32`` of its encoded fields (segment.py), so
a bulk transfer computes a CRC over every payload byte once to send it and
once to accept it.  zlib 1.2 computes it a byte or eight at a time: about
1 us for a 1,400-byte segment on this project's machines.  python-isal (the
``fast`` extra: ``pip install 'emutcp[fast]'``) computes the same CRC with
Intel ISA-L's carry-less-multiply code, about three times faster.  The two
agree on every input (the same polynomial, init and final XOR, and the same
running form ``crc32(data, value)``), so which one runs changes no byte: at
import the fast one must reproduce zlib's check values, else zlib is used.
``EMUTCP_CRC=zlib`` in the environment forces zlib.
"""

from __future__ import annotations

import importlib
import os
import zlib
from collections.abc import Callable
from typing import Any, Final


def _check_values(crc: Callable[..., int]) -> bool:
    """Whether ``crc`` is zlib's CRC-32: the check value, a running form, empty input."""
    return (
        crc(b"123456789") == 0xCBF43926
        and crc(b"56789", crc(b"1234")) == 0xCBF43926
        and crc(b"") == 0
        and crc(bytes(range(256)) * 6, 0x12345678) == zlib.crc32(bytes(range(256)) * 6, 0x12345678)
    )


def _fastest() -> tuple[Callable[..., int], str]:
    if os.environ.get("EMUTCP_CRC", "") != "zlib":
        try:
            module: Any = importlib.import_module("isal.isal_zlib")
        except ImportError:
            pass
        else:
            if _check_values(module.crc32):
                return module.crc32, "isal"
    return zlib.crc32, "zlib"


_CHOSEN: Final = _fastest()
# ``crc32(data, value=0)``: zlib's signature; takes bytes, bytearray or memoryview.
crc32: Final[Callable[..., int]] = _CHOSEN[0]
BACKEND: Final[str] = _CHOSEN[1]  # "isal" or "zlib": which library computes it

__all__ = ["BACKEND", "crc32"]
