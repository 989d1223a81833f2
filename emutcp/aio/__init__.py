"""emutcp for asyncio: the same TCP, with asyncio's names and semantics.

Under ``asyncio.run`` (trio is never imported):

* ``open_connection`` / ``start_server``: asyncio's ``StreamReader`` and
  ``StreamWriter`` over emutcp;
* ``create_connection`` / ``create_server``: any ``asyncio.Protocol`` driven
  through an ``asyncio.Transport`` (``SocketTransport``), so libraries built
  on protocols (aiohttp's server, asyncio streams) run unchanged;
* ``run_virtual(main())``: ``asyncio.run`` on a virtual, autojumping clock
  (``VirtualTimeLoop``), as trio's ``MockClock(autojump_threshold=0)``: an
  emulated network's minute takes a moment, the same seed the same run;
* ``socket()``: the socket calls of ``emutcp.socket()`` (the same ``Socket``
  class: ``bind``, ``connect``, ``accept``, ``send``, ``recv`` are coroutines;
  ``state``, ``transitions``, ``info()``).

Every call takes the emutcp ``Host`` to use by keyword (``emu_host=``, or
``host=`` for ``socket``): an ``EmulatedNetwork`` host runs on asyncio's clock
(real, or virtual under ``run_virtual``); the default is this machine over
real UDP.  The protocol is the one sans-IO core, driven by the one endpoint
loop (``endpoint.py``), which waits through asyncio's primitives here and
trio's under trio.
"""

from __future__ import annotations

from ..core.config import Config
from ..host import Host, default_host
from ..socket import Socket
from .server import Server, create_connection, create_server
from .streams import open_connection, start_server
from .transport import SocketTransport
from .virtual import VirtualTimeLoop, run_virtual

__all__ = [
    "Server",
    "SocketTransport",
    "VirtualTimeLoop",
    "create_connection",
    "create_server",
    "default_host",
    "open_connection",
    "run_virtual",
    "socket",
    "start_server",
]


def socket(host: Host | None = None, config: Config | None = None) -> Socket:
    """A new emutcp socket on ``host`` (default: this machine over real UDP)."""
    return (host if host is not None else default_host()).socket(config)
