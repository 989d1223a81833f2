"""Trace sinks: where transitions and segments go.

A tracer is any callable ``tracer(record, local, remote)`` where ``record`` is
a ``Transition``, a ``MetricsSample`` (cwnd, ssthresh, srtt, rto on every
ACK that moves the window) or a ``SegmentRecord`` (every segment sent or received, with
why it was sent: new data, retransmission (RTO n / fast / SACK recovery),
delayed ACK, duplicate ACK, window update, zero-window probe, challenge ACK,
RST and why) or a ``RecoveryEvent`` (an undo of a congestion response, a tail
loss probe).  Pass one as ``trace=`` to a host (``UdpHost(trace=...)``,
``net.add_host(..., trace=...)``).  This module provides:

* ``JsonlTrace(file)``: one JSON object per line, for programs;
* ``TextTrace(file)``: one readable line per transition and segment (what
  ``--trace`` prints on stderr), sequence numbers relative to each ISN or,
  with ``raw_seq=True``, as on the wire (to compare with tshark);
* ``CallbackTrace(fn)``: ``fn(dict)`` with the same objects, for notebooks;
* ``tee(*tracers)``: several sinks at once (a pcap writer is a tracer too).
"""

from __future__ import annotations

import json
import sys
from collections.abc import Callable
from typing import IO, Any

from .core.events import MetricsSample, RecoveryEvent, SegmentRecord, Transition

Address = tuple[str, int]
# A trace sink: called with each record (Transition, SegmentRecord or
# MetricsSample), the connection's local address and its peer's (None for a
# listener).
Tracer = Callable[[object, Address, Address | None], None]


def record_to_dict(record: object, local: Address, remote: Address | None) -> dict[str, Any]:
    """The JSON form of a trace record."""
    out: dict[str, Any] = {
        "time": getattr(record, "time", None),
        "local": f"{local[0]}:{local[1]}" if local else None,
        "remote": f"{remote[0]}:{remote[1]}" if remote else None,
    }
    if isinstance(record, Transition):
        out.update(kind="transition", old=str(record.old), new=str(record.new), cause=record.cause)
    elif isinstance(record, MetricsSample):
        out.update(
            kind="metrics",
            cwnd=record.cwnd,
            ssthresh=record.ssthresh,
            srtt=record.srtt,
            rto=record.rto,
            bytes_in_flight=record.bytes_in_flight,
        )
    elif isinstance(record, RecoveryEvent):
        out.update(kind="recovery", what=record.what)  # an undo or a tail loss probe
    elif isinstance(record, SegmentRecord):
        out.update(
            kind="segment",
            direction=record.direction,
            flags=record.flags,
            seq=record.seq,
            ack=record.ack,
            window=record.window,
            length=record.length,
            reason=record.reason,
        )
    return out


class TextTrace:
    """Readable lines, one per transition and segment::

        [0.000123] 127.0.0.1:40000 <-> 127.0.0.1:9000  CLOSED -> SYN-SENT  (connect: sent SYN)
        [0.000140] 127.0.0.1:40000 <-> 127.0.0.1:9000  send SYN seq=0 ack=0 win=65535 len=0  (SYN)

    ``target``: a text file (default ``sys.stderr``) or a path.  Sequence and
    acknowledgment numbers are relative to each side's ISN, as Wireshark shows
    them by default; ``raw_seq=True`` prints the absolute 32-bit numbers (as
    ``tshark -o tcp.relative_sequence_numbers:FALSE``).  ``metrics=True`` adds
    the cwnd/ssthresh/srtt samples."""

    def __init__(
        self, target: str | IO[str] | None = None, *, raw_seq: bool = False, metrics: bool = False
    ) -> None:
        self._file: IO[str]
        if isinstance(target, str):
            self._file = open(target, "w", encoding="utf-8")  # noqa: SIM115 - kept open
            self._owned = True
        else:
            self._file = target if target is not None else sys.stderr
            self._owned = False
        self.raw_seq = raw_seq
        self.metrics = metrics

    def format(self, record: object, local: Address, remote: Address | None) -> str | None:
        """The line for ``record``, or None for a record this trace skips."""
        where = f"{local[0]}:{local[1]}" + (f" <-> {remote[0]}:{remote[1]}" if remote else "")
        if isinstance(record, Transition):
            line = f"{record.old} -> {record.new}  ({record.cause})"
        elif isinstance(record, SegmentRecord):
            seq, ack = record.seq, record.ack
            if self.raw_seq and record.segment is not None:
                seq, ack = record.segment.seq, record.segment.ack
            line = (
                f"{'send' if record.direction == 'out' else 'recv'} {record.flags} "
                f"seq={seq} ack={ack} win={record.window} len={record.length}"
                + (f"  ({record.reason})" if record.reason else "")
            )
        elif isinstance(record, MetricsSample) and self.metrics:
            srtt = "-" if record.srtt is None else f"{record.srtt * 1000:.2f}ms"
            line = (
                f"cwnd={record.cwnd} ssthresh={record.ssthresh} srtt={srtt} "
                f"rto={record.rto * 1000:.0f}ms in_flight={record.bytes_in_flight}"
            )
        else:
            return None
        return f"[{record.time:.6f}] {where}  {line}"

    def __call__(self, record: object, local: Address, remote: Address | None) -> None:
        line = self.format(record, local, remote)
        if line is not None:
            print(line, file=self._file)

    def close(self) -> None:
        self._file.flush()
        if self._owned:
            self._file.close()


class CallbackTrace:
    def __init__(self, fn: Callable[[dict[str, Any]], object]) -> None:
        self.fn = fn

    def __call__(self, record: object, local: Address, remote: Address | None) -> None:
        self.fn(record_to_dict(record, local, remote))


class JsonlTrace:
    """Write every record as a JSON line to ``target`` (a path or a text file)."""

    def __init__(self, target: str | IO[str]) -> None:
        self._file: IO[str]
        if isinstance(target, str):
            self._file = open(target, "w", encoding="utf-8")  # noqa: SIM115 - kept open
            self._owned = True
        else:
            self._file = target
            self._owned = False

    def __call__(self, record: object, local: Address, remote: Address | None) -> None:
        self._file.write(json.dumps(record_to_dict(record, local, remote)) + "\n")

    def close(self) -> None:
        self._file.flush()
        if self._owned:
            self._file.close()


def tee(*tracers: Tracer | None) -> Tracer | None:
    """One tracer that calls each of ``tracers`` (``None``s skipped)."""
    live = tuple(t for t in tracers if t is not None)
    if not live:
        return None
    if len(live) == 1:
        return live[0]

    def fan_out(record: object, local: Address, remote: Address | None) -> None:
        for t in live:
            t(record, local, remote)

    return fan_out


def read_jsonl(path: str) -> list[dict[str, Any]]:
    with open(path, encoding="utf-8") as f:
        return [json.loads(line) for line in f if line.strip()]
