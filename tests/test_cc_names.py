"""Every algorithm is reachable by name from each place a user names one, and an
unknown name is a clear error that lists the known ones."""

from __future__ import annotations

import errno

import pytest

import emutcp
from emutcp.core.algorithms import CONTROLLERS, make_controller
from emutcp.tools.cli import main

NAMES = ("newreno", "reno", "cubic", "vegas", "bbr", "dctcp")


@pytest.mark.parametrize("name", NAMES)
async def test_config_socket_and_registry_accept_every_algorithm(name):
    assert emutcp.Config(congestion=name).congestion == name
    assert make_controller(name, mss=1400, initial_window=10).name in CONTROLLERS
    sock = emutcp.socket()
    try:
        sock.setsockopt(emutcp.IPPROTO_TCP, emutcp.TCP_CONGESTION, name.encode())
        assert sock.getsockopt(emutcp.IPPROTO_TCP, emutcp.TCP_CONGESTION) == name.encode()
    finally:
        sock.close()


async def test_an_unknown_name_lists_the_known_ones():
    with pytest.raises(ValueError, match="known: bbr, cubic, dctcp, newreno, reno, vegas"):
        emutcp.Config(congestion="bbr3")
    sock = emutcp.socket()
    try:
        with pytest.raises(OSError, match="known: bbr") as exc:
            sock.setsockopt(emutcp.IPPROTO_TCP, emutcp.TCP_CONGESTION, b"bbr3")
        assert exc.value.errno == errno.ENOENT  # as Linux answers
    finally:
        sock.close()


@pytest.mark.parametrize(
    "argv", [["bench", "--local", "-C", "bbr3"], ["experiment", "--set", "congestion=bbr3"]]
)
def test_the_cli_rejects_an_unknown_name_in_one_line(argv, capsys):
    with pytest.raises(SystemExit) as exc:
        raise SystemExit(main(argv))
    err = capsys.readouterr().err
    assert exc.value.code == 2
    line = err.strip().splitlines()[-1]  # one line naming every known algorithm
    assert "Traceback" not in err and "bbr3" in line
    assert all(name in line for name in ("bbr", "cubic", "dctcp", "newreno", "reno", "vegas"))


def test_the_experiment_keys_congestion_and_pacing():
    from emutcp.lab.sweep import coerce
    from emutcp.lab.trial import DEFAULTS, trial_config

    assert coerce("pacing", "auto") is None and coerce("pacing", "on") is True
    assert coerce("pacing", False) is False
    with pytest.raises(ValueError, match="true, false or auto"):
        coerce("pacing", "maybe")
    assert coerce("congestion", "bbr") == "bbr"
    assert trial_config({**DEFAULTS, "congestion": "bbr"}).pacing is None  # BBR's default
    assert trial_config({**DEFAULTS, "pacing": True}).pacing is True
