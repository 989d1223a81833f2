"""Terminal rendering (rich) of the demo's timeline and results."""

from __future__ import annotations

from rich.console import Console
from rich.table import Table
from rich.text import Text

_STATE_STYLE = "bold cyan"


def _cell(row, side: str) -> Text:
    if row.side != side:
        return Text("")
    if "->" in row.text and row.detail:
        t = Text(row.text, style=_STATE_STYLE)
        t.append(f"\n{row.detail}", style="dim")
        return t
    return Text(row.text, style="green")


def render_demo(timeline, paths, bulk, lossy, args) -> None:
    console = Console()
    console.rule("[bold]emutcp demo: the TCP state diagram, live over loopback UDP")
    console.print(
        "Socket calls (green), state transitions with their cause (cyan) and every segment "
        "sent (middle; seq/ack relative to the sender's and receiver's ISN).\n"
    )
    table = Table(show_lines=False, expand=True, pad_edge=False)
    table.add_column("ms", justify="right", style="dim", no_wrap=True)
    table.add_column("client", ratio=3)
    table.add_column("segment", ratio=3, justify="center")
    table.add_column("server", ratio=3)
    for row in timeline.rows:
        wire = Text("")
        if row.side == "wire":
            wire = Text(row.text, style="yellow")
            wire.append(f"\n{row.detail}", style="dim")
        table.add_row(f"{row.time * 1000:8.3f}", _cell(row, "client"), wire, _cell(row, "server"))
    console.print(table)
    console.print(Text("client path: ", style="bold") + Text(" -> ".join(paths["client"])))
    console.print(Text("server path: ", style="bold") + Text(" -> ".join(paths["server"])))
    console.print()

    console.rule("[bold]bulk transfer over loopback UDP")
    console.print(
        f"{bulk['bytes'] / 1e6:.1f} MB in {bulk['seconds']:.3f} s: "
        f"[bold]{bulk['goodput_MBps']:.1f} MB/s[/bold] goodput, "
        f"{bulk['retransmits']} retransmissions, srtt {bulk['srtt_ms']:.2f} ms, "
        f"sha256 {'[green]identical' if bulk['intact'] else '[red]MISMATCH'}"
    )
    if lossy is not None:
        console.print()
        console.rule("[bold]the same kind of transfer on an emulated lossy link (virtual time)")
        console.print(
            f"link: 10 Mbit/s, {args.delay * 1000:.0f} ms one-way delay, {args.loss:.1%} loss "
            "each way, drop-tail queue of one BDP"
        )
        console.print(
            f"{lossy['bytes'] / 1e6:.1f} MB in {lossy['virtual_seconds']:.2f} virtual s "
            f"({lossy['wall_seconds']:.2f} s wall): "
            f"[bold]{lossy['goodput_Mbps']:.2f} Mbit/s[/bold], "
            f"{lossy['retransmits']} retransmissions ({lossy['fast_retransmits']} fast "
            f"retransmits, {lossy['rto_expirations']} timeouts), link drops "
            f"{lossy['dropped_by_link']}, sha256 "
            f"{'[green]identical' if lossy['intact'] else '[red]MISMATCH'}"
        )
