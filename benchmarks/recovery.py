"""Loss recovery and buffers as Linux does them: the issue-16 checks as figures.

    python benchmarks/recovery.py

Every row runs in virtual time on the emulated network (seeded, so the
figures repeat exactly) and prints RACK-TLP next to the RFC 6675 path, or
autotuning next to fixed buffers; tests/test_rack.py and test_autotune.py
assert the bounds.  Writes benchmarks/results/recovery.json.
"""

from __future__ import annotations

import dataclasses
import json
import pathlib

import trio
from rich.console import Console
from rich.table import Table

from emutcp import Config
from emutcp.lab.flows import bottleneck, run_flows
from emutcp.testing import A, B, bulk_transfer, payload, run_virtual, two_hosts

RESULTS = pathlib.Path(__file__).parent / "results"


def transfer(nbytes: int, config: Config, seed: int = 1, spike: bool = False, **link):
    async def main():
        net, a, b = two_hosts(seed=seed, config=config, **link)

        async def delay_spike() -> None:
            await trio.sleep(0.5)
            base = net.link(A, B).profile
            net.link(A, B).profile = dataclasses.replace(base, delay=base.delay + 2.0)
            await trio.sleep(0.05)
            net.link(A, B).profile = base

        async with trio.open_nursery() as nursery:
            if spike:
                nursery.start_soon(delay_spike)
            r = await bulk_transfer(a, b, payload(nbytes))
        assert r.intact
        return r

    return run_virtual(main, seed=seed)


def utilization(config: Config) -> float:
    async def main():
        net, a, b = bottleneck(rate=100e6, rtt=0.1, mss=8960, config=config)
        return await run_flows(net, a, b, duration=15.0, window=(5.0, 15.0))

    return run_virtual(main, seed=1)["goodput"][0] / 100e6


def main() -> None:
    rows = []
    link = dict(rate=10e6, delay=0.025)
    for recovery in ("rack", "rfc6675"):
        cfg = Config(recovery=recovery)
        clean = transfer(140_000, cfg, **link)
        tail = transfer(140_000, cfg, drop=(98, 99, 100), **link)
        rows.append(
            (
                f"tail loss, 3 of 100 segments ({recovery})",
                "extra s (<= 0.3)",
                round(tail.seconds - clean.seconds, 3),
                f"probes {tail.client_info.tlp_probes}, RTOs {tail.client_info.rto_expirations}",
            )
        )
        clean = transfer(2_000_000, cfg, seed=2, **link)
        reo = transfer(2_000_000, cfg, seed=2, reorder=0.02, reorder_gap=5, **link)
        i = reo.client_info
        rows.append(
            (
                f"2 % reordered by 5, no loss ({recovery})",
                "goodput ratio (>= 0.95)",
                round(reo.goodput_bps / clean.goodput_bps, 3),
                f"episodes {i.fast_retransmits}, undone {i.undos}",
            )
        )
    for frto in (True, False):
        r = transfer(1_600_000, Config(frto=frto), spike=True, **link)
        i = r.client_info
        rows.append(
            (
                f"2 s delay spike (F-RTO {'on' if frto else 'off'})",
                "retransmissions",
                i.retransmits,
                f"RTOs {i.rto_expirations}, undone {i.undos}",
            )
        )
    for tune in (True, False):
        cfg = Config(mss=8960, autotune_recv=tune, autotune_send=tune)
        rows.append(
            (
                f"100 Mbit/s x 100 ms, 1 BDP queue (autotune {'on' if tune else 'off'})",
                "utilization (>= 0.9)",
                round(utilization(cfg), 3),
                "",
            )
        )
    table = Table(title="Loss recovery and buffers (virtual time, seeded)")
    for col in ("check", "figure", "measured", "detail"):
        table.add_column(col)
    for row in rows:
        table.add_row(*(str(c) for c in row))
    Console().print(table)
    RESULTS.mkdir(exist_ok=True)
    (RESULTS / "recovery.json").write_text(json.dumps(rows, indent=1))


if __name__ == "__main__":
    main()
