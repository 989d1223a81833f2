"""pcapng export checked by the real tshark: Wireshark's TCP analysis must agree."""

from __future__ import annotations

import os
import shutil
import subprocess

import pytest
from emunet import A, B, payload, transfer, two_hosts

import emutcp
from emutcp.core.segment import SYN, Options, Segment
from emutcp.pcap import PcapWriter, tcp_ip_packet

TSHARK = shutil.which("tshark")
# CI installs tshark and sets EMUTCP_REQUIRE_TSHARK=1 so these cannot silently skip.
needs_tshark = pytest.mark.skipif(
    TSHARK is None and os.environ.get("EMUTCP_REQUIRE_TSHARK") != "1",
    reason="tshark is not installed",
)


def tshark(path, *fields, display_filter: str | None = None) -> list[list[str]]:
    cmd = [TSHARK, "-r", str(path), "-o", "tcp.relative_sequence_numbers:TRUE", "-T", "fields"]
    for f in fields:
        cmd += ["-e", f]
    if display_filter:
        cmd += ["-Y", display_filter]
    out = subprocess.run(cmd, capture_output=True, text=True, check=True, timeout=120).stdout
    return [line.split("\t") for line in out.splitlines() if line.strip()]


def test_packet_headers_and_checksums():
    seg = Segment(
        40000,
        80,
        1000,
        0,
        SYN,
        65535,
        Options(mss=1400, wscale=7, sack_permitted=True, timestamps=(5, 0)),
    )
    pkt = tcp_ip_packet(seg, ("10.0.0.1", 40000), ("10.0.0.2", 80), 1)
    assert pkt[0] == 0x45 and pkt[9] == 6
    assert (pkt[32] >> 4) * 4 == 20 + 24  # MSS 4 + SACK-perm 4 + TS 12 + WS 4

    from emutcp.pcap import _checksum

    assert _checksum(pkt[:20]) == 0  # a correct IPv4 header sums to zero
    pseudo = pkt[12:20] + bytes([0, 6]) + (len(pkt) - 20).to_bytes(2, "big")
    assert _checksum(pseudo + pkt[20:]) == 0


@needs_tshark
async def test_clean_transfer_dissects_as_tcp(mock_clock, tmp_path):
    path = tmp_path / "clean.pcapng"
    writer = PcapWriter(str(path), snaplen=200)
    _net, a, b = two_hosts(seed=1, delay=0.01, rate=20e6, queue=100)
    a.trace = writer
    r = await transfer(a, b, payload(300_000))
    writer.close()
    assert r.intact
    problems = tshark(
        path,
        "frame.number",
        display_filter="tcp.analysis.ack_lost_segment or tcp.analysis.lost_segment "
        "or tcp.analysis.retransmission or tcp.checksum.status == 0",
    )
    assert problems == []
    flags = [row[0] for row in tshark(path, "tcp.flags.str")]
    assert "S" in flags[0] and "A" not in flags[0].replace("·", "")[:1]
    assert flags[0].strip("·").endswith("S") and "A" in flags[1] and "S" in flags[1]
    fins = [i for i, f in enumerate(flags) if "F" in f]
    assert len(fins) == 2 and fins[0] < fins[1]
    # Options survive: MSS, window scale, SACK-permitted and timestamps on the SYN.
    syn = tshark(
        path,
        "tcp.options.mss_val",
        "tcp.options.wscale.shift",
        "tcp.options.sack_perm",
        "tcp.options.timestamp.tsval",
        display_filter="tcp.flags.syn == 1",
    )
    assert syn[0][0] == "1400" and syn[0][1] and syn[0][2] and syn[0][3]
    comments = tshark(path, "frame.comment", display_filter="frame.comment")
    assert any("SYN" in c[0] for c in comments)


@needs_tshark
async def test_lossy_transfer_retransmissions_match_our_counters(mock_clock, tmp_path):
    path = tmp_path / "lossy.pcapng"
    writer = PcapWriter(str(path), snaplen=100)
    _net, a, b = two_hosts(seed=21, loss=0.03, delay=0.01, rate=20e6, queue=100)
    a.trace = writer
    r = await transfer(a, b, payload(1_000_000))
    writer.close()
    assert r.intact
    ours = r.client_info.retransmits
    assert ours > 10
    # Captured at the sender nothing is reordered, so a segment Wireshark calls
    # "out of order" (its heuristic for a resend sooner than one RTT) is a resend too.
    theirs = tshark(
        path,
        "frame.number",
        display_filter=f"ip.src == {A} and (tcp.analysis.retransmission or "
        "tcp.analysis.fast_retransmission or tcp.analysis.spurious_retransmission or "
        "tcp.analysis.out_of_order)",
    )
    assert len(theirs) == ours
    tagged = tshark(path, "frame.number", display_filter='frame.comment contains "retransmi"')
    assert [row[0] for row in tagged] == [row[0] for row in theirs]
    sacks = tshark(path, "tcp.options.sack_le", display_filter="tcp.options.sack_le")
    assert sacks, "SACK blocks should be visible to Wireshark"


def test_writer_skips_transitions(tmp_path):
    writer = PcapWriter(str(tmp_path / "x.pcapng"))
    writer(
        emutcp.Transition(0.0, emutcp.State.CLOSED, emutcp.State.SYN_SENT, "connect"),
        (A, 1),
        (B, 2),
    )
    writer.close()
    assert writer.packets == 0


async def test_pcap_option_and_metrics_in_the_jsonl_trace(mock_clock, tmp_path):
    from emutcp.trace import JsonlTrace, read_jsonl

    jsonl = JsonlTrace(str(tmp_path / "t.jsonl"))
    net = emutcp.EmulatedNetwork(seed=2)
    a = net.add_host(A, trace=jsonl, pcap=str(tmp_path / "a.pcapng"))
    b = net.add_host(B)
    net.add_link(A, B, delay=0.01)
    r = await transfer(a, b, payload(200_000))
    jsonl.close()
    a.pcap.close()
    assert r.intact and a.pcap.packets > 100
    kinds = {rec["kind"] for rec in read_jsonl(str(tmp_path / "t.jsonl"))}
    assert kinds == {"transition", "segment", "metrics"}
