"""The network model's checks (issue 14), in virtual time, seeded: routers and
shared bottlenecks, AQMs against a bloated FIFO, ECN instead of drops."""

from __future__ import annotations

import json

import pytest
import trio

import emutcp
from emutcp.lab.trial import run_trial
from emutcp.sim import RequestResponse, Responder, SimNetwork, bulk_flows
from emutcp.transport.link import LinkProfile
from emutcp.transport.scheduler import HeapScheduler
from emutcp.transport.topology import Topology

BLOAT = {"congestion": "cubic", "queue_bdp": 8, "duration": 8.0, "warmup": 3.0}


# ------------------------------------------------------------------ topology


def _topology():
    got = []
    topo = Topology(HeapScheduler(), seed=1)
    for name in ("10.0.1.1", "10.0.2.1", "10.0.3.1"):
        topo.add_node(name, receive=lambda d, e, s, t, name=name: got.append((name, d)))
    for r in ("r1", "r2", "r3"):
        topo.add_node(r, router=True)
    plain = LinkProfile(delay=0.001)
    topo.add_link("10.0.1.1", "r1", plain)
    topo.add_link("r1", "r2", plain)
    topo.add_link("r1", "r3", plain)
    topo.add_link("r2", "10.0.2.1", plain)
    topo.add_link("r3", "10.0.2.1", plain)
    topo.add_link("r3", "10.0.3.1", plain)
    return topo, got


def test_shortest_path_and_longest_prefix_routes():
    topo, got = _topology()
    # Shortest path, ties broken by name: r1 -> r2 -> 10.0.2.1.
    assert [link.dst for link in topo.path("10.0.1.1", "10.0.2.1")] == ["r1", "r2", "10.0.2.1"]
    # A /16 static route via r3, then a longer /24 via r2 for part of it.
    topo.add_route("r1", "10.0.0.0/16", "r3")
    assert [link.dst for link in topo.path("10.0.1.1", "10.0.2.1")] == ["r1", "r3", "10.0.2.1"]
    topo.add_route("r1", "10.0.2.0/24", "r2")
    assert [link.dst for link in topo.path("10.0.1.1", "10.0.2.1")] == ["r1", "r2", "10.0.2.1"]
    assert [link.dst for link in topo.path("10.0.1.1", "10.0.3.1")] == ["r1", "r3", "10.0.3.1"]
    topo.send(("10.0.1.1", 1), ("10.0.3.1", 2), b"x")
    topo.scheduler.run()
    assert got == [("10.0.3.1", b"x")]
    with pytest.raises(ValueError, match="not a neighbour"):
        topo.add_route("r1", "10.9.0.0/16", "10.0.3.1")
    with pytest.raises(ValueError, match="not an address prefix"):
        topo.add_route("r1", "bogus", "r2")


def test_routing_loop_dies_by_ttl_and_hosts_do_not_forward():
    topo, got = _topology()
    topo.add_route("r2", "10.0.3.0/24", "r1")
    topo.add_route("r1", "10.0.3.0/24", "r2")
    topo.send(("10.0.1.1", 1), ("10.0.3.1", 2), b"x")
    topo.scheduler.run()
    assert got == [] and topo.stats["ttl_exceeded"] == 1
    topo.send(("10.0.1.1", 1), ("10.0.9.9", 2), b"x")  # nowhere to go
    assert topo.stats["no_route"] == 1


async def test_emulated_network_routers_keep_add_host_add_link_working(mock_clock):
    net = emutcp.EmulatedNetwork(seed=3)
    a, b = net.add_host("10.0.0.1"), net.add_host("10.0.9.1")
    net.add_router("r1")
    net.add_link("10.0.0.1", "r1", delay=0.01, mtu=1500)
    net.add_link("r1", "10.0.9.1", delay=0.02, mtu=1200)
    assert net.max_datagram(("10.0.0.1", 1), ("10.0.9.1", 1)) == 1200
    with pytest.raises(ValueError, match="unknown host"):
        net.add_link("10.0.0.1", "r9")
    # The public API contract's spelling: host objects, router addresses, ecn=.
    c = net.add_host("10.0.5.1")
    r = net.add_router("10.0.1.1")
    fwd, _ = net.add_link(c, r, rate=10e6, delay=0.01, qdisc="codel", ecn=True, loss=0.0)
    assert fwd.qdisc is not None and fwd.qdisc.ecn and fwd.src == "10.0.5.1"
    lst = await b.open_listeners(80)
    start = trio.current_time()
    out = await a.open_stream("10.0.9.1", 80)
    inn = await lst[0].accept()
    assert trio.current_time() - start == pytest.approx(0.09)  # 1.5 RTT via r1
    await out.send_all(b"hello" * 1000)
    got = b""
    while len(got) < 5000:
        got += await inn.receive_some(65536)
    assert got == b"hello" * 1000


# ----------------------------------------------------------- model checks


