"""What the dial button costs on the server, and how it holds under a burst of clicks.

    python bench/dial.py [--dials 200] [--agents 50]

1. Server-side time of the app's dial view against a bare Django view that only calls
   ``requests.post`` to the same emulator's ``dial`` (zero latency, its own process). Both go through
   Django's full request handling in this process (middleware, session) as the same logged-in user:
   the bare view is ``login_required``, as any CRM view is, so the session and user lookups are in
   both. ``--dials`` each, alternating; medians. The ratio is what the app adds: validation,
   permission, the call row, duplicate-click protection, and what it saves by keeping its HTTP
   connection to the PBX open. The same bare view without login is timed too and its ratio printed,
   so the cost of logging in can be read off; and so is a "floor" view that does only the two things
   every dial must (Django's permission check and the PBX call through the app's client), so what
   the call row costs can be read off.
2. SQL queries per dial: all the dial request makes, minus those of the bare logged-in view (the
   session and the user), each listed.
3. A burst through a real WSGI server (gunicorn, threads): ``--agents`` agents each double-click
   (4 simultaneous identical requests), ``4 x agents`` requests in all. Counts HTTP errors and the
   originates the emulator received: one per agent, none duplicated.

4. The dial view and the bare view again against a second emulator that adds 30 ms to every PBX
   request (``--latency 0.03``): what an agent feels with a hosted PBX, where the round trip, not the
   app, is most of a click. ``overhead_ratio_30ms`` is their ratio (target: at most 1.1).

``--breakdown`` also times the parts of the dial view in this process (timers wrapped around the
service's steps) and prints each part's median.

Last line: ``dial: overhead_ratio_vs_bare=<x> queries_per_dial=<n> concurrent_errors=<n>
overhead_ratio_30ms=<x>``; the duplicate count is in the burst line above it.
"""

from __future__ import annotations

import argparse
import contextlib
import os
import statistics
import sys
import tempfile
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))

from tests.servers import ServerUnavailable, gunicorn, redis_server, start_emulator  # noqa: E402

API_KEY = "bench-key"


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--dials", type=int, default=200)
    parser.add_argument("--agents", type=int, default=50)
    parser.add_argument("--breakdown", action="store_true", help="time the dial view's parts too")
    args = parser.parse_args()

    work = Path(tempfile.mkdtemp(prefix="noojee-bench-dial-"))
    with contextlib.ExitStack() as servers:
        cache = "file"
        if os.environ.get("BENCH_DIAL_CACHE", "redis") == "redis":
            try:  # the shared cache production runs (docs/deployment.md); files if Redis is missing
                os.environ["CACHE_REDIS_URL"] = servers.enter_context(redis_server())
                cache = "redis"
            except ServerUnavailable:
                pass
        run(args, work, cache)


def run(args: argparse.Namespace, work: Path, cache: str) -> None:
    emulator, url = start_emulator(API_KEY, "--answer-delay", "30")
    slow_emulator, slow_url = start_emulator(API_KEY, "--answer-delay", "30", "--latency", "0.03")
    os.environ.update(
        DJANGO_SETTINGS_MODULE="example_project.settings",
        NOOJEE_EXAMPLE_VAR_DIR=str(work),
        NOOJEE_BASE_URL=url,
        NOOJEE_API_KEY=API_KEY,
        DJANGO_DEBUG="0",
        CELERY_BROKER_URL="memory://",
    )
    try:
        import django

        django.setup()
        from django.core.management import call_command

        call_command("migrate", verbosity=0)
        in_process = measure_in_process(url, args.dials)
        parts = measure_breakdown(url, args.dials) if args.breakdown else {}
        burst = measure_burst(url, work, args.agents)
        app_30, bare_30 = measure_with_latency(slow_url, args.dials)
    finally:
        for process in (emulator, slow_emulator):
            process.terminate()
            process.wait(10)

    app_ms, bare_ms, anonymous_ms, floor_ms, queries = in_process
    errors, originates, duplicates, p50, p99 = burst
    print(f"dial view (app):  median {app_ms:.2f} ms over {args.dials} dials ({cache} cache)")
    print(f"bare view:        median {bare_ms:.2f} ms (login_required, requests.post to the same emulator)")
    print(
        f"bare view, anonymous: median {anonymous_ms:.2f} ms "
        f"(ratio of the dial view to it: {app_ms / anonymous_ms:.2f})"
    )
    print(
        f"floor view:       median {floor_ms:.2f} ms (login_required, user.has_perm and the app's client; "
        f"ratio to the bare view: {floor_ms / bare_ms:.2f})"
    )
    for part, ms in parts.items():
        print(f"  part of the dial view: {part:<34} median {ms:.3f} ms")
    print(f"SQL queries per dial beyond the session and user: {len(queries)}")
    for sql in queries:
        print(f"  {sql[:100]}")
    print(
        f"burst: {4 * args.agents} requests from {args.agents} agents double-clicking: errors={errors} "
        f"originates={originates} duplicate_originates={duplicates} p50={p50:.0f} ms p99={p99:.0f} ms"
    )
    print(
        f"with 30 ms added to every PBX request: dial view median {app_30:.2f} ms, "
        f"bare view median {bare_30:.2f} ms"
    )
    print(
        f"dial: overhead_ratio_vs_bare={app_ms / bare_ms:.2f} queries_per_dial={len(queries)} "
        f"concurrent_errors={errors} overhead_ratio_30ms={app_30 / bare_30:.2f}"
    )


