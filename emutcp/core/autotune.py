"""Receive- and send-buffer autotuning, after Linux's dynamic right sizing.

Theory of operation
-------------------
A fixed buffer caps a flow at buffer/RTT: 256 KiB over 100 ms is 21 Mbit/s.
Linux sizes both buffers per connection instead, between an initial size
(``tcp_rmem[1]``/``tcp_wmem[1]``, here ``Config.recv_buffer``/
``send_buffer``) and a ceiling (``tcp_rmem[2]``/``tcp_wmem[2]``, here
``recv_buffer_max``/``send_buffer_max``, MiB by default).  Buffers here are
bytearrays that hold only what is queued, so a large capacity costs memory
only while data is actually waiting.

* Receive side (``RecvAutotune``, Linux's tcp_rcv_space_adjust): once per
  receiver RTT it measures how many bytes the application read; if that
  beat the previous round's figure, the buffer becomes twice that (plus
  slack for 16 segments, and more while the rate is still rising, as slow
  start doubles each round), so the advertised window stays ahead of the
  sender.  Measuring what the application *read* keeps a slow reader from
  growing the buffer.  The receiver's RTT comes from the timestamps it gets
  echoed (RFC 7323 4.2; Linux's rcv_rtt_est), else the sender-side SRTT.
* Send side (Linux's tcp_sndbuf_expand): the buffer holds at least twice
  cwnd, so the application can keep the window full while what is in flight
  waits for its ACK.

Either side stops tuning for a socket whose application set the size
(``SO_RCVBUF``/``SO_SNDBUF``; ``autotune_recv``/``autotune_send`` off).
Buffers only grow, as on Linux.
"""

from __future__ import annotations

from typing import Final

DEFAULT_RTT: Final = 0.1  # until the receiver has any RTT estimate


class RecvAutotune:
    __slots__ = ("ceiling", "copied", "rtt", "space", "t0")

    def __init__(self, *, ceiling: int, now: float) -> None:
        self.ceiling = ceiling  # recv_buffer_max; 0: tuning off
        self.space = 0  # bytes read in the last measured round (rcvq_space.space)
        self.copied = 0  # bytes read in this round
        self.t0 = now  # when this round started
        self.rtt: float | None = None  # receiver's RTT estimate (min of samples)

    def rtt_sample(self, rtt: float) -> None:
        """An RTT measured from an echoed timestamp (RFC 7323 4.2)."""
        if rtt > 0:
            self.rtt = rtt if self.rtt is None else min(self.rtt, rtt)

    def read(self, n: int, now: float, capacity: int, mss: int, srtt: float | None) -> int:
        """The application read ``n`` bytes at ``now``: the buffer size to use."""
        self.copied += n
        rtt = self.rtt or srtt or DEFAULT_RTT
        if not self.ceiling or now - self.t0 < rtt:
            return capacity
        copied, space = self.copied, self.space
        self.copied, self.t0 = 0, now
        if copied <= space:
            return capacity
        self.space = copied
        target = 2 * copied + 16 * mss
        if space:
            # Still accelerating: grow by the round's relative growth once more.
            target += 2 * target * (copied - space) // space
        return max(capacity, min(target, self.ceiling))


def send_buffer_size(capacity: int, cwnd: int, ceiling: int) -> int:
    """Linux's tcp_sndbuf_expand: at least twice cwnd, up to the ceiling."""
    return max(capacity, min(2 * cwnd, ceiling))
