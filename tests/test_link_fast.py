"""``Link.plan_simple`` (one call per datagram) decides exactly as ``Link.plan``.

Two links with the same seed and profile, one planned through the general
path and one through the fast path, see the same datagrams at the same times:
their deliveries, RNG draws, counters and queue statistics must be equal.
"""

from __future__ import annotations

import random
from dataclasses import asdict

from hypothesis import given, settings
from hypothesis import strategies as st

from emutcp.transport.link import Link, LinkProfile

simple_profiles = st.builds(
    LinkProfile,
    loss=st.sampled_from([0.0, 0.01, 0.3]),
    delay=st.sampled_from([0.0, 0.001, 0.025]),
    rate=st.none() | st.sampled_from([1e6, 10e6, 100e6]),
    queue=st.none() | st.integers(0, 20),
    queue_bytes=st.none() | st.integers(0, 30_000),
    mtu=st.none() | st.sampled_from([576, 1500]),
    jitter_reorders=st.booleans(),
)
traffic = st.lists(st.tuples(st.floats(0, 0.01), st.integers(1, 1600)), min_size=1, max_size=200)


@settings(max_examples=150, deadline=None)
@given(simple_profiles, traffic, st.integers(0, 2**32))
def test_plan_simple_is_plan(profile: LinkProfile, sends: list[tuple[float, int]], seed: int):
    general = Link("a", "b", profile, random.Random(seed))
    fast = Link("a", "b", profile, random.Random(seed))
    assert fast.simple
    now = 0.0
    for gap, size in sends:
        now += gap
        data = bytes(size)
        planned = fast.plan_simple(data, size, now, 1)
        expected = general.plan(data, now, 1)
        got = [] if planned is None else [planned]
        assert [(w, d.payload, d.ecn, d.size) for w, d in got] == [
            (w, d.payload, d.ecn, d.size) for w, d in expected
        ]
        for (_, dg), (_, df) in zip(expected, got, strict=True):
            assert general.delivered(dg) and fast.delivered(df)
    assert asdict(fast.stats) == asdict(general.stats)
    assert fast.queue_stats.sojourn == general.queue_stats.sojourn
    assert fast.queue_stats.enqueued == general.queue_stats.enqueued
    assert fast.rng.random() == general.rng.random()  # the same draws were taken


def test_simple_follows_the_profile_and_held_datagrams():
    link = Link("a", "b", LinkProfile(delay=0.01), random.Random(1))
    assert link.simple
    link.profile = LinkProfile(delay=0.01, reorder=1.0, reorder_gap=2)
    assert not link.simple
    held = link.plan(b"x", 0.0)
    assert len(held) == 1 and link._held  # held back for reordering
    link.profile = LinkProfile(delay=0.01)  # reordering off, one datagram still held
    assert not link.simple  # plan_simple would not release it after its gap
    out = link.plan(b"y", 0.001) + link.plan(b"z", 0.002)
    assert [d.payload for _, d in out] == [b"y", b"x", b"z"]  # released behind y's successor
    assert link.simple  # nothing held any more
    for cls in ("jitter", "duplicate", "corrupt", "truncate", "reorder"):
        assert not Link("a", "b", LinkProfile(**{cls: 0.5}), random.Random(1)).simple
    assert not Link("a", "b", LinkProfile(rate=1e6, qdisc="fifo"), random.Random(1)).simple
    assert not Link("a", "b", LinkProfile(outages=((1.0, 2.0),)), random.Random(1)).simple