def bare_dial(request: Any) -> Any:
    """The baseline: a Django view that does nothing but ``requests.post`` the PBX's dial."""
    import requests
    from django.http import JsonResponse

    from noojee_django.conf import noojee_settings

    reply = requests.post(
        noojee_settings.BASE_URL + "/servicemanager/rest/CallManagementAPI/dial",
        params={"number": request.POST["number"], "extenOrUniqueId": "SIP/500", "apiKey": API_KEY},
        timeout=10,
    )
    return JsonResponse(reply.json())


def floor_dial(request: Any) -> Any:
    """What no dial view can skip: Django's permission check, and the PBX call through the app's client."""
    from django.core.exceptions import PermissionDenied
    from django.http import JsonResponse

    from noojee_django.pbx import get_client

    if not request.user.has_perm("noojee_django.can_dial"):
        raise PermissionDenied
    result = get_client().dial(request.POST["number"], "SIP/500")
    return JsonResponse({"SessionID": result.session_id})


def bench_client() -> Any:
    """A logged-in agent with a phone, and the bench's URLconf installed; made once."""
    from django.contrib.auth.decorators import login_required
    from django.contrib.auth.models import Permission, User
    from django.test import Client
    from django.urls import include, path

    from noojee_django.models import AgentPhone

    user = User.objects.filter(username="bench-agent").first()
    if user is None:
        user = User.objects.create_user("bench-agent")
        user.user_permissions.add(Permission.objects.get(codename="can_dial"))
        AgentPhone.objects.create(user=user, extension="SIP/500")
    client = Client()
    client.force_login(user)

    urlconf = type(sys)("bench_dial_urls")
    urlconf.urlpatterns = [  # type: ignore[attr-defined]
        path("bare-dial/", login_required(bare_dial)),
        path("bare-dial-anonymous/", bare_dial),
        path("floor-dial/", login_required(floor_dial)),
        path("noojee/", include("noojee_django.urls")),
    ]
    sys.modules["bench_dial_urls"] = urlconf
    return client


def bench_settings(url: str) -> Any:
    """The bench's URLconf, the PBX at ``url``, and the per-agent rate limit kept on (its cache look-up
    and count are part of what a dial costs), high enough for one agent's hundreds of dials here."""
    from django.conf import settings
    from django.test import override_settings

    return override_settings(
        ROOT_URLCONF="bench_dial_urls",
        NOOJEE={
            **settings.NOOJEE,
            "BASE_URL": url,
            "DIAL_RATE_LIMIT": int(os.environ.get("BENCH_DIAL_RATE_LIMIT", 10**9)) or None,
        },
    )


def time_views(client: Any, targets: dict[str, list[float]], dials: int, prefix: str) -> None:
    """``dials`` posts to each view, alternating, each time appended to its list (ms)."""
    for i in range(dials):
        for target, times in targets.items():
            started = time.perf_counter()
            response = client.post(target, {"number": f"{prefix}{i:06d}"}, HTTP_ACCEPT="application/json")
            times.append((time.perf_counter() - started) * 1000)
            assert response.status_code == 200, response.content


def measure_with_latency(url: str, dials: int) -> tuple[float, float]:
    """Medians of the dial view and the bare logged-in view against a PBX 30 ms away."""
    client = bench_client()
    targets: dict[str, list[float]] = {"/noojee/dial/": [], "/bare-dial/": []}
    with bench_settings(url):
        time_views(client, targets, dials, "0386")
    app, bare = (statistics.median(times) for times in targets.values())
    return app, bare


