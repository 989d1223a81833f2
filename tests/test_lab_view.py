"""What a lab student looks at: the readable trace (``TextTrace``), the demo's
ACK on receipt and its step mode, the state diagram of the right connection."""

from __future__ import annotations

import io
import json
import subprocess

import pytest
import trio
from netns import PY

import emutcp
from emutcp.testing import run_virtual
from emutcp.tools.cli import main
from emutcp.tools.diagram import choose, connections, paths_from_trace
from emutcp.trace import CallbackTrace, TextTrace, tee


async def _refused_then_served(trace) -> None:
    """In virtual time: a refused attempt (RST from a bound, non-listening
    socket), then a connection that carries data and closes."""
    net = emutcp.EmulatedNetwork(seed=2)
    a = net.add_host("10.0.0.1", trace=trace)
    b = net.add_host("10.0.0.2", trace=trace)
    net.add_link("10.0.0.1", "10.0.0.2", delay=0.01)
    deaf = b.socket()
    await deaf.bind(("10.0.0.2", 81))
    with pytest.raises(ConnectionRefusedError):
        await a.socket().connect(("10.0.0.2", 81))
    server = b.socket()
    await server.bind(("10.0.0.2", 80))
    server.listen(1)
    client = a.socket()
    await client.connect(("10.0.0.2", 80))
    conn, _ = await server.accept()
    await client.sendall(b"hi")
    assert await conn.recv(10) == b"hi"
    client.close()
    assert await conn.recv(10) == b""
    conn.close()
    await trio.sleep(1)  # virtual time: the last ACK arrives, the client is in TIME-WAIT
    deaf.close()
    server.close()


def test_text_trace_relative_and_raw_sequence_numbers():
    relative, raw = io.StringIO(), io.StringIO()
    run_virtual(_refused_then_served, tee(TextTrace(relative), TextTrace(raw, raw_seq=True)))
    rel_lines, raw_lines = relative.getvalue().splitlines(), raw.getvalue().splitlines()
    assert len(rel_lines) == len(raw_lines) > 10
    syn = next(line for line in rel_lines if "send SYN " in line)
    assert " seq=0 ack=0 " in syn  # relative to our ISN
    raw_syn = raw_lines[rel_lines.index(syn)]
    raw_seq = int(raw_syn.split(" seq=")[1].split()[0])
    assert raw_syn != syn and 0 <= raw_seq < 2**32
    assert any("SYN-SENT -> CLOSED" in line and "RST" in line for line in rel_lines)


def test_diagram_lists_connections_and_draws_the_established_one(tmp_path, capsys):
    records: list[dict] = []
    run_virtual(_refused_then_served, CallbackTrace(records.append))
    conns = connections(records)
    assert [c["established"] for c in conns][:1] == [False]  # the refused attempt first
    default = choose(conns)
    assert default is not None and default["established"] and default["remote"].endswith(":80")
    paths = paths_from_trace(records)
    assert paths["client"][:2] == [("CLOSED", "SYN-SENT"), ("SYN-SENT", "ESTABLISHED")]
    assert paths["server"][0] == ("CLOSED", "LISTEN")
    refused = paths_from_trace(records, "0")
    assert refused["client"] == [("CLOSED", "SYN-SENT"), ("SYN-SENT", "CLOSED")]
    assert "server" not in refused
    assert paths_from_trace(records, "10.0.0.2:80")["client"] == paths["client"]
    # The command line: --list marks the default; a wrong --connection is exit 2.
    trace = tmp_path / "t.jsonl"
    trace.write_text("".join(json.dumps(r) + "\n" for r in records))
    assert main(["diagram", str(trace), "--list"]) == 0
    listing = capsys.readouterr().out.splitlines()
    assert len(listing) == len(conns)
    assert listing[default["index"]].startswith("*")
    assert main(["diagram", str(trace), "--connection", "99"]) == 2
    capsys.readouterr()
    pytest.importorskip("matplotlib")
    png = tmp_path / "d.png"
    assert main(["diagram", str(trace), "-c", "1", "-o", str(png), "--json"]) == 0
    assert png.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"


def test_the_demo_acks_on_receipt_before_the_server_reads(capsys):
    assert main(["demo", "--json", "--no-emulated", "--bytes", "10000"]) == 0
    rows = json.loads(capsys.readouterr().out)["timeline"]
    ack = next(
        i
        for i, r in enumerate(rows)
        if r["side"] == "wire" and " ack=18 " in r["event"] and r["detail"].startswith("server")
    )
    read = next(
        i
        for i, r in enumerate(rows)
        if r["side"] == "server" and r["event"].startswith("recv() ->")
    )
    assert ack < read
    assert "delayed ACK" in rows[ack]["detail"]  # the stack's timer, not the application
    assert "window update" not in rows[ack]["detail"]


def test_demo_step_waits_for_enter_before_each_call():
    proc = subprocess.run(
        [*PY, "demo", "--step", "--no-emulated", "--bytes", "10000", "--json"],
        input=b"\n" * 40,
        capture_output=True,
        timeout=60,
    )
    assert proc.returncode == 0, proc.stderr
    out = proc.stdout.decode()
    prompts = out.count("[Enter]")
    assert prompts >= 10
    assert out.index("next, the client calls connect") < out.index("CLOSED -> SYN-SENT")
    assert "client path: CLOSED -> SYN-SENT -> ESTABLISHED" in out
