"""Every entry point of the app, for each of six kinds of user: what they get, and what it did.

The expected outcomes are the table in ``tests/permission_matrix.py`` (also the table of
``docs/security.md``). Each cell is one test: it sets up what the entry point acts on, sends the
request as a browser, the widget or an API client would, checks the answer, and then checks the side
effect: done exactly when the table says ``ok``; for every refusal, nothing reached the emulator and
nothing changed. Other tests check that the table covers every URL, API action, admin page and admin
action the app has, and that the docs show this very table.
"""

from __future__ import annotations

import datetime as dt
import io
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import urlsplit

import pytest
from django.conf import settings
from django.contrib import admin
from django.contrib.admin.options import InlineModelAdmin
from django.contrib.auth.models import User
from django.contrib.contenttypes.models import ContentType
from django.contrib.messages import get_messages
from django.shortcuts import resolve_url
from django.test import Client
from django.urls import URLResolver, get_resolver, reverse
from django.utils import timezone

from example_project.crm.models import Customer, Invoice
from noojee_django import admin as noojee_admin
from noojee_django import connections, services
from noojee_django.admin_actions import DialActionMixin
from noojee_django.models import (
    AgentPhone,
    CallSession,
    LogChain,
    RecordingAccess,
    RecordingAttempt,
    RecordingLeg,
    RecordingTag,
    RecordingTransition,
    Script,
    ScriptVersion,
    StoredAudio,
)
from noojee_django.signing import generate_private_key
from tests import permission_matrix
from tests.permission_matrix import EXPECTED, ROLES
from tests.recordings import attached_recording

pytestmark = pytest.mark.django_db

JSON = {"HTTP_ACCEPT": "application/json"}
RANGE = "bytes=0-99"


# --------------------------------------------------------------------------------------------------
# The world each cell runs in


@dataclass
class World:
    control: Any
    users: dict[str, User | None]
    customer: Customer
    invoice: Invoice
    role: str = "anonymous"
    made: dict[str, Any] = field(default_factory=dict)
    before: dict[str, int] = field(default_factory=dict)

    @property
    def user(self) -> User | None:
        return self.users[self.role]

    def start_counting(self) -> None:
        self.before = dict(self.control.stats()["requests"])

    def pbx(self, method: str) -> int:
        """PBX requests of ``method`` since the setup was done: what the entry point sent."""
        return self.pbx_sent().get(method, 0)

    def pbx_sent(self) -> dict[str, int]:
        now = self.control.stats()["requests"]
        return {m: n - self.before.get(m, 0) for m, n in now.items() if n > self.before.get(m, 0)}

    def emulator_call(self, unique_id: str) -> dict[str, Any]:
        return next(c for c in self.control.calls() if c["unique_id"] == unique_id)

    def fresh(self, name: str) -> Any:
        obj = self.made[name]
        return type(obj)._default_manager.get(pk=obj.pk)


def json_of(response: Any) -> Any:
    if "json" not in response.get("Content-Type", ""):
        return {}
    return response.json()


def ids_in(response: Any) -> set[int]:
    return {item["id"] for item in json_of(response).get("results", [])}


def body(response: Any) -> bytes:
    return b"".join(response.streaming_content) if response.streaming else response.content


def stored(recording: RecordingTag | RecordingLeg) -> bytes:
    with recording.audio.open("rb") as handle:
        return handle.read()


def messages_of(response: Any) -> list[str]:
    return [str(m) for m in get_messages(response.wsgi_request)]


def context_value(response: Any, name: str) -> Any:
    context = getattr(response, "context", None)
    if context is None:
        return None
    try:
        return context[name]
    except KeyError:
        return None


def accessed(w: World, *, leg: bool = False, action: str = "play", byte_range: str = "") -> bool:
    return RecordingAccess.objects.filter(
        user=w.user,
        recording_tag=w.made["attached"],
        leg=w.made["leg"] if leg else None,
        action=action,
        byte_range=byte_range,
        ip_address="127.0.0.1",
    ).exists()


# --------------------------------------------------------------------------------------------------
# What entry points act on


def nothing(w: World) -> None:
    pass


def agent_call(w: World) -> None:
    """The agent's click-to-dial call to the customer, live on the emulator."""
    w.made["call"] = services.dial(w.users["agent"], w.customer.phone, obj=w.customer)


def agent_call_row(w: World) -> None:
    w.made["call"] = CallSession.objects.create(
        user=w.users["agent"], extension="SIP/101", number="0383208100", content_object=w.customer
    )


def ringing_on_agent_phone(w: World) -> None:
    w.made["unique_id"] = w.control.inbound_call(caller_id="0398765432", exten="101")


def calls_on_both_phones(w: World) -> None:
    for exten in ("101", "102", "103"):  # 103: the phone of the agent of the other PBX
        w.control.answer(w.control.inbound_call(caller_id="0398765432", exten=exten), exten)


