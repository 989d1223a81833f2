"""A reader blocked in ``recv`` over real UDP waits on the socket itself.

The endpoint task waits for arrivals; under trio a blocked reader waits too,
on a second descriptor of the same socket, so an arrival wakes both in one
scheduler batch and the reader serves it (endpoint.py, transport/udp.py).
These tests check the batch count, and that every other kind of news still
reaches such a reader: a shutdown or close by another task, a reset found by
the endpoint (as by a timer), a cancellation, a second reader.  Loopback only;
no test waits in real time for a protocol event.  They run on both builds
(tests/test_compiled.py reruns them on the compiled endpoint).
"""

from __future__ import annotations

import contextlib
import errno
import socket
from typing import Any

import pytest
import trio
import trio.testing

import emutcp
from emutcp.testing import connection_of


class _Batches(trio.abc.Instrument):
    """Counts scheduler batches (each starts with one I/O wait)."""

    def __init__(self) -> None:
        self.batches = 0

    def before_io_wait(self, timeout: float) -> None:
        self.batches += 1


async def _udp_pair(config: emutcp.Config | None = None) -> tuple[Any, Any, Any]:
    host = emutcp.UdpHost(config=config or emutcp.Config(nodelay=True))
    listener = host.socket()
    await listener.bind(("127.0.0.1", 0))
    listener.listen(1)
    client = host.socket()
    await client.connect(listener.getsockname())
    server, _ = await listener.accept()
    return listener, client, server


async def _recv_outcome(sock: Any, outcome: list[object]) -> None:
    """``sock.recv(64)``'s result, or the OSError it raised, into ``outcome``."""
    try:
        outcome.append(await sock.recv(64))
    except OSError as exc:
        outcome.append(exc)


async def _reader_waiting_on_socket(
    nursery: trio.Nursery, sock: Any, outcome: list[object]
) -> None:
    """Start ``sock.recv(64)`` into ``outcome`` and return once it waits on the
    UDP socket itself."""
    nursery.start_soon(_recv_outcome, sock, outcome)
    await trio.testing.wait_all_tasks_blocked()
    assert sock.endpoint.waiting_reader is sock


async def _echo_rounds(rounds: int, instrument: trio.abc.Instrument) -> tuple[int, int]:
    """``rounds`` 1-byte echo round trips over a fresh real-UDP pair (after a
    warm-up of three) with ``instrument`` installed; returns how many arrivals
    each end's reader (client, server) served itself meanwhile."""
    listener, client, server = await _udp_pair()

    async def echo() -> None:
        while data := await server.recv(64):
            await server.sendall(data)

    with trio.fail_after(60):
        async with trio.open_nursery() as nursery:
            nursery.start_soon(echo)
            for _ in range(3):
                await client.sendall(b"w")
                assert await client.recv(64) == b"w"
            endpoints = (client.endpoint, server.endpoint)
            before = [ep.readers_served for ep in endpoints]
            trio.lowlevel.add_instrument(instrument)
            for i in range(rounds):
                await client.sendall(bytes([i % 256]))
                assert await client.recv(64) == bytes([i % 256])
            trio.lowlevel.remove_instrument(instrument)
            served = [ep.readers_served - b for ep, b in zip(endpoints, before, strict=True)]
            client.close()
    listener.close()
    return served[0], served[1]


async def test_a_blocked_reader_waits_on_the_udp_socket_itself() -> None:
    """Over real UDP the reader blocked in recv is woken by the arrival, in the
    same scheduler batch as the endpoint task, and serves the datagram itself:
    one batch per arrival (two per echo round, as for trio UDP ping-pong), not
    two (the endpoint's, then the reader's)."""
    instrument = _Batches()
    rounds = 200
    served = await _echo_rounds(rounds, instrument)
    # Each end's reader served (nearly) every arrival itself.
    assert min(served) >= rounds - rounds // 10
    # Two per round (a timer that fell due on a stalled machine adds a few).
    assert instrument.batches <= 2 * rounds + rounds // 4


