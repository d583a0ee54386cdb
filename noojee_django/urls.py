"""The app's URLs, included by a project as ``path("noojee/", include("noojee_django.urls"))``."""

from django.urls import include, path
from django.utils import timezone
from django.views.decorators.http import last_modified
from django.views.i18n import JavaScriptCatalog

from . import playback, views

app_name = "noojee"

#: The widget's words change only with a deployment: a browser asks again with If-Modified-Since and
#: is answered 304 until the process restarts.
_CATALOG_DATE = timezone.now()
_javascript_catalog = last_modified(lambda request, **kwargs: _CATALOG_DATE)(
    JavaScriptCatalog.as_view(packages=["noojee_django"])
)

urlpatterns = [
    # The buttons (views.py)
    path("dial/", views.dial, name="dial"),
    path("calls/<int:call_id>/hangup/", views.hangup, name="hangup"),
    path("calls/<int:call_id>/status/", views.call_status, name="call-status"),
    path("answer/", views.answer, name="answer"),
    path("recordings/start/", views.start_recording, name="start-recording"),
    path("recordings/<int:recording_tag_id>/stop/", views.stop_recording, name="stop-recording"),
    path("recordings/<int:recording_tag_id>/pause/", views.pause_recording, name="pause-recording"),
    path("recordings/<int:recording_tag_id>/resume/", views.resume_recording, name="resume-recording"),
    path("recordings/<int:recording_tag_id>/status/", views.recording_status, name="recording-status"),
    # Private playback (playback.py): the only way to the audio
    path("recordings/<int:recording_tag_id>/audio/", playback.recording_audio, name="recording-audio"),
    path("legs/<int:leg_id>/audio/", playback.leg_audio, name="leg-audio"),
    path(
        "recordings/<int:recording_tag_id>/evidence.zip",
        playback.evidence_bundle,
        name="recording-evidence",
    ),
    # The widget's words in the request's language, loaded by {% noojee_assets %} before noojee.js
    path("jsi18n/", _javascript_catalog, name="jsi18n"),
    # The REST API (api/)
    path("api/", include("noojee_django.api.urls")),
]