def agent_recording(w: World) -> None:
    """The agent's call on SIP/101, being recorded for the invoice."""
    unique_id = w.control.inbound_call(caller_id="0398765432", exten="101")
    w.control.answer(unique_id, "101")
    w.made["unique_id"] = unique_id
    w.made["recording"] = services.start_recording(w.users["agent"], w.invoice, "SIG-7", consent_given=True)


def agent_recording_paused(w: World) -> None:
    """The agent's recording, paused (card details being read)."""
    agent_recording(w)
    services.pause_recording(w.users["agent"], w.made["recording"])


def recording_paused(w: World, response: Any) -> tuple[bool, ...]:
    return (
        w.pbx("stop") == 1,
        w.fresh("recording").status == RecordingTag.Status.PAUSED,
        not w.emulator_call(w.made["unique_id"])["recording"],
    )


def recording_resumed(w: World, response: Any) -> tuple[bool, ...]:
    return (
        w.pbx("start") == 1,
        w.fresh("recording").status == RecordingTag.Status.RECORDING,
        w.emulator_call(w.made["unique_id"])["recording"],
    )


def attached(w: World) -> None:
    """The invoice's voice signature (two legs, real WAVs), recorded by the agent."""
    recording_tag = attached_recording(w.invoice)
    RecordingTag.objects.filter(pk=recording_tag.pk).update(started_by=w.users["agent"])
    w.made["attached"] = recording_tag
    w.made["leg"] = recording_tag.legs.get(leg=1)


def held(w: World) -> None:
    attached(w)
    RecordingTag.objects.filter(pk=w.made["attached"].pk).update(legal_hold=True)


def failed_leg(w: World) -> None:
    attached(w)
    RecordingLeg.objects.filter(pk=w.made["leg"].pk).update(fetch_status="failed", fetch_attempts=5)


def absent_tag(w: World) -> None:
    w.made["absent"] = RecordingTag.objects.create(
        tag="ABS-1",
        content_object=w.invoice,
        status=RecordingTag.Status.ABSENT,
        started_by=w.users["agent"],
        last_error="The PBX has no recording tagged 'ABS-1'.",
    )


def admin_rows(w: World) -> None:
    """A row in every model of the app."""
    attached(w)
    agent_call_row(w)
    w.made["agentphone"] = AgentPhone.objects.get(user=w.users["agent"])
    w.made["callsession"] = w.made["call"]
    w.made["recordingtag"] = w.made["attached"]
    w.made["recordingleg"] = w.made["leg"]
    w.made["recordingattempt"] = RecordingAttempt.objects.create(
        recording_tag=w.made["attached"], leg=w.made["leg"], action="fetch", outcome="ok"
    )
    w.made["recordingaccess"] = RecordingAccess.objects.create(
        recording_tag=w.made["attached"], leg=w.made["leg"], action="play", user=w.users["agent"]
    )
    w.made["storedaudio"] = StoredAudio.objects.get(name=w.made["attached"].audio.name)
    w.made["recordingtransition"] = RecordingTransition.objects.create(
        recording_tag=w.made["attached"], from_status="fetching", to_status="attached", reason="joined"
    )
    w.made["backfillprogress"] = services.start_backfill(timezone.now() - dt.timedelta(days=1))
    w.made["logchain"] = LogChain.objects.get(log="transition", chain=f"recording:{w.made['attached'].pk}")
    a_script(w)


def a_script(w: World) -> None:
    """The invoices' script, at its first version."""
    w.made["script"] = Script.objects.create(
        name="Invoice signature", content_type=ContentType.objects.get_for_model(Invoice)
    )
    w.made["scriptversion"] = services.save_script_text(
        w.made["script"], notice="This call is recorded.", body="I agree to pay invoice {number}."
    )


def script_form(w: World, body: str) -> dict[str, Any]:
    return {
        "name": "Invoice signature",
        "active": "on",
        "notice": "This call is recorded.",
        "body": body,
        "versions-TOTAL_FORMS": "1",
        "versions-INITIAL_FORMS": "1",
        "versions-MIN_NUM_FORMS": "0",
        "versions-MAX_NUM_FORMS": "0",
    }


def purged(w: World) -> None:
    attached(w)
    services.purge_audio(w.made["attached"])


def attached_and_another_invoice(w: World) -> None:
    attached(w)
    w.made["other_invoice"] = Invoice.objects.create(number="INV-43", customer=w.customer, amount="10.00")


def attach_step(step: str) -> Callable[[Client, World], Any]:
    def send(client: Client, w: World) -> Any:
        return client.post(
            reverse(f"admin:{TAGS}_changelist"),
            {
                "action": "attach_to",
                "_selected_action": [w.made["attached"].pk],
                "attach_step": step,
                "content_type": ContentType.objects.get_for_model(Invoice).pk,
                "object_id": str(w.made["other_invoice"].pk),
            },
        )

    return send


