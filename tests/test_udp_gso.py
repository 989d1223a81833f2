"""UDP segmentation offload over real loopback: GSO sends, GRO receives, fallback.

``UdpTransport.send_many`` hands runs of equal-sized datagrams to the kernel as
one ``sendmsg`` with ``UDP_SEGMENT``; a receiver with ``UDP_GRO`` gets them
back coalesced and cuts them at the segment size.  Every test checks the
datagrams arrive whole, in order, with their boundaries (sha256 of each), and
the counters say which path carried them.  Waits are for socket readability
only (bounded by ``fail_after``), never for a protocol timer.
"""

from __future__ import annotations

import errno
import hashlib
import os
import random
import socket
import sys
from typing import Any

import pytest
import trio

import emutcp
from emutcp.lab.bulk import bulk_transfer
from emutcp.transport import udp
from emutcp.transport.udp import UdpTransport

linux_only = pytest.mark.skipif(not sys.platform.startswith("linux"), reason="Linux UDP GSO/GRO")
LOCAL = ("127.0.0.1", 0)


def _datagrams(n: int, size: int, seed: int, last: int | None = None) -> list[bytes]:
    rng = random.Random(seed)
    out = [rng.randbytes(size) for _ in range(n)]
    if last is not None:
        out[-1] = out[-1][:last]
    return out


async def _receive(rx: UdpTransport, count: int) -> list[Any]:
    got: list[Any] = []
    with trio.fail_after(10):
        while len(got) < count:
            await rx.wait_readable()
            got.extend(rx.recv_batch(16384))
    return got


def _digests(datagrams: list[bytes]) -> list[str]:
    return [hashlib.sha256(d).hexdigest() for d in datagrams]


async def _roundtrip(tx: UdpTransport, rx: UdpTransport, datagrams: list[bytes], ecn: int = 0):
    items = [(d, rx.local, ecn) for d in datagrams]
    assert tx.send_many(items) == len(items)
    got = await _receive(rx, len(datagrams))
    assert _digests([g[0] for g in got]) == _digests(datagrams)
    assert all(g[1] == tx.local for g in got)
    return got


@linux_only
async def test_gso_send_gro_receive_intact() -> None:
    tx, rx = UdpTransport(LOCAL), UdpTransport(LOCAL)
    try:
        assert tx.gso and rx.gro
        # 100 full datagrams and a short last one: three runs (46 fit in 64 KiB).
        datagrams = _datagrams(100, 1400, seed=1, last=321)
        await _roundtrip(tx, rx, datagrams)
        assert 2 <= tx.gso_sends <= 4
        assert rx.gro_merged >= 1  # loopback hands the GSO run over whole
    finally:
        tx.close()
        rx.close()


@linux_only
async def test_gso_to_a_receiver_without_gro_and_connected_sender() -> None:
    tx, rx = UdpTransport(LOCAL), UdpTransport(LOCAL, gso=False)
    try:
        assert not rx.gro
        tx.connect(rx.local)
        datagrams = _datagrams(64, 1000, seed=2)
        await _roundtrip(tx, rx, datagrams)
        assert tx.gso_sends >= 1  # the kernel cut the run for the receiver
        assert rx.gro_merged == 0
    finally:
        tx.close()
        rx.close()


@linux_only
async def test_runs_split_by_peer_and_size() -> None:
    tx, a, b = UdpTransport(LOCAL), UdpTransport(LOCAL), UdpTransport(LOCAL)
    try:
        rng = random.Random(3)
        # Alternating peers, then datagrams that grow: no run inside either.
        items = [(rng.randbytes(500), (a if i % 2 else b).local, 0) for i in range(10)]
        growing = [rng.randbytes(100 + 10 * i) for i in range(10)]
        items += [(d, a.local, 0) for d in growing]
        assert tx.send_many(items) == len(items)
        got_a = await _receive(a, 15)
        got_b = await _receive(b, 5)
        want_a = [d for d, addr, _ in items if addr == a.local]
        want_b = [d for d, addr, _ in items if addr == b.local]
        assert _digests([g[0] for g in got_a]) == _digests(want_a)
        assert _digests([g[0] for g in got_b]) == _digests(want_b)
        # One run only: the last 500-byte datagram to a and the first, shorter,
        # growing one (a run's last datagram may be shorter).
        assert tx.gso_sends == 1
    finally:
        for t in (tx, a, b):
            t.close()


