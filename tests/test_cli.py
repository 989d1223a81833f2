"""The command line: the demo, and serve/connect as separate processes,
over loopback and across two network namespaces joined by a veth pair."""

from __future__ import annotations

import hashlib
import json
import os
import signal
import subprocess

import pytest
from netns import A_ADDR, B_ADDR, PY, veth_pair
from netns import free_udp_port as _free_udp_port
from netns import transfer as _transfer

from emutcp.tools.cli import main


def test_demo_json_shows_both_paths_through_the_diagram(capsys):
    assert main(["demo", "--json", "--bytes", "200000", "--emulated-bytes", "100000"]) == 0
    out = json.loads(capsys.readouterr().out)
    assert out["paths"]["client"] == [
        "CLOSED",
        "SYN-SENT",
        "ESTABLISHED",
        "FIN-WAIT-1",
        "FIN-WAIT-2",
        "TIME-WAIT",
        "CLOSED",
    ]
    assert out["paths"]["server"] == [
        "CLOSED",
        "LISTEN",
        "SYN-RECEIVED",
        "ESTABLISHED",
        "CLOSE-WAIT",
        "LAST-ACK",
        "CLOSED",
    ]
    events = [row["event"] for row in out["timeline"]]
    assert any(e.startswith("--> SYN seq=0") for e in events)
    assert any(e.startswith("<-- SYN+ACK seq=0 ack=1") for e in events)
    assert out["bulk"]["intact"] and out["emulated"]["intact"]


def test_demo_renders_a_table(capsys):
    assert main(["demo", "--bytes", "100000", "--no-emulated"]) == 0
    text = capsys.readouterr().out
    assert "SYN-SENT" in text and "TIME-WAIT" in text and "MB/s" in text


def test_demo_writes_jsonl_trace_and_pcap(capsys, tmp_path):
    from emutcp.trace import read_jsonl

    jsonl, pcap = tmp_path / "demo.jsonl", tmp_path / "demo.pcapng"
    args = ["demo", "--json", "--bytes", "100000", "--no-emulated"]
    assert main([*args, "--trace", str(jsonl), "--pcap", str(pcap)]) == 0
    capsys.readouterr()
    records = read_jsonl(str(jsonl))
    kinds = {r["kind"] for r in records}
    assert kinds == {"transition", "segment", "metrics"}
    assert any(r.get("new") == "TIME-WAIT" for r in records)
    assert pcap.stat().st_size > 500
    assert pcap.read_bytes()[:4] == b"\x0a\x0d\x0d\x0a"  # a pcapng section header


def test_serve_and_connect_across_processes_over_loopback():
    payload = os.urandom(5_000_000)
    port = _free_udp_port()
    result = _transfer(
        [
            *PY,
            "serve",
            "--port",
            str(port),
            "--address",
            "127.0.0.1",
            "--discard",
            "--once",
            "--json",
        ],
        [*PY, "connect", "127.0.0.1", str(port)],
        payload,
    )
    assert result["bytes"] == len(payload)
    assert result["sha256"] == hashlib.sha256(payload).hexdigest()


def test_connect_to_nothing_fails_cleanly():
    port = _free_udp_port()
    proc = subprocess.run(
        [*PY, "connect", "127.0.0.1", str(port)], input=b"", capture_output=True, timeout=30
    )
    assert proc.returncode == 1
    assert b"refused" in proc.stderr


@pytest.mark.netns
def test_serve_and_connect_across_two_network_namespaces():
    with veth_pair() as pair:
        payload = os.urandom(5_000_000)
        result = _transfer(
            pair.run(
                pair.a,
                *PY,
                "serve",
                "--port",
                "9000",
                "--address",
                A_ADDR,
                "--discard",
                "--once",
                "--json",
            ),
            pair.run(pair.b, *PY, "connect", A_ADDR, "9000"),
            payload,
        )
        assert result["bytes"] == len(payload)
        assert result["sha256"] == hashlib.sha256(payload).hexdigest()
        assert result["peer"][0] == B_ADDR


def test_bench_local_json(capsys):
    assert main(["bench", "--local", "--bytes", "2000000", "--json"]) == 0
    result = json.loads(capsys.readouterr().out.strip().splitlines()[-1])
    assert result["bytes"] == 2_000_000 and result["goodput_MBps"] > 1