# --------------------------------------------------------------------------------------------------
# The entry points


@dataclass(frozen=True)
class EntryPoint:
    send: Callable[[Client, World], Any]
    #: Each effect the entry point has when allowed; all must hold for "ok", none for a refusal.
    effects: Callable[[World, Any], tuple[bool, ...]]
    setup: Callable[[World], None] = nothing
    #: "widget" (the buttons' endpoints, as the widget calls them), "audio", "api", "admin", "action"
    kind: str = "widget"
    ok_status: int = 200
    #: The URL names (``noojee:dial``), API actions (``noojee:api-call-list:create``), admin pages
    #: (``admin:recordingtag:change``) and admin actions (``action:poll_now``) this exercises.
    covers: tuple[str, ...] = ()


def post_json(name: str, *args: Any, data: Callable[[World], dict[str, Any]] | None = None) -> Any:
    def send(client: Client, w: World) -> Any:
        made = [w.made[a].pk if isinstance(a, str) else a for a in args]
        return client.post(reverse(name, args=made), data(w) if data else {}, **JSON)

    return send


def api_post(name: str, *args: str, data: Callable[[World], dict[str, Any]] | None = None) -> Any:
    def send(client: Client, w: World) -> Any:
        url = reverse(name, args=[w.made[a].pk for a in args])
        return client.post(url, data(w) if data else {}, content_type="application/json")

    return send


def get(name: str, *args: str, query: str = "", **headers: Any) -> Any:
    def send(client: Client, w: World) -> Any:
        return client.get(reverse(name, args=[w.made[a].pk for a in args]) + query, **headers)

    return send


def act(model: str, action: str, selected: str, **extra: str) -> Any:
    def send(client: Client, w: World) -> Any:
        url = reverse(f"admin:{model}_changelist")
        return client.post(url, {"action": action, "_selected_action": [w.made[selected].pk], **extra})

    return send


def dial_data(w: World) -> dict[str, Any]:
    return {"number": w.customer.phone, "content_type": "crm.customer", "object_id": w.customer.pk}


def record_data(w: World) -> dict[str, Any]:
    return {"content_type": "crm.invoice", "object_id": w.invoice.pk, "tag": "INV-42", "consent": "on"}


def api_record_data(w: World) -> dict[str, Any]:
    return {"content_type": "crm.invoice", "object_id": w.invoice.pk, "tag": "INV-42", "consent_given": True}


def dialled(w: World, response: Any) -> tuple[bool, ...]:
    return (w.pbx("dial") == 1, CallSession.objects.filter(user=w.user).exists() if w.user else False)


def hung_up(w: World, response: Any) -> tuple[bool, ...]:
    return (w.pbx("hangup") == 1, w.fresh("call").status == CallSession.Status.HUNG_UP)


def shows_call(w: World, response: Any) -> tuple[bool, ...]:
    return (json_of(response).get("id") == w.made["call"].pk,)


def recording_started(w: World, response: Any) -> tuple[bool, ...]:
    return (w.pbx("start") == 1, RecordingTag.objects.filter(tag="INV-42", started_by=w.user).exists())


def recording_stopped(w: World, response: Any) -> tuple[bool, ...]:
    return (
        w.pbx("stop") == 1,
        w.fresh("recording").status == RecordingTag.Status.WAITING,
        not w.emulator_call(w.made["unique_id"])["recording"],
    )


def signature_heard(w: World, response: Any) -> tuple[bool, ...]:
    return (body(response) == stored(w.made["attached"]), accessed(w))


def evidence_exported(w: World, response: Any) -> tuple[bool, ...]:
    """A bundle that verifies, and its export in the access log."""
    bundle = body(response) if response.status_code == 200 else b""
    return (
        services.verify_evidence(io.BytesIO(bundle)).ok,
        accessed(w, action=RecordingAccess.Action.EVIDENCE),
    )


def listed(name: str) -> Callable[[World, Any], tuple[bool, ...]]:
    return lambda w, response: (w.made[name].pk in ids_in(response),)


def shown(name: str) -> Callable[[World, Any], tuple[bool, ...]]:
    return lambda w, response: (json_of(response).get("id") == w.made[name].pk,)


def changelist_of(name: str) -> Callable[[World, Any], tuple[bool, ...]]:
    def effects(w: World, response: Any) -> tuple[bool, ...]:
        changelist = context_value(response, "cl")
        rows = {row.pk for row in changelist.result_list} if changelist is not None else set()
        return (w.made[name].pk in rows,)

    return effects


def change_page_of(name: str) -> Callable[[World, Any], tuple[bool, ...]]:
    return lambda w, response: (context_value(response, "original") == w.made[name],)


