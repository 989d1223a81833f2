"""Transports move datagrams; everything above them is the same code.

``DatagramTransport`` (base.py) is the protocol every transport implements:
``UdpTransport`` (real UDP), ``ImpairedTransport`` (real UDP through the link
model), ``EmulatedTransport`` (a socket on the emulated network);
``tun.py`` is a TUN device (IP packets only; ``emutcp/tun.py`` speaks TCP/IP
through it) and ``registry.py`` finds transports by name (the
``emutcp.transports`` entry points, ``--transport NAME``).  ``link.py``
is the pure, seeded link model they and the relay share; ``timeline.py``
delivers scheduled datagrams on time.  Nothing in this package imports the
TCP core, hosts, sockets or the endpoint.
"""

from .base import AcceptFilter, Address, Arrival, DatagramTransport

__all__ = ["AcceptFilter", "Address", "Arrival", "DatagramTransport"]
