"""How the client downloads a leg's audio: memory and speed, against the naive way and the limit.

    python bench/download_leg.py [--minutes 1,10,60] [--repeat 5] [--markdown]

The emulator runs in its own process (``python -m noojee_django.emulator --port 0``), so its memory and
CPU are not counted, and serves scripted legs of 1, 10 and 60 minutes as base64 text in 76-character
lines (its default). Each measurement runs in a fresh child process, so its peak RSS is its own:

- ``client``: ``NoojeeClient.download_leg`` into a file in a temporary directory (streamed, decoded,
  verified and hashed on the fly);
- ``naive``: ``base64.b64decode(requests.post(...).content)`` written to a file;
- ``limit``: the same request read with ``iter_content(64 KiB)`` and thrown away: the speed of the
  emulator, the loopback and ``requests`` themselves, which no client can beat.

Per length and mode: median seconds, WAV MB/s (megabytes of WAV a second, whatever went over the
wire), and median peak RSS growth (the child's peak RSS, ``ru_maxrss``, minus its RSS just before the
download). The client's file is re-read after the timing and its sha256 compared with the emulator's
(control API). Modes alternate within each repeat so a slow moment of the machine hits all three.

Last line: ``download_leg: rss_growth_60min_mib=<x> throughput_vs_limit=<x> identical=<true|false>``.
"""

from __future__ import annotations

import argparse
import base64
import hashlib
import json
import os
import platform
import resource
import statistics
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))

from tests.servers import run_for_json, start_emulator  # noqa: E402

API_KEY = "bench-key-0000"
PATH = "/njadmin/rest/RecordingAPI/retrieveRecording"
MODES = ("client", "naive", "limit")
CHUNK = 64 * 1024


def rss_bytes() -> int:
    with open("/proc/self/statm") as statm:
        return int(statm.read().split()[1]) * resource.getpagesize()


def file_sha256(path: Path) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as data:
        while block := data.read(1 << 20):
            digest.update(block)
    return digest.hexdigest()


def child(mode: str, url: str, unique_id: str) -> dict[str, Any]:
    """One download in this (fresh) process; everything is imported before the RSS baseline."""
    import requests

    from noojee_django.client import NoojeeClient

    client = NoojeeClient(url, api_key=API_KEY)
    session = requests.Session()
    params = {"uniqueId": unique_id, "leg": "1", "apiKey": API_KEY}
    with tempfile.TemporaryDirectory() as folder:
        target = Path(folder) / "leg.wav"
        received = 0
        before = rss_bytes()
        started = time.perf_counter()
        if mode == "client":
            with target.open("wb") as out:
                info = client.download_leg(out, unique_id=unique_id, leg=1, chunk_size=CHUNK)
            received = info.bytes_written
        elif mode == "naive":
            data = base64.b64decode(session.post(url + PATH, params=params).content)
            target.write_bytes(data)
            received = len(data)
            del data
        else:
            with session.post(url + PATH, params=params, stream=True) as response:
                for chunk in response.iter_content(CHUNK):
                    received += len(chunk)
        elapsed = time.perf_counter() - started
        peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024  # KiB on Linux
        sha = file_sha256(target) if mode != "limit" else ""
    return {"seconds": elapsed, "bytes": received, "rss_growth": max(0, peak - before), "sha256": sha}


def measure(mode: str, url: str, unique_id: str) -> dict[str, Any]:
    return dict(run_for_json([sys.executable, __file__, "--child", mode, url, unique_id]))


def run(minutes_list: list[int], repeat: int) -> tuple[list[dict[str, Any]], bool]:
    from noojee_django.emulator import ControlClient

    emulator, url = start_emulator(API_KEY, "--audio-encoding", "base64")
    rows = []
    identical = True
    try:
        control = ControlClient(url)
        for minutes in minutes_list:
            made = control.add_recording(tag=f"DL-{minutes}", legs=[minutes * 60])
            leg = made["legs"][0]
            runs: dict[str, list[dict[str, Any]]] = {mode: [] for mode in MODES}
            for _ in range(repeat):
                for mode in MODES:
                    runs[mode].append(measure(mode, url, made["unique_id"]))
            identical = identical and all(
                r["sha256"] == leg["sha256"] and r["bytes"] == leg["bytes"] for r in runs["client"]
            )
            row: dict[str, Any] = {"minutes": minutes, "wav_mb": leg["bytes"] / 1e6}
            for mode, results in runs.items():
                seconds = statistics.median(r["seconds"] for r in results)
                row[mode] = {
                    "seconds": seconds,
                    "mb_s": row["wav_mb"] / seconds,
                    "rss_mib": statistics.median(r["rss_growth"] for r in results) / 2**20,
                }
            rows.append(row)
    finally:
        emulator.terminate()
        emulator.wait(10)
    return rows, identical


def table(rows: list[dict[str, Any]], markdown: bool) -> str:
    header = ("leg", "WAV MB", "mode", "seconds", "WAV MB/s", "peak RSS growth MiB")
    lines = []
    for row in rows:
        for mode in MODES:
            figures = row[mode]
            lines.append(
                (
                    f"{row['minutes']} min",
                    f"{row['wav_mb']:.1f}",
                    mode,
                    f"{figures['seconds']:.3f}",
                    f"{figures['mb_s']:.1f}",
                    f"{figures['rss_mib']:.1f}",
                )
            )
    if markdown:
        out = ["| " + " | ".join(header) + " |", "|" + "---|" * len(header)]
        out += ["| " + " | ".join(line) + " |" for line in lines]
        return "\n".join(out)
    widths = [max(len(h), *(len(line[i]) for line in lines)) for i, h in enumerate(header)]
    fmt = "  ".join(f"{{:>{w}}}" for w in widths)
    return "\n".join([fmt.format(*header), *(fmt.format(*line) for line in lines)])


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawTextHelpFormatter)
    parser.add_argument("--minutes", default="1,10,60")
    parser.add_argument("--repeat", type=int, default=5)
    parser.add_argument("--markdown", action="store_true", help="print the table as Markdown")
    parser.add_argument("--child", nargs=3, metavar=("MODE", "URL", "UNIQUE_ID"), help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child:
        print(json.dumps(child(*args.child)))
        return

    minutes_list = [int(m) for m in args.minutes.split(",")]
    load_before = os.getloadavg()[0]
    rows, identical = run(minutes_list, args.repeat)
    print(
        f"python {platform.python_version()}, {os.cpu_count()} CPUs, "
        f"load average {load_before:.2f} before / {os.getloadavg()[0]:.2f} after, "
        f"medians of {args.repeat} runs"
    )
    print(table(rows, args.markdown))
    longest = rows[-1]
    ratio = longest["client"]["mb_s"] / longest["limit"]["mb_s"]
    print(
        f"download_leg: rss_growth_{longest['minutes']}min_mib={longest['client']['rss_mib']:.1f} "
        f"throughput_vs_limit={ratio:.2f} identical={str(identical).lower()}"
    )


if __name__ == "__main__":
    main()