@pytest.mark.parametrize("how", ["shutdown", "close", "abort", "cancel"])
async def test_a_reader_waiting_on_the_socket_is_interrupted_by_other_news(how: str) -> None:
    """Whatever else concerns the reader (a shutdown or close by another task,
    a reset the endpoint found, e.g. by a timer, a cancellation) ends its wait
    on the socket at once; a later recv waits there again and gets its data."""
    listener, client, server = await _udp_pair()
    endpoint = client.endpoint
    outcome: list[object] = []

    with trio.fail_after(10):
        async with trio.open_nursery() as nursery:
            await _reader_waiting_on_socket(nursery, client, outcome)
            if how == "shutdown":
                client.shutdown(emutcp.SHUT_RD)
            elif how == "close":
                client.close()
            elif how == "abort":  # what a timer's RST does, from the endpoint's flush
                conn = connection_of(client)
                conn.abort(trio.current_time(), "test: reset")
                endpoint.mux.touch(conn)
                endpoint.flush()
            else:
                nursery.cancel_scope.cancel()
        assert endpoint.waiting_reader is None
        if how in ("shutdown", "abort"):
            assert outcome == [b""]  # the connection is gone: end of stream
        elif how == "cancel":
            assert outcome == []
            # The next recv waits on the socket again (a fresh descriptor).
            async with trio.open_nursery() as nursery:
                await _reader_waiting_on_socket(nursery, client, outcome)
                await server.sendall(b"later")
            assert outcome == [b"later"]
        else:
            assert len(outcome) == 1 and isinstance(outcome[0], OSError)
    for s in (client, server, listener):
        s.close()


async def test_two_readers_one_waits_on_the_socket_the_other_parks() -> None:
    listener, client, server = await _udp_pair()
    got: list[bytes] = []

    async def reader() -> None:
        got.append(await client.recv(1))

    with trio.fail_after(10):
        async with trio.open_nursery() as nursery:
            nursery.start_soon(reader)
            nursery.start_soon(reader)
            await trio.testing.wait_all_tasks_blocked()
            assert client.endpoint.waiting_reader is client
            await server.sendall(b"a")
            await trio.testing.wait_all_tasks_blocked()
            await server.sendall(b"b")
    assert sorted(got) == [b"a", b"b"]
    for s in (client, server, listener):
        s.close()


async def test_without_a_spare_descriptor_the_reader_parks(monkeypatch: pytest.MonkeyPatch) -> None:
    """The second descriptors are capped process-wide, and the system may
    refuse one (EMFILE): then recv parks as before and still gets its data,
    never raises the descriptor error."""
    from emutcp.transport import udp

    listener, client, server = await _udp_pair()
    descriptors = udp._second_descriptors

    def no_descriptor(self: object) -> object:
        raise OSError(errno.EMFILE, "Too many open files")

    for patch in ("cap", "emfile"):
        with monkeypatch.context() as m:
            if patch == "cap":
                m.setattr(udp, "SECOND_DESCRIPTORS_MAX", 0)
            else:
                m.setattr(socket.socket, "dup", no_descriptor)
            got: list[bytes] = []

            async def reader(got: list[bytes] = got) -> None:
                got.append(await client.recv(64))

            with trio.fail_after(10):
                async with trio.open_nursery() as nursery:
                    nursery.start_soon(reader)
                    await trio.testing.wait_all_tasks_blocked()
                    assert client.endpoint.waiting_reader is None  # parked instead
                    await server.sendall(patch.encode())
            assert got == [patch.encode()]
            assert udp._second_descriptors == descriptors  # none was taken
    for s in (client, server, listener):
        s.close()


