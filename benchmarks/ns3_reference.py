"""ns-3 beside emutcp: the same bottleneck in ns-3 (the ``ns3`` wheel), run in a
child process because ns-3's simulator is one global and its import is slow.

    python benchmarks/ns3_reference.py '[["TcpCubic", 0.01, 1, 20.0, 1], ...]'

prints one JSON list of per-flow goodputs (Mbit/s) per job.  The scenario is
the one ``emutcp.lab.trial`` builds: two nodes, 10 Mbit/s point-to-point,
25 ms each way, a drop-tail FIFO of one BDP (45 packets of 1400 bytes) and no
queue discipline, random packet loss on the data direction, 1400-byte
segments, bulk senders from 0.1 s on.  ``available()`` says whether it can run.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys

NS3_NAMES = {"newreno": "TcpNewReno", "cubic": "TcpCubic", "vegas": "TcpVegas", "bbr": "TcpBbr"}


def available() -> bool:
    import importlib.util

    return importlib.util.find_spec("ns") is not None


def run_jobs(jobs: list[tuple[str, float, int, float, int]]) -> list[list[float]] | None:
    """(algorithm, loss, seed, seconds, flows) per job, emutcp names; None if ns-3
    is missing or failed."""
    if not available():
        return None
    todo = [[NS3_NAMES[a], loss, seed, secs, flows] for a, loss, seed, secs, flows in jobs]
    proc = subprocess.run(
        [sys.executable, __file__, json.dumps(todo)],
        capture_output=True,
        text=True,
        env={**os.environ, "PYTHONWARNINGS": "ignore"},
    )
    lines = [line for line in proc.stdout.splitlines() if line.startswith("[")]
    if proc.returncode or not lines:
        return None
    return json.loads(lines[-1])


def _simulate(ns, algo: str, loss: float, seed: int, seconds: float, flows: int) -> list[float]:
    ns.RngSeedManager.SetSeed(1)
    ns.RngSeedManager.SetRun(seed)
    ns.Config.SetDefault("ns3::TcpL4Protocol::SocketType", ns.StringValue("ns3::" + algo))
    ns.Config.SetDefault("ns3::TcpSocket::SegmentSize", ns.UintegerValue(1400))
    ns.Config.SetDefault("ns3::TcpSocket::SndBufSize", ns.UintegerValue(1 << 20))
    ns.Config.SetDefault("ns3::TcpSocket::RcvBufSize", ns.UintegerValue(1 << 20))
    nodes = ns.NodeContainer()
    nodes.Create(2)
    p2p = ns.PointToPointHelper()
    p2p.SetDeviceAttribute("DataRate", ns.StringValue("10Mbps"))
    p2p.SetChannelAttribute("Delay", ns.StringValue("25ms"))
    p2p.SetQueue("ns3::DropTailQueue", "MaxSize", ns.StringValue("45p"))
    devices = p2p.Install(nodes)
    ns.InternetStackHelper().Install(nodes)
    if loss:
        em = ns.CreateObject[ns.RateErrorModel]()
        em.SetAttribute("ErrorRate", ns.DoubleValue(loss))
        em.SetAttribute("ErrorUnit", ns.StringValue("ERROR_UNIT_PACKET"))
        devices.Get(1).SetAttribute("ReceiveErrorModel", ns.PointerValue(em))
    addresses = ns.Ipv4AddressHelper()
    addresses.SetBase(ns.Ipv4Address("10.1.1.0"), ns.Ipv4Mask("255.255.255.0"))
    ifaces = addresses.Assign(devices)
    ns.TrafficControlHelper().Uninstall(devices)  # Assign adds a qdisc: FIFO only
    sinks = []
    for i in range(flows):
        local = ns.InetSocketAddress(ns.Ipv4Address.GetAny(), 9 + i).ConvertTo()
        app = ns.PacketSinkHelper("ns3::TcpSocketFactory", local).Install(nodes.Get(1))
        app.Start(ns.Seconds(0.0))
        sinks.append(app)
        remote = ns.InetSocketAddress(ifaces.GetAddress(1), 9 + i).ConvertTo()
        bulk = ns.BulkSendHelper("ns3::TcpSocketFactory", remote)
        bulk.SetAttribute("MaxBytes", ns.UintegerValue(0))
        bulk.Install(nodes.Get(0)).Start(ns.Seconds(0.1 + 0.01 * i))
    ns.Simulator.Stop(ns.Seconds(seconds + 0.1))
    ns.Simulator.Run()
    rx = [ns.DynamicCast[ns.PacketSink](s.Get(0)).GetTotalRx() for s in sinks]
    ns.Simulator.Destroy()
    return [r * 8 / seconds / 1e6 for r in rx]


def _main() -> None:
    from ns import ns

    jobs = json.loads(sys.argv[1])
    print(json.dumps([_simulate(ns, *job) for job in jobs]), flush=True)


if __name__ == "__main__":
    _main()
