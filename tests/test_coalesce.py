"""Receive-side coalescing (core/coalesce.py, Linux's GRO): the merge rules,
what stops a merge, one ACK per batch, data intact (sha256), and a real-UDP
loopback transfer that merges.

The sans-IO tests drive two ``Mux`` objects by hand: no clock, no network.
"""

from __future__ import annotations

import hashlib
import random
import sys
import zlib
from typing import Any

import pytest
import trio
from pcapng import read_pcapng

import emutcp
from emutcp.core import coalesce
from emutcp.core.coalesce import Coalescer
from emutcp.core.config import Config
from emutcp.core.connection import Connection
from emutcp.core.mux import Mux
from emutcp.core.segment import (
    ACK,
    CWR,
    FIN,
    PSH,
    MalformedSegment,
    Options,
    Segment,
    decode_segment,
    encode_segment,
    plausible_segment,
)
from emutcp.core.state import State
from emutcp.endpoint import Endpoint
from emutcp.lab.bulk import bulk_transfer
from emutcp.transport.udp import UdpTransport

MSS = 1000
T = 0.01


def _pair(
    mss: int = MSS, recv_buffer: int = 1 << 20, *, ecn: bool = False
) -> tuple[Mux, Mux, Connection, Connection]:
    """Two muxes with an established connection (client a, server b)."""
    config = Config(mss=mss, send_buffer=1 << 20, recv_buffer=1 << 20, initial_window=40, ecn=ecn)
    a = Mux(local=("10.0.0.1", 5000), config=config, rng=random.Random(1))
    b = Mux(
        local=("10.0.0.2", 80),
        config=config.replace(recv_buffer=recv_buffer),
        rng=random.Random(2),
    )
    b.listen(4, 0.0)
    client = a.connect(b.local, 0.0)
    for data, _ in a.datagrams_to_send(0.0):  # SYN
        b.receive_datagram(data, a.local, 0.0)
    for data, _ in b.datagrams_to_send(0.0):  # SYN+ACK
        a.receive_datagram(data, b.local, T)
    client.send(b"", T)
    a.touch(client)
    for data, _ in a.datagrams_to_send(T):  # the handshake's ACK
        b.receive_datagram(data, a.local, T)
    server = b.accept()
    assert server is not None and server.state is State.ESTABLISHED
    b.datagrams_to_send(T)
    return a, b, client, server


def _data_segments(a: Mux, client: Connection, n: int, mss: int = MSS) -> tuple[bytes, list[bytes]]:
    """``n`` full segments of random data from the client, as sent."""
    data = random.Random(3).randbytes(n * mss)
    assert client.send(data, T) == len(data)
    a.touch(client)
    out = [d for d, _ in a.datagrams_to_send(T)]
    assert len(out) == n
    return data, out


def _feed(b: Mux, a: Mux, datagrams: list[bytes]) -> tuple[Coalescer, list[Segment]]:
    """One batch through a Coalescer; returns it and what b sent back."""
    c = Coalescer(b)
    for d in datagrams:
        c.datagram(d, a.local, 2 * T)
    c.finish(2 * T)
    return c, [decode_segment(d) for d, _ in b.datagrams_to_send(2 * T)]


def _read_all(server: Connection) -> bytes:
    return server.receive(1 << 22, 2 * T)


def _digest(b: bytes) -> str:
    return hashlib.sha256(b).hexdigest()


def _edit(datagram: bytes, **changes: Any) -> bytes:
    return encode_segment(decode_segment(datagram).replace(**changes))


def test_an_in_order_batch_is_one_segment_and_one_ack():
    a, b, client, server = _pair()
    data, out = _data_segments(a, client, 20)
    c, replies = _feed(b, a, out)
    assert (c.runs, c.merged) == (1, 19)
    assert b.stats["coalesced"] == 19 and b.stats["segments_in"] == 2 + 20
    assert server.stats.segments_received == 2 + 20  # wire segments, as Linux's segs_in
    # 20 full segments in one batch: one ACK, at once, for all of them
    # (RFC 9293 3.8.6.3: at least every second full segment is acknowledged).
    assert len(replies) == 1
    assert replies[0].flags == ACK and replies[0].ack == server.rcv_nxt
    assert _digest(_read_all(server)) == _digest(data)
    # The sender takes the one ACK for all 20 segments.
    a.receive_datagram(encode_segment(replies[0]), b.local, 3 * T)
    assert client.snd_una == client.snd_max


