"""A discrete-event engine for experiments: the sans-IO core driven from one event
heap, without trio (see engine.py, network.py, apps.py, scenario.py).

The trio emulated network (``emutcp.EmulatedNetwork``) stays for users' own
async code; both share the core and the link model, and a seeded scenario
gives the same segments on both (tests/test_sim.py)."""

from .apps import BulkSender, FixedSender, OnOff, RequestResponse, Responder, Sink
from .engine import Engine, Scheduler
from .network import SimHost, SimListener, SimNetwork, SimSocket
from .scenario import bulk_flow_pairs, bulk_flows, transfers
from .wire import WireSegment, wire_size

__all__ = [
    "BulkSender",
    "Engine",
    "FixedSender",
    "OnOff",
    "RequestResponse",
    "Responder",
    "Scheduler",
    "SimHost",
    "SimListener",
    "SimNetwork",
    "SimSocket",
    "Sink",
    "WireSegment",
    "bulk_flow_pairs",
    "bulk_flows",
    "transfers",
    "wire_size",
]
