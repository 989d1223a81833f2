"""emutcp experiment: sweeps in virtual time, outputs, plots, TOML files."""

from __future__ import annotations

import csv
import json
import pathlib

import pytest

from emutcp.lab.sweep import coerce, combinations, load_experiment
from emutcp.lab.trial import run_trial
from emutcp.tools.cli import main

EXPERIMENTS = pathlib.Path(__file__).parent.parent / "benchmarks" / "experiments"


def test_coerce_units_and_unknown_parameters():
    assert coerce("rate", "10mbit") == 10e6
    assert coerce("delay", "25ms") == pytest.approx(0.025)
    assert coerce("loss", "0.01") == 0.01
    assert coerce("flows", "4") == 4
    assert coerce("sack", "false") is False
    with pytest.raises(ValueError, match="unknown parameter"):
        coerce("bogus", 1)


def test_combinations_are_the_cartesian_product():
    combos = combinations({"rate": 1e6}, {"loss": [0.1, 0.2], "flows": [1, 2, 3]})
    assert len(combos) == 6 and all(c["rate"] == 1e6 for c in combos)


def test_checked_in_experiments_load():
    for path in EXPERIMENTS.glob("*.toml"):
        exp = load_experiment(str(path))
        assert exp["sweep"] and exp["seeds"] >= 1


def test_a_trial_is_deterministic_for_a_seed():
    p = {"loss": 0.01, "duration": 5.0}
    assert run_trial(p, 3) == run_trial(p, 3)
    assert run_trial(p, 3)["retransmits"] > 0


def test_experiment_cli_writes_table_csv_json_and_plots(capsys, tmp_path):
    pytest.importorskip("matplotlib")
    args = [
        "experiment",
        "--name",
        "t",
        "--sweep",
        "loss=0.005,0.02",
        "--set",
        "rate=5mbit",
        "--seeds",
        "2",
        "--duration",
        "6",
        "--processes",
        "2",
        "--out",
        str(tmp_path),
    ]
    assert main(args) == 0
    out = capsys.readouterr().out
    assert "goodput" in out
    with open(tmp_path / "t.csv") as f:
        rows = list(csv.DictReader(f))
    assert len(rows) == 4 and {r["loss"] for r in rows} == {"0.005", "0.02"}
    data = json.loads((tmp_path / "t.json").read_text())
    lossy, lossier = sorted(data["summary"], key=lambda r: r["loss"])
    assert lossy["goodput_Mbps"] > lossier["goodput_Mbps"]  # more loss, less goodput
    assert (tmp_path / "t-goodput-vs-loss.png").exists()
    assert (tmp_path / "t-cwnd-srtt.png").exists()
    assert (tmp_path / "t-time-sequence.png").exists()


def test_experiment_over_real_udp_through_the_relay(capsys, tmp_path):
    args = [
        "experiment",
        "--name",
        "r",
        "--real",
        "--set",
        "rate=20mbit",
        "--set",
        "delay=5ms",
        "--sweep",
        "loss=0.01",
        "--seeds",
        "1",
        "--duration",
        "2",
        "--no-plots",
        "--out",
        str(tmp_path),
        "--json",
    ]
    assert main(args) == 0
    summary = json.loads(capsys.readouterr().out)["summary"]
    assert summary[0]["goodput_Mbps"] > 0.5


def test_fixed_size_transfers_report_completion_time():
    r = run_trial({"bytes": 500_000, "flows": 2, "loss": 0.01}, 1)
    assert r["completion_s"] > 0.4  # 1 MB over 10 Mbit/s takes at least 0.8 s
    assert 0 < r["utilization"] <= 1.0