async def test_connections_table_lists_live_sockets():
    import emutcp
    from emutcp.tools.stats import connections_table, info_row

    host = emutcp.UdpHost()
    listeners = await host.open_listeners(0, address="127.0.0.1")
    port = listeners[0].socket.getsockname()[1]
    stream = await host.open_stream("127.0.0.1", port)
    accepted = await listeners[0].accept()
    rows = [info_row(i) for i in host.connections()]
    assert len(rows) == 2 and all(r[2] == "ESTABLISHED" for r in rows)
    assert connections_table(host).row_count == 2
    await stream.aclose()
    await accepted.aclose()
    await listeners[0].aclose()


def test_diagram_from_a_demo_trace(capsys, tmp_path):
    pytest.importorskip("matplotlib")
    from emutcp.tools.diagram import paths_from_trace
    from emutcp.trace import read_jsonl

    trace, png = tmp_path / "t.jsonl", tmp_path / "d.png"
    assert main(["demo", "--json", "--no-emulated", "--bytes", "50000", "--trace", str(trace)]) == 0
    capsys.readouterr()
    paths = paths_from_trace(read_jsonl(str(trace)))
    assert paths["client"][0] == ("CLOSED", "SYN-SENT")
    assert paths["server"][:2] == [("CLOSED", "LISTEN"), ("LISTEN", "SYN-RECEIVED")]
    assert paths["client"][-1] == ("TIME-WAIT", "CLOSED.end")
    assert main(["diagram", str(trace), "-o", str(png)]) == 0
    assert png.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"


# ----------------------------------------------------------- user errors
# A user error is one line and an exit status, never a traceback: 2 for a bad
# argument (argparse's convention), 1 for what the network or the file system
# said, 130 for Ctrl-C.

USAGE_ERRORS = [
    ["experiment", "--set", "nosuch=1", "--duration", "1"],
    ["experiment", "--sweep", "loss=abc"],
    ["experiment", "--set", "sack=maybe"],
    ["serve", "--port", "99999"],
    ["serve", "--port", "http"],
    ["connect", "127.0.0.1", "-1"],
    ["bench"],
    ["bench", "127.0.0.1", "notaport"],
    ["relay", "--listen", "9000", "--to", "somewhere", "--rate", "10mbit"],
    ["relay", "--listen", "9000", "--to", "h:1", "--rate", "fast"],
    ["relay", "--listen", "9000", "--to", "h:1", "--delay", "soon"],
    ["relay", "--listen", "9000", "--to", "h:1", "--loss", "1.5"],
    ["relay", "--listen", "9000", "--to", "h:1", "--burst", "0.1"],
    ["demo", "--loss", "2"],
]


@pytest.mark.parametrize("argv", USAGE_ERRORS, ids=[" ".join(a) for a in USAGE_ERRORS])
def test_a_bad_argument_is_one_line_and_exit_status_2(argv, capsys):
    with pytest.raises(SystemExit) as exc:
        status = main(argv)
        raise SystemExit(status)
    err = capsys.readouterr().err
    assert exc.value.code == 2
    assert "Traceback" not in err
    assert f"emutcp {argv[0]}: error:" in err


def test_an_unreadable_experiment_file_is_exit_status_1(capsys, tmp_path):
    assert main(["experiment", str(tmp_path / "missing.toml")]) == 1
    assert "No such file" in capsys.readouterr().err
    bad = tmp_path / "bad.toml"
    bad.write_text("this is [not toml")
    with pytest.raises(SystemExit) as exc:
        raise SystemExit(main(["experiment", str(bad)]))
    assert exc.value.code == 2


def test_an_unknown_host_is_one_line_and_exit_status_1():
    proc = subprocess.run(
        [*PY, "connect", "no-such-host.invalid", "9000"],
        input=b"",
        capture_output=True,
        timeout=60,
    )
    assert proc.returncode == 1
    assert b"Traceback" not in proc.stderr
    assert proc.stderr.decode().count("\n") == 1


def test_ctrl_c_exits_130_without_a_traceback():
    port = _free_udp_port()
    proc = subprocess.Popen(
        [*PY, "serve", "--port", str(port), "--address", "127.0.0.1", "--discard"],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
    )
    try:
        proc.stderr.readline()  # "listening on ..." : the server is up
        proc.send_signal(signal.SIGINT)
        _, err = proc.communicate(timeout=30)
    finally:
        proc.kill()
    assert proc.returncode == 130
    assert b"Traceback" not in err
