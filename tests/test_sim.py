"""The discrete-event engine (emutcp.sim) against the trio emulated network.

Both engines drive the same sans-IO core over the same seeded link model, and
the applications make the same socket calls in the same order, so a scenario
gives the same datagrams on both: the same bytes (``wire=True``: the engine
encodes every segment) at the same virtual times.  Without ``wire`` the
engine carries Segment objects sized by ``wire_size``: the same sizes and
times, unless a CRC32 fits in 2 bytes (1 segment in 65,536; see sim/wire.py).
"""

from __future__ import annotations

import hashlib
import random

import pytest
import trio

import emutcp
from emutcp.core.segment import ACK, NO_OPTIONS, Options, Segment, encode_segment
from emutcp.lab.flows import A, B, mathis, run_flow_pairs, run_flows, run_transfers
from emutcp.lab.units import bdp_queue
from emutcp.sim import (
    BulkSender,
    Engine,
    OnOff,
    RequestResponse,
    Responder,
    SimNetwork,
    Sink,
    bulk_flow_pairs,
    bulk_flows,
    transfers,
    wire_size,
)
from emutcp.sim.apps import App
from emutcp.testing import run_virtual

MSS = 1400


def _links(rate=10e6, rtt=0.05, **impairments):
    queue = bdp_queue(rate, rtt, MSS) if rate else None
    data = emutcp.LinkProfile(delay=rtt / 2, rate=rate, queue=queue, **impairments)
    acks = emutcp.LinkProfile(delay=rtt / 2, rate=rate, queue=queue)
    return data, acks


def _recorder(net, now, log, *, content: bool):
    transmit = net.transmit

    def record(src, dst, data, *ecn):
        size = len(data)
        tag = hashlib.sha256(data).hexdigest()[:16] if content else None
        log.append((now(), src, dst, size, tag))
        transmit(src, dst, data, *ecn)

    net.transmit = record


def _trio_run(seed, links, config, job):
    log: list = []

    async def main():
        net = emutcp.EmulatedNetwork(seed=seed)
        _recorder(net, trio.current_time, log, content=True)
        a, b = net.add_host(A, config=config), net.add_host(B, config=config)
        net.add_link(A, B, profile=links[0], reverse=links[1])
        if "nbytes" in job:
            r = await run_transfers(a, b, flows=job["flows"], nbytes=job["nbytes"])
        else:
            r = await run_flows(net, a, b, **job)
        # What follows is trio's exit: endpoints reset what is left ("process
        # exiting"), which the engine has no reason to imitate.
        return r, list(log)

    return run_virtual(main, seed=seed)


def _sim_run(seed, links, config, job, *, wire: bool, exact: bool = True):
    log: list = []
    net = SimNetwork(seed=seed, wire=wire, exact_sizes=exact)
    _recorder(net, net.now, log, content=wire)
    a, b = net.add_host(A, config=config), net.add_host(B, config=config)
    net.add_link(A, B, profile=links[0], reverse=links[1])
    if "nbytes" in job:
        return transfers(net, a, b, flows=job["flows"], nbytes=job["nbytes"]), log
    return bulk_flows(net, a, b, **job), log


SCENARIOS = {
    # The anchor: one NewReno flow, 10 Mbit/s, 50 ms RTT, one-BDP drop-tail queue.
    "anchor": (_links(), None, {"flows": 1, "duration": 2.0, "window": (1.0, 2.0)}),
    "random-loss-cubic": (
        _links(loss=0.02),
        emutcp.Config(congestion="cubic"),
        {"flows": 1, "duration": 3.0},
    ),
    "two-flows": (_links(), None, {"flows": 2, "duration": 1.5}),
    "reorder-duplicate-jitter": (
        _links(reorder=0.02, duplicate=0.01, jitter=0.002),
        emutcp.Config(sack=False),
        {"flows": 1, "duration": 2.0},
    ),
    "transfer": (_links(loss=0.01), None, {"flows": 1, "nbytes": 400_000}),
}


def _compare(name, seed):
    links, config, job = SCENARIOS[name]
    trio_result, trio_log = _trio_run(seed, links, config, job)
    sim_result, sim_log = _sim_run(seed, links, config, job, wire=True)
    return trio_result, trio_log, sim_result, sim_log


