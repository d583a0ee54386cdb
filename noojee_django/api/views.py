"""The API's viewsets: each action checks its input, calls one service, and serializes the result.

Errors of the services become DRF answers with the status
:func:`~noojee_django.exceptions.http_status_for` gives and the message in words; a
``ValidationError`` also names its field. Whether the user may act at all is asked before anything is
looked up, and a call, recording, leg or CRM record that is not the user's to use is answered as one
that does not exist. Recordings and legs are listed only where the ``MAY_HEAR`` hook allows; see
:func:`hearable`.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Callable
from typing import Any

from django.contrib.auth.mixins import LoginRequiredMixin
from django.contrib.contenttypes.models import ContentType
from django.core.exceptions import PermissionDenied as DjangoPermissionDenied
from django.core.exceptions import ValidationError as DjangoValidationError
from django.db import models
from django.db.models import Q
from django.http import Http404
from django.urls import include, path, reverse
from django.utils.translation import gettext, gettext_lazy
from django.views.generic import TemplateView
from drf_spectacular.openapi import AutoSchema
from drf_spectacular.renderers import (
    OpenApiJsonRenderer,
    OpenApiJsonRenderer2,
    OpenApiYamlRenderer,
    OpenApiYamlRenderer2,
)
from drf_spectacular.utils import OpenApiParameter
from drf_spectacular.views import SpectacularAPIView
from rest_framework import exceptions, mixins, routers, serializers, viewsets
from rest_framework.decorators import action
from rest_framework.pagination import PageNumberPagination
from rest_framework.permissions import AllowAny, IsAuthenticated
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.serializers import as_serializer_error
from rest_framework.settings import api_settings

from .. import connections, services
from ..conf import noojee_settings
from ..exceptions import http_status_for, message_for
from ..forms import describe_error, resolve_content_type
from ..models import CallSession, RecordingLeg, RecordingTag
from ..playback import client_ip, evidence_response
from .parsers import PARSER_CLASSES
from .permissions import MayChangeRecordings, MayExportEvidence
from .serializers import (
    CallSerializer,
    DialSerializer,
    NoInputSerializer,
    PauseRecordingSerializer,
    RecordingFilterSerializer,
    RecordingLegSerializer,
    RecordingTagSerializer,
    ScriptQuerySerializer,
    ShownScriptSerializer,
    StartRecordingSerializer,
)


class ServiceError(exceptions.APIException):
    """An error of the services as a DRF answer, with the status ``http_status_for`` gives it."""

    def __init__(self, exc: Exception, status_code: int) -> None:
        super().__init__(detail=message_for(exc), code=type(exc).__name__)
        self.status_code = status_code


def as_api_exception(exc: Exception) -> Exception:
    """DRF's own errors pass as they are; a bug too (a 500)."""
    status = http_status_for(exc)
    if status is None:
        return exc
    if isinstance(exc, DjangoValidationError):
        message, field = describe_error(exc)
        if field:
            return exceptions.ValidationError({field: [message]})
        return exceptions.ValidationError(as_serializer_error(exc))
    return ServiceError(exc, status)


def _asks_to_record(request: Request) -> bool:
    try:
        data = request.data if isinstance(request.data, dict) else {}
        return bool(serializers.BooleanField().to_internal_value(data.get("record", False)))
    except exceptions.ValidationError:
        return False  # the serializer says why


class NoojeePagination(PageNumberPagination):
    page_size = 50
    page_size_query_param = "page_size"
    max_page_size = 200


class NoojeeSchema(AutoSchema):
    """drf-spectacular's schema, whatever the project's ``DEFAULT_SCHEMA_CLASS``, with each action's
    description, body, answers and query parameters read from its view's ``api_docs``."""

    def _documented(self, key: str) -> tuple[bool, Any]:
        docs = getattr(self.view, "api_docs", {}).get(getattr(self.view, "action", None), {})
        return key in docs, docs.get(key)

    def get_description(self) -> str:  # type: ignore[override]  # drf-spectacular narrows it
        given, description = self._documented("description")
        return description if given else super().get_description()

    def get_request_serializer(self) -> Any:
        given, request = self._documented("request")
        return request if given else super().get_request_serializer()

    def get_response_serializers(self) -> Any:
        given, responses = self._documented("responses")
        return responses if given else super().get_response_serializers()

    def get_override_parameters(self) -> list[Any]:
        return [*super().get_override_parameters(), *(self._documented("parameters")[1] or [])]


