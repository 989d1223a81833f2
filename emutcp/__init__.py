"""emutcp: TCP (RFC 9293) implemented in Python, carried over UDP.

Each TCP segment travels as one msgpack-encoded UDP datagram.  The protocol
lives in a sans-IO core (``emutcp.core``); a trio endpoint task moves its
datagrams over real UDP (``UdpHost``) or an emulated, impaired network in
virtual time (``EmulatedNetwork``).  See README.md and DESIGN.md.
"""

from .core.config import Config
from .core.events import Event, SegmentRecord, TcpInfo, Transition
from .core.segment import MalformedSegment, Segment
from .core.state import State
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
from .stream import SocketListener, SocketStream
from .transport.emulated import EmulatedHost, EmulatedNetwork, GilbertElliott, LinkProfile

__version__ = "0.1.0"

__all__ = [
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