@pytest.mark.parametrize(
    ("name", "seed"),
    [
        ("anchor", 7),
        ("random-loss-cubic", 1),
        ("two-flows", 7),
        ("reorder-duplicate-jitter", 7),
        ("transfer", 7),
    ],
)
def test_both_engines_put_the_same_bytes_on_the_wire(name, seed):
    trio_result, trio_log, sim_result, sim_log = _compare(name, seed)
    assert len(trio_log) > 300
    assert sim_log == trio_log  # every datagram: time, addresses, size, content
    assert sim_result["goodput"] == trio_result["goodput"]
    assert sim_result["info"] == trio_result["info"]
    # Segment objects instead of bytes: the same sizes at the same times.
    links, config, job = SCENARIOS[name]
    fast_result, fast_log = _sim_run(seed, links, config, job, wire=False)
    assert [e[:4] for e in fast_log] == [e[:4] for e in trio_log]
    assert fast_result["info"] == trio_result["info"]


@pytest.mark.parametrize(("name", "seed"), [("random-loss-cubic", 11), ("transfer", 1)])
def test_a_timer_and_a_delivery_at_one_instant_is_where_the_engines_may_part(name, seed):
    """When a timer (here the receiver's delayed ACK) falls on the very instant
    a datagram arrives, trio orders the two wake-ups by the memory address of
    their cancel scopes and a coin flip (its run-queue reversal); the engine
    runs them in the order they were scheduled.  Up to that instant the runs
    are identical; after it they differ as two runs of one model do: the
    same figures within a few per cent."""
    trio_result, trio_log, sim_result, sim_log = _compare(name, seed)
    diffs = (i for i, (x, y) in enumerate(zip(trio_log, sim_log, strict=False)) if x != y)
    first = next(diffs, None)
    if first is None:  # no tie fell on this run: identical throughout
        assert trio_log == sim_log
        return
    t, src, _dst, _size, _ = trio_log[first]
    assert sim_log[first][:2] == (t, src)  # the same datagram leaves at the same time ...
    assert first > 200
    for g1, g2 in zip(sim_result["goodput"], trio_result["goodput"], strict=True):
        assert g1 == pytest.approx(g2, rel=0.05)  # ... and the outcome stays close
    rtx = [r["info"][0].retransmits for r in (sim_result, trio_result)]
    assert abs(rtx[0] - rtx[1]) <= 2


@pytest.mark.parametrize(("name", "seed"), [("random-loss-cubic", 1)])
def test_computed_sizes_differ_only_after_a_narrow_crc(name, seed):
    """Sizes computed without msgpack assume a 5-byte CRC.  The runs agree
    datagram for datagram up to the first segment whose CRC packs narrower
    (the computed size is then 1-4 bytes larger); from there its timing may
    drift by microseconds, and goodput stays within 2 %."""
    links, config, job = SCENARIOS[name]
    exact, exact_log = _sim_run(seed, links, config, job, wire=True)
    computed, computed_log = _sim_run(seed, links, config, job, wire=False, exact=False)
    narrow = [i for i, e in enumerate(exact_log) if e[3] != computed_log[i][3]]
    end = narrow[0] if narrow else len(exact_log)
    assert [e[:4] for e in computed_log[:end]] == [e[:4] for e in exact_log[:end]]
    if narrow:
        assert 0 < computed_log[end][3] - exact_log[end][3] <= 4
    for g1, g2 in zip(computed["goodput"], exact["goodput"], strict=True):
        assert g1 == pytest.approx(g2, rel=0.02)


def test_a_corrupting_link_gets_real_bytes_and_drops_them_as_malformed():
    net = SimNetwork(seed=3)
    a, b = net.add_host(A), net.add_host(B)
    links = _links(corrupt=0.05)
    net.add_link(A, B, profile=links[0], reverse=links[1])
    server = []
    b.listen(80, lambda sock: (server.append(sock), Sink().start(sock)))
    sock = a.connect((B, 80))
    net.engine.run(until=0.2)
    assert sock.connection.state is emutcp.State.ESTABLISHED
    BulkSender().start(sock)
    net.engine.run(until=3.0)
    malformed = sum(ep.mux.stats["malformed"] for ep in b.endpoints.values())
    assert net.link(A, B).stats.corrupted > 10
    assert malformed >= net.link(A, B).stats.corrupted - 2  # the CRC caught them
    assert sock.info().retransmits > 0  # and the sender repaired the loss
    assert server[0].app.received > 100_000


