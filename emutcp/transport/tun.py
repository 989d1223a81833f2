"""A Linux TUN device: IP packets between this process and the kernel.

Theory of operation
-------------------
``TunDevice(network)`` opens ``/dev/net/tun`` and asks for a layer-3 device
without packet information (``TUNSETIFF`` with ``IFF_TUN | IFF_NO_PI``), so
each ``read`` returns one IP packet the kernel routed to the device and each
``write`` injects one IP packet as if it had arrived on it.  The subnet
``network`` (``10.77.0.0/24``) is split: the kernel's side of the device gets
the first host address (``.1``, ``kernel_address``) and the subnet's route;
the process owns the second (``.2``, ``address``), which the kernel does not
have, so everything the kernel sends to ``.2`` comes out of the device.

Setup uses iproute2's ``ip`` (address, ``up``; IPv6 addresses with
``nodad`` so they are usable at once).  The device is not persistent: it
disappears when its file descriptor is closed (``close()``, or the process
exiting, whatever way it exits).  Needs ``CAP_NET_ADMIN`` (root).

This module moves packets only; it knows nothing of TCP.  ``emutcp/tun.py``
turns the packets into emutcp segments and back (``wire/tcpip.py``).
"""

from __future__ import annotations

import contextlib
import fcntl
import ipaddress
import os
import shutil
import struct
import subprocess

import trio

TUNSETIFF = 0x400454CA  # _IOW('T', 202, int)
IFF_TUN = 0x0001
IFF_NO_PI = 0x1000
_MAX_PACKET = 65_535


def split_network(network: str) -> tuple[str, str, int]:
    """``"10.77.0.0/24"`` -> (kernel's address .1, ours .2, prefix length)."""
    try:
        net = ipaddress.ip_network(network, strict=False)
    except ValueError as exc:
        raise ValueError(f"--tun-net {network!r} is not a network: {exc}") from None
    hosts = net.hosts()
    try:
        kernel, ours = next(hosts), next(hosts)
    except StopIteration:
        raise ValueError(f"--tun-net {network!r} has fewer than two host addresses") from None
    return str(kernel), str(ours), net.prefixlen


def _ip(*args: str) -> None:
    done = subprocess.run(["ip", *args], capture_output=True, text=True, check=False)
    if done.returncode:
        raise OSError(f"ip {' '.join(args)}: {done.stderr.strip() or 'failed'}")


class TunDevice:
    """One TUN device for ``network``; see the module docstring."""

    def __init__(self, network: str, *, name: str = "emutcp%d", mtu: int = 1500) -> None:
        self.kernel_address, self.address, prefix = split_network(network)
        if shutil.which("ip") is None:
            raise OSError("the TUN transport needs iproute2's ip command")
        self.fd = os.open("/dev/net/tun", os.O_RDWR | os.O_NONBLOCK | os.O_CLOEXEC)
        try:
            ifr = fcntl.ioctl(
                self.fd, TUNSETIFF, struct.pack("16sH", name.encode(), IFF_TUN | IFF_NO_PI)
            )
            self.name = ifr[:16].rstrip(b"\0").decode()
            self.mtu = mtu
            family = ["-6"] if ":" in self.address else []
            extra = ["nodad"] if family else []
            _ip("link", "set", self.name, "mtu", str(mtu))
            _ip(*family, "addr", "add", f"{self.kernel_address}/{prefix}", "dev", self.name, *extra)
            _ip("link", "set", self.name, "up")
        except BaseException:
            os.close(self.fd)
            raise
        self.closed = False

    def read_batch(self, limit: int) -> list[bytes]:
        """Up to ``limit`` packets waiting, without blocking."""
        out: list[bytes] = []
        read, fd = os.read, self.fd
        for _ in range(limit):
            try:
                out.append(read(fd, _MAX_PACKET))
            except BlockingIOError:
                break
        return out

    def write(self, packet: bytes) -> bool:
        """Inject one packet; False if the kernel refused it for now (lost)."""
        try:
            os.write(self.fd, packet)
        except (BlockingIOError, OSError):
            return False  # full queue or a packet the kernel rejects: a loss, TCP recovers
        return True

    async def wait_readable(self) -> None:
        await trio.lowlevel.wait_readable(self.fd)

    def close(self) -> None:
        """Close the descriptor: the kernel removes the device with its address
        and route."""
        if not self.closed:
            self.closed = True
            with contextlib.suppress(OSError, RuntimeError):  # RuntimeError: outside trio
                trio.lowlevel.notify_closing(self.fd)
            os.close(self.fd)