def measure_in_process(url: str, dials: int) -> tuple[float, float, float, float, list[str]]:
    """The four views through Django's full request handling (middleware, session, auth), in this
    process. Returns the medians (app, bare logged-in, bare anonymous, floor) and the dial's extra
    queries."""
    from django.db import connection
    from django.test.utils import CaptureQueriesContext

    client = bench_client()
    targets: dict[str, list[float]] = {
        "/noojee/dial/": [],
        "/bare-dial/": [],
        "/bare-dial-anonymous/": [],
        "/floor-dial/": [],
    }
    with bench_settings(url):
        time_views(client, targets, dials, "0383")
        with CaptureQueriesContext(connection) as captured:
            client.post("/noojee/dial/", {"number": "0399999999"}, HTTP_ACCEPT="application/json")
        with CaptureQueriesContext(connection) as baseline:
            client.post("/bare-dial/", {"number": "0399999998"}, HTTP_ACCEPT="application/json")
    # the queries the dial adds to what any logged-in request costs (session, user)
    extra = [q["sql"] for q in captured.captured_queries[len(baseline.captured_queries) :]]
    app, bare, anonymous, floor = (statistics.median(times) for times in targets.values())
    return app, bare, anonymous, floor, extra


def measure_breakdown(url: str, dials: int) -> dict[str, float]:
    """Median time of each step of the dial view, from timers wrapped around the steps."""
    import functools
    from collections import defaultdict

    from django.contrib.auth.models import User
    from django.db.models import QuerySet
    from django.test import Client

    from noojee_django import forms, services, views
    from noojee_django.client import NoojeeClient
    from noojee_django.services import calls

    steps = [
        (forms.DialForm, "is_valid", "form"),
        (calls, "require", "permission check (user.has_perm, 2 queries)"),
        (calls, "agent_phone_for", "the agent's phone (1 query)"),
        (calls, "_check_dial_rate", "the per-agent rate limit (cache)"),
        (calls, "_claim_dial", "the call row inserted (1 query)"),
        (NoojeeClient, "dial", "the PBX's dial (HTTP, kept alive)"),
        (QuerySet, "update", "the PBX's answer written (1 query)"),
        (views, "call_payload", "the answer built"),
        (services, "dial", "services.dial in all"),
    ]
    timings: dict[str, list[float]] = defaultdict(list)

    def timed(function: Any, label: str) -> Any:
        @functools.wraps(function)
        def wrapper(*args: Any, **kwargs: Any) -> Any:
            started = time.perf_counter()
            try:
                return function(*args, **kwargs)
            finally:
                timings[label].append((time.perf_counter() - started) * 1000)

        return wrapper

    originals = [(owner, name, getattr(owner, name)) for owner, name, _ in steps]
    for owner, name, label in steps:
        setattr(owner, name, timed(getattr(owner, name), label))
    try:
        client = Client()
        client.force_login(User.objects.get(username="bench-agent"))
        with bench_settings(url):
            for i in range(dials):
                response = client.post(
                    "/noojee/dial/", {"number": f"0385{i:06d}"}, HTTP_ACCEPT="application/json"
                )
                assert response.status_code == 200, response.content
    finally:
        for owner, name, original in originals:
            setattr(owner, name, original)
    return {label: statistics.median(timings[label]) for _, _, label in steps}


def measure_burst(url: str, work: Path, agents: int) -> tuple[int, int, int, float, float]:
    import requests
    from django.contrib.auth.models import Permission, User
    from django.test import Client

    from noojee_django.emulator import ControlClient
    from noojee_django.models import AgentPhone

    permission = Permission.objects.get(codename="can_dial")
    cookies = []
    for i in range(agents):
        user = User.objects.create_user(f"burst-{i}", password="pw")
        user.user_permissions.add(permission)
        AgentPhone.objects.create(user=user, extension=f"SIP/{3000 + i}")
        client = Client()
        client.force_login(user)
        cookies.append(client.cookies["sessionid"].value)

    with gunicorn(os.environ.copy(), work, workers=2, threads=32) as base:
        control = ControlClient(url)
        before = int(control.stats()["requests"].get("dial", 0))

        def click(job: tuple[int, int]) -> tuple[int, float]:
            agent, _ = job
            started = time.perf_counter()
            response = requests.post(
                base + "/noojee/dial/",
                data={"number": f"0412{agent:06d}"},
                cookies={"sessionid": cookies[agent], "csrftoken": "x" * 32},
                headers={"Accept": "application/json", "X-CSRFToken": "x" * 32, "Referer": base + "/"},
                timeout=60,
            )
            return response.status_code, (time.perf_counter() - started) * 1000

        jobs = [(agent, n) for n in range(4) for agent in range(agents)]
        with ThreadPoolExecutor(len(jobs)) as pool:
            results = list(pool.map(click, jobs))
        originates = int(control.stats()["requests"].get("dial", 0)) - before
    errors = sum(1 for status, _ in results if status != 200)
    latencies = sorted(ms for _, ms in results)
    p99 = latencies[min(len(latencies) - 1, int(len(latencies) * 0.99))]
    return errors, originates, originates - agents, statistics.median(latencies), p99


if __name__ == "__main__":
    main()
