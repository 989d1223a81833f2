"""Stream-pair makers shared by the stream tests (real loopback and emulated)."""

from __future__ import annotations

import emutcp
from emutcp.testing import clog, stream_pair

SMALL = emutcp.Config(mss=1000, send_buffer=4000, recv_buffer=4000)

__all__ = ["SMALL", "clog", "stream_pair"]