@pytest.mark.slow
def test_dumbbell_short_rtt_flow_wins():
    """NewReno, RTTs 20 and 100 ms through one 10 Mbit/s FIFO of one BDP: the
    short-RTT flow gets >= 1.3x the long one's goodput (ns-3: 1.52), the link
    stays >= 90 % busy."""
    r = run_trial({"topology": "dumbbell", "rtts": [0.02, 0.1], "duration": 12.0, "warmup": 3.0}, 1)
    short, long_ = r["flow_goodput_Mbps"]
    assert short >= 1.3 * long_
    assert r["utilization"] >= 0.9


def test_codel_cures_bufferbloat():
    """One CUBIC flow, 10 Mbit/s, 50 ms, 8 BDP of buffer: FIFO's mean RTT goes
    above 150 ms; CoDel keeps it <= 80 ms at >= 85 % utilization."""
    fifo = run_trial({**BLOAT, "duration": 5.0, "warmup": 2.0}, 1)  # bloats at once
    codel = run_trial({**BLOAT, "qdisc": "codel"}, 1)
    assert fifo["rtt_mean_ms"] > 150 and fifo["queue_delay_ms"] > 100
    assert codel["rtt_mean_ms"] <= 80 and codel["utilization"] >= 0.85
    assert codel["queue_delay_ms"] < 10 < fifo["queue_delay_p99_ms"]


# Trials run on the discrete-event engine (emutcp.sim: exact ties broken by
# scheduling order), so each of these is one fixed run, the same every time.
AQM_SEEDS = {"red": 1, "pie": 1, "fq_codel": 1}


@pytest.mark.slow
@pytest.mark.parametrize("qdisc", sorted(AQM_SEEDS))
def test_other_aqms_beat_fifo_delay(qdisc):
    r = run_trial({**BLOAT, "qdisc": qdisc}, AQM_SEEDS[qdisc])
    assert r["rtt_mean_ms"] < 150 and r["utilization"] >= 0.8


@pytest.mark.slow
@pytest.mark.parametrize("qdisc", ["red", "pie"])
def test_no_retransmission_storm_under_an_aqm(qdisc):
    # Was: RED seed 1 sent 7,986 retransmissions for 8,060 drops; each recovery
    # episode halved SND.MAX - SND.UNA, SACKed bytes above old holes included,
    # so ssthresh grew episode after episode (recovery.py loss_flight).
    r = run_trial({**BLOAT, "qdisc": qdisc}, 1)
    segments = r["goodput_Mbps"] * 1e6 * BLOAT["duration"] / (8 * 1400)
    assert r["retransmits"] < 0.02 * segments and r["retransmits"] <= r["link_drops"] + 5


@pytest.mark.patches_core
def test_an_ecn_response_never_raises_cwnd(monkeypatch):
    # RFC 3168 6.1.2 halves the window; halving SND.MAX - SND.UNA, SACKed bytes
    # above older holes included, once raised cwnd 96,287 -> 173,460 here.
    from emutcp.core.connection import Connection

    responses = []
    echo = Connection._ecn_echo

    def watched(self, ack, now):
        before = self.cc.cwnd
        echo(self, ack, now)
        if self.cc.cwnd != before:
            responses.append((before, self.cc.cwnd))

    monkeypatch.setattr(Connection, "_ecn_echo", watched)
    p = {**BLOAT, "qdisc": "pie", "ecn": True, "duration": 6.0, "warmup": 1.0}
    r = run_trial(p, 1)
    assert responses and all(after < before for before, after in responses), responses
    assert r["ce_marks"] > 0


def test_codel_with_ecn_marks_instead_of_dropping():
    r = run_trial({**BLOAT, "qdisc": "codel", "ecn": True}, 1)
    assert r["link_drops"] == 0 and r["retransmits"] == 0
    assert r["ce_marks"] > 0 and r["utilization"] >= 0.85


DUMBBELL = {"topology": "dumbbell", "rtts": [0.02, 0.06]}
SAME_SEED = {
    "dumbbell-red-ecn": {**DUMBBELL, "qdisc": "red", "ecn": True},
    "codel": {"qdisc": "codel", "congestion": "cubic", "queue_bdp": 8},
    "dumbbell-fq_codel-ecn": {**DUMBBELL, "qdisc": "fq_codel", "ecn": True},
}


@pytest.mark.parametrize("name", sorted(SAME_SEED))
def test_same_seed_same_bytes_with_routers_and_aqms(name):
    """The issue's determinism check: a trial's JSON, byte for byte, twice."""
    p = {**SAME_SEED[name], "duration": 3.0, "warmup": 1.0}
    from emutcp.lab.sweep import _trial  # what `emutcp experiment` writes per trial

    runs = []
    for _ in range(2):
        _, r = _trial((0, p, 5, False, {}))
        assert r.pop("wall_s") > 0
        runs.append(json.dumps(r, sort_keys=True).encode())
    assert runs[0] == runs[1]
    assert json.loads(runs[0])["queue_delay_ms"] > 0  # the queue did work


