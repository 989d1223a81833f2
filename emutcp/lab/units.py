"""Units for experiment parameters: rates, durations and queue sizes.

One place for the conversions every experiment front end needs (the CLI's
``--rate 10mbit``, TOML files, the relay's flags) and for the one formula
that sizes a drop-tail queue in bandwidth-delay products.
"""

from __future__ import annotations

import re

_DURATION_UNITS = {"": 1.0, "s": 1.0, "ms": 1e-3, "us": 1e-6}
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
# emutcp's framing per datagram (msgpack header, CRC), roughly: what a queue
# sized in packets of MSS bytes must also hold.
WIRE_OVERHEAD = 40


def parse_duration(text: str | float) -> float:
    """'40ms' -> 0.04, '1.5s' -> 1.5, '0.2' -> 0.2 (seconds)."""
    m = re.fullmatch(r"\s*([0-9.eE+-]+)\s*(s|ms|us)?\s*", str(text))
    if not m:
        raise ValueError(f"not a duration: {text!r} (try 40ms or 0.04)")
    return float(m.group(1)) * _DURATION_UNITS[m.group(2) or ""]


def parse_rate(text: str | float) -> float:
    """'10mbit' / '10M' -> 1e7 bits per second."""
    m = re.fullmatch(r"\s*([0-9.eE+-]+)\s*([a-zA-Z]*)\s*", str(text))
    unit = (m.group(2) if m else "").lower()
    if not m or unit not in _RATE_UNITS:
        raise ValueError(f"not a rate: {text!r} (try 10mbit)")
    return float(m.group(1)) * _RATE_UNITS[unit]


_SIZE_UNITS = {
    "": 1,
    "b": 1,
    "k": 1 << 10,
    "kb": 1 << 10,
    "m": 1 << 20,
    "mb": 1 << 20,
    "g": 1 << 30,
}


def parse_size(text: str | int) -> int:
    """'256K' -> 262144, '4M' -> 4194304, '1500' -> 1500 bytes (binary units, as iperf3)."""
    m = re.fullmatch(r"\s*([0-9.eE+]+)\s*([a-zA-Z]*)\s*", str(text))
    unit = (m.group(2) if m else "").lower()
    if not m or unit not in _SIZE_UNITS:
        raise ValueError(f"not a size: {text!r} (try 256K or 4M)")
    return int(float(m.group(1)) * _SIZE_UNITS[unit])


def parse_queue(text: str | float) -> tuple[str, float]:
    """A queue size: '50' or '50p' packets, '64K' / '96KB' / '1500b' bytes,
    '0.5bdp' bandwidth-delay products -> ("packets" | "bytes" | "bdp", size)."""
    t = str(text).strip().lower()
    try:
        if t.endswith("bdp"):
            kind, size = "bdp", float(t[:-3])
        elif t.endswith(("p", "pkt", "pkts", "packets")):
            kind, size = "packets", float(t.rstrip("acdeikpst") or "x")
        elif t[-1:].isalpha():
            kind, size = "bytes", float(parse_size(t))
        else:
            kind, size = "packets", float(t)
    except ValueError:
        raise ValueError(f"not a queue size: {text!r} (try 50, 64KB or 0.5bdp)") from None
    if size <= 0:
        raise ValueError(f"a queue size must be > 0, got {text!r}")
    return kind, size


def bdp_bytes(rate: float, rtt: float) -> float:
    """The bandwidth-delay product of ``rate`` bits/s and ``rtt`` seconds, in bytes."""
    return rate * rtt / 8


def bdp_queue(rate: float, rtt: float, mss: int, *, bdps: float = 1.0, minimum: int = 4) -> int:
    """A drop-tail queue of ``bdps`` bandwidth-delay products, in packets of one
    full segment (``mss`` plus emutcp's framing), never below ``minimum``."""
    return max(minimum, int(bdps * bdp_bytes(rate, rtt) / (mss + WIRE_OVERHEAD)))
