"""The app's URLs, included by a project as ``path("noojee/", include("noojee_django.urls"))``."""

from django.urls import include, path

from . import playback, views

app_name = "noojee"

urlpatterns = [
    # The buttons (views.py)
    path("dial/", views.dial, name="dial"),
    path("calls/<int:call_id>/hangup/", views.hangup, name="hangup"),
    path("calls/<int:call_id>/status/", views.call_status, name="call-status"),
    path("answer/", views.answer, name="answer"),
    path("recordings/start/", views.start_recording, name="start-recording"),
    path("recordings/<int:recording_tag_id>/stop/", views.stop_recording, name="stop-recording"),
    path("recordings/<int:recording_tag_id>/status/", views.recording_status, name="recording-status"),
    # Private playback (playback.py): the only way to the audio
    path("recordings/<int:recording_tag_id>/audio/", playback.recording_audio, name="recording-audio"),
    path("legs/<int:leg_id>/audio/", playback.leg_audio, name="leg-audio"),
    path(
        "recordings/<int:recording_tag_id>/evidence.zip",
        playback.evidence_bundle,
        name="recording-evidence",
    ),
    # The REST API (api/)
    path("api/", include("noojee_django.api.urls")),
]
