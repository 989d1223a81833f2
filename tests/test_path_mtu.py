"""Segments sized to the path: the MSS comes from the path MTU on real UDP.

Across two namespaces whose veth pair has a small (1280, IPv6's minimum) or
a jumbo (9000) MTU, a 10 MB transfer between two emutcp processes arrives
intact with no IP fragment created or reassembled on either side: the client
reads the path MTU of its connected UDP socket, sends with "don't fragment",
and announces (and uses) an MSS that fits.
"""

from __future__ import annotations

import hashlib
import json
import os
import subprocess

import pytest
from netns import A_ADDR, PY, black_hole_path, veth_pair

from emutcp.core.segment import segment_overhead

IP_UDP_HEADERS = 28
SERVE_FLAGS = ("--discard", "--once", "--json")
JUMBO_SERVE = (*SERVE_FLAGS, "--mss", "8000")


def _start_server(net, *flags: str, address: str = A_ADDR) -> subprocess.Popen:
    """``emutcp serve`` in namespace A of ``net``, returned once it listens."""
    server = subprocess.Popen(
        net.run(net.a, *PY, "serve", "--port", "9000", "--address", address, *flags),
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
    )
    assert b"listening" in server.stderr.readline()
    return server


def _send_through(
    net, payload: bytes, *client_flags: str, address: str = A_ADDR, serve=SERVE_FLAGS
):
    """``emutcp connect`` in B pipes ``payload`` to ``emutcp serve`` in A; returns
    the (server, client) JSON summaries."""
    server = _start_server(net, *serve, address=address)
    try:
        client = subprocess.run(
            net.run(net.b, *PY, "connect", address, "9000", "--json", *client_flags),
            input=payload,
            capture_output=True,
            timeout=120,
        )
        assert client.returncode == 0, client.stderr.decode()
        out, _ = server.communicate(timeout=60)
    finally:
        server.kill()
        server.wait()
    served = json.loads(out.decode().strip().splitlines()[-1])
    return served, json.loads(client.stderr.decode().strip().splitlines()[-1])


@pytest.mark.netns
@pytest.mark.parametrize("mtu", [1280, 9000])
def test_ten_megabytes_cross_a_path_of_mtu_with_no_ip_fragment(mtu):
    with veth_pair(mtu=mtu) as pair:
        before = {ns: pair.snmp(ns) for ns in (pair.a, pair.b)}
        payload = os.urandom(10_000_000)
        served, sent = _send_through(pair, payload)
        assert served["sha256"] == hashlib.sha256(payload).hexdigest()
        assert served["bytes"] == len(payload)
        # The segments fit the path: MSS + framing + UDP/IP headers <= MTU.
        assert sent["mss"] + segment_overhead() + IP_UDP_HEADERS <= mtu
        assert sent["mss"] == min(1400, mtu - IP_UDP_HEADERS - segment_overhead())
        after = {ns: pair.snmp(ns) for ns in (pair.a, pair.b)}
        for ns in (pair.a, pair.b):
            for counter in ("FragCreates", "ReasmReqds", "FragFails"):
                assert after[ns][counter] == before[ns][counter], (ns, counter)


@pytest.mark.netns
def test_a_path_mtu_that_falls_mid_transfer_shrinks_the_segments():
    """Jumbo segments (MSS 8000 over MTU 9000), then the path MTU falls to 1500:
    sends fail with EMSGSIZE, the sender resizes to the new path and resends
    what was dropped (RFC 8201), and the transfer completes intact."""
    import time

    with veth_pair(mtu=9000) as pair:
        server = _start_server(pair, *JUMBO_SERVE)
        try:
            payload = os.urandom(60_000_000)
            client = subprocess.Popen(
                pair.run(pair.b, *PY, "connect", A_ADDR, "9000", "--json", "--mss", "8000"),
                stdin=subprocess.PIPE,
                stderr=subprocess.PIPE,
                stdout=subprocess.DEVNULL,
            )
            client.stdin.write(payload[:10_000_000])
            client.stdin.flush()
            time.sleep(1.5)  # connected, jumbo segments flowed; now the path shrinks
            pair.set_mtu(1500)
            _, err = client.communicate(payload[10_000_000:], timeout=120)
            assert client.returncode == 0, err.decode()
            out, _ = server.communicate(timeout=60)
        finally:
            server.kill()
            server.wait()
        served = json.loads(out.decode().strip().splitlines()[-1])
        sent = json.loads(err.decode().strip().splitlines()[-1])
        assert served["sha256"] == hashlib.sha256(payload).hexdigest()
        assert sent["mss"] <= 1500 - IP_UDP_HEADERS - segment_overhead()


@pytest.mark.netns
def test_a_black_hole_is_found_and_the_path_size_learned_by_probing():
    """B's interface says 9000 but a router on the way carries only 1500 and
    sends no ICMP (a black hole).  Jumbo segments vanish; after two timeouts
    the client falls back to the base size (RFC 8899 4.3) and probes upward
    (PLPMTUD, on by default over real UDP) to the largest size that passes;
    10 MB arrive intact."""
    with black_hole_path() as path:
        payload = os.urandom(10_000_000)
        served, sent = _send_through(
            path, payload, "--mss", "8000", address=path.a_addr, serve=JUMBO_SERVE
        )
        assert served["sha256"] == hashlib.sha256(payload).hexdigest()
        fits = 1500 - IP_UDP_HEADERS - segment_overhead()  # worst-case framing
        assert fits <= sent["mss"] <= 1500 - IP_UDP_HEADERS - 40, sent
