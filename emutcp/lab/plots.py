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
    first = next((t for t in trials if "series" in t), None)
    if first is not None and first["series"]["history"]:
        hist = first["series"]["history"]
        t0 = hist[0][0]
        path = out / f"{stem}-cwnd-srtt.png"
        fig, ax1 = plt.subplots(figsize=(8, 4.5))
        ax1.step(
            [h[0] - t0 for h in hist], [h[1] / 1000 for h in hist], where="post", label="cwnd (KB)"
        )
        ax1.set_xlabel("time (s)")
        ax1.set_ylabel("cwnd (KB)")
        ax2 = ax1.twinx()
        ax2.plot(
            [h[0] - t0 for h in hist],
            [(h[3] or 0) * 1000 for h in hist],
            color="tab:red",
            alpha=0.6,
            label="srtt (ms)",
        )
        ax2.set_ylabel("srtt (ms)")
        ax1.set_title(f"{stem}: cwnd and srtt of flow 1, first trial")
        fig.tight_layout()
        fig.savefig(path, dpi=100)
        plt.close(fig)
        written.append(str(path))
    if first is not None and first["series"]["segments"]:
        segs = first["series"]["segments"]
        t0 = segs[0][0]
        path = out / f"{stem}-time-sequence.png"
        fig, ax = plt.subplots(figsize=(8, 4.5))
        ax.plot([s[0] - t0 for s in segs], [s[1] / 1e6 for s in segs], ".", markersize=1.5)
        ax.set_xlabel("time (s)")
        ax.set_ylabel("sequence number (MB, relative)")
        ax.set_title(f"{stem}: time/sequence graph, first trial (retransmissions fall below)")
        fig.tight_layout()
        fig.savefig(path, dpi=100)
        plt.close(fig)
        written.append(str(path))
    return written
