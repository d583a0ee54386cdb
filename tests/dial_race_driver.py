"""Many agents double-click "dial" at the same instant, on the configured database; reports the outcome.

Run by :mod:`tests.test_dial_concurrency` in its own process (``python -m tests.dial_race_driver``) with
the example project's settings, so the database is whatever ``DATABASE_URL`` names: each thread has
its own connection, as the threads of a web server do. Prints one JSON line.
"""

from __future__ import annotations

import argparse
import json
import os
import threading
from typing import Any


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--agents", type=int, default=8)
    parser.add_argument("--clicks", type=int, default=4, help="simultaneous identical clicks per agent")
    args = parser.parse_args()

    import django

    django.setup()
    from django.contrib.auth.models import Permission, User
    from django.db import connections

    from noojee_django import services
    from noojee_django.emulator import ControlClient
    from noojee_django.models import AgentPhone, CallSession

    control = ControlClient(os.environ["NOOJEE_BASE_URL"])
    permission = Permission.objects.get(codename="can_dial")
    agents = []
    for i in range(args.agents):
        user = User.objects.create_user(f"race-{i}")
        user.user_permissions.add(permission)
        AgentPhone.objects.create(user=user, extension=f"SIP/{4000 + i}")
        agents.append(user.pk)
    before = int(control.stats()["requests"].get("dial", 0))

    start = threading.Barrier(args.agents * args.clicks)
    returned: dict[int, list[int]] = {pk: [] for pk in agents}
    errors: list[str] = []

    def click(user_id: int) -> None:
        try:
            user = User.objects.get(pk=user_id)
            start.wait()
            call = services.dial(user, f"0412{user_id:06d}")
            returned[user_id].append(call.pk)
        except Exception as exc:  # reported, not raised: the test asserts there are none
            errors.append(f"{type(exc).__name__}: {exc}")
        finally:
            connections.close_all()

    threads = [threading.Thread(target=click, args=(pk,)) for pk in agents for _ in range(args.clicks)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(60)

    report: dict[str, Any] = {
        "originates": int(control.stats()["requests"].get("dial", 0)) - before,
        "call_rows": CallSession.objects.count(),
        "calls_per_agent": {str(pk): sorted(set(ids)) for pk, ids in returned.items()},
        "answers": sum(len(ids) for ids in returned.values()),
        "errors": errors,
    }
    print(json.dumps(report))


if __name__ == "__main__":
    main()
