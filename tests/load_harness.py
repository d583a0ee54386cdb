"""Concurrent dials and Range requests on recorded audio through a real gunicorn, checked to the byte.

Used by ``bench/load.py`` (200 dials, 50 Range requests) and by ``tests/test_load_smoke.py`` (the same
code at small scale). Everything runs as separate processes configured through the environment, as a
deployment would be: the emulator, gunicorn serving ``example_project.wsgi`` (gthread workers), and
:mod:`tests.load_seed` for the Django side (migrate, users, real recordings, row counts). This module
itself never imports Django: it is the browsers.

- Agents open their customer's page like a browser, take the dial form's CSRF token and the
  ``csrftoken`` cookie, then all click at once (a barrier), posting the form as the widget does
  (multipart, ``X-CSRFToken``, ``Accept: application/json``). Their sessions are made by the seed
  (hashing 200 passwords would only measure PBKDF2); listeners log in through the login form.
- Every dial must answer 200 with its own call, and the emulator must have received exactly one
  originate per agent, each for that agent's extension and number.
- Every Range answer must be 206 with the exact ``Content-Range`` and exactly the stored file's bytes
  for that range (computed here, independently of the app's parser); full GETs must be 200 with the
  stored file's sha256. Each listen must leave one access-log row.
"""

from __future__ import annotations

import hashlib
import math
import os
import random
import subprocess
import sys
import threading
import time
from collections import Counter
from collections.abc import Callable, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from functools import partial
from html.parser import HTMLParser
from pathlib import Path
from typing import Any

import requests

from tests.servers import gunicorn, run_for_json
from tests.servers import start_emulator as start_emulator_process

REPO = Path(__file__).resolve().parent.parent
API_KEY = "load-key"


@dataclass(frozen=True)
class LoadConfig:
    dials: int = 200
    ranges: int = 50
    full_gets: int = 2
    listeners: int = 5
    recordings: int = 3
    legs: tuple[int, ...] = (240, 120)
    #: gunicorn: what docs/deployment.md recommends for the web process
    workers: int = 2
    threads: int = 32
    timeout: float = 60.0
    seed: int = 1
    #: seconds the emulator adds to every PBX request (a PBX across a network, not on loopback)
    pbx_latency: float = 0.0
    #: Django's CONN_MAX_AGE for PostgreSQL (the example settings' default, as docs/deployment.md says)
    conn_max_age: int = 60


@dataclass(frozen=True)
class Outcome:
    """One request: ``problem`` is empty when the answer was right in status, headers and bytes."""

    ms: float
    problem: str = ""
    body_bytes: int = 0

    @property
    def ok(self) -> bool:
        return not self.problem


def percentile(values: Sequence[float], pct: float) -> float:
    """Nearest-rank percentile: a value that was actually measured (p99 of 50 is the slowest)."""
    ordered = sorted(values)
    if not ordered:
        return math.nan
    return ordered[max(0, math.ceil(pct / 100 * len(ordered)) - 1)]


