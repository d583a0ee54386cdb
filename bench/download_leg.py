"""How the client downloads a leg's audio: memory and speed against the naive way and the limit.

    python bench/download_leg.py [--minutes 1,10,60] [--repeat 3]

The emulator runs in its own process and serves legs of 1, 10 and 60 minutes as base64 text. Each
measurement runs in a fresh child process so its peak RSS is its own:

- ``client``: ``NoojeeClient.download_leg`` into a file (streamed, decoded and verified on the fly);
- ``naive``: ``base64.b64decode(requests.post(...).content)`` written to a file;
- ``limit``: the same request read with ``iter_content`` and thrown away (the network's own speed).

Figures are medians over ``--repeat`` runs. Last line:
``download_leg: rss_growth_60min_mib=<x> throughput_vs_limit=<x> identical=<true|false>``.
"""

from __future__ import annotations

import argparse
import base64
import json
import resource
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))

API_KEY = "bench-key"
PATH = "/njadmin/rest/RecordingAPI/retrieveRecording"


def rss_bytes() -> int:
    with open("/proc/self/statm") as statm:
        return int(statm.read().split()[1]) * resource.getpagesize()


def child(mode: str, url: str, unique_id: str) -> dict[str, Any]:
    """One download in this process; prints its figures as JSON."""
    import hashlib

    import requests

    from noojee_django.client import NoojeeClient

    client = NoojeeClient(url, api_key=API_KEY)
    session = requests.Session()
    params = {"uniqueId": unique_id, "leg": "1", "apiKey": API_KEY}
    with tempfile.TemporaryDirectory() as folder:
        target = Path(folder) / "leg.wav"
        before = rss_bytes()
        started = time.perf_counter()
        received = 0
        sha = ""
        if mode == "client":
            with target.open("wb") as out:
                info = client.download_leg(out, unique_id=unique_id, leg=1)
            received, sha = info.bytes_written, info.sha256
        elif mode == "naive":
            response = session.post(url + PATH, params=params)
            data = base64.b64decode(response.content)
            target.write_bytes(data)
            received, sha = len(data), hashlib.sha256(data).hexdigest()
        else:
            with session.post(url + PATH, params=params, stream=True) as response:
                for chunk in response.iter_content(64 * 1024):
                    received += len(chunk)
        elapsed = time.perf_counter() - started
        peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024
    return {"seconds": elapsed, "bytes": received, "rss_growth": max(0, peak - before), "sha256": sha}


def measure(mode: str, url: str, unique_id: str) -> dict[str, Any]:
    result = subprocess.run(
        [sys.executable, __file__, "--child", mode, url, unique_id],
        capture_output=True,
        check=True,
        cwd=REPO,
    )
    return dict(json.loads(result.stdout.decode().strip().splitlines()[-1]))


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--minutes", default="1,10,60")
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument("--child", nargs=3, metavar=("MODE", "URL", "UNIQUE_ID"))
    args = parser.parse_args()
    if args.child:
        print(json.dumps(child(*args.child)))
        return

    from noojee_django.emulator import ControlClient
    from tests.servers import free_port

    port = free_port()
    emulator = subprocess.Popen(
        [sys.executable, "-m", "noojee_django.emulator", "--port", str(port), "--api-key", API_KEY],
        stdout=subprocess.PIPE,
        stderr=subprocess.DEVNULL,
        cwd=REPO,
    )
    assert emulator.stdout is not None
    url = emulator.stdout.readline().decode().strip()
    rows = []
    identical = True
    try:
        control = ControlClient(url)
        for minutes in [int(m) for m in args.minutes.split(",")]:
            made = control.add_recording(tag=f"DL-{minutes}", legs=[minutes * 60])
            expected = made["legs"][0]["sha256"]
            figures: dict[str, list[dict[str, Any]]] = {"client": [], "naive": [], "limit": []}
            for _ in range(args.repeat):
                for mode in figures:
                    figures[mode].append(measure(mode, url, made["unique_id"]))
            identical = identical and all(run["sha256"] == expected for run in figures["client"])
            row: dict[str, Any] = {"minutes": minutes, "wav_mb": made["legs"][0]["bytes"] / 1e6}
            for mode, runs in figures.items():
                seconds = statistics.median(r["seconds"] for r in runs)
                row[mode] = {
                    "seconds": seconds,
                    "mb_s": row["wav_mb"] / seconds,  # WAV megabytes a second, whatever went over the wire
                    "rss_mib": statistics.median(r["rss_growth"] for r in runs) / 2**20,
                }
            rows.append(row)
    finally:
        emulator.terminate()
        emulator.wait(10)

    print(
        f"{'leg':>7} {'WAV MB':>7} | {'mode':>6} {'seconds':>8} {'WAV MB/s':>8} {'peak RSS growth MiB':>20}"
    )
    for row in rows:
        for mode in ("client", "naive", "limit"):
            figures_row = row[mode]
            print(
                f"{row['minutes']:>5} m {row['wav_mb']:>7.1f} | {mode:>6} {figures_row['seconds']:>8.2f} "
                f"{figures_row['mb_s']:>8.1f} {figures_row['rss_mib']:>20.1f}"
            )
    longest = rows[-1]
    ratio = longest["client"]["seconds"] and longest["limit"]["seconds"] / longest["client"]["seconds"]
    print(
        f"download_leg: rss_growth_{longest['minutes']}min_mib={longest['client']['rss_mib']:.1f} "
        f"throughput_vs_limit={ratio:.2f} identical={str(identical).lower()}"
    )


if __name__ == "__main__":
    main()
