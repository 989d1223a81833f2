"""``emutcp experiment``: parameter sweeps over seeded repetitions, in parallel.

An experiment is base parameters (``experiment.DEFAULTS`` overridden by
``[link]``/``[tcp]`` tables or ``--set``), a sweep (every combination of the
listed values) and a number of seeds.  Each (combination, seed) is one trial:
an independent trio run in virtual time, so trials spread over a process pool
(``--processes``, default: every core) and a sweep scales with the machine.

Outputs: a table of medians over seeds (goodput, Mathis reference under
random loss, utilization, retransmissions, RTOs, mean and p99 RTT, fairness),
a CSV with one row per trial, a JSON file with everything, and, with
matplotlib installed, PNG plots: goodput against loss with the Mathis curve,
cwnd and srtt over time, and a time/sequence graph of the first trial.

Experiment files are TOML (``benchmarks/experiments/*.toml``)::

    name = "goodput-vs-loss"
    seeds = 3
    [link]
    rate = "10mbit"
    delay = "25ms"
    [tcp]
    congestion = "newreno"
    [sweep]
    loss = [0.005, 0.01, 0.02]

``--real`` runs the same trials in real time over loopback UDP through the
impairment relay (one at a time), to compare the emulation with a real path.
"""

from __future__ import annotations

import csv
import itertools
import json
import multiprocessing
import os
import pathlib
import statistics
import tomllib

from ..transport.link import validate_drops
from .trial import DEFAULTS, run_trial
from .units import parse_duration, parse_rate

METRICS = (
    "goodput_Mbps",
    "mathis_Mbps",
    "utilization",
    "completion_s",
    "retransmits",
    "rtos",
    "rtt_mean_ms",
    "rtt_p99_ms",
    "fairness",
)


def coerce(key: str, value):
    """Turn '10mbit', '25ms', '0.01', 'cubic' into the parameter's type."""
    if key not in DEFAULTS:
        known = ", ".join(sorted(DEFAULTS))
        raise ValueError(f"unknown parameter {key!r} (known: {known})")
    default = DEFAULTS[key]
    if key == "drop":  # data-packet numbers from 1: a TOML list, or "98,99,100"
        if isinstance(value, str):
            try:
                value = [int(x) for x in value.replace(",", " ").split()]
            except ValueError:
                msg = f"drop: expected packet numbers like 98,99,100, got {value!r}"
                raise ValueError(msg) from None
        return validate_drops(value)
    if key in ("send_buffer", "recv_buffer"):  # bytes; unset: autotuned defaults
        try:
            return int(float(value))
        except (TypeError, ValueError):
            raise ValueError(f"{key}: not a number of bytes: {value!r}") from None
    if isinstance(value, str):
        if key == "rate":
            return parse_rate(value)
        if key in ("delay", "jitter", "duration", "warmup"):
            return parse_duration(value)
        if isinstance(default, bool):
            if value.lower() not in ("1", "true", "yes", "on", "0", "false", "no", "off"):
                raise ValueError(f"{key}: expected true or false, got {value!r}")
            return value.lower() in ("1", "true", "yes", "on")
        if isinstance(default, int | float):
            try:
                number = float(value)
            except ValueError:
                raise ValueError(f"{key}: not a number: {value!r}") from None
            return int(number) if isinstance(default, int) else number
    return value


def load_experiment(path: str) -> dict:
    with open(path, "rb") as f:
        doc = tomllib.load(f)
    base = {}
    for table in ("link", "tcp", "run"):
        for k, v in doc.get(table, {}).items():
            base[k] = coerce(k, v)
    for k in ("duration", "flows", "warmup"):
        if k in doc:
            base[k] = coerce(k, doc[k])
    sweep = {k: [coerce(k, v) for v in vs] for k, vs in doc.get("sweep", {}).items()}
    return {
        "name": doc.get("name", pathlib.Path(path).stem),
        "base": base,
        "sweep": sweep,
        "seeds": int(doc.get("seeds", 3)),
    }


def combinations(base: dict, sweep: dict) -> list[dict]:
    keys = list(sweep)
    return [
        {**base, **dict(zip(keys, values, strict=True))}
        for values in itertools.product(*(sweep[k] for k in keys))
    ] or [dict(base)]


