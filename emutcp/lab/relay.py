"""The relay: a UDP impairment proxy between real hosts.

Clients send to the relay's ``--listen`` port; for each client address the
relay opens an upstream UDP socket to ``--to`` and forwards both ways, each
direction through its own emulated ``Link`` (the same model as the emulated
network: loss, Gilbert-Elliott bursts, delay, jitter, reordering,
duplication, corruption, rate and queue discipline: drop-tail or an AQM).
It knows nothing of TCP: it moves datagrams, so it works for any UDP protocol.

With ``ecn`` the relay carries the ECN field of what it forwards (read with
``IP_RECVTOS``, written with ``IP_TOS``, as a router keeps the IP header),
and an AQM marks ECN-capable datagrams CE by rewriting that field instead
of dropping them (RFC 3168 5).  Without it, what leaves is Not-ECT.
"""

from __future__ import annotations

import random
import time
from dataclasses import dataclass, field

import trio

from ..core.events import SegmentRecord
from ..core.segment import MalformedSegment, carries_data, decode_segment
from ..transport.link import Delivery, Link, LinkProfile
from ..transport.scheduler import TimelineScheduler, run_callback
from ..transport.timeline import Timeline
from ..transport.udp import UdpTransport

Address = tuple[str, int]


@dataclass
class Session:
    client: Address
    upstream: UdpTransport
    forward: Link
    reverse: Link
    created: float = field(default_factory=time.monotonic)


class Relay:
    def __init__(
        self,
        *,
        listen: Address,
        target: Address,
        forward: LinkProfile,
        reverse: LinkProfile,
        seed: int = 0,
        observer=None,
        ecn: bool = False,
    ) -> None:
        self.front = UdpTransport(listen)
        self.ecn = ecn and self.front.enable_ecn()
        # observer(record, src, dst): emutcp segments seen at the relay's ingress
        # (a tracer: PcapWriter, JsonlTrace, ...); other datagrams are skipped.
        self.observer = observer
        self.target = target
        self.forward_profile = forward
        self.reverse_profile = reverse
        self.rng = random.Random(seed)
        self.sessions: dict[Address, Session] = {}
        self._timeline = Timeline(run_callback, name="emutcp-relay")
        self._scheduler = TimelineScheduler(self._timeline.schedule, trio.current_time)
        self._nursery: trio.Nursery | None = None

    @property
    def local(self) -> Address:
        return self.front.local

    def _emit(self, link: Link, d: Delivery, ctx: tuple[UdpTransport, Address]) -> None:
        transport, addr = ctx
        if link.delivered(d) and not transport.closed:
            if self.ecn:
                transport.send(d.payload, addr, d.ecn)
            else:
                transport.send(d.payload, addr)

    def _session(self, client: Address) -> Session:
        s = self.sessions.get(client)
        if s is None:
            upstream = UdpTransport(("0.0.0.0", 0))
            upstream.connect(self.target)
            if self.ecn:
                upstream.enable_ecn()
            s = Session(
                client,
                upstream,
                Link(
                    "client",
                    "server",
                    self.forward_profile,
                    random.Random(self.rng.random()),
                    is_data=carries_data,
                ),
                Link(
                    "server",
                    "client",
                    self.reverse_profile,
                    random.Random(self.rng.random()),
                    is_data=carries_data,
                ),
            )
            s.forward.attach(self._scheduler, self._emit)
            s.reverse.attach(self._scheduler, self._emit)
            self.sessions[client] = s
            assert self._nursery is not None, "sessions open only while run() runs"
            self._nursery.start_soon(self._pump_upstream, s)
        return s

    async def _pump_upstream(self, s: Session) -> None:
        while not s.upstream.closed:
            await s.upstream.wait_readable()
            now = trio.current_time()
            for item in s.upstream.recv_batch():
                data = item[0]
                if data is None:
                    continue  # ICMP from the target: nothing to relay
                ecn = item[2] if self.ecn else 0  # type: ignore[misc]
                self._observe(data, self.target, s.client, now, "relay: server -> client")
                s.reverse.send(data, now, ecn=ecn, flow=s.client, ctx=(self.front, s.client))

    async def run(self, *, task_status=trio.TASK_STATUS_IGNORED) -> None:
        async with trio.open_nursery() as nursery:
            self._nursery = nursery
            task_status.started(self)
            try:
                while True:
                    await self.front.wait_readable()
                    now = trio.current_time()
                    for item in self.front.recv_batch():
                        data, client = item[0], item[1]
                        if data is None:
                            continue
                        ecn = item[2] if self.ecn else 0  # type: ignore[misc]
                        s = self._session(client)
                        self._observe(data, client, self.target, now, "relay: client -> server")
                        s.forward.send(
                            data, now, ecn=ecn, flow=client, ctx=(s.upstream, self.target)
                        )
            finally:
                for s in self.sessions.values():
                    s.upstream.close()
                self.front.close()

    def _observe(self, data: bytes, src: Address, dst: Address, now: float, why: str) -> None:
        if self.observer is None:
            return
        try:
            seg = decode_segment(data)
        except MalformedSegment:
            return  # not emutcp (the relay carries any UDP): nothing to show
        record = SegmentRecord(
            now,
            "out",
            src,
            dst,
            seg.flag_names(),
            seg.seq,
            seg.ack,
            seg.window,
            len(seg.payload),
            why,
            seg,
        )
        self.observer(record, src, dst)

    def profile(self, direction: str) -> LinkProfile:
        """The profile of ``"forward"`` (client to server) or ``"reverse"``."""
        return self.forward_profile if direction == "forward" else self.reverse_profile

    def set_profile(self, direction: str, profile: LinkProfile) -> None:
        """Change one direction's impairments now, for every session (live
        control: see relay_control.py); queues and counters carry over."""
        if direction == "forward":
            self.forward_profile = profile
        else:
            self.reverse_profile = profile
        for s in self.sessions.values():
            (s.forward if direction == "forward" else s.reverse).profile = profile

    def stats(self) -> dict:
        def link(ln: Link) -> dict:
            st = ln.stats
            return {
                "sent": st.sent,
                "delivered": st.delivered,
                "dropped": dict(st.dropped),
                "duplicated": st.duplicated,
                "corrupted": st.corrupted,
                "reordered": st.reordered,
                "peak_queue": st.peak_queue,
                "queue": ln.queue_stats.summary(),
            }

        return {
            "sessions": [
                {"client": list(s.client), "forward": link(s.forward), "reverse": link(s.reverse)}
                for s in self.sessions.values()
            ]
        }
