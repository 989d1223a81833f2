"""A link's impairment profile: what ``Link`` (link.py) does to each datagram.

Plain, validated data: ``LinkProfile`` checks every value when it is made and
raises ValueError with a one-line reason, so a bad ``--loss`` or experiment key
fails before anything runs.  It lives apart from the link model so that the
model can be compiled (docs/compiled.md) while the profile stays ordinary
Python that users construct and ``dataclasses.replace``.
"""

from __future__ import annotations

import random
from collections.abc import Iterable
from dataclasses import dataclass, field, fields
from typing import Any

from .qdisc import Qdisc, make_qdisc


def validate_drops(drops: Iterable[object]) -> tuple[int, ...]:
    """The data-packet numbers of a ``drop`` list: whole numbers from 1 (raises
    ValueError with a one-line reason otherwise)."""
    if isinstance(drops, str | bytes) or not isinstance(drops, Iterable):
        raise ValueError(f"drop: expected a list of packet numbers, got {drops!r}")
    out = []
    for n in drops:
        if isinstance(n, bool) or not isinstance(n, int) or n < 1:
            raise ValueError(f"drop: data packets count from 1; {n!r} is not one of them")
        out.append(n)
    return tuple(sorted(set(out)))


@dataclass(frozen=True, slots=True, kw_only=True)
class GilbertElliott:
    """Two-state burst loss: p = P(good->bad), r = P(bad->good) per datagram."""

    p: float
    r: float
    loss_good: float = 0.0
    loss_bad: float = 1.0

    @property
    def average_loss(self) -> float:
        bad = self.p / (self.p + self.r)
        return bad * self.loss_bad + (1 - bad) * self.loss_good


@dataclass(frozen=True, slots=True, kw_only=True)
class LinkProfile:
    """Impairments of one direction of a link."""

    loss: float = 0.0
    burst: GilbertElliott | None = None
    delay: float = 0.0
    jitter: float = 0.0
    jitter_reorders: bool = False
    reorder: float = 0.0
    reorder_gap: int = 3
    duplicate: float = 0.0
    corrupt: float = 0.0
    truncate: float = 0.0
    rate: float | None = None  # bits per second
    queue: int | None = None  # packets waiting for the wire (drop-tail)
    queue_bytes: int | None = None
    mtu: int | None = None  # datagrams larger than this are dropped
    outages: tuple[tuple[float, float], ...] = ()  # (start, end) in trio time
    drop_nth: frozenset[int] = frozenset()  # scripted drops: 0-based datagram numbers
    # Scripted drops of data-carrying datagrams, numbered from 1 in the order they
    # enter the link (retransmissions included); the Link's ``is_data`` tells them.
    drop: tuple[int, ...] = ()
    # Queue discipline (qdisc.QDISCS) and its parameters; None: closed-form drop-tail.
    qdisc: str | None = None
    qdisc_params: dict[str, Any] = field(default_factory=dict)
    # An AQM marks ECN-capable datagrams CE instead of dropping them (RFC 3168 5).
    ecn: bool = True

    def __post_init__(self) -> None:
        for name in ("loss", "reorder", "duplicate", "corrupt", "truncate"):
            v = getattr(self, name)
            if not 0.0 <= v <= 1.0:
                raise ValueError(f"{name} must be a probability in [0, 1], got {v}")
        if self.delay < 0 or self.jitter < 0:
            raise ValueError("delay and jitter must be >= 0")
        if self.rate is not None and self.rate <= 0:
            raise ValueError("rate must be > 0 bits/s")
        object.__setattr__(self, "drop", validate_drops(self.drop))
        if self.qdisc is not None:
            self.make_qdisc(random.Random(0))  # unknown names and bad parameters fail now

    def make_qdisc(self, rng: random.Random) -> Qdisc:
        """A fresh instance of this profile's discipline (``queue``/``queue_bytes``
        are its limits)."""
        assert self.qdisc is not None
        params: dict[str, Any] = {"rate": self.rate, "rng": rng, "ecn": self.ecn}
        if self.queue is not None:
            params["limit"] = self.queue
        if self.queue_bytes is not None:
            params["limit_bytes"] = self.queue_bytes
        return make_qdisc(self.qdisc, **(params | self.qdisc_params))


PROFILE_FIELDS = frozenset(f.name for f in fields(LinkProfile))
