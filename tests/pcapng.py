"""A minimal pcapng reader for tests: each packet's timestamp, bytes and comment."""

from __future__ import annotations

import os
import shutil
import struct
import subprocess
from dataclasses import dataclass

import pytest

TSHARK = shutil.which("tshark")
# CI installs tshark and sets EMUTCP_REQUIRE_TSHARK=1 so these cannot silently skip.
needs_tshark = pytest.mark.skipif(
    TSHARK is None and os.environ.get("EMUTCP_REQUIRE_TSHARK") != "1",
    reason="tshark is not installed",
)


@dataclass
class Packet:
    time: float  # seconds since the Unix epoch (microsecond resolution)
    data: bytes
    comment: str


def read_pcapng(path) -> list[Packet]:
    with open(path, "rb") as f:
        raw = f.read()
    out: list[Packet] = []
    at = 0
    while at + 12 <= len(raw):
        block_type, length = struct.unpack_from("<II", raw, at)
        if block_type == 6:  # enhanced packet block
            _, hi, lo, caplen, _ = struct.unpack_from("<IIIII", raw, at + 8)
            data = raw[at + 28 : at + 28 + caplen]
            comment = ""
            opt = at + 28 + caplen + (-caplen % 4)
            while opt < at + length - 4:
                code, olen = struct.unpack_from("<HH", raw, opt)
                if code == 0:
                    break
                if code == 1:
                    comment = raw[opt + 4 : opt + 4 + olen].decode()
                opt += 4 + olen + (-olen % 4)
            out.append(Packet(((hi << 32) | lo) / 1e6, data, comment))
        at += length
    return out


def tshark_lines(path, *args: str) -> list[str]:
    cmd = [TSHARK or "tshark", "-r", str(path), *args]
    out = subprocess.run(cmd, capture_output=True, text=True, check=True, timeout=120).stdout
    return [line for line in out.splitlines() if line.strip()]