def test_without_coalescing_the_core_processes_each_segment():
    """The reference: the mux alone gets the same bytes and the same final ACK."""
    a, b, client, server = _pair()
    data, out = _data_segments(a, client, 20)
    for d in out:
        b.receive_datagram(d, a.local, 2 * T)
    replies = [decode_segment(d) for d, _ in b.datagrams_to_send(2 * T)]
    assert [r.ack for r in replies] == [server.rcv_nxt]
    assert server.stats.segments_received == 3 + 20 - 1  # the handshake's 2, then 20
    assert _digest(_read_all(server)) == _digest(data)


def test_a_lost_segment_stops_the_merge_and_the_rest_gets_duplicate_acks():
    a, b, client, server = _pair()
    data, out = _data_segments(a, client, 10)
    c, replies = _feed(b, a, out[:4] + out[5:])  # segment 4 lost
    assert (c.runs, c.merged) == (1, 3)  # 0-3 merged; 5-9 out of order, one by one
    # RFC 5681 4.2: one duplicate ACK per out-of-order segment (SACK: RFC 2018).
    dup = [r for r in replies if r.ack == (client.iss + 1 + 4 * MSS) & 0xFFFFFFFF]
    assert len(dup) == 5 and all(r.options.sack_blocks for r in dup)
    _feed(b, a, [out[4]])  # the retransmission fills the hole
    assert _digest(_read_all(server)) == _digest(data)


def test_reordering_stops_the_merge_and_the_data_arrives_intact():
    a, b, client, server = _pair()
    data, out = _data_segments(a, client, 6)
    c, _ = _feed(b, a, [out[0], out[1], out[3], out[2], out[4], out[5]])
    assert (c.runs, c.merged) == (2, 2)  # [0, 1] and [4, 5]; 3 and 2 alone
    assert _digest(_read_all(server)) == _digest(data)


@pytest.mark.parametrize(
    "change",
    [
        {"flags": ACK | FIN},
        {"flags": ACK | CWR},
        {"ack": 1},
        {"window": 7},
        {"options": Options(timestamps=(1, 1))},
        {"options": Options(sack_blocks=((1, 2),))},
    ],
    ids=["fin", "cwr", "ack", "window", "timestamps", "sack"],
)
def test_a_segment_that_differs_is_not_merged(change: dict[str, Any]):
    a, b, client, _server = _pair()
    _, out = _data_segments(a, client, 3)
    c = Coalescer(b)
    c.datagram(out[0], a.local, 2 * T)
    c.datagram(_edit(out[1], **change), a.local, 2 * T)
    assert c.merged == 0


def test_psh_merges_as_the_last_and_a_short_segment_ends_the_run():
    a, b, client, server = _pair()
    data, out = _data_segments(a, client, 6)
    pushed = _edit(out[2], flags=ACK | PSH)
    c, _ = _feed(b, a, [out[0], out[1], pushed, out[3]])
    assert (c.runs, c.merged) == (1, 2)  # [0, 1, 2+PSH]; 3 starts a new run
    assert _read_all(server) == data[: 4 * MSS]
    # A short segment joins as the last: nothing after it merges.
    seg5 = decode_segment(out[5])
    short = encode_segment(seg5.replace(payload=seg5.payload[:10]))
    after = encode_segment(seg5.replace(seq=(seg5.seq + 10) & 0xFFFFFFFF, payload=b"z" * 10))
    c, _ = _feed(b, a, [out[4], short, after])
    assert (c.runs, c.merged) == (1, 1)
    assert _read_all(server) == data[4 * MSS : 5 * MSS] + seg5.payload[:10] + b"z" * 10


def test_other_peers_ecn_and_malformed_datagrams_stop_the_merge():
    a, b, client, server = _pair()
    data, out = _data_segments(a, client, 4)
    c = Coalescer(b)
    c.datagram(out[0], a.local, 2 * T)
    c.datagram(b"\x9a\x01 junk that is not a segment", a.local, 2 * T)
    c.datagram(out[1], a.local, 2 * T)
    c.datagram(out[2], a.local, 2 * T, 3)  # CE: another ECN field
    c.datagram(out[3], ("10.0.0.9", 5000), 2 * T)  # another peer: no connection
    c.finish(2 * T)
    assert c.merged == 0 and b.stats["malformed"] == 1
    assert _read_all(server) == data[: 3 * MSS]


