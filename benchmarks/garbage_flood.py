"""A transfer's goodput while another process floods the server's port with garbage.

    python benchmarks/garbage_flood.py [--runs 3] [--bytes 20000000]

The flooder (a second process, plain UDP) sends datagrams of 20-1,200 bytes to
the server's UDP port as fast as it can; the server drops and counts them
while it receives a sha256-checked transfer over loopback.  Two floods:

* random: random bytes, which the header byte alone rejects;
* mimic: datagrams that copy the first bytes of the wire format
  (b"\x9a\x01" + random), which pass the header check and are stopped by the
  transport's CRC check (``plausible_segment``) without a msgpack decode.

Prints the goodput without a flood and under each, and each flooded/clean
ratio (target: at least 0.5 for both), medians of ``--runs``.  Writes
benchmarks/results/garbage_flood.json.
"""

from __future__ import annotations

import argparse
import json
import os
import pathlib
import statistics
import subprocess
import sys

import trio

import emutcp
from emutcp.lab.bulk import bulk_transfer

RESULTS = pathlib.Path(__file__).parent / "results"
CONFIG = emutcp.Config()
FLOODER = r"""
import os, socket, sys, time
port, seconds, kind = int(sys.argv[1]), float(sys.argv[2]), sys.argv[3]
s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
s.setblocking(False)
junk = [os.urandom(20 + (i * 37) % 1180) for i in range(256)]
if kind == "mimic":  # a segment's first two bytes: fixarray of 10, format version 1
    junk = [b"\x9a\x01" + j[2:] for j in junk]
sent, end, i = 0, time.monotonic() + seconds, 0
while time.monotonic() < end:
    try:
        s.sendto(junk[i & 255], ("127.0.0.1", port)); sent += 1
    except BlockingIOError:
        pass
    i += 1
print(sent)
"""


FLOODS = ("random", "mimic")


async def transfer(
    nbytes: int, flood_seconds: float | None, kind: str = "random"
) -> tuple[float, int, int, int]:
    host = emutcp.UdpHost(config=CONFIG)
    listener = host.socket()
    await listener.bind(("127.0.0.1", 0))
    listener.listen(1)
    port = listener.getsockname()[1]
    flooder = None
    if flood_seconds:
        flooder = subprocess.Popen(
            [sys.executable, "-c", FLOODER, str(port), str(flood_seconds), kind],
            stdout=subprocess.PIPE,
            text=True,
        )
        await trio.sleep(0.2)  # the flood is running before the transfer starts
    r = await bulk_transfer(host, None, os.urandom(nbytes), listener=listener)
    dropped = host.endpoint_stats().get("malformed", 0)
    listener.close()
    junk_sent = 0
    if flooder is not None:
        out, _ = await trio.to_thread.run_sync(flooder.communicate)
        junk_sent = int(out or 0)
    assert r.intact, "transfer corrupted"
    return r.wall_goodput_Bps / 1e6, junk_sent, dropped, r.client_info.retransmits


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--runs", type=int, default=3)
    ap.add_argument("--bytes", type=int, default=20_000_000)
    args = ap.parse_args()
    clean = [trio.run(transfer, args.bytes, None)[0] for _ in range(args.runs)]
    clean_med = statistics.median(clean)
    result: dict[str, object] = {"clean_MBps": clean_med, "runs": args.runs}
    print(f"goodput clean {clean_med:.1f} MB/s")
    for kind in FLOODS:
        flooded = [trio.run(transfer, args.bytes, 3.0, kind) for _ in range(args.runs)]
        flood_med = statistics.median(r[0] for r in flooded)
        # The random flood keeps the original key names.
        prefix = "" if kind == "random" else f"{kind}_"
        stats = {
            "flooded_MBps": flood_med,
            "ratio": flood_med / clean_med,
            "junk_datagrams_sent": [r[1] for r in flooded],
            "junk_datagrams_dropped_by_emutcp": [r[2] for r in flooded],
            "retransmits_under_flood": [r[3] for r in flooded],
        }
        result.update({prefix + k: v for k, v in stats.items()})
        print(
            f"under a {kind} junk flood {flood_med:.1f} MB/s: ratio "
            f"{flood_med / clean_med:.2f} (target >= 0.5); flood sent "
            f"{statistics.median(stats['junk_datagrams_sent']):.0f} datagrams per run, emutcp "
            f"read and dropped {statistics.median(stats['junk_datagrams_dropped_by_emutcp']):.0f}"
            f" of them while the transfer ran, "
            f"{statistics.median(stats['retransmits_under_flood']):.0f} retransmissions"
        )
    RESULTS.mkdir(exist_ok=True)
    (RESULTS / "garbage_flood.json").write_text(json.dumps(result, indent=2))


if __name__ == "__main__":
    main()
