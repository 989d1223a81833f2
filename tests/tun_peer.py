"""Scenarios between emutcp (over a TUN device) and the Linux kernel's TCP.

Run inside a network namespace (tests/test_tun_interop.py does that):
``python tests/tun_peer.py NET [CAPTURE]`` runs every scenario in one trio run, over
one ``TunNetwork(NET)``, and prints one JSON object of findings.  Both peers
live in this process: emutcp on ``.2`` and kernel sockets (``trio.socket``)
bound to ``.1``.  With CAPTURE, tshark records the TUN device meanwhile.
"""

from __future__ import annotations

import hashlib
import json
import socket as std
import struct
import subprocess
import sys

import trio

import emutcp
from emutcp.core.segment import decode_segment
from emutcp.testing import connection_of
from emutcp.tun import TunNetwork
from emutcp.wire.tcpip import decode_packet

TCP_INFO = 11


def kernel_tcp_info(sock) -> dict:
    """The fields of Linux's ``struct tcp_info`` these checks read."""
    raw = sock.getsockopt(std.IPPROTO_TCP, TCP_INFO, 232)
    state, _, _, _, _, options, wscales = struct.unpack_from("7B", raw)
    total_retrans = struct.unpack_from("I", raw, 100)[0]
    return {
        "state": state,
        "timestamps": bool(options & 1),
        "sack": bool(options & 2),
        "wscale": bool(options & 4),
        "snd_wscale": wscales & 0x0F,
        "rcv_wscale": wscales >> 4,
        "snd_mss": struct.unpack_from("I", raw, 16)[0],
        "total_retrans": total_retrans,
    }


def emutcp_side(sock) -> dict:
    conn = connection_of(sock)
    return {
        "sack": conn.sack_ok,
        "timestamps": conn.ts_ok,
        "snd_wscale": conn.snd_wscale,
        "rcv_wscale": conn.rcv_wscale,
        "snd_mss": conn.snd_mss,
        "snd_wnd": conn.snd_wnd,
    }


def netstat() -> dict[str, int]:
    out = {}
    with open("/proc/net/netstat") as f:
        lines = f.read().splitlines()
    for names, values in zip(lines[::2], lines[1::2], strict=True):
        prefix = names.split(":")[0]
        for k, v in zip(names.split()[1:], values.split()[1:], strict=True):
            out[f"{prefix}.{k}"] = int(v)
    return out


def family(addr: str) -> int:
    return std.AF_INET6 if ":" in addr else std.AF_INET


async def kernel_listener(addr: str, port: int):
    lst = trio.socket.socket(family(addr))
    lst.setsockopt(std.SOL_SOCKET, std.SO_REUSEADDR, 1)
    lst.setsockopt(std.SOL_SOCKET, std.SO_RCVBUF, 4 << 20)
    await lst.bind((addr, port))
    lst.listen(8)
    return lst


async def recv_all(sock, into: bytearray) -> None:
    while data := await sock.recv(1 << 20):
        into.extend(data)


async def send_all(sock, data: bytes) -> None:
    view = memoryview(data)
    while view:
        view = view[await sock.send(view) :]


