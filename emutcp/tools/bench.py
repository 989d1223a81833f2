"""``emutcp bench``: iperf3-like throughput tests over emutcp.

Like iperf3, the client opens ``-P`` parallel connections and sends (or with
``-R`` receives) for ``-t`` seconds or ``--bytes``, printing a report every
``-i`` seconds per stream and their sum (bytes, bitrate, retransmissions,
cwnd, RTT), then a sender and a receiver total.  ``--json`` prints one JSON
document shaped like ``iperf3 --json``: ``start`` (connections, test
parameters), ``intervals`` (each with ``streams`` and ``sum``), ``end``
(``streams`` with ``sender``/``receiver``, ``sum_sent``, ``sum_received``);
field names follow iperf3 (``snd_cwnd`` in bytes, ``rtt``/``rttvar`` in
microseconds, ``bits_per_second``).

Where the peer is:

* ``HOST PORT``: an ``emutcp serve --discard`` elsewhere (``-R``: a server
  that sends, e.g. ``emutcp serve --file /dev/zero``; the client reads for
  ``-t`` seconds, then closes);
* ``--local``: a server in this process over loopback UDP, in real time;
* ``--local --emulated``: both ends on an emulated link (``--rate``,
  ``--delay``, ``--loss``, ``--queue``) in virtual time, so a 10-second test
  takes a fraction of a second and a seed repeats it exactly.

In ``--local`` runs both ends are in this process, so the sender's cwnd and
RTT are reported even with ``-R``.  A sender's stream ends with ``send_eof``
and the test waits for the receiver's FIN, so the receiver totals cover
delivery of the last byte.
"""

from __future__ import annotations

import datetime
import json
import random
import sys
import time
from dataclasses import dataclass, field
from typing import Any

import trio

from ..core.config import Config
from ..host import Host, UdpHost
from ..stream import SocketStream

BLKSIZE = 128 * 1024  # iperf3's default TCP block size


@dataclass
class _Stream:
    id: int
    client: SocketStream
    server: SocketStream | None = None  # known in --local runs
    sent: int = 0  # bytes the sending application wrote
    received: int = 0  # bytes the receiving application read
    done_sending: float | None = None
    done_receiving: float | None = None
    marks: dict[str, int] = field(default_factory=dict)
    local: tuple[str, int] = ("", 0)


def _rtt_us(seconds: float | None) -> int:
    return round((seconds or 0.0) * 1e6)