@dataclass
class LoadReport:
    config: LoadConfig
    database: str
    dials: list[Outcome]
    dial_wall_seconds: float
    originates: int
    originate_pairs: Counter[tuple[str, str]]
    expected_pairs: Counter[tuple[str, str]]
    ranges: list[Outcome]
    full_gets: list[Outcome]
    listen_wall_seconds: float
    audio_files: int
    audio_bytes: int
    rows: dict[str, Any] = field(default_factory=dict)

    @property
    def dial_errors(self) -> int:
        return sum(1 for o in self.dials if not o.ok)

    @property
    def range_errors(self) -> int:
        return sum(1 for o in self.ranges if not o.ok)

    @property
    def full_get_errors(self) -> int:
        return sum(1 for o in self.full_gets if not o.ok)

    @property
    def lost_originates(self) -> int:
        return sum((self.expected_pairs - self.originate_pairs).values())

    @property
    def duplicate_originates(self) -> int:
        return sum((self.originate_pairs - self.expected_pairs).values())

    def problems(self) -> Counter[str]:
        return Counter(o.problem for o in [*self.dials, *self.ranges, *self.full_gets] if o.problem)

    def summary_line(self) -> str:
        dial_ms = [o.ms for o in self.dials]
        range_ms = [o.ms for o in self.ranges]
        return (
            f"load: dials={len(self.dials)} dial_errors={self.dial_errors} "
            f"dial_p50_ms={percentile(dial_ms, 50):.0f} dial_p99_ms={percentile(dial_ms, 99):.0f} "
            f"range_requests={len(self.ranges)} range_errors={self.range_errors} "
            f"range_p50_ms={percentile(range_ms, 50):.0f} range_p99_ms={percentile(range_ms, 99):.0f}"
        )

    def table(self) -> str:
        c = self.config
        rows = [
            ("database", self.database),
            ("gunicorn", f"gthread, {c.workers} workers x {c.threads} threads"),
            ("PBX", f"emulator, {c.pbx_latency * 1000:.0f} ms added to each request"),
            ("audio", f"{self.audio_files} files, {self.audio_bytes / 1e6:.1f} MB (legs {list(c.legs)} s)"),
        ]
        lines = [f"{name:<10} {value}" for name, value in rows]
        lines.append("")
        lines.append(
            f"{'':<12}{'requests':>9}{'errors':>8}{'p50 ms':>9}{'p99 ms':>9}{'max ms':>9}"
            f"{'wall s':>8}{'req/s':>8}"
        )
        for name, outcomes, wall in (
            ("dial", self.dials, self.dial_wall_seconds),
            ("range", self.ranges, self.listen_wall_seconds),
            ("full GET", self.full_gets, self.listen_wall_seconds),
        ):
            ms = [o.ms for o in outcomes]
            errors = sum(1 for o in outcomes if not o.ok)
            lines.append(
                f"{name:<12}{len(outcomes):>9}{errors:>8}{percentile(ms, 50):>9.0f}{percentile(ms, 99):>9.0f}"
                f"{max(ms, default=math.nan):>9.0f}{wall:>8.2f}{len(outcomes) / wall if wall else 0:>8.0f}"
            )
        listened = sum(o.body_bytes for o in [*self.ranges, *self.full_gets])
        lines.append("")
        lines.append(
            f"originates={self.originates} expected={len(self.dials)} lost={self.lost_originates} "
            f"duplicates={self.duplicate_originates}"
        )
        lines.append(
            f"listened: {listened / 1e6:.1f} MB in {self.listen_wall_seconds:.2f} s "
            f"({listened / 1e6 / self.listen_wall_seconds if self.listen_wall_seconds else 0:.0f} MB/s)"
        )
        if "error" in self.rows:
            lines.append(f"rows: not counted: {self.rows['error']}")
        elif self.rows:
            lines.append(
                f"rows: calls={self.rows['calls']} {self.rows['call_statuses']} "
                f"access_log={self.rows['accesses']} (listens: {len(self.ranges) + len(self.full_gets)})"
            )
        if "db_connections" in self.rows:
            lines.append(
                f"PostgreSQL connections still open after the run: {self.rows['db_connections']} "
                f"(gunicorn threads: {c.workers * c.threads})"
            )
        for problem, count in self.problems().most_common(10):
            lines.append(f"problem x{count}: {problem}")
        return "\n".join(lines)


# ------------------------------------------------------------------------------------------ processes


def start_emulator(latency: float = 0.0) -> tuple[subprocess.Popen[bytes], str]:
    """The PBX in its own process. Calls are answered after 30 s: every dialled call is still up when
    the originates are counted."""
    return start_emulator_process(API_KEY, "--answer-delay", "30", "--latency", str(latency))


def django_env(
    workdir: Path, *, emulator_url: str, database_url: str | None, conn_max_age: int = 60
) -> dict[str, str]:
    """The environment of every Django process of the run: production-like (``DEBUG`` off)."""
    env = {
        **os.environ,
        "DJANGO_SETTINGS_MODULE": "example_project.settings",
        "DJANGO_DEBUG": "0",
        "NOOJEE_EXAMPLE_VAR_DIR": str(workdir),
        "NOOJEE_BASE_URL": emulator_url,
        "NOOJEE_API_KEY": API_KEY,
        "CELERY_BROKER_URL": "memory://",
        "PYTHONPATH": str(REPO),
        "DATABASE_CONN_MAX_AGE": str(conn_max_age),
    }
    env.pop("DATABASE_URL", None)
    if database_url:
        env["DATABASE_URL"] = database_url
    return env


