"""PNG plots of an experiment (matplotlib, an optional extra: ``pip install '.[plot]'``)."""

from __future__ import annotations

import pathlib

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt

from .trial import DEFAULTS, mathis


def plot_experiment(exp: dict, trials: list[dict], rows: list[dict], out: pathlib.Path):
    written = []
    stem = exp["name"]
    if "loss" in exp["sweep"]:
        path = out / f"{stem}-goodput-vs-loss.png"
        fig, ax = plt.subplots(figsize=(7, 4.5))
        others = [k for k in exp["sweep"] if k != "loss"]
        series: dict[tuple, list[tuple[float, float]]] = {}
        for r in rows:
            series.setdefault(tuple(r[k] for k in others), []).append(
                (r["loss"], r["goodput_Mbps"])
            )
        for label, pts in series.items():
            pts.sort()
            name = ", ".join(f"{k}={v}" for k, v in zip(others, label, strict=True)) or "emutcp"
            ax.plot([p[0] for p in pts], [p[1] for p in pts], "o-", label=name)
        base = {**DEFAULTS, **exp["base"]}
        losses = sorted(v for v in exp["sweep"]["loss"] if v > 0)
        if losses:
            grid = [losses[0] * (losses[-1] / losses[0]) ** (i / 50) for i in range(51)]
            model = [
                min(mathis(int(base["mss"]), 2 * base["delay"], p) / 1e6, base["rate"] / 1e6)
                for p in grid
            ]
            ax.plot(grid, model, "--", color="grey", label="Mathis model (capped at link rate)")
            ax.set_xscale("log")
        ax.set_xlabel("loss probability")
        ax.set_ylabel("goodput (Mbit/s)")
        ax.set_title(
            f"{stem}: goodput vs loss, RTT {2 * base['delay'] * 1000:.0f} ms, "
            f"{base['rate'] / 1e6:g} Mbit/s"
        )
        ax.grid(True, alpha=0.3)
        ax.legend()
        fig.tight_layout()
        fig.savefig(path, dpi=100)
        plt.close(fig)
        written.append(str(path))
    if "congestion" in exp["sweep"]:
        compared = compare_algorithms(exp, rows, out / f"{stem}-algorithms.png")
        if compared:
            written.append(compared)
    first = next((t for t in trials if "series" in t), None)
    if first is not None and first["series"].get("flows"):
        path = out / f"{stem}-cwnd-srtt.png"
        plot_flows(first["series"]["flows"], str(path), title=f"{stem}: first trial")
        written.append(str(path))
    if first is not None and first["series"].get("segments"):
        path = out / f"{stem}-time-sequence.png"
        plot_time_sequence(first["series"], str(path), title=f"{stem}: first trial, flow 1")
        written.append(str(path))
    return written


_NO_SSTHRESH = 1 << 29  # below this, ssthresh has been set (the initial one is "infinite")


def plot_flows(flows: dict, out: str, *, title: str = "") -> None:
    """cwnd and ssthresh of every flow (top), srtt (middle) and bytes in flight
    (bottom) over time, from metrics samples ``(t, cwnd, ssthresh, srtt, inflight)``."""
    fig, (ax1, ax2, ax3) = plt.subplots(3, 1, figsize=(9, 8), sharex=True)
    t0 = min((s[0][0] for s in flows.values() if s), default=0.0)
    for i, (name, samples) in enumerate(flows.items()):
        if not samples:
            continue
        color = f"C{i % 10}"
        t = [s[0] - t0 for s in samples]
        label = name if len(flows) <= 8 else None
        ax1.step(t, [s[1] / 1000 for s in samples], where="post", color=color, label=label)
        ss = [(s[0] - t0, s[2] / 1000) for s in samples if s[2] < _NO_SSTHRESH]
        if ss:
            ax1.step(
                [p[0] for p in ss], [p[1] for p in ss], where="post", color=color, ls="--", lw=1
            )
        ax2.plot(t, [(s[3] or 0) * 1000 for s in samples], color=color, lw=1)
        ax3.step(t, [s[4] / 1000 for s in samples], where="post", color=color, lw=1)
    ax1.plot([], [], color="grey", label="cwnd (solid)")
    ax1.plot([], [], color="grey", ls="--", label="ssthresh (dashed)")
    ax1.set_ylabel("cwnd, ssthresh (KB)")
    ax1.legend(fontsize=7, loc="upper left")
    ax2.set_ylabel("srtt (ms)")
    ax3.set_ylabel("in flight (KB)")
    ax3.set_xlabel("time (s)")
    for ax in (ax1, ax2, ax3):
        ax.grid(True, alpha=0.3)
    ax1.set_title(f"{title}: {len(flows)} flow(s)" if title else f"{len(flows)} flow(s)")
    fig.tight_layout()
    fig.savefig(out, dpi=100)
    plt.close(fig)