def test_wire_size_is_the_encoded_size_with_a_five_byte_crc():
    rng = random.Random(5)
    for _ in range(3000):
        opts = rng.choice(
            [
                NO_OPTIONS,
                Options(
                    mss=rng.choice([None, 536, 1400]),
                    wscale=rng.choice([None, 0, 7, 14]),
                    sack_permitted=rng.random() < 0.5,
                    sack_blocks=tuple(
                        (rng.getrandbits(32), rng.getrandbits(32)) for _ in range(rng.randint(0, 4))
                    ),
                    timestamps=rng.choice([None, (rng.getrandbits(32), rng.getrandbits(9))]),
                ),
            ]
        )
        seg = Segment(
            rng.randrange(65536),
            rng.randrange(65536),
            rng.choice([0, 127, 128, 255, 256, 65535, 65536, rng.getrandbits(32)]),
            rng.getrandbits(32),
            rng.choice([ACK, ACK | 1, 2, 4]),
            rng.randrange(65536),
            opts,
            bytes(rng.choice([0, 1, 255, 256, 1400, 70_000])),
        )
        data = encode_segment(seg)
        if data[-5] == 0xCE:  # a CRC above 0xFFFF: 0xce and 4 bytes
            assert wire_size(seg) == len(data)
        else:  # packed narrower
            assert 0 < wire_size(seg) - len(data) <= 4


def test_engine_orders_ties_by_scheduling_and_skips_cancelled_entries():
    engine = Engine()
    seen = []
    engine.call_at(1.0, lambda: seen.append(("a", engine.now())))
    gone = engine.schedule(0.5, seen.append, "cancelled")
    engine.schedule(1.0, seen.append, "b")
    engine.call_at(0.25, lambda: engine.soon(seen.append, "soon"))
    engine.cancel(gone)
    assert engine.run(until=2.0) == 2.0
    assert seen == ["soon", ("a", 1.0), "b"]
    # call_at with a time already past: now, after what is due now.
    engine.schedule(3.0, lambda: engine.call_at(1.0, lambda: seen.append(("late", engine.now()))))
    engine.schedule(3.0, seen.append, "c")
    engine.run()
    assert seen[-2:] == ["c", ("late", 3.0)]


# ------------------------------- the congestion model checks, on the engine
# (tests/test_congestion.py runs them on the trio engine; here two, shortened,
# so that the suite stays fast: ``python benchmarks/simulation.py --checks``
# runs checks 1, 2, 4 and 5 in full on the engine.)


def _sim(seed=1, rate=10e6, rtt=0.05, config=None, **impairments):
    net = SimNetwork(seed=seed)
    a, b = net.add_host(A, config=config), net.add_host(B, config=config)
    net.add_link(A, B, delay=rtt / 2, rate=rate, queue=bdp_queue(rate, rtt, MSS), **impairments)
    return net, a, b


def test_check1_clean_bottleneck_is_well_used():
    net, a, b = _sim(config=emutcp.Config(congestion="cubic"))
    r = bulk_flows(net, a, b, duration=6.0, window=(2.0, 6.0))
    assert r["goodput"][0] >= 0.85 * 10e6
    assert r["info"][0].congestion == "cubic"


def test_check2_newreno_follows_the_mathis_model():
    p = 0.02
    config = emutcp.Config(congestion="newreno", recv_buffer=1 << 21, send_buffer=1 << 21)
    net = SimNetwork(seed=int(p * 1000))
    a, b = net.add_host(A, config=config), net.add_host(B, config=config)
    net.add_link(
        A,
        B,
        profile=emutcp.LinkProfile(delay=0.025, rate=200e6, queue=2000, loss=p),
        reverse=emutcp.LinkProfile(delay=0.025),
    )
    r = bulk_flows(net, a, b, duration=30.0, window=(5.0, 30.0))
    ratio = r["goodput"][0] / mathis(MSS, 0.05, p)
    assert 0.5 <= ratio <= 2.0, ratio


# ------------------------------------------------------------- applications


def test_request_response_and_on_off_applications():
    net, a, b = _sim(rate=10e6, rtt=0.05)
    b.listen(80, Responder(request=200, response=5000).start)
    client = RequestResponse(request=200, response=5000, count=5)
    a.connect((B, 80), app=client)
    net.engine.run(until=5.0)
    assert len(client.latencies) == 5
    # One RTT, plus one more where Nagle holds the response's last partial
    # segment until the first ones are ACKed (the client delays that ACK).
    assert all(0.05 <= t <= 0.2 for t in client.latencies), client.latencies
    assert max(client.latencies[1:]) - min(client.latencies[1:]) < 1e-4  # steady state

    net, a, b = _sim(rate=10e6, rtt=0.05)
    sink = Sink()
    b.listen(80, sink.start)
    sender = OnOff(on=1.0, off=1.0)
    a.connect((B, 80), app=sender)
    net.engine.run(until=6.0)
    assert sender.periods == 3
    # On half the time at up to 10 Mbit/s, less slow start after each pause.
    assert 1.0e6 < sink.received < 0.55 * 10e6 / 8 * 6, sink.received