class NoojeeAPIView(viewsets.GenericViewSet[Any]):
    schema = NoojeeSchema()
    #: Per action: its ``description``, ``request`` and ``responses`` serializers and query
    #: ``parameters``, for the schema (see :class:`NoojeeSchema`).
    api_docs: dict[str, dict[str, Any]] = {}
    # Authentication is the project's (REST_FRAMEWORK["DEFAULT_AUTHENTICATION_CLASSES"]: session,
    # token, JWT, OAuth...): the app asks only that the user is logged in, then its own rules.
    permission_classes = [IsAuthenticated]
    parser_classes = PARSER_CLASSES
    pagination_class = NoojeePagination

    #: The answer for an id that names nothing, or nothing the user may act on.
    not_found_message = gettext_lazy("Not found.")
    #: Per action, ``check(user, obj)``: a ``PermissionDenied`` it raises answers as a missing object.
    object_checks: dict[str, Callable[[Any, Any], None]] = {}

    def handle_exception(self, exc: Exception) -> Response:
        return super().handle_exception(as_api_exception(exc))

    def get_object(self) -> Any:
        try:
            obj = super().get_object()
            check = self.object_checks.get(self.action)
            if check is not None:
                check(self.request.user, obj)
        except (Http404, DjangoPermissionDenied):
            raise exceptions.NotFound(self.not_found_message) from None
        return obj

    def may_use(self, check: Callable[[Any, Any], bool]) -> Callable[[Any], bool]:
        """For a serializer's ``may_use``: ``check(user, record)``."""
        user = self.request.user
        return lambda obj: check(user, obj)


def hearable(user: Any, queryset: models.QuerySet[RecordingTag]) -> models.QuerySet[RecordingTag]:
    """The tags of ``queryset`` whose CRM object ``user`` may hear.

    The hook decides per object, so objects are loaded, but one query per kind of record (not per tag):
    the distinct (content type, object id) pairs are grouped by content type and fetched in bulk. Only
    the recordings of the PBX connections ``user`` may deal with are looked at.
    """
    queryset = connections.filter_for(user, queryset)
    ids_by_type: dict[int, set[str]] = defaultdict(set)
    for content_type_id, object_id in (
        queryset.order_by().values_list("content_type_id", "object_id").distinct()
    ):
        ids_by_type[content_type_id].add(object_id)
    allowed = Q()
    any_allowed = False
    for content_type_id, object_ids in ids_by_type.items():
        model = ContentType.objects.get_for_id(content_type_id).model_class()
        if model is None:
            continue
        pks = []
        for object_id in object_ids:
            try:
                pks.append(model._meta.pk.to_python(object_id))
            except (DjangoValidationError, ValueError, TypeError):
                continue
        objects = model._default_manager.in_bulk(pks)
        may = [str(pk) for pk, obj in objects.items() if services.may_hear(user, obj)]
        if may:
            allowed |= Q(content_type_id=content_type_id, object_id__in=may)
            any_allowed = True
    return queryset.filter(allowed) if any_allowed else queryset.none()


# --------------------------------------------------------------------------------------------------
# Calls


