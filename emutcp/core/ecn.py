"""Explicit Congestion Notification for one connection (RFC 3168 6.1).

Theory of operation
-------------------
The ECN field travels beside each datagram (the transport carries it, as
QUIC does, RFC 9000 13.4); the TCP header carries the ECE and CWR flags.
``EcnState`` holds both halves of the protocol and the TCB calls it at a
few points:

* Negotiation (6.1.1): with ``Config(ecn=True)`` the SYN carries ECE+CWR;
  a listener that wants ECN answers a SYN with both flags by a SYN+ACK
  with ECE only; a SYN+ACK with ECE and not CWR completes it (``ok``).
* Sending (6.1.4, 6.1.5): new data segments go out ECT(0); pure ACKs,
  retransmissions, SYNs and RSTs go out Not-ECT.
* Receiving (6.1.3): a CE-marked segment makes every ACK we send carry
  ECE until a segment with CWR arrives.
* Reacting (6.1.2): an ECE on an ACK makes the sender respond as to a
  loss (``CongestionController.on_ecn_ce``), at most once per window of
  data, not while loss recovery already cut the window, and mark the next
  new data segment CWR.  A controller with ``handles_ece`` (DCTCP) does
  its own bookkeeping in ``on_ecn_ack`` and the halving is skipped.
"""

from __future__ import annotations

from typing import Final

from .segment import CWR, ECE
from .seq import seq_gt

# The ECN field (RFC 3168 5).
NOT_ECT: Final = 0
ECT1: Final = 1
ECT0: Final = 2
CE: Final = 3


class EcnState:
    __slots__ = (
        "ce_received",
        "cwr_pending",
        "ece_pending",
        "ece_received",
        "enabled",
        "mirror_ce",
        "ok",
        "recover",
        "reductions",
    )

    def __init__(self, enabled: bool) -> None:
        self.enabled = enabled  # Config.ecn: we want it
        self.ok = False  # negotiated on the handshake
        self.ece_pending = False  # receiver: echo ECE until CWR arrives
        self.cwr_pending = False  # sender: mark the next new data segment CWR
        # RFC 8257 3.2: a DCTCP receiver echoes each data segment's CE state
        # instead of holding ECE until CWR (set when our controller is DCTCP).
        self.mirror_ce = False
        self.recover: int | None = None  # SND.MAX at the last reduction
        self.ce_received = 0  # CE-marked segments that reached us
        self.ece_received = 0  # ACKs carrying ECE
        self.reductions = 0  # windows reduced in response to ECE

    # -------------------------------------------------------------- handshake

    def syn_flags(self, answering: bool) -> int:
        """ECN flags of our SYN (ECE+CWR) or SYN+ACK (ECE if the peer asked)."""
        if not self.enabled:
            return 0
        if answering:
            return ECE if self.ok else 0
        return ECE | CWR  # RFC 3168 6.1.1: an ECN-setup SYN

    def peer_syn(self, flags: int) -> None:
        """The peer's SYN: it asks for ECN with ECE and CWR both set."""
        self.ok = self.enabled and flags & (ECE | CWR) == ECE | CWR

    def peer_syn_ack(self, flags: int) -> None:
        """The peer's SYN+ACK: ECE without CWR accepts ours (RFC 3168 6.1.1)."""
        self.ok = self.enabled and flags & (ECE | CWR) == ECE

    # ---------------------------------------------------------------- receive

    def arrived(self, flags: int, ecn: int) -> None:
        """A segment arrived with ``ecn`` in its ECN field (RFC 3168 6.1.3)."""
        if not self.ok:
            return
        if ecn == CE:
            self.ce_received += 1
        if self.mirror_ce:
            if ecn != NOT_ECT:  # data: ECE says whether this one was marked
                self.ece_pending = ecn == CE
            return
        if flags & CWR:
            self.ece_pending = False  # the sender has reduced: stop echoing
        if ecn == CE:
            self.ece_pending = True

    def ack_flags(self) -> int:
        return ECE if self.ece_pending else 0

    # ------------------------------------------------------------------- send

    def data_flags(self) -> int:
        """CWR for the first new data segment after a reduction (RFC 3168 6.1.2)."""
        if self.cwr_pending:
            self.cwr_pending = False
            return CWR
        return 0

    def should_reduce(self, ack: int, in_recovery: bool) -> bool:
        """An ACK with ECE arrived: reduce now?  Once per window (the window ends
        when ``ack`` passes SND.MAX as it was at the last reduction), and not
        during loss recovery, which has cut the window already (RFC 3168 6.1.2)."""
        self.ece_received += 1
        same_window = self.recover is not None and not seq_gt(ack, self.recover)
        return not (in_recovery or same_window)

    def reduced(self, snd_max: int) -> None:
        self.recover = snd_max
        self.cwr_pending = True
        self.reductions += 1
