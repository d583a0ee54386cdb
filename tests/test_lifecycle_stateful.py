"""The recording lifecycle as a state machine: any sequence of what agents, the PBX, workers and
operators do, against the emulator, keeps every invariant (see ``tests/support/lifecycle_machine.py``).

The default run is short (``NOOJEE_LIFECYCLE_EXAMPLES`` sequences of ``NOOJEE_LIFECYCLE_STEPS``
steps: 15 x 25 under the ``ci`` Hypothesis profile, a fifth of the sequences under ``dev``, see
``tests/hypothesis_profiles.py``); ``bench/lifecycle.py`` runs it longer through the same variables.
The counters are printed and, with ``NOOJEE_LIFECYCLE_REPORT`` set, written to that file as JSON.
"""

from __future__ import annotations

import os
import time
from typing import Any

import pytest
from hypothesis import HealthCheck, Phase
from hypothesis import settings as hypothesis_settings
from hypothesis.stateful import run_state_machine_as_test

from example_project.crm.models import Invoice
from tests.hypothesis_profiles import examples
from tests.support.lifecycle_machine import (
    STATS,
    AppClock,
    LifecycleMachine,
    World,
    lifecycle_settings,
    write_report,
)

pytestmark = pytest.mark.django_db

EXAMPLES = int(os.environ.get("NOOJEE_LIFECYCLE_EXAMPLES") or examples(15))
STEPS = int(os.environ.get("NOOJEE_LIFECYCLE_STEPS", "25"))
#: "1": explore new sequences each run (the bench); else the same sequences every run.
RANDOM = os.environ.get("NOOJEE_LIFECYCLE_RANDOM") == "1"


def test_the_recording_lifecycle_keeps_its_invariants_whatever_happens(
    pbx: Any,
    noojee_emulator_control: Any,
    settings: Any,
    agent: Any,
    other_agent: Any,
    superuser: Any,
    customer: Any,
    invoice: Invoice,
) -> None:
    invoices = [
        invoice,
        Invoice.objects.create(number="INV-43", customer=customer, amount="10.00"),
        Invoice.objects.create(number="INV-44", customer=customer, amount="20.00"),
    ]
    by_number = {i.number: i for i in invoices}
    settings.NOOJEE = lifecycle_settings(settings.NOOJEE, lambda tag: by_number.get(tag))
    clock = AppClock()
    LifecycleMachine.world = World(
        emulator=pbx,
        control=noojee_emulator_control,
        agents=[agent, other_agent],
        superuser=superuser,
        invoices=invoices,
        customer=customer,
        clock=clock,
    )
    run = settings_for_run()
    started = time.monotonic()
    before = dict(STATS)
    try:
        with clock.installed():
            run_state_machine_as_test(LifecycleMachine, settings=run)
    finally:
        STATS["seconds"] = round(time.monotonic() - started, 1)
        report = write_report()
        print(
            f"\nlifecycle: examples={report['examples'] - before['examples']} "
            f"steps={report['steps'] - before['steps']} "
            f"violations={report['violations'] - before['violations']} "
            f"pauses={report['pauses'] - before['pauses']} "
            f"seconds={report['seconds']}"
        )
        for message in report["first_violations"]:
            print("violation:", message)


def settings_for_run() -> hypothesis_settings:
    return hypothesis_settings(
        max_examples=EXAMPLES,
        stateful_step_count=STEPS,
        deadline=None,
        database=None,
        derandomize=not RANDOM,
        suppress_health_check=[HealthCheck.too_slow, HealthCheck.filter_too_much],
        print_blob=True,
        phases=list(Phase)
        if os.environ.get("NOOJEE_LIFECYCLE_SHRINK") != "0"
        else [Phase.explicit, Phase.generate],
    )
