"""No API key and no hash anywhere: a whole run of the app, happy and failing, with everything it says
captured.

The run uses a key nobody else uses and, in a second pass, the hash method. It places, watches and
hangs up a call, records a voice signature, polls and fetches it through the Celery tasks, plays it,
reads every API endpoint and every admin page of the app, and then breaks things at the emulator:
HTTP 500 and 502, closed connections, broken JSON, refusals whose message echoes the key or the hash,
notices that echo them, timeouts, a refused key, an unreachable PBX, failing polls and fetches.

Captured: every log record of every logger at DEBUG (formatted, with its traceback), every response
(status, headers, cookies, messages, body), ``str``, ``repr`` and the printed traceback of every error
raised, every signal's arguments, every text stored in the database, and the emulator's own request
log. None may hold the key, a hash the client computed, or ``apiKey=`` followed by the key.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import io
import logging
import re
import secrets
import socket
import traceback
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import Any

import pytest
from django.apps import apps
from django.contrib.auth.models import User
from django.contrib.messages import get_messages
from django.db import models
from django.dispatch import Signal
from django.test import Client
from django.urls import reverse

from example_project.crm.models import Customer, Invoice
from noojee_django import services, signals, tasks
from noojee_django.models import AgentPhone, CallSession, RecordingLeg, RecordingTag
from noojee_django.pbx import get_client
from tests.polling import wait_for

pytestmark = pytest.mark.django_db

#: Shaped like a real Noojee key, and unique to this run.
KEY = f"f863246a-973e-11e6-8784-{secrets.token_hex(6)}"
JSON = {"HTTP_ACCEPT": "application/json"}
TIMEOUT = 0.5
APP_MODELS = [
    "agentphone",
    "callsession",
    "recordingtag",
    "recordingleg",
    "recordingattempt",
    "recordingaccess",
]


class Seen:
    """Everything the run said, each text with where it came from."""

    def __init__(self) -> None:
        self.texts: list[tuple[str, str]] = []

    def text(self, where: str, value: object) -> None:
        self.texts.append((where, str(value)))

    def response(self, where: str, response: Any) -> Any:
        content = b"".join(response.streaming_content) if response.streaming else response.content
        headers = "\n".join(f"{name}: {value}" for name, value in response.items())
        self.text(where, f"{response.status_code}\n{headers}\n{response.cookies.output()}")
        self.text(where, content.decode("latin-1"))
        request = getattr(response, "wsgi_request", None)
        if request is not None:
            self.text(where + " messages", [str(m) for m in get_messages(request)])
        response.seen_content = content
        return response

    def exception(self, where: str, exc: BaseException) -> None:
        self.text(where, str(exc))
        self.text(where, repr(exc))
        self.text(where, "".join(traceback.format_exception(exc)))
        chained: BaseException | None = exc
        while chained is not None:
            self.text(where, f"{chained!r} {vars(chained)!r}")
            # every link, shown or not (``from None`` only hides one): an error reporter may walk them all
            chained = chained.__cause__ or chained.__context__


class EveryRecord(logging.Handler):
    def __init__(self, seen: Seen) -> None:
        super().__init__(logging.DEBUG)
        self.seen = seen
        self.count = 0
        self.setFormatter(logging.Formatter("%(name)s %(levelname)s %(message)s"))

    def emit(self, record: logging.LogRecord) -> None:
        self.count += 1
        self.seen.text(f"log {record.name}", self.format(record))
        self.seen.text(f"log {record.name} args", repr(record.args))


@contextmanager
def every_logger_at_debug(seen: Seen) -> Iterator[EveryRecord]:
    """Every logger, the existing and those made during the run, at DEBUG into one handler."""
    handler = EveryRecord(seen)
    root = logging.getLogger()
    existing = [lg for lg in logging.root.manager.loggerDict.values() if isinstance(lg, logging.Logger)]
    saved = [(lg, lg.level, lg.disabled) for lg in [root, *existing]]
    detached = [lg for lg in existing if not lg.propagate]
    for lg in [root, *existing]:
        lg.setLevel(logging.DEBUG)
        lg.disabled = False
    root.addHandler(handler)
    for lg in detached:
        lg.addHandler(handler)
    try:
        yield handler
    finally:
        root.removeHandler(handler)
        for lg in detached:
            lg.removeHandler(handler)
        for lg, level, disabled in saved:
            lg.setLevel(level)
            lg.disabled = disabled


@contextmanager
def every_signal(seen: Seen) -> Iterator[None]:
    def receiver(sender: Any, signal: Any, **kwargs: Any) -> None:
        seen.text("signal", repr(kwargs))
        for value in kwargs.values():
            if isinstance(value, models.Model):
                seen.text(
                    "signal",
                    repr({f.attname: getattr(value, f.attname) for f in value._meta.concrete_fields}),
                )

    all_signals = [value for value in vars(signals).values() if isinstance(value, Signal)]
    for signal in all_signals:
        signal.connect(receiver, weak=False)
    try:
        yield
    finally:
        for signal in all_signals:
            signal.disconnect(receiver)


def closed_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


# --------------------------------------------------------------------------------------------------
# The run


class Run:
    def __init__(self, seen: Seen, emulator: Any, settings: Any, agent: User, superuser: User) -> None:
        self.seen = seen
        self.emulator = emulator
        self.control = emulator.control
        self.settings = settings
        self.web = Client()
        self.web.force_login(agent)
        self.admin = Client()
        self.admin.force_login(superuser)
        self.agent = agent
        self.numbers = iter(range(10, 99))

    def get(self, where: str, url: str, client: Client | None = None, **extra: Any) -> Any:
        return self.seen.response(where, (client or self.web).get(url, **extra))

    def post(self, where: str, url: str, data: dict[str, Any] | None = None, **extra: Any) -> Any:
        return self.seen.response(where, self.web.post(url, data or {}, **{**JSON, **extra}))

    def raised(self, where: str, action: Callable[[], Any]) -> BaseException | None:
        try:
            action()
        except Exception as exc:
            self.seen.exception(where, exc)
            return exc
        return None

    def dial_number(self) -> str:
        return f"038320{next(self.numbers):04d}"


def happy_path(run: Run, customer: Customer, invoice: Invoice) -> RecordingTag:
    dialled = run.post(
        "dial",
        reverse("noojee:dial"),
        {"number": customer.phone, "content_type": "crm.customer", "object_id": customer.pk},
    )
    assert dialled.status_code == 200, dialled.seen_content
    call = dialled.json()
    wait_for(
        lambda: (
            run.get("call status", call["status_url"], **JSON).json()["status"]
            == CallSession.Status.CONNECTED
        )
    )
    started = run.post(
        "start recording",
        reverse("noojee:start-recording"),
        {"content_type": "crm.invoice", "object_id": invoice.pk, "tag": "INV-42", "consent": "on"},
    )
    assert started.status_code == 200, started.seen_content
    stopped = run.post("stop recording", started.json()["stop_url"])
    assert stopped.status_code == 200, stopped.seen_content
    assert run.post("hang up", call["hangup_url"]).status_code == 200

    recording_tag = RecordingTag.objects.get(pk=started.json()["id"])
    outcome = tasks.poll_recording_tag.apply(args=[recording_tag.pk]).get()
    run.seen.text("poll task result", outcome)
    recording_tag.refresh_from_db()
    assert recording_tag.status == RecordingTag.Status.ATTACHED, (outcome, recording_tag.last_error)

    audio = reverse("noojee:recording-audio", args=[recording_tag.pk])
    leg = recording_tag.legs.get()
    run.get("play", audio)
    run.get("play a range", audio, HTTP_RANGE="bytes=0-99")
    run.get("download", audio + "?download=1")
    run.seen.response("head", run.web.head(audio))
    run.get("play a leg", reverse("noojee:leg-audio", args=[leg.pk]))
    run.get("customer page", reverse("crm:customer-detail", args=[customer.pk]))
    run.get("invoice page", reverse("crm:invoice-detail", args=[invoice.pk]))
    return recording_tag


def every_api_endpoint(run: Run, recording_tag: RecordingTag) -> None:
    leg = recording_tag.legs.first()
    assert leg is not None
    call = CallSession.objects.filter(user=run.agent).first()
    assert call is not None
    urls = [
        reverse("noojee:api-root"),
        reverse("noojee:api-schema"),
        reverse("noojee:api-call-list"),
        reverse("noojee:api-call-detail", args=[call.pk]),
        reverse("noojee:api-recording-list"),
        reverse("noojee:api-recording-detail", args=[recording_tag.pk]),
        reverse("noojee:api-leg-list"),
        reverse("noojee:api-leg-detail", args=[leg.pk]),
    ]
    for url in urls:
        assert run.get(f"api {url}", url).status_code == 200
        run.get(f"browsable api {url}", url, HTTP_ACCEPT="text/html")
    assert "paths" in run.get("schema", reverse("noojee:api-schema")).json()


def every_admin_page(run: Run, invoice: Invoice, customer: Customer) -> None:
    for model in APP_MODELS:
        listing = run.get(
            f"admin {model} list", reverse(f"admin:noojee_django_{model}_changelist"), run.admin
        )
        assert listing.status_code == 200
        for row in apps.get_model("noojee_django", model)._default_manager.all():
            page = run.get(
                f"admin {model} {row.pk}",
                reverse(f"admin:noojee_django_{model}_change", args=[row.pk]),
                run.admin,
            )
            assert page.status_code == 200
    run.get("admin invoice", reverse("admin:crm_invoice_change", args=[invoice.pk]), run.admin)
    run.get("admin customers", reverse("admin:crm_customer_changelist"), run.admin)
    tags = list(RecordingTag.objects.values_list("pk", flat=True))
    confirmation = run.admin.post(
        reverse("admin:noojee_django_recordingtag_changelist"),
        {"action": "purge_audio", "_selected_action": tags},
    )
    run.seen.response("admin purge confirmation", confirmation)


def call_control_faults(run: Run, customer: Customer, auth: str) -> None:
    """Every fault on every call-control method, through the views, the API and the client itself."""
    digest = get_client().auth.params().get("hash", "") if auth == "hash" else ""
    echoed = f"Invalid apiKey {KEY} (apiKey={KEY}, hash={digest or 'none'})"
    faults: list[tuple[str, dict[str, Any]]] = [
        ("http_500", {}),
        ("http_502", {}),
        ("http_502", {"body": "json"}),
        ("close", {}),
        ("drop", {"after_bytes": 3}),
        ("malformed_json", {}),
        ("negative_code", {"code": -1, "message": echoed}),
        ("negative_code", {"code": -5, "message": echoed}),
        ("negative_code", {"code": -5, "message": echoed, "status": 500}),
        ("negative_code", {"code": 3, "message": echoed}),  # a notice: the reply is logged
        ("latency", {"seconds": TIMEOUT * 2}),
    ]
    client = get_client()

    def arm(kind: str, method: str, params: dict[str, Any]) -> None:
        # Twice: a refusal that mentions the hash is rightly sent again once, with a new pair.
        run.control.clear_faults()
        run.control.add_fault(kind, method=method, count=2, **params)

    for kind, params in faults:
        arm(kind, "dial", params)
        answer = run.post(f"dial under {kind}", reverse("noojee:dial"), {"number": run.dial_number()})
        assert answer.status_code == 502, (kind, answer.seen_content)
        if kind == "latency":
            continue  # a timeout takes TIMEOUT each time, and says the same thing everywhere
        arm(kind, "dial", params)
        api = run.seen.response(
            f"api dial under {kind}",
            run.web.post(
                reverse("noojee:api-call-list"),
                {"number": run.dial_number()},
                content_type="application/json",
            ),
        )
        assert api.status_code == 502, (kind, api.seen_content)
        arm(kind, "dial", params)
        number = run.dial_number()
        assert run.raised(f"client dial under {kind}", lambda n=number: client.dial(n, "SIP/101")) is not None
    run.control.clear_faults()

    live = CallSession.objects.create(
        user=run.agent, extension="SIP/101", number="0383208100", status=CallSession.Status.CONNECTED
    )
    recording = RecordingTag.objects.create(
        tag="INV-43", content_object=customer, extension="SIP/101", started_by=run.agent
    )
    unique_id = run.control.inbound_call(caller_id="0398765432", exten="101")
    for kind, params in faults[:1] + faults[6:8]:
        arm(kind, "hangup", params)
        run.post(f"hang up under {kind}", reverse("noojee:hangup", args=[live.pk]))
        arm(kind, "subscribe", params)
        run.get(f"call status under {kind}", reverse("noojee:call-status", args=[live.pk]), **JSON)
        arm(kind, "subscribe", params)
        run.post(f"answer under {kind}", reverse("noojee:answer"), {"unique_id": unique_id})
        arm(kind, "answer", params)
        run.post(f"answer under {kind}", reverse("noojee:answer"), {"unique_id": unique_id})
        arm(kind, "start", params)
        run.post(
            f"start under {kind}",
            reverse("noojee:start-recording"),
            {"content_type": "crm.customer", "object_id": customer.pk, "tag": f"C-{next(run.numbers)}"},
        )
        arm(kind, "stop", params)
        RecordingTag.objects.filter(pk=recording.pk).update(status=RecordingTag.Status.RECORDING)
        run.post(f"stop under {kind}", reverse("noojee:stop-recording", args=[recording.pk]))
        for method, action in (
            ("hangup", lambda: client.hangup("101")),
            ("answer", lambda: client.answer(unique_id, "SIP/101")),
            ("start", lambda: client.start_recording("SIP/101", tag="X-1")),
            ("stop", lambda: client.stop_recording("SIP/101")),
            ("subscribe", lambda: client.subscribe(["101"], 0, timeout=0)),
        ):
            arm(kind, method, params)
            run.raised(f"client {method} under {kind}", action)
        arm(kind, "hangup", params)
        run.raised(f"service hangup under {kind}", lambda: services.hangup(run.agent, live))
        run.control.clear_faults()


def recording_faults(run: Run, invoice: Invoice, auth: str) -> None:
    """Polls and fetches that fail, through the tasks and the services; their attempts are kept."""
    digest = get_client().auth.params().get("hash", "") if auth == "hash" else ""
    echoed = f"no such leg for apiKey={KEY} {KEY} hash={digest or 'none'} {digest}"
    run.control.add_recording("FAIL-1", [1, 1])
    recording_tag = services.watch_tag(invoice, "FAIL-1")
    for kind, params in [
        ("http_500", {}),
        ("negative_code", {"code": -5, "message": echoed}),
        ("negative_code", {"code": -1, "message": echoed, "status": 401}),
        ("malformed_json", {}),
    ]:
        run.control.add_fault(kind, method="retrieveMetaData", count=3, **params)
        run.seen.text(f"poll under {kind}", services.poll_tag(recording_tag.pk))
        run.control.clear_faults()
    run.seen.text("poll", services.poll_tag(recording_tag.pk))
    first, second = RecordingLeg.objects.filter(recording_tag=recording_tag).order_by("leg")
    for leg, kind, params in [
        (first, "truncated_base64", {}),
        (first, "drop", {"after_bytes": 10}),
        (first, "http_500", {}),
        (second, "negative_code", {"code": -1, "message": echoed, "status": 404}),
    ]:
        RecordingLeg.objects.filter(pk=leg.pk).update(fetch_status=RecordingLeg.FetchStatus.PENDING)
        run.control.add_fault(kind, method="retrieveRecording", count=3, **params)
        run.seen.text(f"fetch under {kind}", tasks.fetch_recording_leg.apply(args=[leg.pk]).get())
        run.control.add_fault(kind, method="retrieveRecording", count=3, **params)
        run.raised(
            f"client download under {kind}",
            lambda leg=leg: get_client().download_leg(
                io.BytesIO(), unique_id=leg.unique_id, leg=leg.leg, call_record_id=leg.call_record_id
            ),
        )
        run.control.clear_faults()
    recording_tag.refresh_from_db()
    assert recording_tag.status == RecordingTag.Status.FAILED, recording_tag.status
    assert "***" in recording_tag.last_error  # the echoed key was there, masked
    run.control.add_fault("negative_code", method="retrieveMetaDataByHour", code=-5, message=echoed)
    run.raised("reconcile", lambda: services.reconcile_hour(dt.date.today(), 10))
    run.control.clear_faults()


def refused_and_unreachable(run: Run, customer: Customer) -> None:
    """The PBX refuses the key (each refusal style); then it cannot be reached at all."""
    call = CallSession.objects.create(
        user=run.agent, extension="SIP/101", number="0383208100", status=CallSession.Status.CONNECTED
    )
    for refusal in ("code", "401", "403"):
        run.control.config(api_key="another-key-entirely", auth_refusal=refusal)
        answer = run.post(f"dial refused ({refusal})", reverse("noojee:dial"), {"number": run.dial_number()})
        assert answer.status_code == 502, answer.seen_content
        run.get(f"call status refused ({refusal})", reverse("noojee:call-status", args=[call.pk]), **JSON)
        run.raised(f"client refused ({refusal})", lambda: get_client().retrieve_metadata("INV-42"))
    run.control.config(api_key=KEY, auth_refusal="code")

    run.settings.NOOJEE = {**run.settings.NOOJEE, "BASE_URL": f"http://127.0.0.1:{closed_port()}"}
    answer = run.post("dial unreachable", reverse("noojee:dial"), {"number": run.dial_number()})
    assert answer.status_code == 502, answer.seen_content
    run.raised("client unreachable", lambda: get_client().dial("0383208100", "SIP/101"))
    run.raised("service unreachable", lambda: services.hangup(run.agent, call))
    superuser_phone = AgentPhone.objects.create(user=User.objects.get(username="root"), extension="SIP/109")
    run.seen.response(
        "admin dial unreachable",
        run.admin.post(
            reverse("admin:crm_customer_changelist"),
            {"action": "noojee_dial", "_selected_action": [customer.pk]},
        ),
    )
    superuser_phone.delete()
    run.settings.NOOJEE = {**run.settings.NOOJEE, "BASE_URL": run.emulator.url}


def everything_stored(seen: Seen) -> None:
    for model in apps.get_models():
        for row in model._default_manager.all():
            seen.text(
                f"db {model._meta.label}",
                repr([getattr(row, f.attname) for f in model._meta.concrete_fields]),
            )


def hashes_of(texts: list[str], emulator: Any) -> set[str]:
    """Every hash pair the client sent: from the timestamps it sent (which are not secret) and the
    pairs the emulator accepted."""
    stamps = {m for text in texts for m in re.findall(r"timeStamp=(\d+)", text)}
    digests = {hashlib.sha256(f"{KEY}:{stamp}".encode()).hexdigest() for stamp in stamps}
    return digests | {digest for _, digest in emulator.pbx._hash_uses}


@pytest.mark.slow
@pytest.mark.parametrize("auth", ["apikey", "hash"])
def test_no_key_or_hash_appears_anywhere_in_a_whole_run(
    auth: str,
    noojee_emulator_factory: Callable[..., Any],
    settings: Any,
    agent: User,
    superuser: User,
    customer: Customer,
    invoice: Invoice,
    capfd: pytest.CaptureFixture[str],
) -> None:
    emulator = noojee_emulator_factory(api_key=KEY, log_requests=True, metadata_rate_limit_seconds=0)
    settings.NOOJEE = {
        **settings.NOOJEE,
        "BASE_URL": emulator.url,
        "API_KEY": KEY,
        "AUTH": auth,
        "TIMEOUT": TIMEOUT,
        "PBX_TIME_ZONE": emulator.config.pbx_time_zone,
        "POLL_DELAY": 0,
    }
    seen = Seen()
    run = Run(seen, emulator, settings, agent, superuser)
    with every_logger_at_debug(seen) as records, every_signal(seen):
        recording_tag = happy_path(run, customer, invoice)
        every_api_endpoint(run, recording_tag)
        call_control_faults(run, customer, auth)
        recording_faults(run, invoice, auth)
        refused_and_unreachable(run, customer)
        every_admin_page(run, invoice, customer)
        everything_stored(seen)
    emulator_log = capfd.readouterr().err
    seen.text("emulator log", emulator_log)

    texts = [text for _, text in seen.texts]
    digests = hashes_of([*texts, emulator_log], emulator)
    secret = re.compile("|".join(re.escape(s) for s in [KEY, f"apiKey={KEY}", *digests]), re.IGNORECASE)
    leaked = [(where, text[:200]) for where, text in seen.texts if secret.search(text)]
    assert not leaked, "\n".join(f"{where}: {text}" for where, text in leaked)
    # The run was what it claims to be: the requests were logged (masked), and so were the failures.
    assert records.count > 200
    masked = "hash=***" if auth == "hash" else "apiKey=***"
    assert any(masked in text for where, text in seen.texts if where.startswith("log urllib3"))
    assert masked in emulator_log
    assert any("***" in text for where, text in seen.texts if where.startswith("db "))
    if auth == "hash":
        assert len(digests) >= 2  # the accepted pairs, and those computed while the key was refused