class Bench:
    """One test: streams, clocks and the report being built."""

    def __init__(
        self,
        *,
        streams: int,
        seconds: float,
        nbytes: int | None,
        interval: float,
        reverse: bool,
        blksize: int = BLKSIZE,
        on_interval=None,
    ) -> None:
        self.nstreams = streams
        self.seconds = seconds
        self.nbytes = nbytes
        self.interval = interval
        self.reverse = reverse
        self.blksize = blksize
        self.on_interval = on_interval
        self.streams: list[_Stream] = []
        self.intervals: list[dict[str, Any]] = []
        self.t0 = 0.0
        self._block = random.Random(0).randbytes(blksize)
        self._remaining = nbytes  # shared among the streams with --bytes

    # ------------------------------------------------------------- transfer

    def _budget(self, now: float) -> int:
        if self.nbytes is None:
            return self.blksize if now < self.t0 + self.seconds else 0
        assert self._remaining is not None
        n = min(self.blksize, self._remaining)
        self._remaining -= n
        return n

    async def send(self, s: _Stream, stream: SocketStream) -> None:
        while n := self._budget(trio.current_time()):
            await stream.send_all(self._block[:n])
            s.sent += n
        s.done_sending = trio.current_time()
        await stream.send_eof()

    async def receive(self, s: _Stream, stream: SocketStream) -> None:
        """Read to EOF, then close our side too (the sender waits for that FIN)."""
        while data := await stream.receive_some(1 << 20):
            s.received += len(data)
        s.done_receiving = trio.current_time()
        await stream.send_eof()

    # -------------------------------------------------------------- reports

    def _sender_info(self, s: _Stream):
        sock = s.server if self.reverse else s.client
        return sock.socket.info() if sock is not None else None

    def _interval(self, start: float, end: float) -> dict[str, Any]:
        rows = []
        for s in self.streams:
            moved = s.received if self.reverse else s.sent
            info = self._sender_info(s)
            retrans = info.retransmits if info is not None else 0
            delta = moved - s.marks.get("bytes", 0)
            row: dict[str, Any] = {
                "socket": s.id,
                "start": round(start - self.t0, 6),
                "end": round(end - self.t0, 6),
                "seconds": round(end - start, 6),
                "bytes": delta,
                "bits_per_second": delta * 8 / (end - start) if end > start else 0.0,
                "omitted": False,
                "sender": not self.reverse,
            }
            if info is not None:
                row.update(
                    retransmits=retrans - s.marks.get("retrans", 0),
                    snd_cwnd=info.cwnd,
                    snd_ssthresh=info.ssthresh if info.ssthresh < 1 << 29 else None,
                    snd_wnd=info.snd_wnd,
                    rtt=_rtt_us(info.srtt),
                    rttvar=_rtt_us(info.rttvar),
                    pmtu=info.mss,
                    bytes_in_flight=info.bytes_in_flight,
                )
            s.marks.update(bytes=moved, retrans=retrans)
            rows.append(row)
        return {"streams": rows, "sum": _sum(rows, start - self.t0, end - self.t0, self.reverse)}

    async def report(self) -> None:
        """Every ``interval`` seconds from ``t0``, until cancelled; the last,
        partial interval is closed by ``finish``."""
        k = 1
        while True:
            await trio.sleep_until(self.t0 + k * self.interval)
            self._emit(self.t0 + (k - 1) * self.interval, self.t0 + k * self.interval)
            k += 1

    def _emit(self, start: float, end: float) -> None:
        iv = self._interval(start, end)
        self.intervals.append(iv)
        if self.on_interval is not None:
            self.on_interval(iv)

    def close_last_interval(self, now: float) -> None:
        start = self.t0 + len(self.intervals) * self.interval
        if now - start > self.interval * 0.1:  # iperf3 drops slivers, too
            self._emit(start, now)

    def end(self, finished: float) -> dict[str, Any]:
        ends = []
        sent_rows, received_rows = [], []
        for s in self.streams:
            info = self._sender_info(s)
            moved_sent = s.received if self.reverse else s.sent
            sender_end = (s.done_sending or finished) - self.t0
            if self.reverse and s.done_receiving is not None:
                sender_end = s.done_receiving - self.t0
            receiver_end = (s.done_receiving or finished) - self.t0
            sender = {
                "socket": s.id,
                "start": 0,
                "end": round(sender_end, 6),
                "seconds": round(sender_end, 6),
                "bytes": moved_sent,
                "bits_per_second": moved_sent * 8 / sender_end if sender_end > 0 else 0.0,
                "sender": True,
            }
            if info is not None:
                sender.update(
                    retransmits=info.retransmits,
                    max_snd_cwnd=max(
                        [iv["streams"][s.id]["snd_cwnd"] for iv in self.intervals] or [info.cwnd]
                    ),
                    mean_rtt=_rtt_us(info.srtt),
                    rto_expirations=info.rto_expirations,
                    fast_retransmits=info.fast_retransmits,
                )
            received = s.received if (self.reverse or s.server is not None) else s.sent
            receiver = {
                "socket": s.id,
                "start": 0,
                "end": round(receiver_end, 6),
                "seconds": round(receiver_end, 6),
                "bytes": received,
                "bits_per_second": received * 8 / receiver_end if receiver_end > 0 else 0.0,
                "sender": False,
            }
            ends.append({"sender": sender, "receiver": receiver})
            sent_rows.append(sender)
            received_rows.append(receiver)
        first = self._sender_info(self.streams[0]) if self.streams else None
        congestion = first.congestion if first is not None else ""
        return {
            "streams": ends,
            "sum_sent": _sum(sent_rows, 0, max(r["end"] for r in sent_rows), True),
            "sum_received": _sum(received_rows, 0, max(r["end"] for r in received_rows), False),
            "sender_tcp_congestion": congestion,
            "receiver_tcp_congestion": congestion,
        }