async def test_a_refused_peer_ends_the_wait_on_the_socket() -> None:
    """An ICMP port unreachable met by a send (the refusal the next receive
    reports) reaches a reader waiting on the socket, though nothing arrives
    to wake it: recv raises (the peer is gone: ConnectionResetError after
    repeated ICMP errors on an established connection)."""
    listener, client, server = await _udp_pair()
    outcome: list[object] = []

    with trio.fail_after(10):
        async with trio.open_nursery() as nursery:
            await _reader_waiting_on_socket(nursery, client, outcome)
            server.endpoint.kill()  # the server's port is closed, silently
            for _ in range(3):  # each send may meet the refusal of the one before
                with contextlib.suppress(OSError):
                    await client.sendall(b"x")
    assert len(outcome) == 1 and isinstance(outcome[0], ConnectionError)
    for s in (client, server, listener):
        s.close()


class _EndpointSteps(trio.abc.Instrument):
    """Counts the task steps of the endpoint tasks (``emutcp-endpoint-...``)."""

    def __init__(self) -> None:
        self.steps = 0

    def before_task_step(self, task: trio.lowlevel.Task) -> None:
        if task.name.startswith("emutcp-endpoint-"):
            self.steps += 1


async def _served_by_the_reader(client: Any, server: Any) -> None:
    """A reader blocked in ``client.recv`` serves the arrival and leaves; the
    endpoint task, woken by the same arrival, leaves the socket to it."""
    outcome: list[object] = []
    async with trio.open_nursery() as nursery:
        await _reader_waiting_on_socket(nursery, client, outcome)
        await server.sendall(b"a")
    await trio.testing.wait_all_tasks_blocked()
    assert outcome == [b"a"]
    assert client.endpoint.off_socket and client.endpoint.waiting_reader is None


