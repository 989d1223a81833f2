"""TCP knobs: one frozen dataclass, shared by the core and the shells."""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass
from typing import Any, Final

from .algorithms import check_name

DEFAULT_BUFFER: Final = 256 * 1024


@dataclass(frozen=True, slots=True, kw_only=True)
class Config:
    # Payload bytes per segment we accept and send at most (advertised as the MSS
    # option, RFC 9293 3.7.1).  1400 keeps one segment inside a 1500-byte MTU.
    mss: int = 1400
    # Maximum segment lifetime; TIME-WAIT lasts 2*MSL (RFC 9293 3.4.2).  30 s, so
    # TIME-WAIT is 60 s as on Linux.
    msl: float = 30.0
    # Initial buffer sizes; autotuning (autotune.py, Linux's dynamic right sizing)
    # grows them up to the ceilings (Linux tcp_rmem[2] 6 MiB, tcp_wmem[2] 4 MiB).
    # A size set here (or by SO_RCVBUF/SO_SNDBUF) stays fixed, as on Linux, unless
    # autotune_* is also set to True; None means exactly that default.
    send_buffer: int = DEFAULT_BUFFER
    recv_buffer: int = DEFAULT_BUFFER
    send_buffer_max: int = 4 << 20
    recv_buffer_max: int = 6 << 20
    autotune_send: bool | None = None
    autotune_recv: bool | None = None
    congestion: str = "newreno"
    # Space segments at the controller's pacing rate (Linux: 2x cwnd/srtt in slow
    # start, 1.2x after; BBR's own).  None: the algorithm's default (on for BBR).
    pacing: bool | None = None
    initial_window: int = 10  # segments (RFC 6928)
    nodelay: bool = False  # True disables Nagle's algorithm (RFC 9293 3.7.4)
    # Delayed ACK timeout; RFC 9293 3.8.6.3 says < 0.5 s, the issue asks <= 0.2 s.
    # 40 ms is Linux's TCP_DELACK_MIN and keeps Nagle/delayed-ACK stalls short.
    delayed_ack: float = 0.04
    initial_rto: float = 1.0  # RFC 6298 2.1
    rto_min: float = 1.0  # RFC 6298 2.4 (Linux uses 0.2)
    rto_max: float = 60.0  # RFC 6298 2.5: at least 60 s
    max_retries: int = 15  # R2 for data, in retransmissions (Linux tcp_retries2)
    # R2 for a SYN, in retransmissions (Linux tcp_syn_retries).  RFC 1122 4.2.3.5
    # wants at least 3 minutes: with the default RTOs (1 s doubling, capped at
    # rto_max 60 s) the SYN goes out at 0, 1, 3, 7, 15, 31, 63 and 123 s and the
    # connect gives up at 183 s.  (Linux's 6 makes 127 s under its 120 s cap.)
    syn_retries: int = 7
    user_timeout: float | None = None  # RFC 9293 3.8.3 USER TIMEOUT, seconds
    window_scaling: bool = True  # RFC 7323 2
    timestamps: bool = True  # RFC 7323 3-5: RTTM and PAWS
    sack: bool = True  # RFC 2018 SACK with RFC 6675 loss recovery
    # Loss detection with SACK: "rack" (RACK-TLP, RFC 8985, with PRR, RFC 6937),
    # as Linux, or "rfc6675" (DupThresh and IsLost).  Without SACK: NewReno.
    recovery: str = "rack"
    frto: bool = True  # RFC 5682 F-RTO with the RFC 4015 response (Linux tcp_frto)
    dsack: bool = True  # RFC 2883 D-SACK reporting (Linux net.ipv4.tcp_dsack)
    ecn: bool = False  # RFC 3168: negotiate ECN on the SYN, react to CE marks
    limited_transmit: bool = True  # RFC 3042
    dupthresh: int = 3  # RFC 5681 / RFC 6675 DupThresh
    keepalive: bool = False
    # Packetization-layer PMTUD (RFC 4821 / RFC 8899): detect black holes and
    # probe for larger segments.  None lets the host decide: on over real UDP,
    # off on the emulated network (experiments compare with stacks without it).
    plpmtud: bool | None = None
    keepalive_idle: float = 7200.0
    keepalive_interval: float = 75.0
    keepalive_count: int = 9
    # Limits that keep a hostile peer from exhausting memory.
    max_syn_backlog: int = 256
    max_connections: int = 10_000
    # Challenge ACKs per second per connection (RFC 5961 7).
    challenge_ack_limit: int = 10
    # At most one ACK per this interval answers out-of-window pure ACKs (ACK loops;
    # Linux's tcp_invalid_ratelimit is 0.5 s).
    invalid_ack_interval: float = 0.5

    def replace(self, **changes: Any) -> Config:  # values of any field type
        return dataclasses.replace(self, **changes)

    @property
    def recv_window_ceiling(self) -> int:
        """The largest receive buffer this connection may reach (sets the window scale)."""
        if self.autotune_recv:
            return max(self.recv_buffer, self.recv_buffer_max)
        return self.recv_buffer

    def __post_init__(self) -> None:
        if self.autotune_send is None:  # tune only the default size (see above)
            object.__setattr__(self, "autotune_send", self.send_buffer == DEFAULT_BUFFER)
        if self.autotune_recv is None:
            object.__setattr__(self, "autotune_recv", self.recv_buffer == DEFAULT_BUFFER)
        if not 64 <= self.mss <= 65_000:
            raise ValueError(f"mss must be in [64, 65000], got {self.mss}")
        if self.send_buffer < self.mss or self.recv_buffer < self.mss:
            raise ValueError("send_buffer and recv_buffer must hold at least one MSS")
        if max(self.recv_buffer, self.recv_buffer_max) > (65_535 << 14):
            raise ValueError("recv_buffer exceeds the largest scaled window (RFC 7323 2.3)")
        if not 0 < self.rto_min <= self.initial_rto <= self.rto_max:
            raise ValueError("need 0 < rto_min <= initial_rto <= rto_max")
        if self.recovery not in ("rack", "rfc6675"):
            raise ValueError(f"recovery must be 'rack' or 'rfc6675', got {self.recovery!r}")
        if self.msl <= 0 or self.delayed_ack < 0 or self.delayed_ack > 0.5:
            raise ValueError("msl must be > 0 and delayed_ack in [0, 0.5] s")
        check_name(self.congestion)  # lists the known algorithms