ADMIN_MODELS = {
    "agentphone": ("agent phones", "an agent phone"),
    "callsession": ("calls", "a call"),
    "recordingtag": ("recordings", "a recording"),
    "recordingleg": ("legs", "a leg"),
    "recordingattempt": ("attempts", "an attempt"),
    "recordingaccess": ("listens", "a listen"),
    "storedaudio": ("the audio ledger", "an audio ledger entry"),
    "recordingtransition": ("status changes", "a status change"),
    "backfillprogress": ("backfill progress", "a backfill range"),
    "logchain": ("log chain heads", "a log chain head"),
    "script": ("scripts", "a script"),
    "scriptversion": ("script versions", "a script version"),
}
TAGS = "noojee_django_recordingtag"
LEGS = "noojee_django_recordingleg"

ENTRY_POINTS: dict[str, EntryPoint] = {
    # The buttons (views.py)
    "POST dial/": EntryPoint(post_json("noojee:dial", data=dial_data), dialled, covers=("noojee:dial",)),
    "POST calls/<id>/hangup/": EntryPoint(
        post_json("noojee:hangup", "call"), hung_up, agent_call, covers=("noojee:hangup",)
    ),
    "GET calls/<id>/status/": EntryPoint(
        get("noojee:call-status", "call", **JSON), shows_call, agent_call, covers=("noojee:call-status",)
    ),
    "POST answer/ (a call ringing on SIP/101)": EntryPoint(
        post_json("noojee:answer", data=lambda w: {"unique_id": w.made["unique_id"]}),
        lambda w, r: (w.pbx("answer") == 1, w.emulator_call(w.made["unique_id"])["status"] == "Connected"),
        ringing_on_agent_phone,
        covers=("noojee:answer",),
    ),
    "POST recordings/start/": EntryPoint(
        post_json("noojee:start-recording", data=record_data),
        recording_started,
        calls_on_both_phones,
        covers=("noojee:start-recording",),
    ),
    "POST recordings/<id>/stop/": EntryPoint(
        post_json("noojee:stop-recording", "recording"),
        recording_stopped,
        agent_recording,
        covers=("noojee:stop-recording",),
    ),
    "POST recordings/<id>/pause/": EntryPoint(
        post_json("noojee:pause-recording", "recording"),
        recording_paused,
        agent_recording,
        covers=("noojee:pause-recording",),
    ),
    "POST recordings/<id>/resume/": EntryPoint(
        post_json("noojee:resume-recording", "recording"),
        recording_resumed,
        agent_recording_paused,
        covers=("noojee:resume-recording",),
    ),
    "GET recordings/<id>/status/": EntryPoint(
        get("noojee:recording-status", "recording", **JSON),
        lambda w, r: (json_of(r).get("id") == w.made["recording"].pk and bool(json_of(r).get("card")),),
        agent_recording,
        covers=("noojee:recording-status",),
    ),
    # Private playback (playback.py)
    "GET recordings/<id>/audio/": EntryPoint(
        get("noojee:recording-audio", "attached"),
        signature_heard,
        attached,
        kind="audio",
        covers=("noojee:recording-audio",),
    ),
    "GET recordings/<id>/audio/ with Range": EntryPoint(
        get("noojee:recording-audio", "attached", HTTP_RANGE=RANGE),
        lambda w, r: (body(r) == stored(w.made["attached"])[:100], accessed(w, byte_range=RANGE)),
        attached,
        kind="audio",
        ok_status=206,
    ),
    "HEAD recordings/<id>/audio/": EntryPoint(
        lambda client, w: client.head(reverse("noojee:recording-audio", args=[w.made["attached"].pk])),
        lambda w, r: (r.get("Content-Length") == str(w.made["attached"].audio.size), accessed(w)),
        attached,
        kind="audio",
    ),
    "GET recordings/<id>/audio/?download=1": EntryPoint(
        get("noojee:recording-audio", "attached", query="?download=1"),
        lambda w, r: (
            r.get("Content-Disposition", "").startswith("attachment;"),
            body(r) == stored(w.made["attached"]),
            accessed(w, action="download"),
        ),
        attached,
        kind="audio",
    ),
    "GET legs/<id>/audio/": EntryPoint(
        get("noojee:leg-audio", "leg"),
        lambda w, r: (body(r) == stored(w.made["leg"]), accessed(w, leg=True)),
        attached,
        kind="audio",
        covers=("noojee:leg-audio",),
    ),
    "GET legs/<id>/audio/ with Range": EntryPoint(
        get("noojee:leg-audio", "leg", HTTP_RANGE=RANGE),
        lambda w, r: (body(r) == stored(w.made["leg"])[:100], accessed(w, leg=True, byte_range=RANGE)),
        attached,
        kind="audio",
        ok_status=206,
    ),
    "GET recordings/<id>/evidence.zip": EntryPoint(
        get("noojee:recording-evidence", "attached"),
        evidence_exported,
        attached,
        kind="audio",
        covers=("noojee:recording-evidence",),
    ),
    # The widget's words: the same public catalog for everyone
    "GET jsi18n/ (the widget's words)": EntryPoint(
        get("noojee:jsi18n"),
        lambda w, r: (b"django.catalog" in body(r),),
        kind="page",
        covers=("noojee:jsi18n",),
    ),
    # The REST API (api/)
    "GET api/": EntryPoint(
        get("noojee:api-root"), lambda w, r: ("calls" in json_of(r),), kind="api", covers=("noojee:api-root",)
    ),
    "GET api/schema/": EntryPoint(
        get("noojee:api-schema"),
        lambda w, r: ("/noojee/api/calls/" in json_of(r).get("paths", {}),),
        kind="api",
        covers=("noojee:api-schema",),
    ),
    "GET api/docs/": EntryPoint(
        get("noojee:api-docs"),
        lambda w, r: (reverse("noojee:api-schema").encode() in body(r),),
        kind="page",
        covers=("noojee:api-docs",),
    ),
    "GET api/calls/": EntryPoint(
        get("noojee:api-call-list"),
        listed("call"),
        agent_call_row,
        kind="api",
        covers=("noojee:api-call-list:list",),
    ),
    "POST api/calls/": EntryPoint(
        api_post("noojee:api-call-list", data=dial_data),
        dialled,
        kind="api",
        ok_status=201,
        covers=("noojee:api-call-list:create",),
    ),
    "GET api/calls/<id>/": EntryPoint(
        get("noojee:api-call-detail", "call"),
        shows_call,
        agent_call,
        kind="api",
        covers=("noojee:api-call-detail:retrieve",),
    ),
    "POST api/calls/<id>/hangup/": EntryPoint(
        api_post("noojee:api-call-hangup", "call"),
        hung_up,
        agent_call,
        kind="api",
        covers=("noojee:api-call-hangup:hangup",),
    ),
    "GET api/recordings/": EntryPoint(
        get("noojee:api-recording-list"),
        listed("attached"),
        attached,
        kind="api",
        covers=("noojee:api-recording-list:list",),
    ),
    "POST api/recordings/": EntryPoint(
        api_post("noojee:api-recording-list", data=api_record_data),
        recording_started,
        calls_on_both_phones,
        kind="api",
        ok_status=201,
        covers=("noojee:api-recording-list:create",),
    ),
    "GET api/recordings/script/ (the script to show)": EntryPoint(
        lambda client, w: client.get(
            reverse("noojee:api-recording-script"), {"content_type": "crm.invoice", "object_id": w.invoice.pk}
        ),
        lambda w, r: (json_of(r).get("script_version") == w.made["scriptversion"].pk,),
        a_script,
        kind="api",
        covers=("noojee:api-recording-script:script",),
    ),
    "GET api/recordings/<id>/": EntryPoint(
        get("noojee:api-recording-detail", "attached"),
        shown("attached"),
        attached,
        kind="api",
        covers=("noojee:api-recording-detail:retrieve",),
    ),
    "POST api/recordings/<id>/stop/": EntryPoint(
        api_post("noojee:api-recording-stop", "recording"),
        recording_stopped,
        agent_recording,
        kind="api",
        covers=("noojee:api-recording-stop:stop",),
    ),
    # Stopping a recording that is already attached changes nothing; the answer must not show it to
    # someone who may not stop it either.
    "POST api/recordings/<id>/stop/ (attached)": EntryPoint(
        api_post("noojee:api-recording-stop", "attached"),
        lambda w, r: (json_of(r).get("id") == w.made["attached"].pk, "legs" in json_of(r)),
        attached,
        kind="api",
    ),
    "POST api/recordings/<id>/pause/": EntryPoint(
        api_post("noojee:api-recording-pause", "recording"),
        recording_paused,
        agent_recording,
        kind="api",
        covers=("noojee:api-recording-pause:pause",),
    ),
    "POST api/recordings/<id>/resume/": EntryPoint(
        api_post("noojee:api-recording-resume", "recording"),
        recording_resumed,
        agent_recording_paused,
        kind="api",
        covers=("noojee:api-recording-resume:resume",),
    ),
    "POST api/recordings/<id>/poll/": EntryPoint(
        api_post("noojee:api-recording-poll", "absent"),
        lambda w, r: (w.fresh("absent").status == RecordingTag.Status.WAITING,),
        absent_tag,
        kind="api",
        covers=("noojee:api-recording-poll:poll",),
    ),
    "GET api/recordings/<id>/evidence/": EntryPoint(
        get("noojee:api-recording-evidence", "attached"),
        evidence_exported,
        attached,
        kind="api",
        covers=("noojee:api-recording-evidence:evidence",),
    ),
    "GET api/legs/": EntryPoint(
        get("noojee:api-leg-list"),
        listed("leg"),
        attached,
        kind="api",
        covers=("noojee:api-leg-list:list",),
    ),
    "GET api/legs/<id>/": EntryPoint(
        get("noojee:api-leg-detail", "leg"),
        shown("leg"),
        attached,
        kind="api",
        covers=("noojee:api-leg-detail:retrieve",),
    ),
    # The admin (admin.py, admin_actions.py)
    **{
        f"admin: {plural}": EntryPoint(
            get(f"admin:noojee_django_{model}_changelist"),
            changelist_of(model),
            admin_rows,
            kind="admin",
            covers=(f"admin:{model}:changelist",),
        )
        for model, (plural, _) in ADMIN_MODELS.items()
    },
    **{
        f"admin: {singular}": EntryPoint(
            get(f"admin:noojee_django_{model}_change", model),
            change_page_of(model),
            admin_rows,
            kind="admin",
            covers=(f"admin:{model}:change",),
        )
        for model, (_, singular) in ADMIN_MODELS.items()
    },
    "admin: add an agent phone": EntryPoint(
        get("admin:noojee_django_agentphone_add"),
        lambda w, r: (context_value(r, "adminform") is not None,),
        kind="admin",
        covers=("admin:agentphone:add",),
    ),
    "admin: save a recording (legal hold off)": EntryPoint(
        lambda client, w: client.post(
            reverse(f"admin:{TAGS}_change", args=[w.made["attached"].pk]), {"keep_until": "", "_save": "Save"}
        ),
        lambda w, r: (not w.fresh("attached").legal_hold,),
        held,
        kind="admin",
        ok_status=302,
    ),
    "admin: delete a recording": EntryPoint(
        lambda client, w: client.post(
            reverse(f"admin:{TAGS}_delete", args=[w.made["attached"].pk]), {"post": "yes"}
        ),
        lambda w, r: (not RecordingTag.objects.filter(pk=w.made["attached"].pk).exists(),),
        attached,
        kind="admin",
        ok_status=302,
        covers=("admin:recordingtag:delete",),
    ),
    "admin: delete a leg": EntryPoint(
        lambda client, w: client.post(
            reverse(f"admin:{LEGS}_delete", args=[w.made["leg"].pk]), {"post": "yes"}
        ),
        lambda w, r: (not RecordingLeg.objects.filter(pk=w.made["leg"].pk).exists(),),
        attached,
        kind="admin",
        ok_status=302,
        covers=("admin:recordingleg:delete",),
    ),
    "admin action: Poll the PBX now": EntryPoint(
        act(TAGS, "poll_now", "absent"),
        lambda w, r: (w.fresh("absent").status == RecordingTag.Status.WAITING,),
        absent_tag,
        kind="action",
        ok_status=302,
        covers=("action:poll_now",),
    ),
    "admin action: Set legal hold": EntryPoint(
        act(TAGS, "set_legal_hold", "attached"),
        lambda w, r: (w.fresh("attached").legal_hold,),
        attached,
        kind="action",
        ok_status=302,
        covers=("action:set_legal_hold",),
    ),
    "admin action: Clear legal hold": EntryPoint(
        act(TAGS, "clear_legal_hold", "attached"),
        lambda w, r: (not w.fresh("attached").legal_hold,),
        held,
        kind="action",
        ok_status=302,
        covers=("action:clear_legal_hold",),
    ),
    "admin action: Purge audio (confirmation)": EntryPoint(
        act(TAGS, "purge_audio", "attached"),
        lambda w, r: (
            b"Yes, purge the audio" in r.content,
            w.made["attached"].audio.name.encode() in r.content,
        ),
        attached,
        kind="action",
    ),
    "admin action: Purge audio (yes)": EntryPoint(
        act(TAGS, "purge_audio", "attached", post="yes"),
        lambda w, r: (
            w.fresh("attached").purged_at is not None,
            not w.made["attached"].audio.storage.exists(w.made["attached"].audio.name),
            not w.made["leg"].audio.storage.exists(w.made["leg"].audio.name),
        ),
        attached,
        kind="action",
        ok_status=302,
        covers=("action:purge_audio",),
    ),
    "admin action: Fetch audio again": EntryPoint(
        act(LEGS, "fetch_again", "leg"),
        lambda w, r: (w.fresh("leg").fetch_status == RecordingLeg.FetchStatus.PENDING,),
        failed_leg,
        kind="action",
        ok_status=302,
        covers=("action:fetch_again",),
    ),
    "admin action: Restore purged audio": EntryPoint(
        act(TAGS, "restore_audio", "attached"),
        lambda w, r: (
            w.fresh("attached").purged_at is None,
            w.fresh("attached").status == RecordingTag.Status.FETCHING,
            all(
                leg.fetch_status == RecordingLeg.FetchStatus.PENDING for leg in w.fresh("attached").legs.all()
            ),
        ),
        purged,
        kind="action",
        ok_status=302,
        covers=("action:restore_audio",),
    ),
    "admin action: Attach to another record (review)": EntryPoint(
        attach_step("review"),
        lambda w, r: (
            b"Yes, move them" in r.content,
            f"to {w.made['other_invoice']}".encode() in r.content,
        ),
        attached_and_another_invoice,
        kind="action",
    ),
    "admin action: Attach to another record (yes)": EntryPoint(
        attach_step("confirm"),
        lambda w, r: (w.fresh("attached").content_object == w.made["other_invoice"],),
        attached_and_another_invoice,
        kind="action",
        ok_status=302,
        covers=("action:attach_to",),
    ),
    "admin action: Dial (a CRM admin)": EntryPoint(
        lambda client, w: client.post(
            reverse("admin:crm_customer_changelist"),
            {"action": "noojee_dial", "_selected_action": [w.customer.pk]},
        ),
        dialled,
        kind="action",
        ok_status=302,
        covers=("action:noojee_dial",),
    ),
    "admin: add a script": EntryPoint(
        get("admin:noojee_django_script_add"),
        lambda w, r: (context_value(r, "adminform") is not None,),
        kind="admin",
        covers=("admin:script:add",),
    ),
    "admin: a script's versions (read-only)": EntryPoint(
        get("admin:noojee_django_script_change", "script"),
        lambda w, r: (
            b"I agree to pay invoice {number}." in r.content and b'name="versions-0-body"' not in r.content,
        ),
        a_script,
        kind="admin",
        covers=("inline:ScriptVersionInline",),
    ),
    "admin: change a script's text (a new version)": EntryPoint(
        lambda client, w: client.post(
            reverse("admin:noojee_django_script_change", args=[w.made["script"].pk]),
            script_form(w, "I agree to pay invoice {number} for {amount}."),
        ),
        lambda w, r: (
            list(w.made["script"].versions.order_by("number").values_list("number", flat=True)) == [1, 2],
        ),
        a_script,
        kind="admin",
        ok_status=302,
    ),
    "admin: delete a script": EntryPoint(
        lambda client, w: client.post(
            reverse("admin:noojee_django_script_delete", args=[w.made["script"].pk]), {"post": "yes"}
        ),
        lambda w, r: (not Script.objects.filter(pk=w.made["script"].pk).exists(),),
        a_script,
        kind="admin",
        ok_status=302,
    ),
    "admin: change or delete a script version": EntryPoint(
        lambda client, w: client.post(
            reverse("admin:noojee_django_scriptversion_delete", args=[w.made["scriptversion"].pk]),
            {"post": "yes"},
        ),
        lambda w, r: (not ScriptVersion.objects.filter(pk=w.made["scriptversion"].pk).exists(),),
        a_script,
        kind="admin",
        ok_status=302,
    ),
    "admin: a CRM record's voice signatures": EntryPoint(
        lambda client, w: client.get(reverse("admin:crm_invoice_change", args=[w.invoice.pk])),
        lambda w, r: (
            f'src="{reverse("noojee:recording-audio", args=[w.made["attached"].pk])}"'.encode() in r.content,
        ),
        attached,
        kind="admin",
        covers=("inline:RecordingTagInline",),
    ),
}