async def test_the_endpoint_task_leaves_the_socket_to_a_returning_reader(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """While a reader serves its arrivals and comes back for the next (request
    and response), the endpoint task waits off the socket: no step per arrival."""
    monkeypatch.setattr(emutcp.endpoint.Endpoint, "handback_grace", 60.0)
    instrument = _EndpointSteps()
    rounds = 200
    await _echo_rounds(rounds, instrument)
    # Before: one step per arrival at each end (2 per round).  A timer that
    # fell due on a stalled machine (delayed ACK, RTO) adds a few.
    assert instrument.steps <= rounds // 10


async def test_a_socket_left_unwatched_is_taken_back_within_the_grace(
    mock_clock: trio.testing.MockClock,
) -> None:
    """The reader took its data and went elsewhere (not into an emutcp call):
    what arrives next waits in the kernel at most ``handback_grace``, then the
    endpoint task serves it (virtual time: the clock jumps when all sleep)."""
    listener, client, server = await _udp_pair()
    conn = connection_of(client)
    grace = client.endpoint.handback_grace
    with trio.fail_after(60):
        await _served_by_the_reader(client, server)
        await server.sendall(b"b")  # queued on the client's UDP socket
        await trio.sleep(grace / 2)
        assert conn.readable_bytes == 0  # nobody watches the socket yet
        await trio.sleep(grace)
        assert conn.readable_bytes == 1  # the endpoint task took it back
        assert await client.recv(64) == b"b"
    for s in (client, server, listener):
        s.close()


async def test_a_call_that_parks_takes_the_socket_back_at_once(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """A call parked on one of the endpoint's sockets needs arrivals served
    while it waits: one that parks after the reader left the socket takes it
    back for the endpoint task at once, without waiting for the grace."""
    monkeypatch.setattr(emutcp.endpoint.Endpoint, "handback_grace", 60.0)
    listener, client, server = await _udp_pair()
    woken: list[bool] = []

    async def waiter() -> None:
        await client.wait_for_wakeup()
        woken.append(True)

    with trio.fail_after(10):
        await _served_by_the_reader(client, server)
        async with trio.open_nursery() as nursery:
            nursery.start_soon(waiter)
            await trio.testing.wait_all_tasks_blocked()
            assert not client.endpoint.off_socket
            await server.sendall(b"b")  # only the endpoint task can serve this now
            # Served in the next batches, not after a timer (delayed ACK, grace).
            await trio.testing.wait_all_tasks_blocked()
            assert woken == [True]
    for s in (client, server, listener):
        s.close()


async def test_a_reader_leaving_while_a_call_is_parked_hands_the_socket_back(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """A reader that leaves the socket while another call on the endpoint is
    parked (here ``accept`` on the listener that shares the server's UDP
    socket) hands it back to the endpoint task at once."""
    monkeypatch.setattr(emutcp.endpoint.Endpoint, "handback_grace", 60.0)
    listener, client, server = await _udp_pair()
    endpoint = server.endpoint
    got: list[object] = []

    with trio.fail_after(10):
        await _served_by_the_reader(server, client)
        async with trio.open_nursery() as nursery:
            nursery.start_soon(listener.accept)  # parked: no one connects
            nursery.start_soon(_recv_outcome, server, got)
            await trio.testing.wait_all_tasks_blocked()
            assert endpoint.waiting_reader is server and endpoint.off_socket
            await client.sendall(b"b")  # the reader serves it and leaves
            await trio.testing.wait_all_tasks_blocked()
            assert got == [b"b"] and not endpoint.off_socket
            await client.sendall(b"c")  # nobody reads: the endpoint task serves it
            await trio.testing.wait_all_tasks_blocked()
            assert connection_of(server).readable_bytes == 1
            nursery.cancel_scope.cancel()
    for s in (client, server, listener):
        s.close()


def test_on_a_frozen_clock_the_endpoint_task_keeps_the_socket() -> None:
    """The grace is a deadline on the run's clock: on a clock that never moves
    (a MockClock with rate 0 and no autojump) it would never come, so the
    endpoint task does not leave the socket, and arrivals are served at once."""
    outcome: dict[str, object] = {}

    async def main() -> None:
        listener, client, server = await _udp_pair()
        got: list[object] = []
        async with trio.open_nursery() as nursery:
            nursery.start_soon(_recv_outcome, client, got)
            await trio.testing.wait_all_tasks_blocked()
            await server.sendall(b"a")
        assert got == [b"a"]
        await server.sendall(b"b")  # the reader left; nobody reads now
        await trio.testing.wait_all_tasks_blocked()
        outcome["off socket"] = client.endpoint.off_socket
        outcome["unread"] = connection_of(client).readable_bytes
        for s in (client, server, listener):
            s.close()

    trio.run(main, clock=trio.testing.MockClock())
    assert outcome == {"off socket": False, "unread": 1}


def test_using_a_socket_does_not_import_trio_testing() -> None:
    """Telling whether the clock moves by itself must not import trio.testing
    (about 0.15 s, paid by the first socket of every program)."""
    import subprocess
    import sys

    script = (
        "import sys, trio, emutcp\n"
        "async def main():\n"
        "    s = emutcp.socket()\n"
        "    await s.bind(('127.0.0.1', 0))\n"
        "    s.listen(1)\n"
        "    s.close()\n"
        "trio.run(main)\n"
        "print('trio.testing' in sys.modules)\n"
    )
    out = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, check=True)
    assert out.stdout.split() == ["False"]


async def test_a_reader_serves_what_is_already_queued_without_waiting(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """As trio's socket calls try the system call before waiting, a reader
    first serves what is already queued on the UDP socket: the answer that
    came while it was away is read without a wait on the socket."""
    monkeypatch.setattr(emutcp.endpoint.Endpoint, "handback_grace", 60.0)
    listener, client, server = await _udp_pair()
    endpoint = client.endpoint
    udp = endpoint.transport
    with trio.fail_after(10):
        await _served_by_the_reader(client, server)
        await server.sendall(b"b")  # queued: the endpoint task is off the socket
        waits = []
        real = udp.wait_readable_too

        async def counting_wait() -> bool | None:
            waits.append(True)
            return await real()

        monkeypatch.setattr(udp, "wait_readable_too", counting_wait)
        served = endpoint.readers_served
        assert await client.recv(64) == b"b"
        assert waits == [] and endpoint.readers_served == served + 1
        assert endpoint.off_socket  # the endpoint task was not needed
    for s in (client, server, listener):
        s.close()
