"""Initial sequence numbers (RFC 9293 3.4.1, after RFC 6528).

ISN: Final = M + F(localip, localport, remoteip, remoteport, secretkey), where M is a
timer ticking every 4 microseconds and F a keyed hash.  The same 4-tuple gets
ISNs that move forward with the clock (so old duplicates from an earlier
incarnation fall behind the new window), while different 4-tuples get
unrelated ISNs, so an off-path attacker cannot predict one from another.  The
secret comes from the injected RNG, so a seeded run is reproducible.
"""

from __future__ import annotations

import hashlib
import random

from .seq import SEQ_MASK


class IsnGenerator:
    __slots__ = ("_secret",)

    def __init__(self, rng: random.Random) -> None:
        self._secret = rng.getrandbits(128).to_bytes(16, "big")

    def isn(self, local: tuple[str, int], remote: tuple[str, int], now: float) -> int:
        clock = int(now * 250_000)  # RFC 9293 3.4.1: M ticks every 4 us
        key = f"{local[0]}|{local[1]}|{remote[0]}|{remote[1]}".encode()
        digest = hashlib.blake2b(key, key=self._secret, digest_size=4).digest()
        return (clock + int.from_bytes(digest, "big")) & SEQ_MASK
