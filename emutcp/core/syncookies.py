"""SYN cookies: answer SYNs without state when the half-open table is full.

When a listener's half-open table is full, the mux answers a SYN with a
SYN+ACK whose ISN *is* the state (the classic SYN-cookie design, as in
Linux; RFC 4987 3.6 describes it).  The cookie packs

    [ 5 bits time slot | 3 bits MSS index | 1 bit SACK-permitted |
      4 bits peer window scale (15 = none) | 19 bits MAC ]

where the MAC is a keyed BLAKE2b of the 4-tuple, the client's ISN and the
full time slot.  A time slot lasts 64 s and a cookie is accepted in its own
slot and the next, so a cookie lives 64 to 128 s.  Only the handshake's ACK
(SEG.ACK - 1 = cookie, SEG.SEQ - 1 = the client's ISN) can redeem it, and a
forged or stale one fails the MAC.  Timestamps are not encoded: a connection
made from a cookie runs without them; data on the SYN is never kept.
"""

from __future__ import annotations

import hashlib
import random
from typing import Final

Address = tuple[str, int]

SLOT: Final = 64.0
MSS_TABLE: Final = (536, 1000, 1220, 1400, 1440, 1460, 8960, 65000)
_NO_WSCALE: Final = 15


class SynCookies:
    __slots__ = ("_secret",)

    def __init__(self, rng: random.Random) -> None:
        self._secret = rng.getrandbits(128).to_bytes(16, "big")

    def _mac(self, local: Address, remote: Address, client_isn: int, slot: int) -> int:
        msg = f"{local[0]}|{local[1]}|{remote[0]}|{remote[1]}|{client_isn}|{slot}".encode()
        digest = hashlib.blake2b(msg, key=self._secret, digest_size=4).digest()
        return int.from_bytes(digest, "big") & 0x7FFFF

    def make(
        self,
        local: Address,
        remote: Address,
        client_isn: int,
        *,
        mss: int,
        wscale: int | None,
        sack: bool,
        now: float,
    ) -> int:
        slot = int(now // SLOT)
        mss_index = max(i for i, m in enumerate(MSS_TABLE) if m <= max(mss, MSS_TABLE[0]))
        ws = _NO_WSCALE if wscale is None else wscale
        head = ((slot & 0x1F) << 8) | (mss_index << 5) | (int(sack) << 4) | ws
        return (head << 19) | self._mac(local, remote, client_isn, slot)

    def check(
        self, local: Address, remote: Address, client_isn: int, cookie: int, now: float
    ) -> tuple[int, int | None, bool] | None:
        """(mss, wscale or None, sack) if ``cookie`` is genuine and fresh, else None."""
        head, mac = cookie >> 19, cookie & 0x7FFFF
        now_slot = int(now // SLOT)
        slot = now_slot - ((now_slot - (head >> 8)) & 0x1F)
        if now_slot - slot > 1 or self._mac(local, remote, client_isn, slot) != mac:
            return None
        ws = head & 0xF
        return MSS_TABLE[(head >> 5) & 0x7], None if ws == _NO_WSCALE else ws, bool(head & 0x10)
