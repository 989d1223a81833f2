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

Big sweeps: every result is appended to ``NAME.trials.jsonl`` in the output
directory the moment it finishes (``TrialLog``), so an interrupted sweep
loses only the trials in flight, and ``--resume`` runs only the trials whose
(parameters, seed) are not in that file yet.  ``--cluster`` spreads the
trials over a Dask cluster instead of local processes (cluster.py).
"""

from __future__ import annotations

import csv
import itertools
import json
import multiprocessing
import os
import pathlib
import statistics
import time
import tomllib

from ..core.algorithms import check_name
from ..transport.link import validate_drops
from .network import CHOICES, NETWORK_DEFAULTS, coerce_network
from .trial import DEFAULTS, ENGINES, pacing_setting, run_trial
from .units import parse_duration, parse_queue, parse_rate

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
    "ce_marks",
    "queue_delay_ms",
    "queue_delay_p99_ms",
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
    if key in CHOICES or (key in NETWORK_DEFAULTS and default is None) or key == "rtts":
        return coerce_network(key, value)
    if key == "queue":  # packets, bytes or BDPs: checked here, read by link_profiles
        parse_queue(value)
        return str(value)
    if key == "engine":
        if value not in ENGINES:
            raise ValueError(f"engine: expected one of {', '.join(ENGINES)}, got {value!r}")
        return value
    if key == "congestion":
        check_name(str(value))  # names the known algorithms
    if key == "pacing":
        return pacing_setting(value)
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
    for k in ("duration", "flows", "warmup", "topology", "rtts", "qdisc", "ecn"):
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
    """One trial; ``wall_s`` is the wall time of its simulation alone."""
    index, params, seed, series, files = job
    t0 = time.perf_counter()
    result = run_trial(params, seed, series=series, **files)
    return index, {"params": params, **result, "wall_s": time.perf_counter() - t0}


def _trial_files(exp: dict, index: int, seed: int) -> dict[str, str]:
    """``--pcap-dir`` / ``--trace-dir``: one capture and one trace per trial."""
    files = {}
    for key, ext in (("pcap", "pcapng"), ("trace", "jsonl")):
        directory = exp.get(f"{key}_dir")
        if directory:
            os.makedirs(directory, exist_ok=True)
            files[key] = os.path.join(directory, f"{exp['name']}-{index:03d}-seed{seed}.{ext}")
    return files


def trial_key(params: dict, seed: int) -> str:
    """What identifies a trial across runs: its parameters and its seed."""
    return json.dumps({"params": params, "seed": seed}, sort_keys=True, default=str)


class TrialLog:
    """Trial results streamed to disk as they finish, one JSON line each
    (``NAME.trials.jsonl`` in the output directory), so an interrupted sweep
    keeps what it did and ``--resume`` skips it."""

    def __init__(self, path: pathlib.Path, *, resume: bool) -> None:
        self.path = path
        self.done: dict[str, dict] = {}
        if resume and path.exists():
            for line in path.read_text().splitlines():
                try:
                    entry = json.loads(line)
                    self.done[entry["key"]] = entry["trial"]
                except (ValueError, KeyError, TypeError):
                    continue  # a line cut short when the last run was killed
        path.parent.mkdir(parents=True, exist_ok=True)
        # Rewrite what is kept (dropping a torn last line), then append.
        with open(path, "w") as f:
            for key, trial in self.done.items():
                f.write(json.dumps({"key": key, "trial": trial}, default=str) + "\n")
        self._file = open(path, "a")  # noqa: SIM115 - closed by close()

    def add(self, key: str, trial: dict) -> None:
        self._file.write(json.dumps({"key": key, "trial": trial}, default=str) + "\n")
        self._file.flush()

    def close(self) -> None:
        self._file.close()


def run_sweep(
    exp: dict,
    *,
    processes: int | None = None,
    real: bool = False,
    progress: bool = True,
    cluster: str | None = None,
    out_dir: str | None = None,
    resume: bool = False,
) -> list[dict]:
    """Every (combination, seed) trial; results in a stable order.  With
    ``out_dir`` each result is streamed to ``NAME.trials.jsonl`` there as it
    finishes, and ``resume`` reuses the results already in it.  ``cluster``
    (``tcp://HOST:PORT`` or ``local:N``) runs the trials on Dask."""
    combos = combinations(exp["base"], exp["sweep"])
    jobs = [
        (i, c, seed, i == 0, _trial_files(exp, i, seed))
        for i, (c, seed) in enumerate((c, s) for c in combos for s in range(1, exp["seeds"] + 1))
    ]
    keys = {i: trial_key(c, seed) for i, c, seed, *_ in jobs}
    results: dict[int, dict] = {}
    log = None
    if out_dir is not None:
        log = TrialLog(pathlib.Path(out_dir) / f"{exp['name']}.trials.jsonl", resume=resume)
        for i, *_ in jobs:
            if keys[i] in log.done:
                results[i] = log.done[keys[i]]
    todo = [job for job in jobs if job[0] not in results]
    from rich.progress import Progress

    try:
        with Progress(transient=True, disable=not progress) as bar:
            task = bar.add_task(
                f"{exp['name']}: {len(jobs)} trials", total=len(jobs), completed=len(results)
            )

            def done(i: int, r: dict) -> None:
                results[i] = r
                if log is not None:
                    log.add(keys[i], r)
                bar.advance(task)

            if real:
                from .realtrial import run_real_trial

                for i, params, seed, _series, _files in todo:
                    t0 = time.perf_counter()
                    r = run_real_trial({**DEFAULTS, **params}, seed)
                    done(i, {"params": params, **r, "wall_s": time.perf_counter() - t0})
            elif cluster is not None:
                from .cluster import open_cluster, run_on_cluster

                with open_cluster(cluster) as client:
                    run_on_cluster(client, _trial, todo, done)
            else:
                n = processes or os.cpu_count() or 1
                if n > 1 and len(todo) > 1:
                    ctx = multiprocessing.get_context("spawn")
                    with ctx.Pool(min(n, len(todo))) as pool:
                        for i, r in pool.imap_unordered(_trial, todo):
                            done(i, r)
                else:
                    for job in todo:
                        done(*_trial(job))
    finally:
        if log is not None:
            log.close()
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
        "ce_marks": "CE marks",
        "queue_delay_ms": "queue ms",
        "queue_delay_p99_ms": "queue p99 ms",
    }
    present = [m for m in METRICS if any(m in r for r in rows)]
    # The queue's columns when the experiment is about the network (keeps the
    # table of a plain loss sweep as narrow as it was).
    network = {"qdisc", "topology", "ecn", "rtts"} & (set(exp["base"]) | set(exp["sweep"]))
    if not network:
        present = [
            m for m in present if m not in ("ce_marks", "queue_delay_ms", "queue_delay_p99_ms")
        ]
    for m in present:
        table.add_column(names[m], justify="right")
    for r in rows:
        cells = [str(r[k]) for k in keys]
        for m in present:
            v = r.get(m)
            cells.append("-" if v is None else f"{v:.3g}" if isinstance(v, float) else str(v))
        table.add_row(*cells)
    return table