def plot_time_sequence(series: dict, out: str, *, title: str = "") -> None:
    """A tcptrace-style time-sequence graph of one flow: data segments sent
    (retransmissions in red), the ACK line, the receive window's right edge
    and SACKed ranges, with a legend."""
    segs, acks = series["segments"], series.get("acks", [])
    t0 = min([segs[0][0]] + ([acks[0][0]] if acks else []))
    fig, ax = plt.subplots(figsize=(9, 5))
    highest = -1
    new_x, new_y, re_x, re_y = [], [], [], []
    for t, seq, length in segs:
        end = seq + length
        if end <= highest:
            re_x += [t - t0, t - t0, None]
            re_y += [seq / 1e3, end / 1e3, None]
        else:
            new_x += [t - t0, t - t0, None]
            new_y += [seq / 1e3, end / 1e3, None]
        highest = max(highest, end)
    ax.plot(new_x, new_y, color="black", lw=1, label="data sent")
    if re_x:
        ax.plot(re_x, re_y, color="red", lw=1.5, label="retransmission")
    if acks:
        ax.step(
            [a[0] - t0 for a in acks],
            [a[1] / 1e3 for a in acks],
            where="post",
            color="green",
            lw=1,
            label="ACK",
        )
        ax.step(
            [a[0] - t0 for a in acks],
            [a[2] / 1e3 for a in acks],
            where="post",
            color="gold",
            lw=1,
            label="receive window (ACK + rwnd)",
        )
        sx, sy = [], []
        for t, _ack, _edge, blocks in acks:
            for left, right in blocks:
                sx += [t - t0, t - t0, None]
                sy += [left / 1e3, right / 1e3, None]
        if sx:
            ax.plot(sx, sy, color="purple", lw=2, alpha=0.7, label="SACK block")
    ax.set_xlabel("time (s)")
    ax.set_ylabel("relative sequence number (KB)")
    ax.set_title(title or "time-sequence graph")
    ax.grid(True, alpha=0.3)
    ax.legend(fontsize=8, loc="upper left")
    fig.tight_layout()
    fig.savefig(out, dpi=100)
    plt.close(fig)


def compare_algorithms(exp: dict, rows: list[dict], out: pathlib.Path) -> str | None:
    """One figure: goodput (and retransmissions) of each congestion control
    algorithm against the other swept parameter (or as bars)."""
    algorithms = list(dict.fromkeys(r["congestion"] for r in rows))
    others = [k for k in exp["sweep"] if k != "congestion"]
    fig, (ax1, ax2) = plt.subplots(1, 2, figsize=(11, 4.5))
    if others:
        x = others[0]
        rest = others[1:]
        for i, alg in enumerate(algorithms):
            groups: dict[tuple, list[dict]] = {}
            for r in rows:
                if r["congestion"] == alg:
                    groups.setdefault(tuple(r[k] for k in rest), []).append(r)
            for key, rs in groups.items():
                rs.sort(key=lambda r: r[x])
                tail = ", ".join(f"{k}={v}" for k, v in zip(rest, key, strict=True))
                label = alg + (f" ({tail})" if tail else "")
                xs = [r[x] for r in rs]
                ax1.plot(xs, [r["goodput_Mbps"] for r in rs], "o-", color=f"C{i}", label=label)
                ax2.plot(xs, [r["retransmits"] for r in rs], "s--", color=f"C{i}", label=label)
        for ax in (ax1, ax2):
            ax.set_xlabel(x)
            if x == "loss" and all(r[x] > 0 for r in rows):
                ax.set_xscale("log")
    else:
        ax1.bar(
            algorithms,
            [next(r for r in rows if r["congestion"] == a)["goodput_Mbps"] for a in algorithms],
            color=[f"C{i}" for i in range(len(algorithms))],
        )
        ax2.bar(
            algorithms,
            [next(r for r in rows if r["congestion"] == a)["retransmits"] for a in algorithms],
            color=[f"C{i}" for i in range(len(algorithms))],
        )
    ax1.set_ylabel("goodput (Mbit/s)")
    ax2.set_ylabel("retransmissions")
    for ax in (ax1, ax2):
        ax.grid(True, alpha=0.3)
    if others:
        ax1.legend(fontsize=8)
    fig.suptitle(f"{exp['name']}: congestion control algorithms compared")
    fig.tight_layout()
    fig.savefig(out, dpi=100)
    plt.close(fig)
    return str(out)


def plot_trace(records: list[dict], out: str, *, title: str = "") -> int:
    """``emutcp plot``: cwnd/ssthresh/srtt/in-flight of every flow in a JSON
    Lines trace; returns how many flows were drawn (0: no metrics in it)."""
    from .series import load_trace

    flows = load_trace(records)["flows"]
    if flows:
        plot_flows(flows, out, title=title)
    return len(flows)