def _sum(rows: list[dict[str, Any]], start: float, end: float, sender: bool) -> dict[str, Any]:
    nbytes = sum(r["bytes"] for r in rows)
    seconds = end - start
    out: dict[str, Any] = {
        "start": round(start, 6),
        "end": round(end, 6),
        "seconds": round(seconds, 6),
        "bytes": nbytes,
        "bits_per_second": nbytes * 8 / seconds if seconds > 0 else 0.0,
        "omitted": False,
        "sender": sender,
    }
    if any("retransmits" in r for r in rows):
        out["retransmits"] = sum(r.get("retransmits", 0) for r in rows)
    return out


async def run_bench(
    client_host: Host,
    server_host: Host | None,
    *,
    target: tuple[str, int] | None = None,
    server_address: str = "127.0.0.1",
    streams: int = 1,
    seconds: float = 10.0,
    nbytes: int | None = None,
    interval: float = 1.0,
    reverse: bool = False,
    on_interval=None,
    on_connected=None,
) -> dict[str, Any]:
    """Run one test; return the iperf3-shaped document.  With ``server_host``
    the server runs here (``--local``) on an ephemeral port of ``server_host``;
    otherwise ``target`` is a remote discard (or, with ``reverse``, sending)
    server."""
    bench = Bench(
        streams=streams,
        seconds=seconds,
        nbytes=nbytes,
        interval=interval,
        reverse=reverse,
        on_interval=on_interval,
    )
    async with trio.open_nursery() as nursery:
        accepted: trio.MemoryReceiveChannel[SocketStream] | None = None
        if server_host is not None:
            listeners = await server_host.open_listeners(0, address=server_address)
            target = (server_address, listeners[0].socket.getsockname()[1])
            send_accepted, accepted = trio.open_memory_channel[SocketStream](streams)

            async def accept_all() -> None:
                for _ in range(streams):
                    await send_accepted.send(await listeners[0].accept())
                await listeners[0].aclose()

            nursery.start_soon(accept_all)
        assert target is not None
        for i in range(streams):
            client = await client_host.open_stream(*target)
            s = _Stream(i, client, local=client.socket.getsockname())
            if accepted is not None:
                s.server = await accepted.receive()
            bench.streams.append(s)
        if on_connected is not None:
            on_connected(bench, target)
        bench.t0 = trio.current_time()
        async with trio.open_nursery() as transfer:
            transfer.start_soon(bench.report)
            async with trio.open_nursery() as flows:
                for s in bench.streams:
                    if reverse:
                        if s.server is not None:
                            flows.start_soon(bench.send, s, s.server)
                        flows.start_soon(bench.receive, s, s.client)
                    else:
                        flows.start_soon(bench.send, s, s.client)
                        if s.server is not None:
                            flows.start_soon(bench.receive, s, s.server)
                        else:
                            flows.start_soon(_await_fin, s, s.client)
                if reverse and server_host is None:
                    # A remote sender sends until we close: stop reading at -t.
                    flows.cancel_scope.deadline = bench.t0 + seconds
            finished = trio.current_time()
            transfer.cancel_scope.cancel()
        bench.close_last_interval(finished)
        for s in bench.streams:
            for st in (s.client, s.server):
                if st is not None:
                    await st.aclose()
        nursery.cancel_scope.cancel()
    first = bench.streams[0].client.socket.info()
    doc = {
        "start": {
            "connected": [
                {
                    "socket": s.id,
                    "local_host": s.local[0],
                    "local_port": s.local[1],
                    "remote_host": target[0],
                    "remote_port": target[1],
                }
                for s in bench.streams
            ],
            "version": "emutcp bench",
            "system_info": sys.platform,
            "timestamp": {
                "time": datetime.datetime.now(datetime.UTC).strftime("%a, %d %b %Y %H:%M:%S GMT"),
                "timesecs": int(time.time()),
            },
            "connecting_to": {"host": target[0], "port": target[1]},
            "tcp_mss_default": first.mss,
            "sock_bufsize": bench.streams[0].client.socket.config.send_buffer,
            "test_start": {
                "protocol": "TCP",
                "num_streams": streams,
                "blksize": bench.blksize,
                "omit": 0,
                "duration": 0 if nbytes is not None else seconds,
                "bytes": nbytes or 0,
                "blocks": 0,
                "reverse": int(reverse),
                "tos": 0,
            },
        },
        "intervals": bench.intervals,
        "end": bench.end(finished),
    }
    return doc