async def test_forced_off_sends_one_by_one(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("EMUTCP_NO_GSO", "1")
    tx, rx = UdpTransport(LOCAL), UdpTransport(LOCAL)
    try:
        assert not tx.gso and not rx.gro
        await _roundtrip(tx, rx, _datagrams(50, 1400, seed=4, last=7))
        assert tx.gso_sends == 0 and rx.gro_merged == 0
    finally:
        tx.close()
        rx.close()


class _NoGsoSocket(socket.socket):
    """A socket whose kernel refuses UDP_SEGMENT (as an old kernel does).  A real
    socket subclass: the transport's socket attribute is typed (and compiled)."""

    err = errno.EIO
    refused = 0

    def sendmsg(self, *args: Any) -> int:
        self.refused += 1
        raise OSError(self.err, os.strerror(self.err))


@linux_only
@pytest.mark.parametrize("err", [errno.EIO, errno.EINVAL, errno.ENOPROTOOPT])
async def test_refused_gso_falls_back_for_good(err: int) -> None:
    tx, rx = UdpTransport(LOCAL), UdpTransport(LOCAL)
    fake = _NoGsoSocket(fileno=tx._sock.detach())
    fake.err = err
    tx._sock = fake
    try:
        await _roundtrip(tx, rx, _datagrams(30, 1200, seed=5))
        assert not tx.gso and fake.refused == 1
        await _roundtrip(tx, rx, _datagrams(30, 1200, seed=6))
        assert fake.refused == 1  # never tried again
    finally:
        fake.close()
        rx.close()


@linux_only
async def test_gro_with_ecn_marks_every_piece() -> None:
    tx, rx = UdpTransport(LOCAL), UdpTransport(LOCAL)
    try:
        assert tx.enable_ecn() and rx.enable_ecn()
        datagrams = _datagrams(40, 1400, seed=7, last=99)
        got = await _roundtrip(tx, rx, datagrams, ecn=2)  # ECT(0)
        assert all(len(g) == 3 and g[2] == 2 for g in got)
        assert tx.gso_sends >= 1 and rx.gro_merged >= 1
    finally:
        tx.close()
        rx.close()


@linux_only
@pytest.mark.parametrize("gso", [True, False])
async def test_emutcp_bulk_over_gso(gso: bool, monkeypatch: pytest.MonkeyPatch) -> None:
    made: list[Any] = []

    class RecordingHost(emutcp.UdpHost):  # a subclass, not a patch: UdpTransport may be compiled
        def make_transport(self, local: Any) -> Any:
            transport = super().make_transport(local)
            made.append(transport)
            return transport

    if not gso:
        monkeypatch.setenv("EMUTCP_NO_GSO", "1")
    host = RecordingHost(config=emutcp.Config(send_buffer=1 << 20, recv_buffer=1 << 20))
    data = random.Random(8).randbytes(3_000_000)
    with trio.fail_after(30):
        result = await bulk_transfer(host, host, data)
    assert result.intact
    sends = sum(t.gso_sends for t in made)
    assert sends >= 10 if gso else sends == 0


@linux_only
async def test_large_runs_use_gso_only_on_loopback() -> None:
    """Beyond loopback, runs above Ethernet size go one by one (a veth would
    carry a GSO run past its MTU: see transport/udp.py)."""
    assert udp._is_loopback("127.0.0.1") and udp._is_loopback("::1")
    assert not udp._is_loopback("192.168.79.2") and not udp._is_loopback("10.0.0.1")
    tx, rx = UdpTransport(LOCAL), UdpTransport(LOCAL)
    try:
        await _roundtrip(tx, rx, _datagrams(20, 3000, seed=9))
        assert tx.gso_sends == 1  # loopback: 20 x 3000 B in one sendmsg
    finally:
        tx.close()
        rx.close()


async def test_a_single_datagram_goes_out_with_one_plain_send() -> None:
    """A request, a response or an ACK alone: no run to look for, no GSO."""
    tx, rx = UdpTransport(LOCAL), UdpTransport(LOCAL)
    try:
        got = await _roundtrip(tx, rx, _datagrams(1, 100, seed=4))
        assert len(got) == 1 and tx.gso_sends == 0
    finally:
        tx.close()
        rx.close()


@pytest.mark.parametrize("family", ["ipv4", "ipv6"])
@pytest.mark.parametrize("ecn", [False, True])
@pytest.mark.parametrize("gro", [True, False])
def test_an_empty_datagram_is_read_on_every_path(family: str, ecn: bool, gro: bool) -> None:
    """A zero-length datagram (anyone can send one) is an arrival like any
    other on every read path (plain, with control messages, IPv6): handed
    back as b"", never an exception that would fail the endpoint."""
    host = "127.0.0.1" if family == "ipv4" else "::1"
    if family == "ipv6" and not socket.has_ipv6:
        pytest.skip("no IPv6 here")
    try:
        rx = UdpTransport((host, 0), gso=gro)
    except OSError:
        pytest.skip("no IPv6 loopback here")
    try:
        if ecn and not rx.enable_ecn():
            pytest.skip("no ECN here")
        with socket.socket(udp.family_of(host), socket.SOCK_DGRAM) as tx:
            tx.bind((host, 0))
            tx.sendto(b"", rx.local)
            tx.sendto(b"after", rx.local)
            source = tx.getsockname()[:2]
            got = []
            for _ in range(50):  # loopback delivers inside sendto: both are queued
                got.extend(rx.recv_batch())
                if len(got) == 2:
                    break
        assert [g[0] for g in got] == [b"", b"after"]
        assert all(g[1] == source for g in got)
        assert all(len(g) == (3 if ecn else 2) for g in got)
    finally:
        rx.close()


@pytest.mark.parametrize("gro", [True, False])
@pytest.mark.parametrize("queued", [1, 5])
def test_a_batch_asks_fionread_once_and_reads_every_datagram(
    gro: bool, queued: int, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A batch ends without a failing receive where it can: the queue's size is
    asked once, after the first read (a request alone in the queue ends the
    batch there); a longer batch reads on until the socket would block.  Never
    one ioctl per datagram (bulk), and nothing is left behind."""
    if udp._ioctl is None:
        pytest.skip("no fcntl.ioctl here")
    rx = UdpTransport(LOCAL, gso=gro)
    asked = []
    real = udp._ioctl

    def ioctl(fd: int, request: int, arg: Any) -> Any:
        asked.append(request)
        return real(fd, request, arg)

    monkeypatch.setattr(udp, "_ioctl", ioctl)
    datagrams = _datagrams(queued, 200, seed=queued)
    try:
        with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as tx:
            for d in datagrams:
                tx.sendto(d, rx.local)
            assert [d for d, _ in rx.recv_batch()] == datagrams
            assert len(asked) == 1
            assert rx.recv_batch() == []  # nothing was left behind; nothing asked
            assert len(asked) == 1
    finally:
        rx.close()