class CallViewSet(mixins.ListModelMixin, mixins.RetrieveModelMixin, NoojeeAPIView):
    """The user's own calls. `create` dials; `retrieve` answers with the call's fresh status."""

    api_docs = {
        "list": {"description": "The user's own calls, newest first."},
        "create": {
            "description": "Ring the user's phone, then `number`. With `record`, the call is recorded "
            "under `tag` and attached to the CRM record `content_type` + `object_id`. A second click on "
            "the same number within ten seconds answers with the first call instead of ringing the "
            "customer twice.",
            "request": DialSerializer,
            "responses": {201: CallSerializer},
        },
        "retrieve": {"description": "One call, with its status fresh from the PBX."},
        "hangup": {"description": "End the call on the PBX.", "request": None, "responses": CallSerializer},
    }

    queryset = CallSession.objects.all()
    serializer_class = CallSerializer
    not_found_message = gettext_lazy("No such call.")
    object_checks = {"hangup": services.require_own_call}

    def get_queryset(self) -> models.QuerySet[CallSession]:
        user = self.request.user
        calls = connections.filter_for(user, CallSession.objects.select_related("content_type"))
        if self.action == "hangup":
            return calls  # the service's own rule decides, in get_object
        if self.action == "list" or not user.has_perm("noojee_django.view_callsession"):
            return calls.filter(user=user)  # type: ignore[misc]
        return calls

    def get_serializer_class(self) -> Any:
        return {"create": DialSerializer, "hangup": NoInputSerializer}.get(self.action, CallSerializer)

    def create(self, request: Request, *args: Any, **kwargs: Any) -> Response:
        services.check_may_dial(request.user)
        record = _asks_to_record(request)
        if record:
            services.check_may_record(request.user)
        serializer = DialSerializer(
            data=request.data,
            context={
                "may_use": self.may_use(
                    lambda user, obj: (
                        services.may_dial(user, obj) and (not record or services.may_record(user, obj))
                    )
                )
            },
        )
        serializer.is_valid(raise_exception=True)
        data = serializer.validated_data
        call = services.dial(
            request.user, data["number"], obj=data["obj"], record=data["record"], tag=data["tag"] or None
        )
        return Response(CallSerializer(call, context=self.get_serializer_context()).data, status=201)

    def retrieve(self, request: Request, *args: Any, **kwargs: Any) -> Response:
        call = services.current_call_status(self.get_object())
        return Response(CallSerializer(call, context=self.get_serializer_context()).data)

    @action(detail=True, methods=["post"])
    def hangup(self, request: Request, pk: str | None = None) -> Response:
        call = services.hangup(request.user, self.get_object())
        return Response(CallSerializer(call, context=self.get_serializer_context()).data)


# --------------------------------------------------------------------------------------------------
# Recordings