# ----------------------------------------------------- the core's fast path


@pytest.mark.parametrize(
    "impairments",
    [{}, {"loss": 0.02, "reorder": 0.03, "duplicate": 0.02, "jitter": 0.002}],
    ids=["clean", "lossy-reordering"],
)
def test_header_prediction_changes_nothing_on_the_wire(monkeypatch, impairments):
    """The fast path (Connection._header_predicted) takes the steps the full
    SEGMENT ARRIVES path would take for the segments it accepts: with it turned
    off, the same datagrams leave at the same times and every counter agrees."""
    from emutcp.core.connection import Connection

    links = _links(**impairments)
    job = {"flows": 2, "duration": 2.0}
    fast, fast_log = _sim_run(5, links, None, job, wire=True)
    monkeypatch.setattr(Connection, "_header_predicted", lambda self, seg, now: False)
    slow, slow_log = _sim_run(5, links, None, job, wire=True)
    assert fast_log == slow_log
    assert fast["info"] == slow["info"]
    assert fast["history"] == slow["history"]


@pytest.mark.parametrize("loss", [0.0, 0.02])
def test_header_prediction_of_request_response_changes_nothing(monkeypatch, loss):
    """Both directions carry data that also acknowledges new data (what the fast
    path takes since it covers request/response): the same datagrams with it off."""
    from emutcp.core.connection import Connection

    def run() -> tuple[list, list[float]]:
        net = SimNetwork(seed=9, wire=True)
        log: list = []
        _recorder(net, net.now, log, content=True)
        a, b = net.add_host(A), net.add_host(B)
        net.add_link(A, B, profile=emutcp.LinkProfile(delay=0.01, rate=10e6, loss=loss))
        b.listen(80, Responder(request=300, response=2000).start)
        client = RequestResponse(request=300, response=2000, count=40)
        a.connect((B, 80), app=client)
        net.engine.run(until=30.0)
        assert len(client.latencies) == 40
        return log, client.latencies

    fast = run()
    monkeypatch.setattr(Connection, "_header_predicted", lambda self, seg, now: False)
    assert run() == fast


def test_a_capture_on_the_engine_is_the_capture_of_the_trio_engine(tmp_path):
    """A pcap is written from the core's segment records, so the engine needs
    no wire bytes for it: both engines write the same file."""
    from emutcp.lab.flows import run_flows as trio_flows

    links = _links(loss=0.01)
    sim_pcap, trio_pcap = tmp_path / "sim.pcapng", tmp_path / "trio.pcapng"
    net = SimNetwork(seed=2)
    a, b = net.add_host(A, pcap=str(sim_pcap)), net.add_host(B)
    net.add_link(A, B, profile=links[0], reverse=links[1])
    bulk_flows(net, a, b, duration=1.0)
    a.pcap.close()

    async def main():
        enet = emutcp.EmulatedNetwork(seed=2)
        ea, eb = enet.add_host(A, pcap=str(trio_pcap)), enet.add_host(B)
        enet.add_link(A, B, profile=links[0], reverse=links[1])
        await trio_flows(enet, ea, eb, duration=1.0)
        ea.pcap.close()

    run_virtual(main, seed=2)
    assert sim_pcap.stat().st_size > 100_000
    assert sim_pcap.read_bytes() == trio_pcap.read_bytes()


# ------------------------------------ the network model (routers, AQMs, ECN)


