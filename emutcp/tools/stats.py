"""Live socket statistics, like ``ss -ti``: a rich table of a host's connections."""

from __future__ import annotations

import trio
from rich.live import Live
from rich.table import Table

from ..core.events import TcpInfo

COLUMNS = (
    "local",
    "remote",
    "state",
    "Recv-Q",
    "Send-Q",
    "cwnd",
    "ssthresh",
    "srtt ms",
    "rto s",
    "retrans",
    "MB/s",
    "timer",
)


def _addr(a) -> str:
    return f"{a[0]}:{a[1]}" if a else "*"


def info_row(i: TcpInfo) -> list[str]:
    return [
        _addr(i.local),
        _addr(i.remote),
        str(i.state),
        str(i.recv_queue),
        str(i.send_queue),
        str(i.cwnd),
        str(i.ssthresh) if i.ssthresh < 1 << 29 else "-",
        f"{i.srtt * 1000:.2f}" if i.srtt is not None else "-",
        f"{i.rto:.2f}",
        str(i.retransmits),
        f"{i.delivery_rate / 1e6:.2f}",
        i.active_timer or "-",
    ]


def connections_table(host, title: str = "emutcp connections") -> Table:
    table = Table(title=title)
    for col in COLUMNS:
        table.add_column(col, justify="right" if col[0].isupper() or col[0] in "cmsr" else "left")
    for info in host.connections():
        table.add_row(*info_row(info))
    return table


async def live_stats(host, *, interval: float = 1.0, console=None) -> None:
    """Refresh the table every ``interval`` seconds until cancelled (on stderr, so
    stdout stays the data stream)."""
    if console is None:
        from rich.console import Console

        console = Console(stderr=True)
    with Live(
        connections_table(host), console=console, refresh_per_second=4, transient=False
    ) as live:
        while True:
            await trio.sleep(interval)
            live.update(connections_table(host))