def test_the_core_accepts_a_merged_segment_only_up_to_count_times_the_mss():
    a, b, client, server = _pair()
    _, out = _data_segments(a, client, 2)
    s0, s1 = decode_segment(out[0]), decode_segment(out[1])
    merged = s0.replace(payload=s0.payload + s1.payload)
    b.receive_segment(merged, 0, a.local, 2 * T)  # count=1: larger than the MSS
    assert b.stats["malformed"] == 1
    b.receive_segment(merged, 0, a.local, 2 * T, 0, 2)
    assert server.rcv_nxt == (s1.seq + MSS) & 0xFFFFFFFF


def test_a_run_stays_within_a_64k_ip_packet():
    a, b, client, server = _pair(9000)
    _, out = _data_segments(a, client, 7, 9000)  # the SYN's unscaled window: 65,535
    _, replies = _feed(b, a, out)
    _read_all(server)
    for r in replies:  # now the scaled window of 1 MiB
        a.receive_datagram(encode_segment(r), b.local, 3 * T)
    data, out = _data_segments(a, client, 12, 9000)
    c, _ = _feed(b, a, out)
    assert c.runs == 2 and c.merged == 10  # 7 x 9000 fit in 65,347 bytes, then 5
    assert coalesce.MAX_PAYLOAD < 65_535 - 20 - 60
    assert _digest(_read_all(server)) == _digest(data)


class RecordingHost(emutcp.UdpHost):
    """A real-UDP host that lists the endpoints it opens (``made``): a
    subclass, not a patch, so it works when Endpoint is compiled."""

    def __init__(self, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.made: list[Endpoint] = []

    def _new_endpoint(self, transport: Any, config: emutcp.Config) -> Endpoint:
        self.made.append(super()._new_endpoint(transport, config))
        return self.made[-1]


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="Linux UDP GRO")
async def test_a_real_udp_transfer_merges_and_arrives_intact():
    host = RecordingHost(config=emutcp.Config(send_buffer=1 << 20, recv_buffer=1 << 20))
    made = host.made
    data = random.Random(8).randbytes(3_000_000)
    with trio.fail_after(30):
        result = await bulk_transfer(host, host, data)
    assert result.intact
    assert sum(ep.coalescer.merged for ep in made if ep.coalescer is not None) > 100


@pytest.mark.skipif(
    not coalesce.__file__.endswith(".py"), reason="compiled (mypyc): calls are bound early"
)
def test_later_datagrams_of_a_run_skip_the_decoder(monkeypatch: pytest.MonkeyPatch):
    calls = []
    decode = coalesce.decode_segment

    def counted(data: bytes, **kw: Any) -> Segment:
        calls.append(data)
        return decode(data, **kw)

    monkeypatch.setattr(coalesce, "decode_segment", counted)
    a, b, client, server = _pair()
    data, out = _data_segments(a, client, 20)
    c, _ = _feed(b, a, out)
    assert len(calls) == 1 and c.merged == 19
    assert _digest(_read_all(server)) == _digest(data)


