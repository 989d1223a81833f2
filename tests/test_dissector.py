"""The Wireshark Lua dissector decodes a live loopback capture of ``emutcp
demo`` and hands each segment to Wireshark's own TCP dissector."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time

import pytest
from netns import PY
from pcapng import TSHARK, needs_tshark

from emutcp.dissector import lua_path


def test_the_command_prints_the_packaged_script():
    out = subprocess.run([*PY, "dissector"], capture_output=True, text=True, timeout=30)
    assert out.returncode == 0
    path = out.stdout.strip()
    # The installed copy (a non-editable install runs the tests against the
    # checkout, the command against site-packages): the same script either way.
    assert os.path.isfile(path) and path.endswith(".lua")
    with open(path, "rb") as printed, open(lua_path(), "rb") as packaged:
        assert printed.read() == packaged.read()
    assert "lua_script:" in out.stderr


def _capture(path: str) -> subprocess.Popen:
    """Start tshark capturing UDP on loopback; return once it is capturing."""
    proc = subprocess.Popen(
        [TSHARK or "tshark", "-i", "lo", "-f", "udp", "-w", path],
        stderr=subprocess.PIPE,
        stdout=subprocess.DEVNULL,
    )
    assert proc.stderr is not None
    seen = b""
    deadline = time.monotonic() + 20
    while b"Capturing on" not in seen:
        line = proc.stderr.readline()
        if not line or time.monotonic() > deadline:
            proc.kill()
            proc.wait()
            proc.stderr.close()
            if os.environ.get("EMUTCP_REQUIRE_TSHARK") == "1":
                pytest.fail(f"tshark cannot capture on lo: {seen!r}")
            pytest.skip(f"tshark cannot capture on lo here: {seen[-200:]!r}")
        seen += line
    return proc


@needs_tshark
@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="loopback is 'lo' on Linux")
def test_tshark_decodes_a_live_capture_of_the_demo(tmp_path):
    cap = str(tmp_path / "lo.pcapng")
    tshark = _capture(cap)
    try:
        demo = subprocess.run(
            [*PY, "demo", "--json", "--no-emulated", "--bytes", "30000"],
            capture_output=True,
            timeout=60,
        )
        assert demo.returncode == 0, demo.stderr
    finally:
        tshark.send_signal(signal.SIGINT)
        tshark.wait(timeout=20)
        assert tshark.stderr is not None
        tshark.stderr.close()
    timeline = json.loads(demo.stdout)["timeline"]
    port = next(
        int(r["event"].rsplit(" ", 1)[1])
        for r in timeline
        if r["event"].startswith("bound to port")
    )
    fields = ["emutcp.seq", "tcp.flags.str", "tcp.seq", "tcp.ack", "tcp.len", "udp.srcport"]
    cmd = [TSHARK or "tshark", "-r", cap, "-X", f"lua_script:{lua_path()}"]
    cmd += ["-Y", f"emutcp && udp.port == {port}", "-T", "fields"]
    for name in fields:
        cmd += ["-e", name]
    out = subprocess.run(cmd, capture_output=True, text=True, timeout=120, check=True).stdout
    rows = [line.split("\t") for line in out.splitlines() if line.strip()]
    assert len(rows) >= 10
    flags = [r[1].replace("·", "").strip() for r in rows]
    assert "S" in flags[0] and "A" not in flags[0]  # the SYN first
    assert "S" in flags[1] and "A" in flags[1]  # then the SYN+ACK
    # Wireshark's TCP dissector numbers relative to the ISN: the handshake is 0/0,
    # and the request (17 bytes) is acknowledged with 18.
    assert rows[0][2] == "0" and rows[1][2] == "0" and rows[1][3] == "1"
    assert int(rows[0][0]) >= 0  # the raw sequence number from the emutcp fields
    assert any(r[4] == "17" for r in rows) and any(r[3] == "18" for r in rows)
    assert sum("F" in f for f in flags) == 2  # both FINs
