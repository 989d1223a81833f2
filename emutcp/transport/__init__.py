"""Transports move datagrams; everything above them is the same code.

A transport is one datagram socket bound to ``local``:

* ``async wait_readable()``: return when ``recv_batch`` may yield datagrams.
* ``recv_batch(limit)``: the datagrams waiting, as ``(data, addr)``, without
  blocking; ``data`` is ``None`` for an ICMP port-unreachable from ``addr``.
* ``send(data, addr) -> bool``: ``False`` if it would block (caller retries).
* ``async wait_writable()``, ``connect(addr)`` (optional), ``close()``.
"""
