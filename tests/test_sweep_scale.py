"""Big sweeps: results streamed to disk, --resume, Dask clusters, wall_s."""

from __future__ import annotations

import functools
import json

import pytest

from emutcp.lab import sweep
from emutcp.tools.cli import main

EXP = {
    "name": "tiny",
    "base": {"duration": 1.0, "warmup": 0.5, "rate": 2e6},
    "sweep": {"loss": [0.0, 0.02]},
    "seeds": 2,
}


def _figures(trials):
    """What must not depend on where or when a trial ran (all but wall_s)."""
    return [json.loads(json.dumps({k: v for k, v in t.items() if k != "wall_s"})) for t in trials]


def _counting(monkeypatch):
    ran = []
    real = sweep._trial

    def counted(job):
        ran.append(job[0])
        return real(job)

    monkeypatch.setattr(sweep, "_trial", counted)
    return ran


def test_results_stream_to_disk_and_resume_skips_what_is_done(tmp_path, monkeypatch):
    full = sweep.run_sweep(EXP, processes=1, progress=False, out_dir=str(tmp_path))
    assert len(full) == 4 and all(t["wall_s"] > 0 for t in full)
    log = tmp_path / "tiny.trials.jsonl"
    lines = log.read_text().splitlines()
    assert len(lines) == 4
    # Killed after two trials, in the middle of writing the third line.
    log.write_text("\n".join(lines[:2]) + "\n" + lines[2][:40])
    ran = _counting(monkeypatch)
    resumed = sweep.run_sweep(EXP, processes=1, progress=False, out_dir=str(tmp_path), resume=True)
    assert len(ran) == 2  # only the two trials not on disk
    assert _figures(resumed) == _figures(full)
    assert len(log.read_text().splitlines()) == 4
    # Without --resume everything runs again.
    ran.clear()
    sweep.run_sweep(EXP, processes=1, progress=False, out_dir=str(tmp_path))
    assert len(ran) == 4


def test_a_dask_cluster_gives_the_numbers_of_a_local_run(monkeypatch):
    pytest.importorskip("distributed")
    from emutcp.lab import cluster

    local = sweep.run_sweep(EXP, processes=1, progress=False)
    # Two workers in this process (threads): the same code path as processes.
    monkeypatch.setattr(
        cluster, "open_cluster", functools.partial(cluster.open_cluster, processes=False)
    )
    on_dask = sweep.run_sweep(EXP, cluster="local:2", progress=False)
    assert _figures(on_dask) == _figures(local)


def test_an_unreachable_scheduler_is_one_line_and_exit_1(capsys, monkeypatch, tmp_path):
    pytest.importorskip("distributed")
    from emutcp.lab import cluster

    monkeypatch.setattr(cluster, "CONNECT_TIMEOUT", 1.0)
    argv = ["experiment", "--cluster", "tcp://127.0.0.1:9", "--duration", "1", "--seeds", "1"]
    assert main([*argv, "--out", str(tmp_path), "--json"]) == 1
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1
    assert err[0].startswith(
        "emutcp experiment: cannot reach the Dask scheduler at tcp://127.0.0.1:9"
    )


@pytest.mark.parametrize("spec", ["local:0", "local:x", "127.0.0.1:8786"])
def test_a_bad_cluster_address_is_a_usage_error(capsys, spec, tmp_path):
    assert main(["experiment", "--cluster", spec, "--out", str(tmp_path)]) == 2
    assert "--cluster" in capsys.readouterr().err


def test_the_engine_is_chosen_per_experiment(capsys, tmp_path):
    args = ["experiment", "--seeds", "1", "--duration", "1", "--set", "rate=2mbit"]
    for engine in ("sim", "trio"):
        out = tmp_path / engine
        code = main([*args, "--engine", engine, "--out", str(out), "--json", "--no-plots"])
        assert code == 0
        capsys.readouterr()
    trials = [
        json.loads((tmp_path / e / "experiment.json").read_text())["trials"]
        for e in ("sim", "trio")
    ]
    assert trials[0][0]["params"]["engine"] == "sim"
    assert trials[1][0]["params"]["engine"] == "trio"
    # The same trial on both engines: the same figures (see tests/test_sim.py).
    for key in ("goodput_Mbps", "retransmits", "rtt_mean_ms"):
        assert trials[0][0][key] == trials[1][0][key]
    assert all(t[0]["wall_s"] > 0 for t in trials)
