"""The engine's shortcuts change no datagram.

``SimSocket.send`` skips the output pass when appending cannot change it
(``network._appending_sends_nothing``: the bulk sender's refill after each
ACK).  Each scenario runs with the shortcut and with the pass forced, and
must put the same datagrams on the wire at the same times, while the
shortcut saves most of the refill passes.
"""

from __future__ import annotations

import pytest

import emutcp
from emutcp.lab.flows import A, B
from emutcp.lab.units import bdp_queue
from emutcp.sim import SimNetwork, bulk_flows, transfers
from emutcp.sim import network as sim_network

MSS = 1400


def _run(rate, config, job, *, shortcut: bool, monkeypatch, **impairments):
    if not shortcut:
        monkeypatch.setattr(sim_network, "_appending_sends_nothing", lambda conn: False)
    flushes = [0]
    flush = sim_network.SimEndpoint.flush

    def counting(self):
        flushes[0] += 1
        flush(self)

    monkeypatch.setattr(sim_network.SimEndpoint, "flush", counting)
    net = SimNetwork(seed=3)
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
    monkeypatch.undo()
    return net.trace_datagrams, result["info"], flushes[0]


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
def test_skipped_refill_passes_change_no_datagram(rate, config, job, impairments, monkeypatch):
    log, info, flushes = _run(
        rate, config, job, shortcut=True, monkeypatch=monkeypatch, **impairments
    )
    ref_log, ref_info, ref_flushes = _run(
        rate, config, job, shortcut=False, monkeypatch=monkeypatch, **impairments
    )
    assert len(ref_log) > 250
    assert log == ref_log  # every datagram: time, addresses, size
    assert info == ref_info
    assert flushes < ref_flushes
