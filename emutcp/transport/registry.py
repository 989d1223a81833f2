"""Named transports: the ``emutcp.transports`` entry-point group.

Theory of operation
-------------------
A *plugin* is a callable ``plugin(options) -> factory``; the *factory* is
``factory(local) -> DatagramTransport`` and opens one transport per bound
port of a host (``emutcp.Host(transport=factory)``).  ``options`` is a
``TransportOptions``: what the command line and the host know (the core's
junk filter, ``--tun-net``, an impairment profile, a seeded rng); a plugin
uses what it needs and ignores the rest.  A factory may carry an ``address``
attribute (a ``str``): the address this host has on that network, used for
wildcard binds and for connects (the TUN transport's ``.2``).

Plugins are found by name, in this order: ``register(name, plugin)`` calls
made in this process (tests, scripts), then entry points of the group
``emutcp.transports`` of every installed distribution.  emutcp's own
transports (``udp``, ``impaired``, ``emulated``, ``tun``) are entry points in
its ``pyproject.toml``, so an installed package adds a name the same way::

    [project.entry-points."emutcp.transports"]
    mybus = "mypkg.transport:plugin"

and ``emutcp serve --transport mybus ...`` uses it.  ``load`` of an unknown
name raises ``UnknownTransport`` whose message lists the available names.
Loading imports the plugin's module only when its name is asked for.
"""

from __future__ import annotations

import random
from collections.abc import Callable
from dataclasses import dataclass
from importlib.metadata import entry_points
from typing import Protocol

from .base import AcceptFilter, Address, DatagramTransport
from .link import LinkProfile

GROUP = "emutcp.transports"

TransportFactory = Callable[[Address], DatagramTransport]


@dataclass(frozen=True)
class TransportOptions:
    """What a plugin may use to build a host's transports."""

    accept: AcceptFilter | None = None  # the core's junk filter (a cheap segment check)
    network: str | None = None  # a subnet the transport owns, e.g. "10.77.0.0/24" (--tun-net)
    impair: LinkProfile | None = None  # impairments for transports that emulate a link
    rng: random.Random | None = None  # seeded randomness, for reproducible impairments
    mtu: int | None = None  # the MTU of an interface the transport creates (--tun-mtu)


class TransportPlugin(Protocol):
    """What an ``emutcp.transports`` entry point names."""

    def __call__(self, options: TransportOptions) -> TransportFactory: ...


class UnknownTransport(LookupError):
    """No plugin of that name is registered or installed."""


_registered: dict[str, TransportPlugin] = {}


def register(name: str, plugin: TransportPlugin) -> None:
    """Make ``plugin`` available as ``name`` in this process (it wins over an
    installed entry point of the same name)."""
    _registered[name] = plugin


def unregister(name: str) -> None:
    _registered.pop(name, None)


def _entry_points() -> dict[str, object]:
    return {ep.name: ep for ep in entry_points(group=GROUP)}


def available() -> list[str]:
    """Every transport name that ``load`` accepts, sorted."""
    return sorted(set(_registered) | set(_entry_points()))


def load(name: str) -> TransportPlugin:
    """The plugin called ``name``; ``UnknownTransport`` lists the names if none is."""
    plugin = _registered.get(name)
    if plugin is not None:
        return plugin
    ep = _entry_points().get(name)
    if ep is None:
        raise UnknownTransport(
            f"unknown transport {name!r} (available: {', '.join(available()) or 'none'})"
        )
    loaded = ep.load()  # type: ignore[attr-defined]
    if not callable(loaded):
        raise UnknownTransport(f"transport {name!r}: entry point {ep!r} is not callable")
    return loaded  # type: ignore[no-any-return]


def open_factory(name: str, options: TransportOptions | None = None) -> TransportFactory:
    """``load(name)(options)``: the transport factory for a host."""
    return load(name)(options or TransportOptions())