def run_seed(env: dict[str, str], *args: str, timeout: float = 600) -> Any:
    return run_for_json([sys.executable, "-m", "tests.load_seed", *args], env=env, timeout=timeout)


# ------------------------------------------------------------------------------------------ browsers


class _FormInputs(HTMLParser):
    """The inputs of the first ``<form>`` whose attributes contain ``marker``."""

    def __init__(self, marker: tuple[str, str]) -> None:
        super().__init__()
        self.marker = marker
        self.inside = False
        self.done = False
        self.fields: dict[str, str] = {}

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        if self.done:
            return
        if tag == "form" and self.marker in attrs:
            self.inside = True
        elif tag == "input" and self.inside:
            values = dict(attrs)
            if values.get("name"):
                self.fields[str(values["name"])] = values.get("value") or ""

    def handle_endtag(self, tag: str) -> None:
        if tag == "form" and self.inside:
            self.inside, self.done = False, True


def form_fields(html: str, marker: tuple[str, str]) -> dict[str, str]:
    parser = _FormInputs(marker)
    parser.feed(html)
    if not parser.fields:
        raise RuntimeError(f"no form with {marker[0]}={marker[1]!r} on the page")
    return parser.fields


def login(base: str, username: str, password: str) -> str:
    """Log in through the login form as a browser does; return the session cookie."""
    with requests.Session() as browser:
        page = browser.get(base + "/accounts/login/", timeout=30)
        fields = form_fields(page.text, ("id", "login-form"))
        fields.update(username=username, password=password)
        reply = browser.post(base + "/accounts/login/", data=fields, allow_redirects=False, timeout=30)
        if reply.status_code != 302 or "sessionid" not in browser.cookies:
            raise RuntimeError(f"login of {username} failed: HTTP {reply.status_code}")
        return str(browser.cookies["sessionid"])


@dataclass(frozen=True)
class DialClick:
    """What a browser holds after opening the customer's page: its cookies and the dial form."""

    extension: str
    number: str
    cookies: dict[str, str]
    fields: dict[str, str]


def open_customer_page(base: str, agent: dict[str, Any]) -> DialClick:
    with requests.Session() as browser:
        browser.cookies.set("sessionid", agent["sessionid"])
        page = browser.get(base + agent["customer_url"], timeout=30)
        if page.status_code != 200:
            raise RuntimeError(
                f"{agent['username']} could not open {agent['customer_url']}: {page.status_code}"
            )
        fields = form_fields(page.text, ("data-noojee", "dial"))
        if "csrftoken" not in browser.cookies:
            raise RuntimeError("the customer page set no csrftoken cookie")
        cookies = {"sessionid": agent["sessionid"], "csrftoken": str(browser.cookies["csrftoken"])}
    return DialClick(extension=agent["extension"], number=agent["number"], cookies=cookies, fields=fields)


def click_dial(base: str, click: DialClick, timeout: float) -> Outcome:
    """The widget's POST: the form as multipart, the form's token in ``X-CSRFToken``, JSON asked for."""
    headers = {
        "Accept": "application/json",
        "X-Requested-With": "XMLHttpRequest",
        "X-CSRFToken": click.fields["csrfmiddlewaretoken"],
    }
    multipart = {name: (None, value) for name, value in click.fields.items()}
    started = time.perf_counter()
    try:
        reply = requests.post(
            base + "/noojee/dial/", files=multipart, headers=headers, cookies=click.cookies, timeout=timeout
        )
    except requests.RequestException as exc:
        return Outcome((time.perf_counter() - started) * 1000, f"{type(exc).__name__}")
    ms = (time.perf_counter() - started) * 1000
    if reply.status_code != 200:
        detail = reply.json().get("error", "") if "json" in reply.headers.get("Content-Type", "") else ""
        return Outcome(ms, f"dial HTTP {reply.status_code} {detail}".strip())
    payload = reply.json()
    if payload.get("number") != click.number or payload.get("status") != "dialing":
        return Outcome(ms, f"dial answered {payload}")
    return Outcome(ms)