def _trial(job) -> tuple[int, dict]:
    index, params, seed, series = job
    return index, {"params": params, **run_trial(params, seed, series=series)}


def run_sweep(
    exp: dict, *, processes: int | None = None, real: bool = False, progress: bool = True
) -> list[dict]:
    """Every (combination, seed) trial; results in a stable order."""
    combos = combinations(exp["base"], exp["sweep"])
    jobs = [
        (i, c, seed, i == 0)
        for i, (c, seed) in enumerate((c, s) for c in combos for s in range(1, exp["seeds"] + 1))
    ]
    results: dict[int, dict] = {}
    from rich.progress import Progress

    with Progress(transient=True, disable=not progress) as bar:
        task = bar.add_task(f"{exp['name']}: {len(jobs)} trials", total=len(jobs))
        if real:
            from .realtrial import run_real_trial

            for i, params, seed, _series in jobs:
                results[i] = {"params": params, **run_real_trial({**DEFAULTS, **params}, seed)}
                bar.advance(task)
        else:
            n = processes or os.cpu_count() or 1
            if n > 1 and len(jobs) > 1:
                ctx = multiprocessing.get_context("spawn")
                with ctx.Pool(min(n, len(jobs))) as pool:
                    for i, r in pool.imap_unordered(_trial, jobs):
                        results[i] = r
                        bar.advance(task)
            else:
                for job in jobs:
                    i, r = _trial(job)
                    results[i] = r
                    bar.advance(task)
    return [results[i] for i in sorted(results)]


def summarize(exp: dict, trials: list[dict]) -> list[dict]:
    """Medians over seeds, one row per combination."""
    keys = list(exp["sweep"])
    groups: dict[tuple, list[dict]] = {}
    for t in trials:
        groups.setdefault(tuple(t["params"].get(k) for k in keys), []).append(t)
    rows = []
    for combo, ts in groups.items():
        row = dict(zip(keys, combo, strict=True))
        for m in METRICS:
            vals = [t[m] for t in ts if m in t]
            if vals:
                row[m] = statistics.median(vals)
        row["seeds"] = len(ts)
        rows.append(row)
    return rows


def write_outputs(
    exp: dict, trials: list[dict], rows: list[dict], out_dir: str, plots: bool = True
) -> list[str]:
    out = pathlib.Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    written = []
    stem = exp["name"]
    csv_path = out / f"{stem}.csv"
    fields = [*sorted({k for t in trials for k in t["params"]}), "seed", *METRICS]
    with open(csv_path, "w", newline="") as f:
        w = csv.DictWriter(f, fieldnames=fields, extrasaction="ignore")
        w.writeheader()
        for t in trials:
            w.writerow({**t["params"], **{k: t.get(k) for k in ("seed", *METRICS)}})
    written.append(str(csv_path))
    json_path = out / f"{stem}.json"
    slim = [{k: v for k, v in t.items() if k != "series"} for t in trials]
    json_path.write_text(
        json.dumps({"experiment": exp, "summary": rows, "trials": slim}, indent=2, default=str)
    )
    written.append(str(json_path))
    if plots:
        try:
            from .plots import plot_experiment
        except ImportError:  # matplotlib is an optional extra
            return written
        written += plot_experiment(exp, trials, rows, out)
    return written


def render_table(exp: dict, rows: list[dict]):
    from rich.table import Table

    table = Table(title=f"{exp['name']} (medians over {exp['seeds']} seeds, virtual time)")
    keys = list(exp["sweep"])
    for k in keys:
        table.add_column(k)
    names = {
        "goodput_Mbps": "goodput Mbit/s",
        "mathis_Mbps": "Mathis Mbit/s",
        "utilization": "util",
        "completion_s": "done s",
        "retransmits": "retrans",
        "rtos": "RTOs",
        "rtt_mean_ms": "RTT mean ms",
        "rtt_p99_ms": "RTT p99 ms",
        "fairness": "Jain",
    }
    present = [m for m in METRICS if any(m in r for r in rows)]
    for m in present:
        table.add_column(names[m], justify="right")
    for r in rows:
        cells = [str(r[k]) for k in keys]
        for m in present:
            v = r.get(m)
            cells.append("-" if v is None else f"{v:.3g}" if isinstance(v, float) else str(v))
        table.add_row(*cells)
    return table
