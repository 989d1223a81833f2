"""emutcp: TCP (RFC 9293) implemented in Python, carried over UDP.

Each TCP segment travels as one msgpack-encoded UDP datagram.  The protocol
lives in a sans-IO core (``emutcp.core``); an endpoint task (trio or asyncio)
moves its datagrams over real UDP (``UdpHost``) or an emulated, impaired
network in virtual time (``EmulatedNetwork``).  Layers, top to bottom:
``tools/`` (the command), ``lab/`` (experiments), ``socket``/``stream``/``aio``
(the API: trio's and asyncio's),
``host``/``emulated`` (hosts), ``endpoint`` (the one I/O loop per transport),
``core/`` (sans-IO TCP) and ``transport/`` (datagrams only).  See README.md.
"""

from typing import TYPE_CHECKING

from .core import crc as _crc
from .core.config import Config
from .core.events import Event, SegmentRecord, TcpInfo, Transition
from .core.segment import COMPILED as _core_compiled
from .core.segment import MalformedSegment, Segment
from .core.state import State
from .emulated import EmulatedHost, EmulatedNetwork
from .host import Host, UdpHost, default_host, open_listeners, open_stream, serve, socket
from .socket import (
    IPPROTO_TCP,
    SHUT_RD,
    SHUT_RDWR,
    SHUT_WR,
    SO_KEEPALIVE,
    SO_LINGER,
    SO_RCVBUF,
    SO_REUSEADDR,
    SO_SNDBUF,
    SOL_SOCKET,
    TCP_CONGESTION,
    TCP_KEEPCNT,
    TCP_KEEPIDLE,
    TCP_KEEPINTVL,
    TCP_MAXSEG,
    TCP_NODELAY,
    TCP_USER_TIMEOUT,
    Socket,
)
from .transport import DatagramTransport
from .transport.link import GilbertElliott, LinkProfile

if TYPE_CHECKING:
    from .stream import SocketListener, SocketStream

__version__ = "0.1.0"
# True when the core runs as mypyc-compiled C extensions (EMUTCP_COMPILE=1 at
# install; docs/compiled.md), False for the pure-Python package.
COMPILED: bool = _core_compiled
# ... and which library computes the segment CRC (core/crc.py: "isal" with the
# fast extra, else "zlib"); benchmark titles and `emutcp --version` show both.
BUILD: str = ("mypyc-compiled core" if COMPILED else "pure Python") + f", {_crc.BACKEND} CRC"


def __getattr__(name: str) -> object:
    # The trio streams load trio: imported on first use, so that asyncio
    # programs (``emutcp.aio``) never import trio.
    if name in ("SocketListener", "SocketStream"):
        from . import stream

        return getattr(stream, name)
    raise AttributeError(f"module 'emutcp' has no attribute {name!r}")


__all__ = [
    "BUILD",
    "COMPILED",
    "IPPROTO_TCP",
    "SHUT_RD",
    "SHUT_RDWR",
    "SHUT_WR",
    "SOL_SOCKET",
    "SO_KEEPALIVE",
    "SO_LINGER",
    "SO_RCVBUF",
    "SO_REUSEADDR",
    "SO_SNDBUF",
    "TCP_CONGESTION",
    "TCP_KEEPCNT",
    "TCP_KEEPIDLE",
    "TCP_KEEPINTVL",
    "TCP_MAXSEG",
    "TCP_NODELAY",
    "TCP_USER_TIMEOUT",
    "Config",
    "DatagramTransport",
    "EmulatedHost",
    "EmulatedNetwork",
    "Event",
    "GilbertElliott",
    "Host",
    "LinkProfile",
    "MalformedSegment",
    "Segment",
    "SegmentRecord",
    "Socket",
    "SocketListener",
    "SocketStream",
    "State",
    "TcpInfo",
    "Transition",
    "UdpHost",
    "default_host",
    "open_listeners",
    "open_stream",
    "serve",
    "socket",
]
