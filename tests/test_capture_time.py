"""Capture timestamps that line up: wall clock on real UDP (so two hosts'
captures merge), a fixed epoch plus virtual time for emulated runs (so a seed
still gives the same bytes)."""

from __future__ import annotations

import time

import trio
from pcapng import read_pcapng

import emutcp
from emutcp.lab.bulk import bulk_transfer
from emutcp.pcap import EMULATED_EPOCH
from emutcp.testing import payload, run_virtual
from emutcp.tools.cli import main


def test_demo_pcap_is_dated_now(tmp_path, capsys):
    path = tmp_path / "demo.pcapng"
    assert main(["demo", "--bytes", "10000", "--no-emulated", "--json", "--pcap", str(path)]) == 0
    capsys.readouterr()
    packets = read_pcapng(path)
    assert len(packets) >= 10
    now = time.time()
    assert all(abs(p.time - now) < 86_400 for p in packets)
    assert packets[-1].time - packets[0].time < 60  # and in one run's span


def test_an_emulated_capture_is_dated_from_the_fixed_epoch(tmp_path):
    path = str(tmp_path / "emu.pcapng")

    async def transfer() -> float:
        net = emutcp.EmulatedNetwork(seed=1)
        a = net.add_host("10.0.0.1", pcap=path)
        b = net.add_host("10.0.0.2")
        net.add_link("10.0.0.1", "10.0.0.2", delay=0.05)
        result = await bulk_transfer(a, b, payload(50_000), port=80)
        assert result.intact
        assert a.pcap is not None
        a.pcap.close()
        return trio.current_time()

    end = run_virtual(transfer)
    packets = read_pcapng(path)
    assert packets[0].time >= EMULATED_EPOCH
    assert packets[-1].time <= EMULATED_EPOCH + end + 1e-6
    assert packets[-1].time - packets[0].time >= 0.2  # virtual time: two RTTs at least
