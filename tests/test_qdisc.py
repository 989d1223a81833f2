"""Queue disciplines and the event-driven link, driven by a pure HeapScheduler."""

from __future__ import annotations

import random

import pytest

from emutcp.transport.link import Link, LinkProfile
from emutcp.transport.qdisc import CE, ECT0, NOT_ECT, QDISCS, Packet, make_qdisc
from emutcp.transport.scheduler import HeapScheduler, Scheduler

RATE = 10e6
SIZE = 1250  # 1 ms on the wire at 10 Mbit/s


def drive(qdisc, flows, *, seconds=2.0, queue=200, ecn=NOT_ECT, ecn_marking=True, **params):
    """Constant-rate sources: ``flows`` is [(interval s, size bytes)].  Returns the
    link and the (arrival time, flow, ecn) of each delivered datagram."""
    sched = HeapScheduler()
    profile = LinkProfile(
        rate=RATE, delay=0.01, queue=queue, qdisc=qdisc, qdisc_params=params, ecn=ecn_marking
    )
    link = Link("a", "b", profile, random.Random(1))
    got: list[tuple[float, int, int]] = []
    link.attach(sched, lambda lk, d, ctx: lk.delivered(d) and got.append((sched.now(), ctx, d.ecn)))

    def source(i: int, interval: float, size: int) -> None:
        def tick() -> None:
            link.send(bytes(size), sched.now(), ecn=ecn, flow=i, ctx=i)
            if sched.now() + interval < seconds:
                sched.call_at(sched.now() + interval, tick)

        sched.call_at(0.0, tick)

    for i, (interval, size) in enumerate(flows):
        source(i, interval, size)
    sched.run()
    return link, got


def test_scheduler_protocol_and_order():
    s = HeapScheduler()
    assert isinstance(s, Scheduler)
    seen: list[int] = []
    s.call_at(2.0, lambda: seen.append(2))
    s.call_at(1.0, lambda: seen.append(1))
    s.call_at(1.0, lambda: seen.append(11))
    s.run()
    assert seen == [1, 11, 2] and s.now() == 2.0


def test_unknown_qdisc_and_bad_parameters_are_one_clear_error():
    with pytest.raises(ValueError, match=r"unknown qdisc 'bogus' \(known: fifo, red, codel"):
        make_qdisc("bogus")
    with pytest.raises(ValueError, match="codel"):
        LinkProfile(qdisc="codel", qdisc_params={"target": -1})
    with pytest.raises(ValueError, match="unexpected keyword"):
        make_qdisc("pie", nonsense=1)


def test_event_fifo_matches_the_closed_form_queue():
    """The event-driven FIFO delivers at the very times the closed form plans (whose
    limit also counts the datagram on the wire: one more than the qdisc's)."""
    flows = [(0.0008, SIZE)]  # 1.25x the link rate: the queue fills and drops
    link, got = drive("fifo", flows, queue=20, seconds=0.5)
    sched = HeapScheduler()
    ref = Link("a", "b", LinkProfile(rate=RATE, delay=0.01, queue=21), random.Random(1))
    times = []
    t = 0.0
    while t < 0.5 - 1e-12:
        times += [when for when, _ in ref.plan(bytes(SIZE), t)]
        t += 0.0008
    assert [round(x, 9) for x, _, _ in got] == [round(x, 9) for x in times]
    assert link.queue_stats.drops == ref.queue_stats.drops > 0
    assert link.queue_stats.sojourn_p99 == pytest.approx(ref.queue_stats.sojourn_p99)
    assert sched.now() == 0.0


@pytest.mark.parametrize("name", ["red", "codel", "pie", "fq_codel"])
def test_aqms_keep_the_queue_short_under_overload(name):
    """An unresponsive source at 1.1x the rate: FIFO's 200-packet queue fills
    (~200 ms); each AQM holds the sojourn time far below it, dropping early
    (CoDel's drop rate needs a second or two to catch up with such a source)."""
    flows = [(0.00091, SIZE)]
    fifo, _ = drive("fifo", flows, seconds=5.0)
    aqm, got = drive(name, flows, seconds=5.0)
    tail = fifo.queue_stats.sojourn[-1000:]
    assert sum(tail) / len(tail) > 0.15
    late = aqm.queue_stats.sojourn[-1000:]
    assert sum(late) / len(late) < 0.05, name
    assert aqm.queue_stats.dropped["aqm"] > 0
    assert len(got) > 0.95 * 5.0 * RATE / 8 / SIZE  # the link stays busy


def test_codel_marks_ect_instead_of_dropping():
    link, got = drive("codel", [(0.0008, SIZE)], seconds=3.0, ecn=ECT0)
    qs = link.queue_stats
    assert qs.marked > 0 and qs.dropped["aqm"] == 0
    assert sum(1 for *_, e in got if e == CE) == qs.marked


def test_an_aqm_without_ecn_drops_ect_packets_too():
    link, _ = drive("codel", [(0.0008, SIZE)], seconds=3.0, ecn=ECT0, ecn_marking=False)
    assert link.queue_stats.marked == 0 and link.queue_stats.dropped["aqm"] > 0


def test_fq_codel_sparse_flow_skips_the_bulk_queue():
    """A 100 packet/s sparse flow beside an overloading bulk flow: FQ-CoDel serves
    it at once (new-flow boost), FIFO makes it wait behind the bulk queue."""
    flows = [(0.0008, SIZE), (0.01, 100)]
    fq = _sparse_sojourn("fq_codel", flows)
    fifo = _sparse_sojourn("fifo", flows)
    assert len(fq) >= 190
    assert max(fq) <= 2 * SIZE * 8 / RATE + 1e-9  # at most two bulk packet times
    assert min(fifo[50:]) > 0.05  # behind ~100 ms of bulk queue


def _sparse_sojourn(name, flows):
    sched = HeapScheduler()
    q = make_qdisc(name, limit=100, rate=RATE)
    out: list[float] = []
    busy = [False]

    def wire():
        pkt = q.dequeue(sched.now())
        if pkt is None:
            busy[0] = False
            return
        busy[0] = True
        if pkt.flow == 1:
            out.append(sched.now() - pkt.enqueued)
        sched.call_at(sched.now() + pkt.size * 8 / RATE, wire)

    def source(i, interval, size):
        def tick():
            if q.enqueue(Packet(size, flow=i), sched.now()) and not busy[0]:
                wire()
            if sched.now() + interval < 2.0:
                sched.call_at(sched.now() + interval, tick)

        sched.call_at(0.0, tick)

    for i, (interval, size) in enumerate(flows):
        source(i, interval, size)
    sched.run()
    return out


def test_queue_statistics_summary():
    link, _ = drive("codel", [(0.0008, SIZE)], seconds=1.0)
    s = link.queue_stats.summary()
    assert s["enqueued"] > 0 and s["dropped"] == link.queue_stats.drops
    assert 0 < s["sojourn_mean"] <= s["sojourn_p99"] < 0.2
    assert set(QDISCS) == {"fifo", "red", "codel", "fq_codel", "pie"}


def test_same_seed_same_drops():
    a, got_a = drive("red", [(0.0008, SIZE)], seconds=1.0)
    b, got_b = drive("red", [(0.0008, SIZE)], seconds=1.0)
    assert got_a == got_b and a.queue_stats.dropped == b.queue_stats.dropped
