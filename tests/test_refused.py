"""A refused connection shown honestly: with nothing bound on the UDP port, the
refusal is the peer host's ICMP port unreachable, not a TCP RST (RFC 1122
4.2.3.9).  The error message, the trace cause and the pcap all say so."""

from __future__ import annotations

import json
import struct
import subprocess

import pytest
from netns import PY, free_udp_port
from pcapng import needs_tshark, read_pcapng, tshark_lines

import emutcp
from emutcp.pcap import icmp_port_unreachable


@pytest.fixture(scope="module")
def refused(tmp_path_factory):
    d = tmp_path_factory.mktemp("refused")
    port = free_udp_port()
    proc = subprocess.run(
        [
            *PY,
            "connect",
            "127.0.0.1",
            str(port),
            "--pcap",
            str(d / "r.pcapng"),
            "--trace",
            str(d / "r.jsonl"),
        ],
        input=b"",
        capture_output=True,
        timeout=30,
    )
    return proc, d, port


def test_connect_to_nothing_is_one_line_naming_icmp(refused):
    proc, _, port = refused
    assert proc.returncode == 1
    lines = proc.stderr.decode().splitlines()
    assert len(lines) == 1, lines
    assert "ICMP port unreachable" in lines[0] and f"port {port}" in lines[0]
    assert "no TCP RST" in lines[0]


def test_the_trace_cause_is_icmp(refused):
    _, d, _ = refused
    records = [json.loads(line) for line in (d / "r.jsonl").read_text().splitlines()]
    last = [r for r in records if r["kind"] == "transition"][-1]
    assert (last["old"], last["new"]) == ("SYN-SENT", "CLOSED")
    assert "ICMP port unreachable" in last["cause"]
    assert not any(r["kind"] == "segment" and "RST" in r["flags"] for r in records)


def test_the_pcap_holds_the_icmp_message(refused):
    _, d, port = refused
    packets = read_pcapng(d / "r.pcapng")
    assert len(packets) == 2  # our SYN, the peer host's ICMP
    syn, icmp = packets
    assert syn.data[9] == 6 and icmp.data[9] == 1  # IP protocol: TCP, then ICMP
    assert icmp.data[20:22] == b"\x03\x03"  # destination unreachable, port unreachable
    quoted = icmp.data[28:]
    assert quoted[9] == 17  # the refused datagram was UDP
    src_port, dst_port = struct.unpack("!HH", quoted[20:24])
    assert dst_port == port and src_port == struct.unpack("!H", syn.data[20:22])[0]
    assert 0 <= icmp.time - syn.time < 5


@needs_tshark
def test_tshark_shows_destination_unreachable(refused):
    _, d, port = refused
    lines = tshark_lines(d / "r.pcapng")
    assert "Destination unreachable (Port unreachable)" in lines[-1]
    fields = tshark_lines(d / "r.pcapng", "-Y", "icmp", "-T", "fields", "-e", "udp.dstport")
    assert fields == [str(port)]


def test_icmp_checksums_are_valid():
    packet = icmp_port_unreachable(("127.0.0.1", 5000), ("127.0.0.1", 6000), 40, 1)

    def fold(data: bytes) -> int:
        total = sum(struct.unpack(f"!{len(data) // 2}H", data))
        while total >> 16:
            total = (total & 0xFFFF) + (total >> 16)
        return total

    assert fold(packet[:20]) == 0xFFFF and fold(packet[20:]) == 0xFFFF


async def test_a_bound_socket_that_does_not_listen_still_answers_rst():
    # The UDP port is open (an emutcp socket is bound), so the peer's TCP
    # answers the SYN with RST (RFC 9293 3.10.7.1): not an ICMP refusal.
    bound = emutcp.socket()
    await bound.bind(("127.0.0.1", 0))
    client = emutcp.socket()
    with pytest.raises(ConnectionRefusedError, match="RST"):
        await client.connect(bound.getsockname())
    assert "RST" in client.transitions[-1].cause
    client.close()
    bound.close()
