"""``emutcp bench``: iperf3's options and JSON shape, over loopback UDP and on
an emulated link in virtual time."""

from __future__ import annotations

import json

import pytest

from emutcp.tools.cli import main


def _doc(capsys, argv: list[str]) -> dict:
    assert main(argv) == 0
    return json.loads(capsys.readouterr().out)


def _check_shape(doc: dict, streams: int) -> None:
    assert set(doc) >= {"start", "intervals", "end"}
    assert doc["start"]["test_start"]["num_streams"] == streams
    assert len(doc["start"]["connected"]) == streams
    for iv in doc["intervals"]:
        assert len(iv["streams"]) == streams
        assert iv["sum"]["bytes"] == sum(s["bytes"] for s in iv["streams"])
        for s in iv["streams"]:
            assert {"snd_cwnd", "rtt", "retransmits", "bits_per_second"} <= set(s)
            assert s["snd_cwnd"] > 0 and s["rtt"] > 0
    end = doc["end"]
    assert len(end["streams"]) == streams
    # Both ends are in this process: what was sent is what was received.
    assert end["sum_sent"]["bytes"] == end["sum_received"]["bytes"] > 0
    # The intervals add up to the total, less a last sliver under a tenth of an
    # interval, which iperf3 (and so bench) leaves out of the interval reports.
    intervals_total = sum(iv["sum"]["bytes"] for iv in doc["intervals"])
    assert 0.8 * end["sum_sent"]["bytes"] <= intervals_total <= end["sum_sent"]["bytes"]


def test_four_parallel_streams_over_loopback_report_every_second(capsys):
    doc = _doc(capsys, ["bench", "--local", "-P", "4", "-t", "3", "-i", "1", "--json"])
    assert len(doc["intervals"]) >= 2
    _check_shape(doc, 4)
    assert doc["start"]["test_start"]["duration"] == 3
    assert doc["end"]["sum_sent"]["seconds"] >= 3


def test_reverse_cubic_and_buffers_on_an_emulated_link_in_virtual_time(capsys):
    argv = ["bench", "--local", "--emulated", "--rate", "2mbit", "--delay", "20ms"]
    argv += ["-P", "2", "-t", "2", "-i", "0.5", "-R", "-C", "cubic", "-w", "64K", "--json"]
    doc = _doc(capsys, argv)
    _check_shape(doc, 2)
    assert doc["start"]["test_start"]["reverse"] == 1
    assert doc["start"]["sock_bufsize"] == 65_536
    assert doc["end"]["sender_tcp_congestion"] == "cubic"
    assert len(doc["intervals"]) >= 4
    # Virtual time: the two flows share the 2 Mbit/s link, and fill it.
    steady = doc["intervals"][-2]["sum"]["bits_per_second"]
    assert 1.2e6 < steady <= 2.05e6
    assert doc["intervals"][1]["streams"][0]["sender"] is False  # the client receives


def test_text_output_looks_like_iperf3(capsys):
    argv = ["bench", "--local", "--emulated", "--rate", "1mbit", "-t", "1", "-i", "0.5"]
    assert main(argv) == 0
    out = capsys.readouterr().out
    assert "Connecting to host 10.0.0.2" in out
    assert "sender" in out and "receiver" in out and "Mbits/sec" in out


def test_an_unknown_algorithm_is_a_usage_error(capsys):
    with pytest.raises(SystemExit) as exc:  # argparse's own usage error
        main(["bench", "--local", "-C", "bogus"])
    assert exc.value.code == 2
    assert "bogus" in capsys.readouterr().err