@pytest.mark.parametrize(
    "p",
    [
        {**DUMBBELL, "qdisc": "red", "ecn": True},
        {"topology": "parking_lot", "qdisc": "fq_codel"},
    ],
    ids=["dumbbell-red-ecn", "parking_lot-fq_codel"],
)
def test_engine_trio_still_runs_network_trials_and_agrees(p):
    """``engine = "trio"`` keeps running network-model trials; on these runs no
    exact deadline tie falls (where trio may order two wake-ups differently,
    tests/test_sim.py), so its trial JSON is the discrete-event engine's."""
    p = {**p, "duration": 3.0, "warmup": 1.0}
    sim, trio_ = run_trial({**p, "engine": "sim"}, 5), run_trial({**p, "engine": "trio"}, 5)
    assert sim["utilization"] > 0.5 and sim["queue_delay_ms"] > 0
    assert json.dumps(sim, sort_keys=True) == json.dumps(trio_, sort_keys=True)


class Pinger(RequestResponse):
    """A sparse flow: a 100-byte request, its 100-byte echo, then 0.1 s of
    silence, for ``span`` seconds (what the trio version of this test did)."""

    def __init__(self, span: float) -> None:
        super().__init__(request=100, response=100, count=10**6)
        self.span = span
        self.until: float | None = None

    def _ask(self, sock):
        if self.until is None:
            self.until = sock.now() + self.span
        if self.latencies and sock.now() >= self.until:
            sock.close()
            return
        if self.latencies:  # not the first request: pause first
            sock.endpoint.engine.schedule(sock.now() + 0.1, super()._ask, sock)
        else:
            super()._ask(sock)


def test_fq_codel_sparse_flow_sees_no_queue():
    """A request/response flow beside two bulk flows: FQ-CoDel answers it in about
    the base RTT (its queue is served first); FIFO makes it wait behind the
    bulk flows' queue.  On the discrete-event engine: one fixed run each."""

    def response_times(qdisc: str | None) -> list[float]:
        net = SimNetwork(seed=2)
        a, b = net.add_host("10.0.0.1"), net.add_host("10.0.0.2")
        net.add_link(
            "10.0.0.1", "10.0.0.2", delay=0.025, rate=10e6, queue=180, qdisc=qdisc
        )  # 4 BDP
        b.listen(7, Responder(request=100, response=100).start)
        sparse = Pinger(span=2.0)
        # At 1.5 s the bulk flows have filled the queue.
        net.engine.schedule(1.5, lambda: a.connect(("10.0.0.2", 7), app=sparse))
        bulk_flows(net, a, b, flows=2, duration=4.0)
        return sparse.latencies

    fq = response_times("fq_codel")
    fifo = response_times(None)
    assert len(fq) >= 10 and len(fifo) >= 5
    assert max(fq[1:]) < 0.06  # the base RTT, 50 ms, and a few packet times
    assert min(fifo) > 0.15  # behind the bulk flows' queue


# ------------------------------------------------------- experiment keys

BAD_NETWORK_KEYS = [
    (
        ["--set", "qdisc=bogus"],
        "qdisc: unknown value 'bogus' (valid: fifo, red, codel, fq_codel, pie)",
    ),
    (["--sweep", "topology=path,ring"], "valid: path, dumbbell, parking_lot"),
    (["--set", "rtts=20ms,soon"], "rtts: expected durations"),
    (["--set", "codel_target=-5ms"], "codel_target"),
    (["--set", "congestion=bogus"], "valid: newreno, reno, bbr, cubic, dctcp, vegas"),
]


@pytest.mark.parametrize("args,message", BAD_NETWORK_KEYS)
def test_bad_network_keys_are_one_line_and_exit_status_2(args, message, capsys):
    from emutcp.tools.cli import main

    with pytest.raises(SystemExit) as exc:
        raise SystemExit(main(["experiment", *args, "--duration", "1"]))
    err = capsys.readouterr().err
    assert exc.value.code == 2 and "Traceback" not in err
    # argparse's convention: the usage line, then one line naming the problem.
    assert err.strip().splitlines()[-1].startswith("emutcp experiment: error:")
    assert message in err.strip().splitlines()[-1]


def test_bad_value_in_an_experiment_file(tmp_path, capsys):
    from emutcp.tools.cli import main

    f = tmp_path / "x.toml"
    f.write_text('qdisc = "bogus"\n[sweep]\necn = [false, true]\n')
    assert main(["experiment", str(f)]) == 2
    err = capsys.readouterr().err
    assert "qdisc: unknown value 'bogus'" in err and "Traceback" not in err


def test_network_keys_coerce():
    from emutcp.lab.sweep import coerce

    assert coerce("rtts", "20ms,100ms") == [0.02, 0.1]
    assert coerce("rtts", ["20ms", 0.1]) == [0.02, 0.1]
    assert coerce("codel_target", "5ms") == 0.005
    assert coerce("red_max_p", "0.2") == 0.2
    assert coerce("fq_quantum", "300") == 300
    assert coerce("ecn", "true") is True and coerce("qdisc", "pie") == "pie"
