"""Receive-side segment coalescing: what Linux's GRO does for TCP, per batch.

Theory of operation
-------------------
The real-UDP endpoint drains its socket in batches.  A bulk receiver's batch
is mostly a run of full-sized, in-order data segments of one connection that
differ only in their sequence numbers and payloads.  Processing each on its
own costs one pass through SEGMENT ARRIVES per segment and, since every
second full segment asks for an ACK (RFC 9293 3.8.6.3), many ACKs that say
nothing the last one of the batch would not say.  Linux merges such runs
before TCP sees them (``tcp_gro_receive``, net/ipv4/tcp_offload.c); this
module does the same between the codec and the ``Mux``:

``Coalescer.datagram`` decodes each datagram of a batch (``decode_segment``,
as ``Mux.receive_datagram`` does) and holds a run; ``Coalescer.finish`` (and
any datagram that cannot join) hands the run to ``Mux.receive_segment`` as
ONE segment whose payload is the run's payloads joined.  A segment joins the
run held when, as in ``tcp_gro_receive``:

* it comes from the same peer (the same connection) with the same ECN field;
* its flags are ACK alone, or ACK+PSH (PSH ends the run: it is the last);
  SYN, FIN, RST, URG, ECE and CWR never merge;
* it starts exactly where the run ends (SEG.SEQ = the run's end): a lost or
  reordered segment stops the merge, and what follows is processed on its own;
* its ACK, window and options are the run's: identical timestamps, no SACK
  blocks, no SYN options;
* its payload is not larger than the run's first (all equal but the last,
  which may be shorter and then ends the run), and the run stays within
  ``MAX_PAYLOAD`` (a 64 KiB IP packet, as GRO's limit).

Only data for an ESTABLISHED connection is held, and a run starts only at
RCV.NXT: after a gap every segment is processed on its own, so the sender
gets one duplicate ACK per segment as RFC 5681 asks (Linux's GRO would merge
the out-of-order run too, and send one SACK for it).  The merged segment is one
that the peer could have sent with a larger MSS; the core accepts it
(``Mux.receive_segment`` is told how many segments it carries, so the MSS
check scales and the statistics count wire segments), acknowledges it once
(2 or more full segments: at once, RFC 9293 3.8.6.3 / RFC 5681 4.2) and the
sender's byte counting (RFC 3465) sees the same bytes acknowledged.  The
mux's ``segments_in`` counts wire segments, its ``coalesced`` those that
joined a run; the connection's own counters count what it processed.

A trace or capture (``PcapWriter``) shows what the core saw, as tcpdump on a
Linux receiver with GRO does: one incoming segment per run, with the run's
length; the sender's capture still shows every wire segment.

The emulated network and the discrete-event engine never coalesce (their
bytes are pinned by golden tests); the endpoint uses a ``Coalescer`` only
over a batching (real UDP) transport.
"""

from __future__ import annotations

from .mux import Mux
from .segment import (
    ACK,
    MAX_PAYLOAD,
    NO_OPTIONS,
    PSH,
    MalformedSegment,
    Options,
    Segment,
    decode_segment,
    looks_like_segment,
    make_segment,
)
from .state import State
from .tcb import Address


def _mergeable_options(o: Options) -> bool:
    """No SACK blocks and no SYN options: only timestamps (or nothing)."""
    return o is NO_OPTIONS or (
        not o.sack_blocks and o.mss is None and o.wscale is None and not o.sack_permitted
    )


class Coalescer:
    """Merges the in-order data segments of one batch (see the module docstring)."""

    def __init__(self, mux: Mux) -> None:
        self.mux = mux
        self._first: Segment | None = None  # the run's first segment (its header)
        self._parts: list[bytes] = []  # the run's payloads
        self._addr: Address = ("", 0)
        self._ecn = 0
        self._end = 0  # the sequence number just after the run
        self._size = 0  # the first payload's length: later ones may not exceed it
        self._total = 0  # payload bytes held
        self._wire = 0  # datagram bytes held
        self._open = False  # the run may grow (no PSH, no short segment yet)
        self._flags = ACK  # the last segment's flags: ACK, or ACK+PSH
        self.merged = 0  # segments that joined a run (statistics, tests)
        self.runs = 0  # merged segments handed to the core

    def datagram(self, data: bytes, addr: Address, now: float, ecn: int = 0) -> None:
        """One datagram of the batch: join the run held or process it."""
        mux = self.mux
        if not looks_like_segment(data):
            self.finish(now)
            mux.stats["malformed"] += 1
            return
        try:
            seg = decode_segment(data, max_payload=mux.config.mss)
        except MalformedSegment:
            self.finish(now)
            mux.stats["malformed"] += 1
            return
        payload = seg.payload
        n = len(payload)
        first = self._first
        if (
            first is not None
            and self._open
            and seg.seq == self._end
            and addr == self._addr
            and ecn == self._ecn
            and seg.flags & ~PSH == ACK
            and seg.ack == first.ack
            and seg.window == first.window
            and 0 < n <= self._size
            and self._total + n <= MAX_PAYLOAD
            and seg.options.timestamps == first.options.timestamps
            and _mergeable_options(seg.options)
        ):
            self._parts.append(payload)
            self._end = (self._end + n) & 0xFFFFFFFF
            self._total += n
            self._wire += len(data)
            # PSH or a short segment ends the run (tcp_gro_receive's flush rules).
            self._open = not seg.flags & PSH and n == self._size
            self._flags = seg.flags
            self.merged += 1
            mux.stats["coalesced"] += 1
            return
        self.finish(now)
        if n and seg.flags & ~PSH == ACK and _mergeable_options(seg.options):
            conn = mux.connections.get(addr)
            # A run starts only at RCV.NXT: out-of-order data goes alone, one
            # duplicate ACK per segment (RFC 5681 4.2 / 3.2).
            if conn is not None and conn.state is State.ESTABLISHED and seg.seq == conn.rcv_nxt:
                self._first = seg
                self._parts = [payload]
                self._addr = addr
                self._ecn = ecn
                self._end = (seg.seq + n) & 0xFFFFFFFF
                self._size = self._total = n
                self._wire = len(data)
                self._open = not seg.flags & PSH
                self._flags = seg.flags
                return
        mux.receive_segment(seg, len(data), addr, now, ecn)

    def finish(self, now: float) -> None:
        """Hand the run held (if any) to the core: the end of a batch."""
        first = self._first
        if first is None:
            return
        self._first = None
        parts = self._parts
        self._parts = []
        count = len(parts)
        if count == 1:
            seg = first
        else:
            self.runs += 1
            seg = make_segment(
                first.src_port,
                first.dst_port,
                first.seq,
                first.ack,
                self._flags,  # PSH only if the run's last segment carried it
                first.window,
                first.options,
                b"".join(parts),
                first.ecn,
            )
        self.mux.receive_segment(seg, self._wire, self._addr, now, self._ecn, count)