async def _await_fin(s: _Stream, stream: SocketStream) -> None:
    """Against a remote discard server: its FIN follows our last byte read."""
    while await stream.receive_some(1 << 16):
        pass
    s.done_receiving = trio.current_time()


# ------------------------------------------------------------------ printing


def _bytes(n: float) -> str:
    for unit, size in (("GBytes", 1 << 30), ("MBytes", 1 << 20), ("KBytes", 1 << 10)):
        if n >= size:
            return f"{n / size:6.2f} {unit}"
    return f"{n:6.0f} Bytes "


def _rate(bps: float) -> str:
    for unit, size in (("Gbits/sec", 1e9), ("Mbits/sec", 1e6), ("Kbits/sec", 1e3)):
        if bps >= size:
            return f"{bps / size:6.1f} {unit}"
    return f"{bps:6.0f} bits/sec "


def _line(tag: str, row: dict[str, Any], tail: str = "") -> str:
    span = f"{row['start']:6.2f}-{row['end']:<6.2f} sec"
    retr = f"{row['retransmits']:5d}" if "retransmits" in row else "     "
    return f"[{tag:>3}] {span} {_bytes(row['bytes'])}  {_rate(row['bits_per_second'])} {retr}{tail}"


def print_interval(iv: dict[str, Any], *, nstreams: int) -> None:
    for row in iv["streams"]:
        extra = ""
        if "snd_cwnd" in row:
            extra = f"  {_bytes(row['snd_cwnd']).strip():>12}  {row['rtt'] / 1000:7.2f} ms"
        print(_line(str(row["socket"] + 1), row, extra), flush=True)
    if nstreams > 1:
        print(_line("SUM", iv["sum"]), flush=True)


def print_end(end: dict[str, Any], *, nstreams: int) -> None:
    print("- " * 30)
    print("[ ID] Interval           Transfer     Bitrate         Retr")
    for pair in end["streams"]:
        print(_line(str(pair["sender"]["socket"] + 1), pair["sender"], "  sender"))
        print(_line(str(pair["receiver"]["socket"] + 1), pair["receiver"], "  receiver"))
    if nstreams > 1:
        print(_line("SUM", end["sum_sent"], "  sender"))
        print(_line("SUM", end["sum_received"], "  receiver"))
    print(f"\nemutcp bench done ({end['sender_tcp_congestion']}).", flush=True)


def _legacy_summary(doc: dict[str, Any]) -> dict[str, Any]:
    """The flat keys earlier ``emutcp bench --json`` printed, kept alongside."""
    total = doc["end"]["sum_received"]
    seconds = total["seconds"] or 1e-9
    sent = doc["end"]["streams"][0]["sender"]
    return {
        "bytes": total["bytes"],
        "seconds": seconds,
        "goodput_MBps": round(total["bytes"] / seconds / 1e6, 3),
        "goodput_Mbps": round(total["bytes"] * 8 / seconds / 1e6, 3),
        "retransmits": doc["end"]["sum_sent"].get("retransmits", 0),
        "srtt_ms": round(sent.get("mean_rtt", 0) / 1000, 3),
        "mss": doc["start"]["tcp_mss_default"],
        "congestion": doc["end"]["sender_tcp_congestion"],
    }