# --------------------------------------------------------------------------------------------------
# The matrix


#: The other PBX's operator is bound to it, and staff to the default one, as a project binds operators
#: who have no phone (``USER_PBXES``); everybody else by their phone.
OPERATORS = {"staff": ["default"], "acme-staff": ["acme"]}


def user_pbxes(user: Any) -> Any:
    return OPERATORS.get(user.username) or connections.default_user_pbxes(user)


@pytest.fixture
def world(
    settings: Any,
    monkeypatch: pytest.MonkeyPatch,
    pbx: Any,
    noojee_emulator_control: Any,
    agent: User,
    other_agent: User,
    outsider: User,
    staff: User,
    superuser: User,
    customer: Customer,
    invoice: Invoice,
) -> World:
    users: dict[str, User | None] = {
        "anonymous": None,
        "agent": agent,
        "other_agent": other_agent,
        "outsider": outsider,
        "staff": staff,
        "superuser": superuser,
        "acme_agent": User.objects.create_user("acme-agent", password="pw"),
        "acme_staff": User.objects.create_user("acme-staff", password="pw", is_staff=True),
    }
    users["acme_agent"].user_permissions.set(agent.user_permissions.all())
    AgentPhone.objects.create(
        user=users["acme_agent"], connection="acme", extension="SIP/103", login_name="acme3"
    )
    users["acme_staff"].user_permissions.set(staff.user_permissions.all())
    # The other PBX is the same emulator here, under its own connection (and its own key variable).
    monkeypatch.setenv("NOOJEE_ACME_API_KEY", pbx.config.api_key)
    settings.NOOJEE = {
        **settings.NOOJEE,
        "PBXES": {"acme": {"BASE_URL": pbx.url}},
        "USER_PBXES": user_pbxes,
        # Evidence bundles are signed with a key of the deployment's own: here, the test's.
        "EVIDENCE_SIGNING_KEY": generate_private_key(),
    }
    return World(noojee_emulator_control, users, customer, invoice)


