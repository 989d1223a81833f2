"""Draw the RFC 9293 state diagram with the paths a trace took, numbered.

``emutcp diagram TRACE.jsonl -o out.png`` (and ``emutcp demo --diagram
out.png``) lays the eleven states out as RFC 9293 figure 5 does, draws every
edge of the diagram in grey, and highlights the client's path (blue) and the
server's path (orange) with the step number of each transition, in the spirit
of the seed lab's figure.  Needs matplotlib (``pip install 'emutcp[plot]'``).
"""

from __future__ import annotations

from collections import defaultdict

from ..core.state import DIAGRAM_EDGES

# Layout after RFC 9293 figure 5 (x, y); CLOSED appears twice: where a
# connection starts (top) and where it ends (bottom right), as in most textbooks.
POSITIONS = {
    "CLOSED": (0.0, 12.0),
    "LISTEN": (0.0, 10.0),
    "SYN-RECEIVED": (-3.2, 8.0),
    "SYN-SENT": (3.2, 8.0),
    "ESTABLISHED": (0.0, 6.0),
    "FIN-WAIT-1": (-3.2, 4.0),
    "CLOSE-WAIT": (3.2, 4.0),
    "FIN-WAIT-2": (-3.2, 2.0),
    "CLOSING": (0.0, 2.5),
    "LAST-ACK": (3.2, 2.0),
    "TIME-WAIT": (0.0, 0.0),
    "CLOSED.end": (3.2, 0.0),
}


_ENDING = {
    "FIN-WAIT-1",
    "FIN-WAIT-2",
    "CLOSING",
    "LAST-ACK",
    "TIME-WAIT",
    "CLOSE-WAIT",
    "ESTABLISHED",
    "SYN-RECEIVED",
}


def _node(old: str, new: str) -> str:
    return "CLOSED.end" if new == "CLOSED" and old in _ENDING else new


# The edges of RFC 9293's figure 5 with their labels (event / action), from the
# core's one table of legal transitions.
EDGES = {(str(a), _node(str(a), str(b))): label for (a, b), label in DIAGRAM_EDGES.items()}


def connections(records: list[dict]) -> list[dict]:
    """The connections in a trace, in order of first appearance: index, local,
    remote, role (client: it sent the SYN; server: it came from a listener),
    the states it went through and whether it reached ESTABLISHED."""
    by_conn: dict[tuple, list[dict]] = defaultdict(list)
    for r in records:
        if r.get("kind") == "transition" and r.get("remote") is not None:
            by_conn[(r["local"], r["remote"])].append(r)
    out = []
    for i, ((local, remote), trs) in enumerate(by_conn.items()):
        states = [trs[0]["old"]] + [t["new"] for t in trs]
        out.append(
            {
                "index": i,
                "local": local,
                "remote": remote,
                "role": "server" if trs[0]["old"] == "LISTEN" else "client",
                "states": states,
                "established": "ESTABLISHED" in states,
                "end": trs[-1]["cause"],
            }
        )
    return out


def _port(addr: str | None) -> str:
    return (addr or "").rpartition(":")[2]


def choose(conns: list[dict], which: str | None = None) -> dict | None:
    """The connection to draw: ``which`` (an index or host:port), or by default
    the first that reached ESTABLISHED (not a refused or reset attempt)."""
    if which is not None:
        exact = [c for c in conns if which.isdigit() and c["index"] == int(which)]
        named = [c for c in conns if which in (c["local"], c["remote"])]
        ported = [c for c in conns if which in (_port(c["local"]), _port(c["remote"]))]
        for group in (exact, named, ported):
            if group:
                return group[0]
        return None
    established = [c for c in conns if c["established"]]
    return (established or conns)[0] if conns else None


def paths_from_trace(
    records: list[dict], connection: str | None = None
) -> dict[str, list[tuple[str, str]]]:
    """The paths (lists of edges) of one connection in a JSONL trace: its
    client's and, if the trace holds it too, its server's (the connection with
    the mirrored ports), the server's preceded by its listener's CLOSED ->
    LISTEN.  ``connection`` selects it as ``choose`` does."""
    by_conn: dict[tuple, list[dict]] = defaultdict(list)
    for r in records:
        if r.get("kind") == "transition":
            by_conn[(r["local"], r["remote"])].append(r)
    listeners = {k[0]: v for k, v in by_conn.items() if k[1] is None}
    chosen = choose(connections(records), connection)
    if chosen is None:
        return {}
    key = (chosen["local"], chosen["remote"])
    mirror = [
        k
        for k in by_conn
        if k[1] is not None
        and _port(k[0]) == _port(key[1])
        and _port(k[1]) == _port(key[0])
        and k != key
    ]
    paths: dict[str, list[tuple[str, str]]] = {}
    for k in [key, *mirror[:1]]:
        trs = by_conn[k]
        if trs[0]["old"] == "LISTEN":
            prefix = [(t["old"], t["new"]) for t in _listener_of(listeners, k[0])[:1]]
            paths["server"] = prefix + [(t["old"], _node(t["old"], t["new"])) for t in trs]
        else:
            paths["client"] = [(t["old"], _node(t["old"], t["new"])) for t in trs]
    return paths


