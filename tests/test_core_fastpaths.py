"""The lean per-segment path of the core (issue 15) against plain references.

The SACK scoreboard, the receiver's SACK blocks and its out-of-order pieces
are found by bisection; these tests hold them to the straightforward scans
they replaced, on random inputs.  ``make_segment``/``make_options`` must
build the very objects the dataclass constructors build; the encoder must
write the bytes of the one-call msgpack encoding it replaced (issue 20), and
the mux's timer heap must stay at about one entry per connection.  (That the whole
path puts the same bytes on the wire is checked by tests/test_sim.py and
tests/test_golden_pcap.py.)
"""

from __future__ import annotations

import itertools
import random
import zlib

import pytest

from emutcp.core import segment
from emutcp.core.buffers import ReceiveBuffer
from emutcp.core.config import Config
from emutcp.core.mux import Mux
from emutcp.core.sack import SackReporter, Scoreboard
from emutcp.core.segment import (
    NO_OPTIONS,
    Options,
    Segment,
    encode_segment,
    make_options,
    make_segment,
)

# ------------------------------------------------------- the reference scans


def ref_add(ranges: list[tuple[int, int]], start: int, end: int) -> list[tuple[int, int]]:
    keep = []
    for s, e in ranges:
        if e < start or s > end:
            keep.append((s, e))
        else:
            start, end = min(start, s), max(end, e)
    keep.append((start, end))
    keep.sort()
    return keep


def ref_blocks(
    recent: list[int], dsack: tuple[int, int] | None, ooo: list[tuple[int, int]], limit: int
) -> list[tuple[int, int]]:
    def rank(r: tuple[int, int]) -> int:
        for i, off in enumerate(recent):
            if r[0] <= off < r[1]:
                return i
        return len(recent)

    ordered = sorted(ooo, key=lambda r: (rank(r), -r[0]))
    out: list[tuple[int, int]] = []
    if dsack is not None:
        out.append(dsack)
        holder = next((r for r in ordered if r[0] <= dsack[0] and dsack[1] <= r[1]), None)
        if holder is not None:
            out.append(holder)
            ordered.remove(holder)
    out.extend(ordered)
    return out[:limit]


def ref_held_overlap(pieces: list[tuple[int, int]], start: int, end: int) -> tuple[int, int] | None:
    for s, e in pieces:
        lo, hi = max(s, start), min(e, end)
        if lo < hi:
            return lo, hi
    return None


def ref_insert(pieces: dict[int, int], start: int, data: bytes) -> None:
    """Byte-level model of the out-of-order store: offset -> byte (first write wins)."""
    for i, b in enumerate(data):
        pieces.setdefault(start + i, b)


# ----------------------------------------------------------------- the tests


@pytest.mark.parametrize("seed", range(4))
def test_scoreboard_merges_as_the_scan_did(seed):
    rng = random.Random(seed)
    for _ in range(300):
        sb, ref = Scoreboard(), []
        for _ in range(rng.randint(1, 40)):
            if rng.random() < 0.1:
                una = rng.randint(0, 200)
                sb.advance(una)
                ref = [(max(s, una), e) for s, e in ref if e > una]
            start = rng.randint(0, 300)
            end = start + rng.randint(1, 25)
            sb.add(start, end)
            ref = ref_add(ref, start, end)
            assert sb.ranges == ref


@pytest.mark.parametrize("seed", range(4))
def test_receiver_pieces_overlaps_and_blocks_match_the_scans(seed):
    rng = random.Random(seed)
    for _ in range(200):
        buf = ReceiveBuffer(1 << 20)
        model: dict[int, int] = {}
        for _ in range(rng.randint(0, 30)):
            start = rng.randint(1, 400)
            data = rng.randbytes(rng.randint(1, 30))
            buf.insert(start, data)
            ref_insert(model, start, data)
        ranges = buf.out_of_order_ranges()
        # The pieces hold exactly the bytes that arrived, merged, sorted, never touching.
        assert sum(e - s for s, e in ranges) == buf.ooo_bytes == len(model)
        assert all(a[1] < b[0] for a, b in itertools.pairwise(ranges))
        for s, e in ranges:
            assert all(s + i in model for i in range(e - s))
        for _ in range(20):
            start = rng.randint(0, 440)
            end = start + rng.randint(1, 40)
            assert buf.held_overlap(start, end) == ref_held_overlap(ranges, start, end)
        reporter = SackReporter()
        for _ in range(rng.randint(0, 12)):
            reporter.arrived(rng.randint(0, 440))
        dsack = None
        if rng.random() < 0.5:
            start = rng.randint(0, 440)
            dsack = (start, start + rng.randint(1, 30))
            reporter.duplicate(*dsack)
        limit = rng.randint(1, 5)
        expected = ref_blocks(list(reporter.recent), dsack, ranges, limit)
        assert reporter.blocks(ranges, limit) == expected


