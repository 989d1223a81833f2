"""Same seed, same bytes: one lossy emulated transfer's pcap, pinned by md5.

The run crosses a link with loss, jitter, a rate limit and a drop-tail queue,
reordering and duplication, so nearly every path of the core (fast
retransmit, SACK recovery, RTOs, out-of-order reassembly, delayed ACKs) and
of the link model writes into this capture.  A refactoring must leave it
byte-identical.  When a change is *meant* to alter what goes on the wire
(a new loss-recovery rule, say), update GOLDEN_MD5 in the same commit and say
why in its message.
"""

from __future__ import annotations

import hashlib
import random

import trio

import emutcp
from emutcp.testing import run_virtual

GOLDEN_MD5 = "90cbd59a1404c9372ca80eb801d6298e"  # loss response halves at most cwnd (+2 MSS)


async def _lossy_transfer(path: str) -> None:
    net = emutcp.EmulatedNetwork(seed=3)
    a = net.add_host("10.0.0.1", pcap=path)
    b = net.add_host("10.0.0.2")
    net.add_link(
        "10.0.0.1",
        "10.0.0.2",
        loss=0.03,
        delay=0.02,
        jitter=0.005,
        rate=10e6,
        queue=30,
        reorder=0.01,
        duplicate=0.01,
    )
    data = random.Random(1).randbytes(600_000)
    listeners = await b.open_listeners(80)
    got = bytearray()
    async with trio.open_nursery() as nursery:

        async def sink() -> None:
            s = await listeners[0].accept()
            while chunk := await s.receive_some(1 << 16):
                got.extend(chunk)
            await s.aclose()

        nursery.start_soon(sink)
        s = await a.open_stream("10.0.0.2", 80)
        await s.send_all(data)
        await s.send_eof()
        assert await s.receive_some(1) == b""
        await s.aclose()
        await s.wait_closed()
    assert bytes(got) == data
    assert a.pcap is not None
    a.pcap.close()


def _md5_of_run(path) -> str:
    run_virtual(_lossy_transfer, str(path), seed=3)
    return hashlib.md5(path.read_bytes()).hexdigest()


def test_a_seeded_lossy_transfer_writes_the_golden_pcap(tmp_path):
    assert _md5_of_run(tmp_path / "run.pcapng") == GOLDEN_MD5


def test_two_runs_with_one_seed_are_identical(tmp_path):
    assert _md5_of_run(tmp_path / "a.pcapng") == _md5_of_run(tmp_path / "b.pcapng")