def _listener_of(listeners: dict[str, list[dict]], local: str) -> list[dict]:
    if local in listeners:
        return listeners[local]
    for addr, trs in listeners.items():  # a wildcard listener: match by port
        if _port(addr) == _port(local):
            return trs
    return []


def draw(paths: dict[str, list[tuple[str, str]]], out: str, *, title: str = "") -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    from matplotlib.patches import FancyArrowPatch

    fig, ax = plt.subplots(figsize=(11, 12))
    ax.set_xlim(-5.5, 5.5)
    ax.set_ylim(-1.0, 13.0)
    ax.axis("off")
    colors = {"client": "#1f5fbf", "server": "#e07b00"}
    used: dict[tuple[str, str], list[tuple[str, int]]] = defaultdict(list)
    for who, edges in paths.items():
        for step, edge in enumerate(edges, 1):
            used[edge].append((who, step))

    def arrow(a, b, color, width, rad, z):
        (x1, y1), (x2, y2) = POSITIONS[a], POSITIONS[b]
        patch = FancyArrowPatch(
            (x1, y1),
            (x2, y2),
            arrowstyle="-|>",
            mutation_scale=16,
            color=color,
            linewidth=width,
            connectionstyle=f"arc3,rad={rad}",
            shrinkA=26,
            shrinkB=26,
            zorder=z,
        )
        ax.add_patch(patch)

    def on_curve(a, b, rad):
        """The midpoint of matplotlib's arc3 curve from a to b (where labels go)."""
        (x1, y1), (x2, y2) = POSITIONS[a], POSITIONS[b]
        dx, dy = x2 - x1, y2 - y1
        return (x1 + x2) / 2 + rad * dy / 2, (y1 + y2) / 2 - rad * dx / 2

    for (a, b), label in EDGES.items():
        rad = 0.25 if (b, a) in EDGES else 0.08
        arrow(a, b, "#bbbbbb", 1.2, rad, 1)
        x, y = on_curve(a, b, rad)
        ax.text(
            x,
            y,
            label,
            fontsize=7,
            color="#666666",
            ha="center",
            va="center",
            zorder=6,  # above every arrow: an edge label is never struck through
            bbox={"boxstyle": "round,pad=0.15", "fc": "white", "ec": "#dddddd", "alpha": 0.95},
        )
    for edge, walkers in used.items():
        a, b = edge
        if a not in POSITIONS or b not in POSITIONS:
            continue
        for i, (who, step) in enumerate(walkers):
            rad = (0.25 if (b, a) in EDGES else 0.08) + 0.12 * i
            arrow(a, b, colors.get(who, "black"), 3.0, rad, 3)
            x, y = on_curve(a, b, rad)
            ax.text(
                x - 0.45,
                y - 0.3,
                str(step),
                fontsize=11,
                fontweight="bold",
                color="white",
                ha="center",
                va="center",
                zorder=7,
                bbox={"boxstyle": "circle", "fc": colors.get(who, "black")},
            )
    for name, (x, y) in POSITIONS.items():
        ax.text(
            x,
            y,
            name.split(".")[0],
            ha="center",
            va="center",
            fontsize=11,
            fontweight="bold",
            zorder=4,
            bbox={"boxstyle": "round,pad=0.5", "fc": "#f4f4f4", "ec": "#444444"},
        )
    handles = [
        plt.Line2D([], [], color=c, linewidth=3, label=f"{who} path")
        for who, c in colors.items()
        if who in paths
    ]
    if handles:
        handles.append(
            plt.Line2D(
                [],
                [],
                color="none",
                marker="o",
                markersize=13,
                markerfacecolor="#555555",
                markeredgecolor="none",
                label="n: the side's n-th transition (1 = first), in time order",
            )
        )
        handles.append(
            plt.Line2D([], [], color="#bbbbbb", linewidth=1.2, label="edge: event / action sent")
        )
        ax.legend(handles=handles, loc="upper left", fontsize=10)
    ax.set_title(title or "TCP state diagram (RFC 9293): the paths this trace took", fontsize=13)
    fig.tight_layout()
    fig.savefig(out, dpi=110)
    plt.close(fig)
