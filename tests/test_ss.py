"""``emutcp ss``: each process serves its socket table on a per-user Unix
socket; a separate process lists them all (real loopback UDP)."""

from __future__ import annotations

import json
import os
import stat
import subprocess
import sys
import time

import pytest
import trio
from netns import PY, free_udp_port

import emutcp
from emutcp import registry
from emutcp.tools.ss import render

pytestmark = pytest.mark.skipif(not hasattr(os, "fork"), reason="Unix sockets, POSIX")


@pytest.fixture
def runtime(tmp_path, monkeypatch):
    directory = str(tmp_path / "run")
    monkeypatch.setenv(registry.ENV_DIR, directory)
    monkeypatch.delenv(registry.ENV_OFF, raising=False)
    return directory


def _ss(env: dict[str, str], *args: str) -> list[dict]:
    out = subprocess.run(
        [*PY, "ss", "--json", *args], env=env, capture_output=True, timeout=30, check=True
    )
    return json.loads(out.stdout)


def test_another_process_lists_a_server_and_both_ends_of_a_transfer(runtime):
    env = {**os.environ, registry.ENV_DIR: runtime}
    port = free_udp_port()
    serve = subprocess.Popen(
        [*PY, "serve", "--port", str(port), "--address", "127.0.0.1", "--discard"],
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
    )
    client = None
    try:
        assert serve.stderr is not None
        assert b"listening" in serve.stderr.readline()
        client = subprocess.Popen(
            [*PY, "connect", "127.0.0.1", str(port)],
            env=env,
            stdin=subprocess.PIPE,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        assert client.stdin is not None
        client.stdin.write(b"x" * 100_000)  # a transfer under way, stdin still open
        client.stdin.flush()
        deadline = time.monotonic() + 20
        while True:  # poll until the handshake is seen from outside, with a deadline
            rows = _ss(env, "--port", str(port))
            states = {(r["pid"], r["state"]) for r in rows}
            if {(serve.pid, "LISTEN"), (serve.pid, "ESTABLISHED")} <= states and (
                client.pid,
                "ESTABLISHED",
            ) in states:
                break
            assert time.monotonic() < deadline, rows
            time.sleep(0.1)
        listener = next(r for r in rows if r["state"] == "LISTEN")
        assert listener["local"] == f"127.0.0.1:{port}"
        mine = next(r for r in rows if r["pid"] == client.pid)
        theirs = next(r for r in rows if r["pid"] == serve.pid and r["state"] != "LISTEN")
        assert mine["remote"] == f"127.0.0.1:{port}"
        assert theirs["remote"] == mine["local"]  # the two ends of one connection
        for key in ("cwnd", "srtt_ms", "rto_ms", "retransmits", "recv_q", "send_q", "timer"):
            assert key in mine
        assert mine["cwnd"] > 0 and mine["rto_ms"] > 0
        assert "emutcp connect" in mine["command"]
        # Filters: by state, and the readable form.
        assert {r["state"] for r in _ss(env, "--state", "listening")} == {"LISTEN"}
        text = subprocess.run(
            [*PY, "ss", "--port", str(port)], env=env, capture_output=True, timeout=30, text=True
        ).stdout
        assert "LISTEN" in text and "ESTAB" in text and "cwnd:" in text
    finally:
        for proc in (client, serve):
            if proc is not None:
                proc.kill()
                proc.wait()
                for pipe in (proc.stdin, proc.stderr):
                    if pipe is not None:
                        pipe.close()
    # Both were SIGKILLed: their socket files are stale, and the next look removes them.
    assert _ss(env) == []
    assert os.listdir(runtime) == []


async def test_the_table_in_process_with_timer_and_modes(runtime):
    server = emutcp.socket()
    await server.bind(("127.0.0.1", 0))
    server.listen(5)
    client = emutcp.socket()
    await client.connect(server.getsockname())
    conn, _ = await server.accept()
    await client.sendall(b"hello")
    assert await conn.recv(10) == b"hello"
    client.shutdown(emutcp.SHUT_WR)
    assert await conn.recv(10) == b""
    conn.close()
    with trio.fail_after(5):
        while str(client.state) != "TIME-WAIT":
            await trio.sleep(0.01)
    # This process may have started its table before the test set the runtime
    # directory (an earlier test opened a UDP socket): read it where it is.
    path = registry.table_path()
    assert path is not None
    tables = await trio.to_thread.run_sync(registry.read_tables, os.path.dirname(path))
    rows = [r for t in tables if t["pid"] == os.getpid() for r in t["sockets"]]
    ports = {server.getsockname()[1]}
    rows = [r for r in rows if int(r["local"].rsplit(":", 1)[1]) in ports or r["state"] != "LISTEN"]
    by_state = {r["state"]: r for r in rows}
    assert set(by_state) >= {"LISTEN", "TIME-WAIT"}
    tw = by_state["TIME-WAIT"]
    assert tw["timer"]["name"] == "time-wait"
    assert 0 < tw["timer"]["left"] <= 2 * emutcp.Config().msl
    text = render(rows)
    assert "TIME-WAIT" in text and "timer:(timewait," in text
    assert stat.S_IMODE(os.stat(path).st_mode) == 0o600
    assert stat.S_IMODE(os.stat(os.path.dirname(path)).st_mode) == 0o700
    client.close()
    server.close()


def test_off_by_environment(tmp_path):
    directory = tmp_path / "off"
    code = (
        "import trio, emutcp\n"
        "async def main():\n"
        "    s = emutcp.socket(); await s.bind(('127.0.0.1', 0)); s.listen(1); s.close()\n"
        "trio.run(main)\n"
    )
    env = {**os.environ, registry.ENV_DIR: str(directory), registry.ENV_OFF: "1"}
    subprocess.run([sys.executable, "-c", code], env=env, check=True, timeout=30)
    assert not directory.exists()
    env.pop(registry.ENV_OFF)
    subprocess.run([sys.executable, "-c", code], env=env, check=True, timeout=30)
    assert directory.exists() and os.listdir(directory) == []  # removed at exit


def test_a_bad_state_is_a_usage_error(capsys):
    from emutcp.tools.cli import main

    assert main(["ss", "--state", "bogus"]) == 2
    assert "unknown state" in capsys.readouterr().err