async def scenarios(net: TunNetwork) -> dict:
    host = emutcp.Host(transport=net.factory())
    k, e = net.kernel_address, net.address
    found: dict = {}

    # 1. emutcp client -> kernel server: options both ways, half-close, echo.
    lst = await kernel_listener(k, 9001)
    sock = host.socket()
    with trio.fail_after(10):
        await sock.connect((k, 9001))
        ks, _ = await lst.accept()
    found["out_handshake"] = {"emutcp": emutcp_side(sock), "kernel": kernel_tcp_info(ks)}
    data = bytes(range(256)) * 2000
    got = bytearray()
    with trio.fail_after(20):
        async with trio.open_nursery() as n:
            n.start_soon(recv_all, ks, got)
            await sock.sendall(data)
            sock.shutdown(emutcp.SHUT_WR)  # half-close: we still read the reply
        await send_all(ks, b"reply after your FIN")
        ks.shutdown(std.SHUT_WR)
        reply = b""
        while chunk := await sock.recv(1 << 16):
            reply += chunk
    found["out_half_close"] = {"kernel_got": got == data, "reply": reply.decode()}
    ks.close()  # the kernel closed second: emutcp (first to close) is in TIME-WAIT
    with trio.fail_after(5):
        while connection_of(sock).state.name not in ("TIME_WAIT", "CLOSED"):
            await trio.sleep(0.01)
    found["emutcp_time_wait"] = connection_of(sock).state.name
    sock.close()

    # 2. kernel client -> emutcp server: options, window scaling beyond 64 KB.
    elst = host.socket()
    await elst.bind(("0.0.0.0", 9002))
    elst.listen(8)
    kc = trio.socket.socket(family(e))
    kc.setsockopt(std.SOL_SOCKET, std.SO_RCVBUF, 4 << 20)
    with trio.fail_after(10):
        await kc.connect((e, 9002))
        es, _ = await elst.accept()
    found["in_handshake"] = {"emutcp": emutcp_side(es), "kernel": kernel_tcp_info(kc)}
    # 3. window scaling: the kernel sends 1 MB while emutcp reads nothing at first;
    # what the kernel sent before any read is bounded by emutcp's scaled window.
    big = hashlib.sha256(b"seed").digest() * (1 << 15)  # 1 MiB
    sent_before_read = 0

    async def kernel_sends() -> None:
        nonlocal sent_before_read
        await send_all(kc, big)
        kc.shutdown(std.SHUT_WR)

    received = bytearray()
    async with trio.open_nursery() as n:
        n.start_soon(kernel_sends)
        # emutcp does not read until its buffer holds more than 64 KiB (or 10 s pass).
        with trio.move_on_after(10):
            while len(connection_of(es).recv_buf) <= 2 * 65_535:
                await trio.sleep(0.005)
        sent_before_read = len(connection_of(es).recv_buf)
        with trio.fail_after(20):
            while chunk := await es.recv(1 << 20):
                received.extend(chunk)
    found["window_scaling"] = {
        "buffered_before_read": sent_before_read,
        "intact": hashlib.sha256(received).digest() == hashlib.sha256(big).digest(),
    }
    # The kernel closed first (its FIN came with the data): now emutcp closes and
    # the kernel, first to close, holds TIME-WAIT.
    es.close()
    with trio.fail_after(5):
        while True:
            out = subprocess.run(
                ["ss", "-tanH", "state", "time-wait", "sport", "=", str(kc.getsockname()[1])],
                capture_output=True,
                text=True,
                check=False,
            ).stdout
            if out.strip():
                break
            await trio.sleep(0.02)
    found["kernel_time_wait"] = out.strip()
    kc.close()

    # 4. RST on abort, both ways.
    sock = host.socket()
    await sock.connect((k, 9001))
    ks, _ = await lst.accept()
    sock.setsockopt(emutcp.SOL_SOCKET, emutcp.SO_LINGER, struct.pack("ii", 1, 0))
    sock.close()  # SO_LINGER 0: abort with RST
    try:
        with trio.fail_after(5):
            await ks.recv(10)
        found["kernel_saw_rst"] = "no error"
    except ConnectionResetError:
        found["kernel_saw_rst"] = "ConnectionResetError"
    ks.close()
    sock = host.socket()
    await sock.connect((k, 9001))
    ks, _ = await lst.accept()
    ks.setsockopt(std.SOL_SOCKET, std.SO_LINGER, struct.pack("ii", 1, 0))
    ks.close()
    try:
        with trio.fail_after(5):
            await sock.recv(10)
        found["emutcp_saw_rst"] = "no error"
    except ConnectionResetError:
        found["emutcp_saw_rst"] = "ConnectionResetError"
    sock.close()

    # 5. SACK recovery with the kernel as sender: emutcp drops every 40th data
    # segment from the kernel on purpose (the first 40 segments arrive).
    before = netstat()
    sock = host.socket()
    await sock.connect((k, 9001))
    ks, _ = await lst.accept()
    drops = {"n": 0, "dropped": 0}
    sacks_sent = {"n": 0}
    original_receive, original_send = net.receive_packets, net.send

    def lossy(packets: list[bytes]) -> None:
        kept = []
        for p in packets:
            try:
                seg = decode_packet(p).segment
            except ValueError:
                kept.append(p)
                continue
            if seg.payload:
                drops["n"] += 1
                if drops["n"] % 40 == 0 and drops["dropped"] < 30:
                    drops["dropped"] += 1
                    continue
            kept.append(p)
        original_receive(kept)

    def counting_send(datagram: bytes, src, dst) -> None:
        if decode_segment(datagram).options.sack_blocks:
            sacks_sent["n"] += 1
        original_send(datagram, src, dst)

    net.receive_packets = lossy  # type: ignore[method-assign]
    net.send = counting_send  # type: ignore[method-assign]
    payload = hashlib.sha256(b"sack").digest() * (1 << 16)  # 2 MiB
    got = bytearray()
    with trio.fail_after(30):
        async with trio.open_nursery() as n:

            async def emutcp_reads() -> None:
                while chunk := await sock.recv(1 << 20):
                    got.extend(chunk)

            n.start_soon(emutcp_reads)
            await send_all(ks, payload)
            ks.shutdown(std.SHUT_WR)
    info = kernel_tcp_info(ks)
    net.receive_packets, net.send = original_receive, original_send  # type: ignore[method-assign]
    after = netstat()
    found["sack_recovery"] = {
        "intact": hashlib.sha256(got).digest() == hashlib.sha256(payload).digest(),
        "dropped": drops["dropped"],
        "sacks_sent": sacks_sent["n"],
        "kernel_retrans": info["total_retrans"],
        "kernel_sack_recovery": after.get("TcpExt.TCPSackRecovery", 0)
        - before.get("TcpExt.TCPSackRecovery", 0),
        "kernel_rto": after.get("TcpExt.TCPTimeouts", 0) - before.get("TcpExt.TCPTimeouts", 0),
    }
    sock.close()
    ks.close()

    # 5b. The reverse: emutcp sends, drops every 40th of its own data segments,
    # and recovers from the kernel's SACK blocks (parsed from real options).
    sock = host.socket()
    await sock.connect((k, 9001))
    ks, _ = await lst.accept()
    out_drops = {"n": 0, "dropped": 0}

    def lossy_send(datagram: bytes, src, dst) -> None:
        if decode_segment(datagram).payload:
            out_drops["n"] += 1
            if out_drops["n"] % 40 == 0 and out_drops["dropped"] < 30:
                out_drops["dropped"] += 1
                return
        original_send(datagram, src, dst)

    sacks_received = {"n": 0}

    def counting_receive(packets: list[bytes]) -> None:
        for p in packets:
            try:
                if decode_packet(p).segment.options.sack_blocks:
                    sacks_received["n"] += 1
            except ValueError:
                pass
        original_receive(packets)

    net.send = lossy_send  # type: ignore[method-assign]
    net.receive_packets = counting_receive  # type: ignore[method-assign]
    got = bytearray()
    with trio.fail_after(30):
        async with trio.open_nursery() as n:
            n.start_soon(recv_all, ks, got)
            await sock.sendall(payload)
            sock.shutdown(emutcp.SHUT_WR)
    net.send = original_send  # type: ignore[method-assign]
    net.receive_packets = original_receive  # type: ignore[method-assign]
    info = sock.info()
    found["sack_recovery_emutcp_sender"] = {
        "intact": hashlib.sha256(got).digest() == hashlib.sha256(payload).digest(),
        "dropped": out_drops["dropped"],
        "retransmits": info.retransmits,
        "sack_retransmits": info.sack_retransmits,
        "rto_retransmits": info.rto_retransmits,
        "fast_retransmits": info.fast_retransmits,
        "sacks_received": sacks_received["n"],
    }
    sock.close()
    ks.close()

    # 6. Refused both ways: a SYN to a port nobody listens on gets RST
    # (RFC 9293 3.10.7.1; on emutcp's side, TunNetwork answers for it).
    sock = host.socket()
    try:
        with trio.fail_after(5):
            await sock.connect((k, 9999))
        found["emutcp_refused"] = "connected"
    except ConnectionRefusedError:
        found["emutcp_refused"] = "ConnectionRefusedError"
    sock.close()
    kc = trio.socket.socket(family(e))
    try:
        with trio.fail_after(5):
            await kc.connect((e, 9999))
        found["kernel_refused"] = "connected"
    except ConnectionRefusedError:
        found["kernel_refused"] = "ConnectionRefusedError"
    kc.close()
    lst.close()
    elst.close()
    found["kernel_address"] = k
    found["net_stats"] = dict(net.stats)
    return found


def start_capture(device: str, path: str) -> subprocess.Popen:
    """tshark capturing on the TUN device, live, as a user would watch it."""
    cap = subprocess.Popen(
        ["tshark", "-i", device, "-w", path, "-q"],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
        text=True,
    )
    for line in cap.stderr:  # "Capturing on 'emutcp0'": the capture has started
        if "Capturing on" in line:
            break
    return cap


def main() -> None:
    net = TunNetwork(sys.argv[1])
    capture = start_capture(net.name, sys.argv[2]) if len(sys.argv) > 2 else None
    try:
        found = trio.run(scenarios, net)
    finally:
        if capture is not None:
            capture.terminate()
            capture.wait(timeout=30)
        net.close()
    print(json.dumps(found))


if __name__ == "__main__":
    main()
