"""``emutcp ss``: every emutcp socket of this user's processes, like ``ss -tani``.

Each emutcp process serves its own socket table (``emutcp.registry``); this
reads them all, filters by state and port, and prints them as ``ss`` does:
one line per socket, then its TCP details indented (cwnd, ssthresh, srtt,
rto, retransmits, the next timer and the time left), or ``--json``.
"""

from __future__ import annotations

import json
import sys
import time
from typing import Any

from ..registry import read_tables

# ss's short names, and the words a user may type for them.
SHORT = {
    "ESTABLISHED": "ESTAB",
    "SYN-SENT": "SYN-SENT",
    "SYN-RECEIVED": "SYN-RECV",
    "FIN-WAIT-1": "FIN-WAIT-1",
    "FIN-WAIT-2": "FIN-WAIT-2",
    "CLOSE-WAIT": "CLOSE-WAIT",
    "CLOSING": "CLOSING",
    "LAST-ACK": "LAST-ACK",
    "TIME-WAIT": "TIME-WAIT",
    "CLOSED": "UNCONN",
    "LISTEN": "LISTEN",
}
ALIASES = {"estab": "ESTABLISHED", "syn-recv": "SYN-RECEIVED", "listening": "LISTEN"}
STATES = frozenset(SHORT)


def normalize_state(text: str) -> str:
    """A state as the user typed it (``estab``, ``time_wait``, ``TIME-WAIT``)."""
    word = text.strip().lower().replace("_", "-")
    state = ALIASES.get(word, word.upper())
    if state not in STATES:
        raise ValueError(f"unknown state {text!r} (one of {', '.join(sorted(STATES))})")
    return state


def collect(*, states: set[str] | None = None, port: int | None = None) -> list[dict[str, Any]]:
    rows = []
    for table in read_tables():
        for row in table.get("sockets", []):
            row = {**row, "command": table.get("command", "")}
            if states and row["state"] not in states:
                continue
            if port is not None and port not in (_port(row["local"]), _port(row["remote"])):
                continue
            rows.append(row)
    rows.sort(key=lambda r: (r["state"] != "LISTEN", r["pid"], r["local"], r["remote"]))
    return rows


def _port(addr: str) -> int | None:
    tail = addr.rpartition(":")[2]
    return int(tail) if tail.isdigit() else None


def _details(row: dict[str, Any]) -> str:
    if row["state"] == "LISTEN":
        return ""
    parts = [str(row.get("congestion") or "")]
    parts.append(f"mss:{row['mss']}")
    if row.get("srtt_ms") is not None:
        parts.append(f"rtt:{row['srtt_ms']:.3f}/{row.get('rttvar_ms') or 0:.3f}")
    parts.append(f"rto:{row['rto_ms']:.0f}")
    parts.append(f"cwnd:{row['cwnd']}")
    if row.get("ssthresh") is not None:
        parts.append(f"ssthresh:{row['ssthresh']}")
    parts.append(f"bytes_acked:{row['bytes_acked']} bytes_received:{row['bytes_received']}")
    parts.append(f"unacked:{row['bytes_in_flight']} retrans:{row['retransmits']}")
    timer = row.get("timer")
    if timer:
        parts.append(f"timer:({timer['name'].replace('-', '')},{_left(timer['left'])})")
    return " ".join(p for p in parts if p)


def _left(seconds: float) -> str:
    return f"{seconds:.0f}sec" if seconds >= 10 else f"{seconds * 1000:.0f}ms"


def render(rows: list[dict[str, Any]]) -> str:
    header = f"{'State':<11}{'Recv-Q':>7}{'Send-Q':>8}  {'Local Address:Port':<24}"
    header += f"{'Peer Address:Port':<24}Process"
    lines = [header]
    for r in rows:
        lines.append(
            f"{SHORT.get(r['state'], r['state']):<11}{r['recv_q']:>7}{r['send_q']:>8}  "
            f"{r['local']:<24}{r['remote']:<24}pid={r['pid']} {r.get('command', '')}".rstrip()
        )
        details = _details(r)
        if details:
            lines.append("\t " + details)
    return "\n".join(lines)


def ss_main(
    *, states: set[str] | None, port: int | None, as_json: bool, watch: float | None
) -> int:
    while True:
        rows = collect(states=states, port=port)
        out = json.dumps(rows) if as_json else render(rows)
        if watch is None:
            print(out, flush=True)
            return 0
        if not as_json and sys.stdout.isatty():
            print("\x1b[H\x1b[2J", end="")  # clear the screen, as watch(1) does
        print(out, flush=True)
        time.sleep(watch)
