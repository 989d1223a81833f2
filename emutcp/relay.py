"""``emutcp relay``: a UDP impairment proxy between real hosts.

Clients send to the relay's ``--listen`` port; for each client address the
relay opens an upstream UDP socket to ``--to`` and forwards both ways, each
direction through its own emulated ``Link`` (the same model as the emulated
network: loss, Gilbert-Elliott bursts, delay, jitter, reordering,
duplication, corruption, rate and drop-tail queue).  It knows nothing of
TCP: it moves datagrams, so it works for any UDP protocol.
"""

from __future__ import annotations

import json
import random
import re
import sys
import time
from dataclasses import dataclass, field

import trio

from .core.events import SegmentRecord
from .core.segment import MalformedSegment, decode_segment
from .transport.emulated import Link, LinkProfile
from .transport.timeline import Timeline
from .transport.udp import UdpTransport

Address = tuple[str, int]

_UNITS = {"": 1.0, "s": 1.0, "ms": 1e-3, "us": 1e-6}
_RATE_UNITS = {
    "": 1.0,
    "bit": 1.0,
    "k": 1e3,
    "kbit": 1e3,
    "m": 1e6,
    "mbit": 1e6,
    "g": 1e9,
    "gbit": 1e9,
}


def parse_duration(text: str) -> float:
    """'40ms' -> 0.04, '1.5s' -> 1.5, '0.2' -> 0.2 (seconds)."""
    m = re.fullmatch(r"\s*([0-9.eE+-]+)\s*(s|ms|us)?\s*", str(text))
    if not m:
        raise ValueError(f"not a duration: {text!r} (try 40ms or 0.04)")
    return float(m.group(1)) * _UNITS[m.group(2) or ""]


def parse_rate(text: str) -> float:
    """'10mbit' / '10M' -> 1e7 bits per second."""
    m = re.fullmatch(r"\s*([0-9.eE+-]+)\s*([a-zA-Z]*)\s*", str(text))
    unit = (m.group(2) if m else "").lower()
    if not m or unit not in _RATE_UNITS:
        raise ValueError(f"not a rate: {text!r} (try 10mbit)")
    return float(m.group(1)) * _RATE_UNITS[unit]


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
    ) -> None:
        self.front = UdpTransport(listen, filter_junk=False)
        # observer(record, src, dst): emutcp segments seen at the relay's ingress
        # (a tracer: PcapWriter, JsonlTrace, ...); other datagrams are skipped.
        self.observer = observer
        self.target = target
        self.forward_profile = forward
        self.reverse_profile = reverse
        self.rng = random.Random(seed)
        self.sessions: dict[Address, Session] = {}
        self._timeline = Timeline(self._emit, name="emutcp-relay")
        self._nursery: trio.Nursery | None = None

    @property
    def local(self) -> Address:
        return self.front.local

    def _emit(self, item) -> None:
        d, link, transport, addr = item
        if link.delivered(d) and not transport.closed:
            transport.send(d.payload, addr)

    def _session(self, client: Address) -> Session:
        s = self.sessions.get(client)
        if s is None:
            upstream = UdpTransport(("0.0.0.0", 0), filter_junk=False)
            upstream.connect(self.target)
            s = Session(
                client,
                upstream,
                Link("client", "server", self.forward_profile, random.Random(self.rng.random())),
                Link("server", "client", self.reverse_profile, random.Random(self.rng.random())),
            )
            self.sessions[client] = s
            self._nursery.start_soon(self._pump_upstream, s)
        return s

    async def _pump_upstream(self, s: Session) -> None:
        while not s.upstream.closed:
            await s.upstream.wait_readable()
            now = trio.current_time()
            for data, _addr in s.upstream.recv_batch():
                if data is None:
                    continue  # ICMP from the target: nothing to relay
                self._observe(data, self.target, s.client, now, "relay: server -> client")
                for when, d in s.reverse.plan(data, now):
                    self._timeline.schedule(when, (d, s.reverse, self.front, s.client))

    async def run(self, *, task_status=trio.TASK_STATUS_IGNORED) -> None:
        async with trio.open_nursery() as nursery:
            self._nursery = nursery
            task_status.started(self)
            try:
                while True:
                    await self.front.wait_readable()
                    now = trio.current_time()
                    for data, client in self.front.recv_batch():
                        if data is None:
                            continue
                        s = self._session(client)
                        self._observe(data, client, self.target, now, "relay: client -> server")
                        for when, d in s.forward.plan(data, now):
                            self._timeline.schedule(when, (d, s.forward, s.upstream, self.target))
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
            }

        return {
            "sessions": [
                {"client": list(s.client), "forward": link(s.forward), "reverse": link(s.reverse)}
                for s in self.sessions.values()
            ]
        }


async def relay_main(
    *,
    listen: Address,
    target: Address,
    forward: LinkProfile,
    reverse: LinkProfile,
    seed: int,
    duration: float | None,
    as_json: bool,
    observer=None,
) -> None:
    relay = Relay(
        listen=listen,
        target=target,
        forward=forward,
        reverse=reverse,
        seed=seed,
        observer=observer,
    )
    print(
        f"emutcp relay: {relay.local[0]}:{relay.local[1]} -> {target[0]}:{target[1]}",
        file=sys.stderr,
        flush=True,
    )
    async with trio.open_nursery() as nursery:
        await nursery.start(relay.run)

        async def progress():
            while True:
                await trio.sleep(5)
                sent = sum(
                    s.forward.stats.sent + s.reverse.stats.sent for s in relay.sessions.values()
                )
                dropped = sum(
                    sum(s.forward.stats.dropped.values()) + sum(s.reverse.stats.dropped.values())
                    for s in relay.sessions.values()
                )
                print(
                    f"emutcp relay: {len(relay.sessions)} sessions, {sent} datagrams, "
                    f"{dropped} dropped",
                    file=sys.stderr,
                    flush=True,
                )

        nursery.start_soon(progress)
        if duration is not None:
            await trio.sleep(duration)
            nursery.cancel_scope.cancel()
    if as_json:
        print(json.dumps(relay.stats()), flush=True)