def login_path(kind: str) -> str:
    return reverse("admin:login") if kind in ("admin", "action") else resolve_url(settings.LOGIN_URL)


def check_answer(entry: EntryPoint, outcome: str, response: Any) -> None:
    status = response.status_code
    said = b"(streamed)" if response.streaming else response.content[:300]
    if outcome == "ok":
        assert status == entry.ok_status, said
        if entry.kind == "action":
            assert "No action selected." not in messages_of(response)
    elif outcome == "hidden":
        assert status == 200, said
    elif outcome == "login":
        assert status == 302, said
        assert urlsplit(response["Location"]).path == login_path(entry.kind)
    elif outcome == "no phone":
        if entry.kind == "action":
            assert status == 302
            assert "You have no phone extension: ask an administrator to add one." in messages_of(response)
        else:
            assert status == 409, said
            assert b"no phone extension" in said
    elif outcome == "not offered":
        assert status == 302, said
        assert messages_of(response) == ["No action selected."]
    elif outcome == "refused":
        assert status == 302, said
        assert messages_of(response) and "No action selected." not in messages_of(response)
    elif outcome == "missing":
        assert status == 302, said
        assert urlsplit(response["Location"]).path == reverse("admin:index")
        assert any("doesn\u2019t exist" in m for m in messages_of(response)), messages_of(response)
    elif outcome == "none selected":
        assert status == 302, said
        assert "No action selected." not in messages_of(response)
    else:
        assert status == int(outcome), said
        if outcome == "404" and entry.kind in ("widget", "api"):
            assert b"No such" in said  # the very answer for an id that names nothing


