"""Experiments keep a capture and a trace per trial, take queue sizes in
packets, bytes or BDPs, and draw every flow, the algorithms compared and a
tcptrace-style time-sequence graph; ``emutcp plot`` draws any trace."""

from __future__ import annotations

import json

import pytest
from pcapng import read_pcapng

from emutcp.lab.trial import DEFAULTS, link_profiles, run_trial
from emutcp.lab.units import parse_queue
from emutcp.pcap import EMULATED_EPOCH
from emutcp.tools.cli import main


def test_queue_sizes_in_packets_bytes_or_bdps():
    assert parse_queue("50") == ("packets", 50)
    assert parse_queue("50p") == ("packets", 50)
    assert parse_queue("64K") == ("bytes", 65536)
    assert parse_queue("96KB") == ("bytes", 98304)
    assert parse_queue("0.5bdp") == ("bdp", 0.5)
    for bad in ("", "x", "-3", "0", "12 parsecs"):
        with pytest.raises(ValueError):
            parse_queue(bad)
    p = {**DEFAULTS, "queue": "64K"}
    data, acks = link_profiles(p)
    assert (data.queue, data.queue_bytes) == (None, 65536) and acks.queue_bytes == 65536
    data, _ = link_profiles({**DEFAULTS, "queue": "30"})
    assert (data.queue, data.queue_bytes) == (30, None)
    half, _ = link_profiles({**DEFAULTS, "queue": "0.5bdp"})
    whole, _ = link_profiles(DEFAULTS)  # queue_bdp = 1
    assert half.queue is not None and whole.queue is not None
    assert half.queue == pytest.approx(whole.queue / 2, abs=1)


def test_a_trial_records_the_time_sequence_with_acks_windows_and_sack():
    params = {"rate": 2e6, "delay": 0.02, "loss": 0.03, "duration": 3.0, "queue": "20"}
    series = run_trial(params, seed=2, series=True)["series"]
    segs, acks = series["segments"], series["acks"]
    assert len(segs) > 100 and len(acks) > 50
    assert all(edge > ack for _, ack, edge, _ in acks)  # the window's edge is ahead
    assert [a[1] for a in acks] == sorted(a[1] for a in acks)  # cumulative ACKs never fall
    blocks = [b for a in acks for b in a[3]]
    assert blocks, "loss makes the receiver SACK"
    highest = max(s[1] + s[2] for s in segs)
    assert all(0 < left < right <= highest for left, right in blocks)  # made relative
    assert len(series["flows"]) >= 1


def test_experiment_keeps_a_capture_and_trace_per_trial_and_plots(tmp_path, capsys):
    pytest.importorskip("matplotlib")
    out, pcaps, traces = tmp_path / "out", tmp_path / "pcap", tmp_path / "trace"
    argv = ["experiment", "--sweep", "congestion=newreno,cubic", "--set", "rate=2mbit"]
    argv += ["--set", "queue=16K", "--set", "flows=2", "--seeds", "1", "--duration", "2"]
    argv += ["--processes", "1", "--out", str(out), "--json"]
    argv += ["--pcap-dir", str(pcaps), "--trace-dir", str(traces)]
    assert main(argv) == 0
    result = json.loads(capsys.readouterr().out)
    assert len(result["summary"]) == 2
    assert sorted(p.name for p in pcaps.iterdir()) == [
        "experiment-000-seed1.pcapng",
        "experiment-001-seed1.pcapng",
    ]
    for pcap in pcaps.iterdir():
        packets = read_pcapng(pcap)
        assert len(packets) > 50 and packets[0].time >= EMULATED_EPOCH
    for trace in traces.iterdir():
        kinds = {json.loads(line)["kind"] for line in trace.read_text().splitlines()}
        assert kinds >= {"transition", "segment", "metrics"}
    names = {p.rsplit("/", 1)[1] for p in result["files"]}
    assert {"experiment-algorithms.png", "experiment-cwnd-srtt.png"} <= names
    assert "experiment-time-sequence.png" in names


def test_emutcp_plot_draws_a_bench_trace(tmp_path, capsys):
    pytest.importorskip("matplotlib")
    trace, png = tmp_path / "b.jsonl", tmp_path / "b.png"
    argv = ["bench", "--local", "--emulated", "--rate", "2mbit", "-P", "2", "-t", "1"]
    assert main([*argv, "--json", "--trace", str(trace)]) == 0
    capsys.readouterr()
    assert main(["plot", str(trace), "-o", str(png)]) == 0
    assert png.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    assert "flows" in capsys.readouterr().err
    empty = tmp_path / "e.jsonl"
    empty.write_text('{"kind": "transition", "local": "a:1", "remote": null}\n')
    assert main(["plot", str(empty), "-o", str(png)]) == 1
