"""What the plots draw, recorded from a trace while a run goes.

``SeriesRecorder`` is a tracer (see ``emutcp.trace``).  It keeps every
flow's metrics samples (time, cwnd, ssthresh, srtt, bytes in flight), and for
the first flow that sends data what a tcptrace time-sequence graph needs:
each data segment sent (time, relative sequence number, length) and each ACK
received (time, relative ACK, the receive window's right edge, SACK blocks
made relative).  ``load_trace`` builds the same from a JSON Lines trace.
"""

from __future__ import annotations

from typing import Any

from ..core.events import MetricsSample, SegmentRecord

Address = tuple[str, int]
_MASK = 0xFFFFFFFF


def flow_key(local: Address | str | None, remote: Address | str | None) -> str:
    def text(a: Address | str | None) -> str:
        return a if isinstance(a, str) else (f"{a[0]}:{a[1]}" if a else "*")

    return f"{text(local)} -> {text(remote)}"


class SeriesRecorder:
    def __init__(self) -> None:
        self.flows: dict[str, list[tuple[float, int, int, float | None, int]]] = {}
        self.segments: list[tuple[float, int, int]] = []
        self.acks: list[tuple[float, int, int, list[tuple[int, int]]]] = []
        self.first: str | None = None
        self._isn: int | None = None

    def __call__(self, record: object, local: Address, remote: Address | None) -> None:
        if remote is None:
            return
        key = flow_key(local, remote)
        if isinstance(record, MetricsSample):
            self.flows.setdefault(key, []).append(
                (record.time, record.cwnd, record.ssthresh, record.srtt, record.bytes_in_flight)
            )
            return
        if not isinstance(record, SegmentRecord):
            return
        if self.first is None and record.direction == "out" and record.length:
            self.first = key
        if key != self.first:
            return
        seg = record.segment
        if record.direction == "out":
            if seg is not None and self._isn is None:
                self._isn = (seg.seq - record.seq) & _MASK
            if record.length:
                self.segments.append((record.time, record.seq, record.length))
        elif "ACK" in record.flags:
            sacks: list[tuple[int, int]] = []
            if seg is not None and self._isn is not None:
                isn = self._isn
                sacks = [((a - isn) & _MASK, (b - isn) & _MASK) for a, b in seg.options.sack_blocks]
            self.acks.append((record.time, record.ack, record.ack + record.window, sacks))

    def as_dict(self) -> dict[str, Any]:
        return {"flows": self.flows, "segments": self.segments, "acks": self.acks}


def load_trace(records: list[dict[str, Any]]) -> dict[str, Any]:
    """Per-flow metrics from a JSON Lines trace (``--trace FILE``): cwnd,
    ssthresh, srtt and in-flight over time, keyed by "local -> remote"."""
    flows: dict[str, list[tuple[float, int, int, float | None, int]]] = {}
    for r in records:
        if r.get("kind") == "metrics":
            flows.setdefault(flow_key(r["local"], r["remote"]), []).append(
                (r["time"], r["cwnd"], r["ssthresh"], r["srtt"], r["bytes_in_flight"])
            )
    return {"flows": flows}
