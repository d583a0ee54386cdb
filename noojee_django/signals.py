"""Signals a CRM can listen to. Every one is sent after the database change it announces is saved."""

from django.dispatch import Signal

#: sender=CallSession class, call=CallSession
call_placed = Signal()
#: sender=CallSession class, call=CallSession, previous_status=str
call_status_changed = Signal()
#: sender=RecordingTag class, recording_tag=RecordingTag
recording_started = Signal()
#: sender=RecordingTag class, recording_tag=RecordingTag
recording_stopped = Signal()
#: sender=RecordingTag class, recording_tag=RecordingTag, pause=RecordingPause; the PBX stopped recording
recording_paused = Signal()
#: sender=RecordingTag class, recording_tag=RecordingTag, pause=RecordingPause (ended); recording again
recording_resumed = Signal()
#: sender=RecordingTag class, recording_tag=RecordingTag, content_object=the CRM object
recording_attached = Signal()
#: sender=RecordingTag class, recording_tag=RecordingTag, reason=str
recording_failed = Signal()
#: sender=RecordingTag class, recording_tag=RecordingTag, previous_status=str, reason=str; every change
recording_status_changed = Signal()
#: sender=StoredAudio class, stored_audio=StoredAudio, integrity="mismatch" or "missing", detail=str;
#: sent by the integrity scrub when it first finds a stored object altered or gone
stored_audio_damaged = Signal()
