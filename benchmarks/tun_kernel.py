"""emutcp <-> the Linux kernel's TCP over a TUN device: goodput, both directions.

    sudo python benchmarks/tun_kernel.py [--runs 5] [--bytes 20000000] [--quick]

Runs in a network namespace it creates (no route out; needs root).  Each run
is two processes, as a user would run them:

* kernel -> emutcp: ``emutcp serve --transport tun --discard --once --json``
  and a plain Python socket client sending ``--bytes`` to 10.77.0.2; the
  goodput is the server's (first byte to EOF, sha256 checked);
* emutcp -> kernel: a plain Python socket server on the kernel's side that
  counts and hashes, and ``emutcp connect --transport tun`` reading the
  bytes from a file; the goodput is measured by the kernel server;
* each at MTU 1500 / MSS 1400 (emutcp's default) and at MTU 65535 / MSS
  60000 (``--tun-mtu``, ``--mss``: per-packet costs amortized, as on lo);
* reference, same run and namespace: the same Python client and server over
  kernel TCP on ``lo`` (the ceiling a Python sender/receiver reaches).

Prints medians (min-max) over ``--runs`` and writes
benchmarks/results/tun_kernel.json.  The machine is shared and noisy:
compare rows of one run, not runs of different days.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import os
import pathlib
import statistics
import subprocess
import sys
import tempfile
import uuid

RESULTS = pathlib.Path(__file__).parent / "results"
PY = [sys.executable, "-m", "emutcp"]

CLIENT = """
import socket, sys, time
n = int(sys.argv[3]); chunk = bytes(1 << 20)
s = socket.create_connection((sys.argv[1], int(sys.argv[2])), timeout=120)
t0 = time.perf_counter(); left = n
while left:
    left -= s.send(memoryview(chunk)[: min(left, len(chunk))])
s.shutdown(socket.SHUT_WR)
while s.recv(1 << 16):
    pass
print(time.perf_counter() - t0)
"""

SERVER = """
import hashlib, socket, sys, time
lst = socket.socket(); lst.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
lst.bind((sys.argv[1], int(sys.argv[2]))); lst.listen(1); print("ready", flush=True)
conn, _ = lst.accept(); h = hashlib.sha256(); n = 0; t0 = None
while chunk := conn.recv(1 << 20):
    if t0 is None:
        t0 = time.perf_counter()
    h.update(chunk); n += len(chunk)
elapsed = time.perf_counter() - t0
conn.close()
print(n, h.hexdigest(), elapsed, flush=True)
"""


# MTU 1500 with emutcp's default MSS 1400, and a loopback-like 64 KB MTU with
# 60,000-byte segments (per-packet costs amortized, as on lo).
SETTINGS = {
    "MTU 1500, MSS 1400": [],
    "MTU 65535, MSS 60000": ["--tun-mtu", "65535", "--mss", "60000"],
}


def kernel_to_emutcp(ns: list[str], nbytes: int, big: list[str]) -> float:
    with subprocess.Popen(
        [
            *ns,
            *PY,
            "serve",
            "--transport",
            "tun",
            "--tun-net",
            "10.77.0.0/24",
            "--port",
            "8080",
            "--discard",
            "--once",
            "--json",
            *big,
        ],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
    ) as server:
        line = server.stderr.readline().decode()
        assert "listening" in line, line
        subprocess.run(
            [*ns, sys.executable, "-c", CLIENT, "10.77.0.2", "8080", str(nbytes)],
            check=True,
            capture_output=True,
            timeout=300,
        )
        out, _err = server.communicate(timeout=60)
    summary = json.loads(out.decode().strip().splitlines()[-1])
    assert (
        summary["bytes"] == nbytes
        and summary["sha256"] == hashlib.sha256(bytes(nbytes)).hexdigest()
    )
    return nbytes / summary["seconds"] / 1e6


def kernel_server(ns: list[str], address: str, port: int, sender: list[str], data: str) -> float:
    with subprocess.Popen(
        [*ns, sys.executable, "-c", SERVER, address, str(port)],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
    ) as server:
        assert server.stdout.readline().strip() == b"ready"
        with open(data, "rb") as f:
            subprocess.run([*ns, *sender], stdin=f, check=True, capture_output=True, timeout=300)
        out, _ = server.communicate(timeout=60)
    n, digest, elapsed = out.decode().split()
    size = os.path.getsize(data)
    assert int(n) == size and digest == hashlib.sha256(bytes(size)).hexdigest()
    return size / float(elapsed) / 1e6


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--runs", type=int, default=5)
    parser.add_argument("--bytes", type=int, default=20_000_000)
    parser.add_argument("--quick", action="store_true", help="3 runs of 5 MB")
    args = parser.parse_args()
    if args.quick:
        args.runs, args.bytes = 3, 5_000_000
    name = f"emutcp-bench-{uuid.uuid4().hex[:6]}"
    subprocess.run(["ip", "netns", "add", name], check=True)
    rows: dict[str, list[float]] = {}
    try:
        subprocess.run(["ip", "-n", name, "link", "set", "lo", "up"], check=True)
        ns = ["ip", "netns", "exec", name]
        with tempfile.NamedTemporaryFile() as data:
            data.write(bytes(args.bytes))
            data.flush()
            for _ in range(args.runs):
                for label, big in SETTINGS.items():
                    rows.setdefault(f"kernel -> emutcp, {label}", []).append(
                        kernel_to_emutcp(ns, args.bytes, big)
                    )
                    sender = [*PY, "connect", "--transport", "tun", "--tun-net", "10.78.0.0/24"]
                    sender += [*big, "10.78.0.1", "9000"]
                    rows.setdefault(f"emutcp -> kernel, {label}", []).append(
                        kernel_server(ns, "0.0.0.0", 9000, sender, data.name)
                    )
                # The reference: a Python sender reading the same file, kernel TCP on lo.
                ref_sender = [sys.executable, "-c", _FILE_CLIENT, "127.0.0.1", "9001"]
                rows.setdefault("kernel -> kernel (lo)", []).append(
                    kernel_server(ns, "127.0.0.1", 9001, ref_sender, data.name)
                )
    finally:
        subprocess.run(["ip", "netns", "del", name], check=False)
    result = {
        "bytes": args.bytes,
        "runs": args.runs,
        "unit": "MB/s goodput (1e6 bytes/s), median and min-max",
        "note": "shared 2-core machine with other jobs running: noisy",
        "rows": {
            k: {
                "median": round(statistics.median(v), 2),
                "min": round(min(v), 2),
                "max": round(max(v), 2),
            }
            for k, v in rows.items()
        },
    }
    print(
        f"{'path':<40} {'median MB/s':>12} {'min-max':>16}   ({args.runs} runs of {args.bytes:,} B)"
    )
    for k, r in result["rows"].items():
        print(f"{k:<40} {r['median']:>12.2f} {r['min']:>7.2f}-{r['max']:<8.2f}")
    print("(noisy shared machine: compare rows of this run only)")
    RESULTS.mkdir(exist_ok=True)
    (RESULTS / "tun_kernel.json").write_text(json.dumps(result, indent=2) + "\n")


_FILE_CLIENT = """
import socket, sys
s = socket.create_connection((sys.argv[1], int(sys.argv[2])), timeout=120)
while chunk := sys.stdin.buffer.read(1 << 20):
    s.sendall(chunk)
s.shutdown(socket.SHUT_WR)
while s.recv(1 << 16):
    pass
"""


if __name__ == "__main__":
    main()