CELLS = [(entry_point, role) for entry_point in EXPECTED for role in ROLES]


@pytest.mark.parametrize(("entry_point", "role"), CELLS, ids=[f"{e} | {r}" for e, r in CELLS])
def test_who_may_do_what(world: World, entry_point: str, role: str) -> None:
    entry = ENTRY_POINTS[entry_point]
    outcome = permission_matrix.outcome(entry_point, role)
    world.role = role
    entry.setup(world)
    world.start_counting()
    client = Client()
    if world.user is not None:
        client.force_login(world.user)

    response = entry.send(client, world)

    check_answer(entry, outcome, response)
    effects = entry.effects(world, response)
    if outcome == "ok":
        assert all(effects), effects
    else:
        assert not any(effects), effects
        assert set(world.pbx_sent()) <= {"subscribe"}  # a look, at most; nothing that acts


# --------------------------------------------------------------------------------------------------
# The matrix covers everything, and the docs show it


def _app_url_entry_points() -> set[str]:
    found: set[str] = set()

    def walk(patterns: list[Any]) -> None:
        for pattern in patterns:
            if isinstance(pattern, URLResolver):
                walk(pattern.url_patterns)
                continue
            actions = getattr(pattern.callback, "actions", None)
            if actions:
                found.update(f"noojee:{pattern.name}:{action}" for action in actions.values())
            else:
                found.add(f"noojee:{pattern.name}")

    walk(get_resolver("noojee_django.urls").url_patterns)
    return found