def test_a_corrupted_datagram_in_a_run_is_dropped_not_merged():
    a, b, client, server = _pair()
    data, out = _data_segments(a, client, 5)
    bad = bytearray(out[2])
    bad[len(bad) // 2] ^= 0x40  # a payload bit: the CRC no longer matches
    c, _ = _feed(b, a, [out[0], out[1], bytes(bad), out[3], out[4]])
    assert b.stats["malformed"] == 1
    assert (c.runs, c.merged) == (1, 1)  # [0, 1]; then 3 and 4 are out of order
    assert _read_all(server) == data[: 2 * MSS]


def _mutated_run(rng: random.Random, *, first: int, head_only: bool, fix_crc: float) -> list[bytes]:
    """A run of 4 data segments with 1-3 random byte changes to datagrams
    [first, 4), in their first 5 % (``head_only``) or anywhere; each changed
    datagram's CRC recomputed with probability ``fix_crc`` (a header change
    then reaches the field checks)."""
    a0, _, client0, _ = _pair()
    _, out = _data_segments(a0, client0, 4)
    mutated = list(out)
    for _ in range(rng.randint(1, 3)):
        k = rng.randrange(first, 4)
        d = bytearray(mutated[k])
        d[rng.randrange(len(d) // 20 if head_only else len(d))] = rng.randrange(256)
        if rng.random() < fix_crc and d[-5] == 0xCE:
            d[-4:] = zlib.crc32(d[1:-5]).to_bytes(4, "big")
        mutated[k] = bytes(d)
    return mutated


@pytest.mark.parametrize("seed", range(3))
@pytest.mark.parametrize("fix_crc", [False, True])
def test_the_fast_path_accepts_exactly_what_the_decoder_accepts(seed: int, fix_crc: bool):
    """Random byte changes to a run's later datagrams (with the CRC recomputed:
    header changes then reach the field checks): the bytes the receiver gets,
    and the datagrams counted malformed, are those of the mux alone."""
    rng = random.Random(seed)
    for _ in range(60):
        outcomes = []
        mutated = _mutated_run(rng, first=1, head_only=fix_crc, fix_crc=1.0 if fix_crc else 0.0)
        for coalescing in (True, False):
            a, b, client, server = _pair()
            _data_segments(a, client, 4)  # the same connection state (same seeds)
            if coalescing:
                _feed(b, a, mutated)
            else:
                for d in mutated:
                    b.receive_datagram(d, a.local, 2 * T)
            outcomes.append((_read_all(server), server.rcv_nxt, b.stats["malformed"]))
        assert outcomes[0] == outcomes[1]


def _with_crc(body: bytes) -> bytes:
    """``body`` (a datagram without its CRC) with its CRC appended."""
    return body + b"\xce" + zlib.crc32(body[1:]).to_bytes(4, "big")


def test_a_run_whose_flags_are_not_a_fixint_takes_the_decoder():
    """Flags packed as a uint8 (cc 10) are valid msgpack, but the fast path matches
    followers by one flags byte: such a run goes through the decoder, which then
    refuses a follower that copies the first's header bytes (found by review)."""
    a, b, client, server = _pair()
    _, out = _data_segments(a, client, 3)
    first = out[0]
    i = coalesce._int_end(first, coalesce._int_end(first, 2))
    flags_at = coalesce._int_end(first, i + 5)
    assert first[flags_at] == ACK
    odd_first = _with_crc(first[:flags_at] + b"\xcc\x10" + first[flags_at + 1 : -5])
    assert decode_segment(odd_first, max_payload=MSS).flags == ACK  # valid, not canonical
    second = out[1]
    follower = _with_crc(second[:flags_at] + b"\x10\x10" + second[flags_at + 1 : -5])
    with pytest.raises(MalformedSegment):
        decode_segment(follower, max_payload=MSS)
    start = server.rcv_nxt
    c = Coalescer(b)
    for d in (odd_first, follower):
        c.datagram(d, a.local, T)
    c.finish(T)
    assert c.merged == 0 and b.stats["malformed"] == 1
    assert (server.rcv_nxt - start) & 0xFFFFFFFF == MSS  # the first only


def test_data_held_before_an_icmp_error_reaches_the_core_first():
    """A run held when an ICMP unreachable arrives is processed before it: the
    data proves the peer is there (RFC 1122 4.2.3.9), then the error counts once,
    exactly as with the mux alone (found by review)."""
    counts = []
    for coalescing in (True, False):
        a, b, client, server = _pair()
        _, out = _data_segments(a, client, 3)
        c = Coalescer(b)
        for d in out:
            (c.datagram if coalescing else b.receive_datagram)(d, a.local, 2 * T)
        (c.icmp_unreachable if coalescing else b.receive_icmp_unreachable)(a.local, 2 * T)
        c.finish(2 * T)
        counts.append((server._icmp_unreachable, server.rcv_nxt))
    assert counts[0] == counts[1] and counts[0][0] == 1


def test_a_merged_run_counts_every_ce_mark():
    """RFC 3168 6.1.3: each CE-marked datagram of a merged run is counted, as
    without coalescing (Linux adds GRO's segment count)."""
    counts = []
    for coalescing in (True, False):
        a, b, client, server = _pair(ecn=True)
        assert server.ecn.ok
        _, out = _data_segments(a, client, 6)
        c = Coalescer(b)
        for d in out:
            if coalescing:
                c.datagram(d, a.local, 2 * T, 3)
            else:
                b.receive_datagram(d, a.local, 2 * T, 3)
        c.finish(2 * T)
        counts.append((server.ecn.ce_received, server.stats.segments_received, c.merged))
    assert counts[0][:2] == counts[1][:2] == (6, 2 + 6) and counts[0][2] == 5


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="Linux UDP GRO")
async def test_a_capture_shows_merged_arrivals_as_one_packet(tmp_path):
    """As tcpdump on a Linux receiver with GRO: the receiving side's capture
    has one packet per run (IPv4 length above the MTU, below 64 KiB); the
    sending side's has every wire segment."""
    path = tmp_path / "gro.pcapng"
    host = emutcp.UdpHost(
        config=emutcp.Config(send_buffer=1 << 20, recv_buffer=1 << 20), pcap=str(path)
    )
    data = random.Random(9).randbytes(1_000_000)
    with trio.fail_after(30):
        result = await bulk_transfer(host, host, data)
    host.trace.close()  # type: ignore[union-attr]
    assert result.intact
    packets = [p.data for p in read_pcapng(path)]
    lengths = [int.from_bytes(p[2:4], "big") for p in packets]
    assert lengths == [len(p) for p in packets]  # every IPv4 length is right
    assert max(lengths) > 1500 and max(lengths) < 65_536
    assert sum(1 for n in lengths if n > 1500) >= 3


def test_a_merged_segment_beyond_the_window_is_trimmed_as_its_pieces_would_be():
    """A sender that overruns a 3-segment window (RFC 9293 3.10.7.4: only the
    part inside the window is accepted): the merged run is trimmed to what the
    separate segments would have delivered."""
    outcomes = []
    for coalescing in (True, False):
        a, b, client, server = _pair(recv_buffer=3 * MSS)
        _, out = _data_segments(a, client, 1)
        first = decode_segment(out[0])
        rng = random.Random(5)
        overrun = [
            encode_segment(
                first.replace(
                    flags=ACK,
                    seq=(first.seq + i * MSS) & 0xFFFFFFFF,
                    payload=rng.randbytes(MSS),
                )
            )
            for i in range(6)
        ]
        if coalescing:
            c, _ = _feed(b, a, overrun)
            assert c.merged == 5
        else:
            for d in overrun:
                b.receive_datagram(d, a.local, 2 * T)
        outcomes.append((server.rcv_nxt, _read_all(server)))
    assert outcomes[0] == outcomes[1]
    assert len(outcomes[0][1]) == 3 * MSS


@pytest.mark.parametrize("seed", range(3))
def test_behind_the_crc_filter_the_coalescer_accepts_what_the_mux_alone_does(seed: int):
    """``crc_checked`` (the real-UDP host's wiring): datagrams pass
    ``plausible_segment`` first and the coalescer does not hash them again;
    with random byte changes to a run's datagrams, what the receiver gets and
    what is dropped (by the filter or the core) are those of the mux alone."""
    rng = random.Random(seed)
    for _ in range(60):
        outcomes = []
        # The CRC fixed in 70 % of the changes: the filter drops the rest.
        mutated = _mutated_run(rng, first=0, head_only=True, fix_crc=0.7)
        for filtered in (True, False):
            a, b, client, server = _pair()
            _data_segments(a, client, 4)  # the same connection state (same seeds)
            dropped = 0
            if filtered:
                c = Coalescer(b)
                c.crc_checked = True
                for d in mutated:
                    if plausible_segment(memoryview(d)):
                        c.datagram(d, a.local, 2 * T)
                    else:
                        dropped += 1  # the transport's junk count
                c.finish(2 * T)
            else:
                for d in mutated:
                    b.receive_datagram(d, a.local, 2 * T)
            outcomes.append((_read_all(server), server.rcv_nxt, b.stats["malformed"] + dropped))
        assert outcomes[0] == outcomes[1]


async def test_the_udp_host_skips_the_second_crc_only_behind_its_filter():
    host = RecordingHost()
    made = host.made
    with trio.fail_after(30):
        result = await bulk_transfer(host, host, b"x" * 100_000)
    assert result.intact
    coalescing = [ep for ep in made if ep.coalescer is not None]
    assert coalescing and all(ep.coalescer.crc_checked for ep in coalescing)  # type: ignore[union-attr]
    # What crc_checked relies on: the transport filters with plausible_segment.
    assert all(ep.transport.accept is plausible_segment for ep in coalescing)  # type: ignore[attr-defined]
    # A transport the host did not make itself (no filter here) is not trusted.

    class Unfiltered(RecordingHost):
        def make_transport(self, local: tuple[str, int]) -> UdpTransport:
            return UdpTransport(local)

    other = Unfiltered()
    made = other.made
    with trio.fail_after(30):
        result = await bulk_transfer(other, other, b"x" * 100_000)
    assert result.intact
    assert made and not any(ep.coalescer.crc_checked for ep in made if ep.coalescer is not None)
