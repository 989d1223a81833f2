"""Every congestion controller, loaded so that ``congestion.CONTROLLERS`` lists it.

Each algorithm lives in a module of its own and registers itself; importing
this module (the TCB does) makes the registry complete.
"""

from __future__ import annotations

from . import cc_bbr, cc_cubic, cc_dctcp, cc_vegas
from .congestion import CONTROLLERS, check_name, make_controller

__all__ = [
    "CONTROLLERS",
    "cc_bbr",
    "cc_cubic",
    "cc_dctcp",
    "cc_vegas",
    "check_name",
    "make_controller",
]