def _app_admin_entry_points() -> set[str]:
    found = {
        f"action:{name}"
        for name, value in vars(DialActionMixin).items()
        if hasattr(value, "short_description")
    }
    found |= {
        f"inline:{value.__name__}"
        for value in vars(noojee_admin).values()
        if isinstance(value, type)
        and issubclass(value, InlineModelAdmin)
        and value.__module__ == noojee_admin.__name__
    }
    for model, model_admin in admin.site._registry.items():
        if model._meta.app_label != "noojee_django":
            continue
        name = model._meta.model_name
        found |= {f"admin:{name}:changelist", f"admin:{name}:change"}
        found |= {f"action:{action.__name__}" for action in model_admin.actions or ()}
    return found


def test_the_matrix_covers_every_url_api_action_admin_page_and_admin_action() -> None:
    covered = {name for entry in ENTRY_POINTS.values() for name in entry.covers}
    assert _app_url_entry_points() - covered == set()
    assert _app_admin_entry_points() - covered == set()


def test_every_row_of_the_table_has_an_entry_point_and_the_other_way_round() -> None:
    assert set(ENTRY_POINTS) == set(EXPECTED)
    assert all(len(outcomes) == len(ROLES) for outcomes in EXPECTED.values())
    assert {o for outcomes in EXPECTED.values() for o in outcomes} <= set(permission_matrix.OUTCOMES)


def test_the_docs_show_the_table_the_tests_run() -> None:
    section = permission_matrix.docs_section(permission_matrix.DOCS.read_text())
    assert section is not None, "docs/security.md lost its generated 'Who may do what' table"
    assert section == permission_matrix.markdown(), "run: python -m tests.permission_matrix --write"