@dataclass(frozen=True)
class ListenCase:
    """One request for audio: ``header`` is the Range header (empty: the whole file) and
    ``first``/``last`` the inclusive byte positions the answer must hold."""

    what: str
    url: str
    path: str
    size: int
    header: str
    first: int
    last: int


def range_cases(audio: list[dict[str, Any]], count: int, rng: random.Random) -> list[ListenCase]:
    """``count`` Range requests over the files, of every shape a player or a curious client sends:
    closed ranges small and large, across the 64 KiB blocks the view reads, past the end (clamped),
    single bytes, suffixes (shorter and longer than the file) and open-ended ones."""
    cases = []
    for i in range(count):
        target = audio[i % len(audio)]
        size = int(target["size"])
        if size < 6 * 65536:
            raise ValueError(f"{target['what']} has {size} bytes: the ranges need files of 6 blocks or more")
        shape = i % 9
        if shape == 0:  # a small closed range
            first = rng.randrange(size - 4096)
            last = first + rng.randrange(4096)
            header = f"bytes={first}-{last}"
        elif shape == 1:  # across block boundaries
            first = 65536 * rng.randrange(1, size // 65536 - 3) - rng.randrange(1, 200)
            last = first + 65536 * rng.randrange(1, 3) + rng.randrange(200)
            header = f"bytes={first}-{last}"
        elif shape == 2:  # a large closed range (a player's seek-and-buffer)
            first = rng.randrange(size // 2)
            last = first + rng.randrange(size // 8, size // 3)
            header = f"bytes={first}-{last}"
        elif shape == 3:  # a suffix shorter than the file
            length = rng.randrange(1, min(size, 2_000_000))
            first, last = size - length, size - 1
            header = f"bytes=-{length}"
        elif shape == 4:  # a suffix longer than the file: the whole file
            first, last = 0, size - 1
            header = f"bytes=-{size + rng.randrange(1, 10_000)}"
        elif shape == 5:  # open-ended from somewhere inside
            first, last = rng.randrange(size), size - 1
            header = f"bytes={first}-"
        elif shape == 6:  # a player's first request, or the samples after the WAV header
            first, last = (0 if i // 9 % 2 else 44), size - 1
            header = f"bytes={first}-"
        elif shape == 7:  # a closed range whose end is past the file: clamped
            first = size - rng.randrange(1, 5000)
            last = size - 1
            header = f"bytes={first}-{size + rng.randrange(10_000)}"
        else:  # one byte
            first = last = rng.randrange(size)
            header = f"bytes={first}-{first}"
        cases.append(ListenCase(target["what"], target["url"], target["path"], size, header, first, last))
    return cases


def full_cases(audio: list[dict[str, Any]], count: int) -> list[ListenCase]:
    return [
        ListenCase(a["what"], a["url"], a["path"], int(a["size"]), "", 0, int(a["size"]) - 1)
        for a in (audio[i % len(audio)] for i in range(count))
    ]


def listen(
    base: str, case: ListenCase, sessionid: str, stored: bytes, sha256: str, timeout: float
) -> Outcome:
    headers = {"Range": case.header} if case.header else {}
    started = time.perf_counter()
    try:
        reply = requests.get(
            base + case.url, headers=headers, cookies={"sessionid": sessionid}, timeout=timeout
        )
        body = reply.content
    except requests.RequestException as exc:
        return Outcome((time.perf_counter() - started) * 1000, f"{type(exc).__name__}")
    ms = (time.perf_counter() - started) * 1000
    where = f"{case.what} {case.header or 'full'}"
    if case.header:
        want_status, want = 206, stored[case.first : case.last + 1]
        if reply.status_code == want_status:
            content_range = reply.headers.get("Content-Range")
            if content_range != f"bytes {case.first}-{case.last}/{case.size}":
                return Outcome(ms, f"{where}: Content-Range {content_range!r}", len(body))
    else:
        want_status, want = 200, stored
    if reply.status_code != want_status:
        return Outcome(ms, f"{where}: HTTP {reply.status_code}", len(body))
    if reply.headers.get("Content-Length") != str(len(want)):
        return Outcome(ms, f"{where}: Content-Length {reply.headers.get('Content-Length')}", len(body))
    if body != want:
        return Outcome(ms, f"{where}: wrong bytes ({len(body)} received)", len(body))
    if not case.header and hashlib.sha256(body).hexdigest() != sha256:
        return Outcome(ms, f"{where}: sha256 differs from the stored one", len(body))
    return Outcome(ms, "", len(body))


def all_at_once(jobs: Sequence[Callable[[], Outcome]]) -> tuple[list[Outcome], float]:
    """Run every job in its own thread, released together by a barrier; return outcomes and wall time."""
    barrier = threading.Barrier(len(jobs) + 1)

    def run(job: Callable[[], Outcome]) -> Outcome:
        barrier.wait()
        return job()

    with ThreadPoolExecutor(len(jobs)) as pool:
        futures = [pool.submit(run, job) for job in jobs]
        barrier.wait()
        started = time.perf_counter()
        outcomes = [f.result() for f in futures]
        wall = time.perf_counter() - started
    return outcomes, wall


# ------------------------------------------------------------------------------------------ the run


def run_load(workdir: Path, config: LoadConfig, *, database_url: str | None) -> LoadReport:
    """Start the emulator and gunicorn, seed, dial all at once, listen all at once; report."""
    from noojee_django.emulator import ControlClient

    emulator, emulator_url = start_emulator(config.pbx_latency)
    try:
        env = django_env(
            workdir, emulator_url=emulator_url, database_url=database_url, conn_max_age=config.conn_max_age
        )
        seeded = run_seed(
            env,
            "seed",
            "--agents",
            str(config.dials),
            "--listeners",
            str(config.listeners),
            "--recordings",
            str(config.recordings),
            "--legs",
            ",".join(str(s) for s in config.legs),
        )
        audio = seeded["audio"]
        stored = {a["path"]: Path(a["path"]).read_bytes() for a in audio}
        sha256 = {a["path"]: a["sha256"] for a in audio}
        for a in audio:
            if hashlib.sha256(stored[a["path"]]).hexdigest() != a["sha256"]:
                raise RuntimeError(f"{a['what']}: the file on disk is not the one the database describes")
        with gunicorn(env, workdir, workers=config.workers, threads=config.threads) as base:
            with ThreadPoolExecutor(8) as pool:
                clicks = list(pool.map(partial(open_customer_page, base), seeded["agents"]))
                sessions = list(
                    pool.map(
                        lambda user: login(base, user["username"], user["password"]), seeded["listeners"]
                    )
                )
            control = ControlClient(emulator_url)
            before = int(control.stats()["requests"].get("dial", 0))
            dials, dial_wall = all_at_once([partial(click_dial, base, c, config.timeout) for c in clicks])
            originates = int(control.stats()["requests"].get("dial", 0)) - before
            pairs = Counter(
                (c["exten"], c["number"]) for c in control.calls() if c["kind"] == "click_to_dial"
            )

            rng = random.Random(config.seed)
            cases = range_cases(audio, config.ranges, rng) + full_cases(audio, config.full_gets)
            listens, listen_wall = all_at_once(
                [
                    partial(
                        listen,
                        base,
                        c,
                        sessions[n % len(sessions)],
                        stored[c.path],
                        sha256[c.path],
                        config.timeout,
                    )
                    for n, c in enumerate(cases)
                ]
            )
            try:
                rows = run_seed(env, "counts")
            except RuntimeError as exc:  # e.g. the web process holds every database connection
                rows = {"error": str(exc).strip().splitlines()[-1]}
    finally:
        emulator.terminate()
        emulator.wait(10)
    return LoadReport(
        config=config,
        database=f"PostgreSQL, CONN_MAX_AGE={config.conn_max_age}" if database_url else "SQLite",
        dials=dials,
        dial_wall_seconds=dial_wall,
        originates=originates,
        originate_pairs=pairs,
        # the PBX names a channel's extension without its technology (SIP/3000 -> 3000)
        expected_pairs=Counter((c.extension.partition("/")[2], c.number) for c in clicks),
        ranges=listens[: config.ranges],
        full_gets=listens[config.ranges :],
        listen_wall_seconds=listen_wall,
        audio_files=len(audio),
        audio_bytes=sum(len(b) for b in stored.values()),
        rows=rows,
    )