def test_fast_constructors_build_the_dataclass_objects():
    rng = random.Random(1)
    for _ in range(200):
        ts = (rng.getrandbits(32), rng.getrandbits(32)) if rng.random() < 0.8 else None
        blocks = tuple((i, i + 10) for i in range(0, 10 * rng.randint(0, 3), 10))
        fast, slow = make_options(blocks, ts), Options(sack_blocks=blocks, timestamps=ts)
        assert fast == slow and hash(fast) == hash(slow) and repr(fast) == repr(slow)
        opts = fast if rng.random() < 0.7 else NO_OPTIONS
        args = (
            rng.getrandbits(16),
            rng.getrandbits(16),
            rng.getrandbits(32),
            rng.getrandbits(32),
            rng.getrandbits(8),
            rng.getrandbits(16),
            opts,
            rng.randbytes(rng.randint(0, 1500)),
            rng.choice((0, 1, 2, 3)),
        )
        seg = make_segment(*args)
        ref = Segment(*args)
        assert seg == ref and hash(seg) == hash(ref) and seg.ecn == ref.ecn
        assert encode_segment(seg) == encode_segment(ref)
        assert seg.replace(ecn=0) == ref and seg.replace(seq=seg.seq + 1) != ref


# ------------------------------------------------- the encoder and the timers


def _reference_encoding(seg: Segment) -> bytes:
    """encode_segment as it was: all nine elements in one msgpack call, the CRC
    over the packed bytes after the array header."""
    body = segment._packb(
        (
            1,
            seg.src_port,
            seg.dst_port,
            seg.seq,
            seg.ack,
            seg.flags,
            seg.window,
            segment._encode_options(seg.options),
            seg.payload,
        )
    )
    fields = memoryview(body)[1:]
    return b"".join((b"\x9a", fields, segment._packb(zlib.crc32(fields))))


@pytest.mark.parametrize("seed", range(4))
def test_the_encoder_writes_msgpack_s_bytes(seed):
    """encode_segment writes the payload's bin header itself (payload copied
    once): the bytes are msgpack's, for every bin size and CRC width."""
    rng = random.Random(seed)
    top = 0xFFFF_FFFF
    for _ in range(3000):
        n = rng.choice([0, 1, 255, 256, 1400, 65_535, 65_536, rng.randrange(3000)])
        options = rng.choice(
            [
                NO_OPTIONS,
                Options(timestamps=(rng.randrange(top), rng.randrange(top))),
                Options(mss=1400, wscale=7, sack_permitted=True, timestamps=(1, 0)),
                Options(sack_blocks=((1, 2), (3, 4)), timestamps=(5, 6)),
            ]
        )
        seg = Segment(
            rng.randrange(65_536),
            rng.randrange(65_536),
            rng.randrange(top),
            rng.randrange(top),
            rng.randrange(256),
            rng.randrange(65_536),
            options,
            rng.randbytes(n),
        )
        assert encode_segment(seg) == _reference_encoding(seg)


def test_the_timer_heap_holds_about_one_entry_per_connection():
    """Request/response rounds re-arm the retransmission timer on every
    segment; the mux's heap must not grow with them (it held one entry per
    output pass before)."""
    config = Config(nodelay=True)
    a = Mux(local=("10.0.0.1", 1000), config=config, rng=random.Random(1))
    b = Mux(local=("10.0.0.2", 2000), config=config, rng=random.Random(2))
    b.listen(4, 0.0)
    now = 0.0

    def deliver(src: Mux, dst: Mux) -> None:
        for data, _ in src.datagrams_to_send(now):
            dst.receive_datagram(data, src.local, now)
        dst.handle_timer(now)

    client = a.connect(b.local, now)
    for _ in range(3):
        deliver(a, b)
        deliver(b, a)
    server = b.accept()
    assert server is not None
    for _ in range(2000):
        now += 0.0001
        client.send(b"x", now)
        a.touch(client)
        deliver(a, b)
        server.send(server.receive(10, now), now)
        b.touch(server)
        deliver(b, a)
        assert client.receive(10, now) == b"x"
    a.touch(client)  # (the last receive() armed the delayed ACK)
    a.datagrams_to_send(now)
    assert len(a._heap) < 80 and len(b._heap) < 80  # (about 1,600 each before)
    assert a.get_timer() == client.get_timer() and b.get_timer() == server.get_timer()


def test_receive_buffer_reads_small_and_large_give_the_stream_back():
    """Reads below and above the size where ReceiveBuffer.read copies through
    a view return the same bytes in order, and leave the rest."""
    rng = random.Random(20)
    data = rng.randbytes(3_000_000)
    buf = ReceiveBuffer(1 << 22)
    out = bytearray()
    offset = 0
    while offset < len(data) or len(buf):
        if offset < len(data):
            n = rng.choice((1, 1400, 40_000, 300_000))
            buf.insert(offset, data[offset : offset + n])
            offset += len(data[offset : offset + n])
        want = rng.choice((1, 100, 32_767, 32_768, 70_000, 1 << 20))
        before = len(buf)
        got = buf.read(want)
        assert len(got) == min(want, before) and len(buf) == before - len(got)
        out += got
    assert bytes(out) == data
