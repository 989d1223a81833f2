"""Helpers for transfers over an emulated network (virtual time), from emutcp.testing."""

from __future__ import annotations

from emutcp.testing import (
    A,
    B,
    TransferResult,
    bulk_transfer,
    connected_sockets,
    payload,
    two_hosts,
)

__all__ = ["A", "B", "connected_sockets", "payload", "transfer", "two_hosts"]


async def transfer(a, b, data: bytes, *, port: int = 80) -> TransferResult:
    """Client on ``a`` sends ``data`` to a server on ``b``; keeps what arrived."""
    return await bulk_transfer(a, b, data, port=port, keep=True)