class RecordingViewSet(mixins.ListModelMixin, mixins.RetrieveModelMixin, NoojeeAPIView):
    """Voice signatures the user may hear. `create` starts recording the user's current call.

    Filters: `?content_type=crm.invoice&object_id=42`, `?tag=INV-42`, `?status=attached`.
    """

    api_docs = {
        "list": {
            "description": "Voice signatures the user may hear, newest first; filter by record, tag or "
            "status.",
            "parameters": [RecordingFilterSerializer],
        },
        "create": {
            "description": "Start recording the user's current call under `tag`, for the CRM record "
            "`content_type` + `object_id`. With a script, send the `script_version` the agent was shown "
            "and the `script_sha256` of its text: a text that is no longer what that version renders "
            'to for this record is refused (400, "The script has changed since the page was loaded"). '
            "With the REQUIRE_CONSENT setting on, `consent_given` must be true (400 otherwise). Both "
            "are refused before anything is sent to the PBX; the recording keeps the version, the text "
            "and its sha256, and who confirmed consent and when.",
            "request": StartRecordingSerializer,
            "responses": {201: RecordingTagSerializer},
        },
        "retrieve": {"description": "One voice signature, with its legs and where to play its audio."},
        "script": {
            "description": "The script to show before recording the CRM record `content_type` + "
            "`object_id`: the active script's current version for its kind of record, filled with "
            "the record's fields, as the record widget shows it. Read `notice` to the customer first, "
            "`body` while recording; start with `script_version` and `script_sha256` from here. Every "
            "field is null when no script is active for this kind of record.",
            "request": None,
            "parameters": [ScriptQuerySerializer],
            "responses": ShownScriptSerializer,
        },
        "stop": {
            "description": "Stop recording. The audio is collected once the call has ended.",
            "request": None,
            "responses": RecordingTagSerializer,
        },
        "pause": {
            "description": "Secure pause: the PBX stops recording the call (while card details are read) "
            "until `resume`, or by itself after `PAUSE_MAX_SECONDS`. 400 when the recording is not "
            "recording.",
            "request": PauseRecordingSerializer,
            "responses": RecordingTagSerializer,
        },
        "resume": {
            "description": "End a pause: the PBX records the same call under the same tag again. 400 when "
            "the recording is not paused.",
            "request": None,
            "responses": RecordingTagSerializer,
        },
        "poll": {
            "description": "Ask the PBX for the recording's legs again now (operators only).",
            "request": None,
            "responses": RecordingTagSerializer,
        },
    }

    queryset = RecordingTag.objects.all()
    serializer_class = RecordingTagSerializer
    not_found_message = gettext_lazy("No such recording.")
    object_checks = {
        "retrieve": services.check_may_hear,
        "stop": services.require_own_recording,
        "pause": services.require_own_recording,
        "resume": services.require_own_recording,
    }

    def get_queryset(self) -> models.QuerySet[RecordingTag]:
        tags = RecordingTag.objects.select_related("content_type").prefetch_related("legs", "pauses")
        if self.action in ("stop", "pause", "resume", "poll", "evidence"):
            # Who may stop or poll is not who may hear: object_checks or permission decide, among the
            # recordings of the user's own PBXs.
            return connections.filter_for(self.request.user, tags)
        if self.action == "list":
            return hearable(self.request.user, self._filtered(tags))
        return tags

    def _filtered(self, tags: models.QuerySet[RecordingTag]) -> models.QuerySet[RecordingTag]:
        filters = RecordingFilterSerializer(data=self.request.query_params)
        filters.is_valid(raise_exception=True)
        params = filters.validated_data
        if params.get("content_type"):
            tags = tags.filter(content_type=resolve_content_type(params["content_type"]))
        if params.get("object_id"):
            tags = tags.filter(object_id=params["object_id"])
        if params.get("tag"):
            tags = tags.filter(tag=params["tag"])
        if params.get("status"):
            tags = tags.filter(status=params["status"])
        return tags

    def get_serializer_class(self) -> Any:
        return {
            "create": StartRecordingSerializer,
            "stop": NoInputSerializer,
            "pause": PauseRecordingSerializer,
            "resume": NoInputSerializer,
            "poll": NoInputSerializer,
            "evidence": NoInputSerializer,
            "script": ScriptQuerySerializer,
        }.get(self.action, RecordingTagSerializer)

    def perform_content_negotiation(self, request: Request, force: bool = False) -> Any:
        # The bundle is a ZIP whatever the Accept header asks for (application/zip, say); an error
        # about it is JSON.
        return super().perform_content_negotiation(request, force=force or self.action == "evidence")

    def _answer(self, recording_tag: RecordingTag, status: int = 200, **extra: Any) -> Response:
        """The recording as the user may see it: its legs and audio only for who may hear it."""
        recording_tag = RecordingTag.objects.prefetch_related("legs", "pauses").get(pk=recording_tag.pk)
        data: dict[str, Any]
        if services.may_hear(self.request.user, recording_tag.content_object):
            data = dict(RecordingTagSerializer(recording_tag, context=self.get_serializer_context()).data)
        else:
            data = {
                "id": recording_tag.pk,
                "tag": recording_tag.tag,
                "status": recording_tag.status,
                "status_display": recording_tag.get_status_display(),
            }
        return Response({**data, **extra}, status=status)

    def create(self, request: Request, *args: Any, **kwargs: Any) -> Response:
        services.check_may_record(request.user)
        serializer = StartRecordingSerializer(
            data=request.data, context={"may_use": self.may_use(services.may_record)}
        )
        serializer.is_valid(raise_exception=True)
        data = serializer.validated_data
        recording_tag = services.start_recording(
            request.user,
            data["obj"],
            data["tag"],
            consent_given=data["consent_given"],
            script_version=data["script_version"],
            script_sha256=data["script_sha256"],
        )
        return self._answer(recording_tag, status=201)

    @action(detail=False, methods=["get"])
    def script(self, request: Request) -> Response:
        services.check_may_record(request.user)
        query = ScriptQuerySerializer(
            data=request.query_params, context={"may_use": self.may_use(services.may_record)}
        )
        query.is_valid(raise_exception=True)
        shown = services.script_for(query.validated_data["obj"])
        if shown is None:
            return Response(dict.fromkeys(ShownScriptSerializer().fields))
        return Response(
            {
                "script": shown.version.script.name,
                "script_version": shown.version.pk,
                "version": shown.version.number,
                "notice": shown.notice,
                "body": shown.body,
                "text": shown.text,
                "script_sha256": shown.sha256,
            }
        )

    @action(detail=True, methods=["post"])
    def stop(self, request: Request, pk: str | None = None) -> Response:
        return self._answer(services.stop_recording(request.user, self.get_object()))

    @action(detail=True, methods=["post"])
    def pause(self, request: Request, pk: str | None = None) -> Response:
        recording_tag = self.get_object()
        serializer = PauseRecordingSerializer(data=request.data)
        serializer.is_valid(raise_exception=True)
        recording_tag = services.pause_recording(
            request.user, recording_tag, reason=serializer.validated_data["reason"]
        )
        return self._answer(recording_tag)

    @action(detail=True, methods=["post"])
    def resume(self, request: Request, pk: str | None = None) -> Response:
        return self._answer(services.resume_recording(request.user, self.get_object()))

    @action(detail=True, methods=["post"], permission_classes=[IsAuthenticated, MayChangeRecordings])
    def poll(self, request: Request, pk: str | None = None) -> Response:
        recording_tag = services.poll_again(self.get_object(), actor=request.user)
        return self._answer(recording_tag, poll_scheduled=True)

    @action(detail=True, methods=["get"], permission_classes=[IsAuthenticated, MayExportEvidence])
    def evidence(self, request: Request, pk: str | None = None) -> Any:
        """The recording's signed evidence bundle (a ZIP, streamed): see docs/evidence.md."""
        bundle = services.evidence_bundle(request.user, pk, ip_address=client_ip(request._request))
        return evidence_response(bundle)