def _model_run(engine: str, qdisc: str, ecn: bool, *, seed: int = 1, duration: float = 2.5):
    """Two CUBIC flows (RTTs 20 and 60 ms) through a dumbbell whose bottleneck
    runs ``qdisc``; every datagram logged with its ECN field as it leaves."""
    bottleneck = emutcp.LinkProfile(delay=0.01, rate=10e6, queue=200, qdisc=qdisc)
    back = emutcp.LinkProfile(delay=0.01, rate=10e6, queue=200)
    config = emutcp.Config(ecn=ecn, congestion="cubic")
    job = {"duration": duration, "window": (1.0, duration), "config": config}
    log: list = []

    def build(net, now):
        transmit = net.transmit

        def record(src, dst, data, ecn=0):
            log.append((now(), src, dst, len(data), hashlib.sha256(data).digest()[:8], ecn))
            transmit(src, dst, data, ecn)

        net.transmit = record
        shape = net.dumbbell([0.0, 0.02], bottleneck=bottleneck, reverse=back, config=config)
        ends = zip(shape.senders, shape.receivers, strict=True)
        pairs = [(net.hosts[s], net.hosts[r]) for s, r in ends]
        return pairs, shape.bottlenecks[0]

    if engine == "sim":
        net = SimNetwork(seed=seed, wire=True)
        pairs, link = build(net, net.now)
        return bulk_flow_pairs(net, pairs, **job), log, link.queue_stats.summary()

    async def main():
        pairs, link = build(emutcp.EmulatedNetwork(seed=seed), trio.current_time)
        r = await run_flow_pairs(pairs, **job)
        return r, list(log), link.queue_stats.summary()

    return run_virtual(main, seed=seed)


@pytest.mark.parametrize(("qdisc", "ecn"), [("codel", True), ("red", False)])
def test_both_engines_agree_through_routers_and_aqms(qdisc, ecn):
    """Routers, an event-driven AQM and ECN on both engines: the same datagrams
    (bytes, times, ECN field), the same queue statistics, the same goodput.
    The engines can part only where trio wakes two tasks at one exact instant
    (see the tie test above); no such tie falls in these runs."""
    trio_r, trio_log, trio_q = _model_run("trio", qdisc, ecn)
    sim_r, sim_log, sim_q = _model_run("sim", qdisc, ecn)
    assert len(trio_log) > 2000
    assert sim_log == trio_log
    assert sim_q == trio_q and sim_q["marked" if ecn else "dropped"] > 0
    assert sim_r["goodput"] == trio_r["goodput"] and sim_r["info"] == trio_r["info"]
    if ecn:  # CE marks instead of drops, and ECT(0) on the data (RFC 3168 6.1.4)
        assert sim_q["dropped"] == 0 and {e[5] for e in sim_log} >= {0, 2}


class Source(App):
    """Sends ``payload`` as the send buffer takes it, then closes."""

    def __init__(self, payload: bytes) -> None:
        self.view = memoryview(payload)

    def on_start(self, sock) -> None:
        self.wake(sock, ())

    def wake(self, sock, events) -> None:
        while self.view and (n := sock.send(self.view)):
            self.view = self.view[n:]
        if not self.view and not sock.closed:
            sock.close()


class Collect(App):
    """Keeps every byte it reads."""

    def __init__(self) -> None:
        self.data = bytearray()

    def on_start(self, sock) -> None:
        self.wake(sock, ())

    def wake(self, sock, events) -> None:
        while data := sock.recv(1 << 20):
            self.data += data


def test_routers_routes_drops_and_loopback_on_the_engine():
    """The engine's network: static routes through routers, no-route counted,
    a scripted drop of the 3rd data segment (counted on Segment objects), a
    loopback connection; every transfer checked with sha256."""
    net = SimNetwork(seed=4)
    a, b = net.add_host("10.0.1.1"), net.add_host("10.0.2.1")
    for r in ("r1", "r2", "r3"):
        net.add_router(r)
    net.add_link(a, "r1", delay=0.001)
    net.add_link("r1", "r2", delay=0.01, drop=(3,))
    net.add_link("r1", "r3", delay=0.03)
    net.add_link("r2", b, delay=0.001)
    net.add_link("r3", b, delay=0.001)
    net.add_route("r1", "10.0.2.0/24", "r2")
    payload = random.Random(4).randbytes(300_000)
    got: dict[int, Collect] = {}
    for host, port in ((b, 80), (a, 81)):
        host.listen(port, lambda sock: got.setdefault(sock.endpoint.port, Collect()).start(sock))
    routed = a.connect(("10.0.2.1", 80), app=Source(payload))
    a.connect(("10.0.1.1", 81), app=Source(payload))  # loopback
    net.engine.run(until=5.0)
    digest = hashlib.sha256(payload).digest()
    assert [hashlib.sha256(got[p].data).digest() for p in (80, 81)] == [digest, digest]
    r1r2 = net.link("r1", "r2")
    assert r1r2.stats.dropped["scripted"] == 1 and r1r2.stats.data_packets > 100
    assert net.link("r1", "r3").stats.sent == 0  # the /24 route, not the shortest path
    assert routed.info().retransmits >= 1
    net.transmit(("10.0.1.1", 9), ("10.9.9.9", 9), b"x")
    assert net.stats["no_route"] == 1
