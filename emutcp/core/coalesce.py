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
ONE segment whose payload is the run's payloads joined.  Over a transport
whose accept filter is ``plausible_segment`` (the real-UDP host sets
``crc_checked``), the CRC of each datagram was checked there, before the
datagram was copied out of the socket's buffer; the coalescer then validates
everything else but does not hash the datagram again.  A segment joins the
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
mux's ``segments_in`` and the connection's ``segments_received`` count wire
segments (as Linux's ``segs_in`` counts GRO's), the mux's ``coalesced``
those that joined a run.

A trace or capture (``PcapWriter``) shows what the core saw, as tcpdump on a
Linux receiver with GRO does: one incoming segment per run, with the run's
length; the sender's capture still shows every wire segment.

The emulated network and the discrete-event engine never coalesce (their
bytes are pinned by golden tests); the endpoint uses a ``Coalescer`` only
over a batching (real UDP) transport.
"""

from __future__ import annotations

from .crc import crc32
from .ecn import CE
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
)
from .state import State
from .tcb import Address


def _int_end(data: bytes, i: int) -> int:
    """Where the msgpack unsigned int at ``data[i]`` ends (-1: not one)."""
    if i < 0:
        return -1
    b = data[i]
    if b < 0x80:
        return i + 1
    if b == 0xCC:
        return i + 2
    if b == 0xCD:
        return i + 3
    if b == 0xCE:
        return i + 5
    return -1


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
        self._template = False  # later datagrams may take the fast path
        self._prefix = b""  # the first datagram up to SEG.SEQ
        self._ack_bytes = b""  # its SEG.ACK, encoded
        self._flags_at = 0  # where its flags byte is
        self._rest = b""  # its window and options, encoded
        # True when every datagram comes through a transport whose accept
        # filter is ``plausible_segment`` (the host sets it): their CRCs were
        # checked there, so they are not hashed a second time here.
        self.crc_checked = False
        self.merged = 0  # segments that joined a run (statistics, tests)
        self.runs = 0  # merged segments handed to the core

    def datagram(self, data: bytes, addr: Address, now: float, ecn: int = 0) -> None:
        """One datagram of the batch: join the run held or process it."""
        if self._template and addr == self._addr and ecn == self._ecn:
            payload = self._follower(data)
            if payload is not None:
                n = len(payload)
                self._parts.append(payload)
                self._end = (self._end + n) & 0xFFFFFFFF
                self._total += n
                self._wire += len(data)
                flags = data[self._flags_at]
                # PSH or a short segment ends the run (tcp_gro_receive's flush rules).
                self._template = self._open = flags == ACK and n == self._size
                self._flags = flags
                return
        mux = self.mux
        if not looks_like_segment(data):
            self.finish(now)
            mux.stats["malformed"] += 1
            return
        try:
            seg = decode_segment(data, max_payload=mux.config.mss, check_crc=not self.crc_checked)
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
            self._template = self._template and self._open
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
                self._template = self._open and self._learn(data, n)
                return
        mux.receive_segment(seg, len(data), addr, now, ecn)

    # The fast path for the run's later datagrams.  The run's first datagram was
    # decoded and validated; a later one that repeats its bytes but for SEG.SEQ
    # (a 4-byte uint), the flags (ACK or ACK+PSH), the payload and the CRC (a
    # 4-byte uint, checked) decodes to the same fields: the checks are those of
    # ``decode_segment`` and of the merge rules, on bytes, without msgpack.
    # Anything else takes the full path above.

    def _learn(self, data: bytes, n: int) -> bool:
        """Note where the first datagram's fields lie (False: no fast path)."""
        i = _int_end(data, _int_end(data, 2))  # after the version, both ports
        if i < 0 or data[i] != 0xCE:
            return False
        ack_at = i + 5
        flags_at = _int_end(data, ack_at)
        if flags_at < 0 or data[flags_at] >= 0x80:
            # Flags as a wider int than a fixint is valid msgpack, but followers
            # are matched by their one flags byte: such a run takes the decoder.
            return False
        rest_at = flags_at + 1
        # The datagram ends [bin header][payload][0xce crc32]: check that layout
        # (the header, the CRC) rather than assume it.
        size = len(data)
        header = (b"\xc4" + bytes((n,))) if n < 256 else (b"\xc5" + n.to_bytes(2, "big"))
        bin_at = size - 5 - n - len(header)
        if (
            bin_at <= rest_at
            or data[size - 5] != 0xCE
            or not data.startswith(header, bin_at)
            or crc32(memoryview(data)[1 : size - 5]) != int.from_bytes(data[size - 4 :], "big")
        ):
            return False
        self._prefix = data[:i]
        self._ack_bytes = data[ack_at:flags_at]
        self._rest = data[rest_at:bin_at]
        self._flags_at = flags_at
        return True

    def _follower(self, data: bytes) -> bytes | None:
        """The payload of ``data`` if it is the run's next segment, byte for byte
        the first's header but for SEG.SEQ, the flags, the length and the CRC."""
        i = len(self._prefix)
        ack_at = i + 5
        flags_at = self._flags_at
        rest_at = flags_at + 1
        bin_at = rest_at + len(self._rest)
        size = len(data)
        if (
            size <= bin_at + 2
            or data[i] != 0xCE
            # SEG.SEQ (a uint 32) byte by byte: compiled, cheaper than int.from_bytes
            or (data[i + 1] << 24 | data[i + 2] << 16 | data[i + 3] << 8 | data[i + 4]) != self._end
            or not data.startswith(self._prefix)
            or data[ack_at:flags_at] != self._ack_bytes
            or data[flags_at] & ~PSH != ACK  # ACK, or ACK+PSH (both one-byte fixints)
            or data[rest_at:bin_at] != self._rest
        ):
            return None
        kind = data[bin_at]
        if kind == 0xC5:  # bin 16
            start = bin_at + 3
            n = data[bin_at + 1] << 8 | data[bin_at + 2]
        elif kind == 0xC4:  # bin 8
            start = bin_at + 2
            n = data[bin_at + 1]
        else:
            return None
        end = start + n
        if (
            size != end + 5
            or not 0 < n <= self._size
            or self._total + n > MAX_PAYLOAD
            or data[end] != 0xCE
        ):
            return None
        crc = data[end + 1] << 24 | data[end + 2] << 16 | data[end + 3] << 8 | data[end + 4]
        # decode_segment's CRC rule: the value in its shortest form (> 0xFFFF
        # for 5 bytes), over the bytes between the array header and it (unless
        # the transport's filter checked it: ``crc_checked``).
        if crc <= 0xFFFF or (not self.crc_checked and crc32(memoryview(data)[1:end]) != crc):
            return None
        return data[start:end]

    def icmp_unreachable(self, addr: Address, now: float) -> None:
        """An ICMP unreachable in the batch: the run held (data that arrived
        before it) reaches the core first, as without coalescing (RFC 1122
        4.2.3.9 counts errors with nothing from the peer in between)."""
        self.finish(now)
        self.mux.receive_icmp_unreachable(addr, now)

    def finish(self, now: float) -> None:
        """Hand the run held (if any) to the core: the end of a batch."""
        first = self._first
        if first is None:
            return
        self._first = None
        self._open = self._template = False
        parts = self._parts
        self._parts = []
        count = len(parts)
        if count == 1:
            seg = first
        else:
            self.runs += 1
            self.merged += count - 1
            self.mux.stats["coalesced"] += count - 1
            seg = Segment(
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
        mux = self.mux
        mux.receive_segment(seg, self._wire, self._addr, now, self._ecn, count)
        if count > 1:
            conn = mux.connections.get(self._addr)
            if conn is not None:  # wire segments, as Linux's segs_in counts GRO's
                conn.stats.segments_received += count - 1
                if self._ecn == CE and conn.ecn.ok:  # every one of them was marked
                    conn.ecn.ce_received += count - 1
