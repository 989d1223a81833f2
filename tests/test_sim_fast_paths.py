"""The engine's shortcuts change no datagram.

``SimSocket.send`` skips the output pass when appending cannot change it
(``network._appending_sends_nothing``: the bulk sender's refill after each
ACK).  Each scenario runs with the shortcut and with every pass run
(``SimNetwork.skip_quiet_passes = False``), and must put the same datagrams
on the wire at the same times.  (No monkeypatching: this runs compiled too.)
"""

from __future__ import annotations

import pytest

import emutcp
from emutcp.lab.flows import A, B
from emutcp.lab.units import bdp_queue
from emutcp.sim import SimNetwork, bulk_flows, transfers

MSS = 1400


def _run(rate, config, job, *, skip: bool, **impairments):
    net = SimNetwork(seed=3)
    net.skip_quiet_passes = skip
    net.trace_datagrams = []
    queue = bdp_queue(rate, 0.05, MSS)
    data = emutcp.LinkProfile(delay=0.025, rate=rate, queue=queue, **impairments)
    acks = emutcp.LinkProfile(delay=0.025, rate=rate, queue=queue)
    a, b = net.add_host(A, config=config), net.add_host(B, config=config)
    net.add_link(A, B, profile=data, reverse=acks)
    if "nbytes" in job:
        result = transfers(net, a, b, flows=1, nbytes=job["nbytes"])
    else:
        result = bulk_flows(net, a, b, **job)
    return net.trace_datagrams, result["info"], net.passes_skipped


@pytest.mark.parametrize(
    ("rate", "config", "job", "impairments"),
    [
        (100e6, None, {"flows": 1, "duration": 1.5}, {}),
        (10e6, emutcp.Config(congestion="cubic"), {"flows": 2, "duration": 2.0}, {"loss": 0.01}),
        (10e6, emutcp.Config(congestion="bbr"), {"flows": 1, "duration": 2.0}, {}),  # pacing
        (10e6, emutcp.Config(user_timeout=30.0), {"flows": 1, "duration": 1.5}, {"loss": 0.02}),
        (10e6, emutcp.Config(sack=False), {"nbytes": 300_000}, {"loss": 0.02}),
    ],
)
def test_skipped_refill_passes_change_no_datagram(rate, config, job, impairments):
    log, info, skipped = _run(rate, config, job, skip=True, **impairments)
    ref_log, ref_info, none_skipped = _run(rate, config, job, skip=False, **impairments)
    assert len(ref_log) > 250
    assert log == ref_log  # every datagram: time, addresses, size
    assert info == ref_info
    assert none_skipped == 0
    assert skipped > 0