def _print_header(bench: Bench, target: tuple[str, int]) -> None:
    print(f"Connecting to host {target[0]}, port {target[1]}", flush=True)
    if bench.reverse:
        print("Reverse mode, remote host is sending", flush=True)
    for s in bench.streams:
        print(
            f"[{s.id + 1:>3}] local {s.local[0]} port {s.local[1]} connected to "
            f"{target[0]} port {target[1]}",
            flush=True,
        )
    print("[ ID] Interval           Transfer     Bitrate         Retr          Cwnd       RTT")


def _local_address(host) -> str:
    """Where --local runs: loopback, or the host's own address on a transport
    that has one (--transport emulated)."""
    return "127.0.0.1" if host.wildcard_address == "0.0.0.0" else host.wildcard_address


async def bench_main(
    *,
    host_name: str | None,
    port: int | None,
    seconds: float,
    nbytes: int | None,
    stats: bool,
    as_json: bool,
    config: Config,
    trace,
    streams: int = 1,
    interval: float = 1.0,
    reverse: bool = False,
    make_host=None,
) -> dict[str, Any]:
    """The bench over real UDP (or ``make_host``'s transport): to
    ``host_name:port``, or ``--local`` (host_name None)."""
    host = (make_host or UdpHost)(config=config, trace=trace)
    printer = None if as_json else (lambda iv: print_interval(iv, nstreams=streams))
    header = None if as_json else _print_header
    async with trio.open_nursery() as nursery:
        if stats:
            from .stats import live_stats

            nursery.start_soon(lambda: live_stats(host))
        doc = await run_bench(
            host,
            host if host_name is None else None,
            target=None if host_name is None else (host_name, port or 0),
            server_address=_local_address(host),
            streams=streams,
            seconds=seconds,
            nbytes=nbytes,
            interval=interval,
            reverse=reverse,
            on_interval=printer,
            on_connected=header,
        )
        nursery.cancel_scope.cancel()
    return _output(doc, as_json=as_json, streams=streams)


def _output(doc: dict[str, Any], *, as_json: bool, streams: int) -> dict[str, Any]:
    doc.update(_legacy_summary(doc))
    if as_json:
        print(json.dumps(doc), flush=True)
    else:
        print_end(doc["end"], nstreams=streams)
    return doc


def emulated_bench(
    *,
    seconds: float,
    nbytes: int | None,
    as_json: bool,
    config: Config,
    trace,
    streams: int = 1,
    interval: float = 1.0,
    reverse: bool = False,
    rate: float = 10e6,
    delay: float = 0.01,
    loss: float = 0.0,
    queue: int | None = None,
    seed: int = 0,
) -> dict[str, Any]:
    """``--local --emulated``: both ends on an emulated link, in virtual time."""
    import trio.testing

    from ..emulated import EmulatedNetwork
    from ..lab.trial import pin_trio_scheduling
    from ..lab.units import bdp_queue

    async def main() -> dict[str, Any]:
        net = EmulatedNetwork(seed=seed)
        a = net.add_host("10.0.0.1", config=config, trace=trace)
        b = net.add_host("10.0.0.2", config=config, trace=trace)
        q = queue if queue is not None else bdp_queue(rate, 2 * delay, config.mss, minimum=10)
        net.add_link("10.0.0.1", "10.0.0.2", rate=rate, delay=delay, loss=loss, queue=q)
        return await run_bench(
            a,
            b,
            server_address="10.0.0.2",
            streams=streams,
            seconds=seconds,
            nbytes=nbytes,
            interval=interval,
            reverse=reverse,
            on_interval=None if as_json else (lambda iv: print_interval(iv, nstreams=streams)),
            on_connected=None if as_json else _print_header,
        )

    pin_trio_scheduling(seed)
    doc = trio.run(main, clock=trio.testing.MockClock(autojump_threshold=0))
    doc["start"]["emulated_link"] = {
        "rate_bps": rate,
        "delay_s": delay,
        "loss": loss,
        "queue_packets": queue,
        "seed": seed,
        "virtual_time": True,
    }
    return _output(doc, as_json=as_json, streams=streams)
