"""The Wireshark/tshark Lua dissector for emutcp's wire format, shipped as
package data (``emutcp.lua``); ``emutcp dissector`` prints where it is."""

from __future__ import annotations

import os
import pathlib

LUA_NAME = "emutcp.lua"


def lua_path() -> str:
    """The installed dissector's path (for ``tshark -X lua_script:PATH``)."""
    return str(pathlib.Path(__file__).resolve().with_name(LUA_NAME))


def personal_plugin_dir() -> str:
    """Where Wireshark loads a user's Lua plugins from (``tshark -G folders``:
    "Personal Lua Plugins"): ``$XDG_CONFIG_HOME``-independent on Linux and
    macOS, ``%APPDATA%\\Wireshark\\plugins`` on Windows."""
    if os.name == "nt":
        return os.path.join(os.environ.get("APPDATA", "~"), "Wireshark", "plugins")
    return os.path.expanduser("~/.local/lib/wireshark/plugins")