class RecordingLegViewSet(mixins.ListModelMixin, mixins.RetrieveModelMixin, NoojeeAPIView):
    """The legs of the recordings the user may hear; `?recording_tag=ID` narrows to one recording."""

    api_docs = {
        "list": {
            "parameters": [
                OpenApiParameter("recording_tag", int, description="Only the legs of this recording.")
            ]
        },
    }

    queryset = RecordingLeg.objects.all()
    serializer_class = RecordingLegSerializer
    not_found_message = gettext_lazy("No such leg.")
    object_checks = {"retrieve": lambda user, leg: _check_may_hear_leg(user, leg)}

    def get_queryset(self) -> models.QuerySet[RecordingLeg]:
        legs = RecordingLeg.objects.select_related("recording_tag")
        if self.action == "retrieve":
            return legs  # one leg: get_object asks about its own record only
        tags = RecordingTag.objects.all()
        wanted = self.request.query_params.get("recording_tag")
        if wanted:
            if not wanted.isascii() or not wanted.isdigit():
                raise exceptions.ValidationError({"recording_tag": [gettext("A recording id is a number.")]})
            # int() of more than 4300 digits raises; an id longer than a bigint's names nothing anyway.
            tags = tags.filter(pk=int(wanted)) if len(wanted) <= 18 else tags.none()
        return legs.filter(recording_tag__in=hearable(self.request.user, tags))


def _check_may_hear_leg(user: Any, leg: RecordingLeg) -> None:
    if leg.recording_tag is None:
        raise DjangoPermissionDenied(gettext("This leg belongs to no recording."))
    services.check_may_hear(user, leg.recording_tag)


# --------------------------------------------------------------------------------------------------
# Schema


class APIRootView(routers.APIRootView):
    """The API's index: for logged-in users, like every endpoint of the app."""

    permission_classes = [IsAuthenticated]


class SchemaView(SpectacularAPIView):
    """The API's OpenAPI 3 schema (drf-spectacular): JSON, or YAML with `?format=yaml`.

    Only the app's own endpoints, at the paths the project mounted them on, whatever else the project
    serves; for logged-in users unless `NOOJEE["API_SCHEMA_PUBLIC"]`.
    """

    renderer_classes = [OpenApiJsonRenderer, OpenApiJsonRenderer2, OpenApiYamlRenderer, OpenApiYamlRenderer2]
    permission_classes = [IsAuthenticated]
    serve_public = True

    def get_authenticators(self) -> Any:
        # The project's classes as they are now (drf-spectacular's are read once, at import).
        classes: list[Any] = list(api_settings.DEFAULT_AUTHENTICATION_CLASSES)
        return [authentication() for authentication in classes]

    def get_permissions(self) -> Any:
        if noojee_settings.API_SCHEMA_PUBLIC:
            return [AllowAny()]
        return [IsAuthenticated()]

    def get(self, request: Request, *args: Any, **kwargs: Any) -> Response:
        from .urls import router

        root = reverse("noojee:api-root")
        self.patterns = [path(root.lstrip("/"), include(router.urls))]
        self.custom_settings = {
            "TITLE": "Noojee API",
            "DESCRIPTION": "Calls, voice-signature recordings and their legs. Every endpoint is for "
            "logged-in users, authenticated the way the project's REST framework settings say.",
            "VERSION": "1",
            "SCHEMA_PATH_PREFIX": root.rstrip("/"),
            "SCHEMA_PATH_PREFIX_TRIM": False,
        }
        return super().get(request, *args, **kwargs)


class APIDocsView(LoginRequiredMixin, TemplateView):
    """The interactive API documentation (Swagger UI, served from the app's static files) for
    logged-in users; it reads :class:`SchemaView` and sends the CSRF token with what it tries out."""

    template_name = "noojee_django/api_docs.html"
