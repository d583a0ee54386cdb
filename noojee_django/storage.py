"""A private file storage for recordings: files on disk that no URL leads to.

Django's ``FileSystemStorage`` falls back to ``MEDIA_URL`` when it has no ``base_url``, so a file it
holds always has a URL a web server might serve. This one refuses to make URLs: the app's playback
view, which checks permissions and logs every listen, is the only way to the audio.
"""

from __future__ import annotations

from django.core.files.storage import FileSystemStorage


class PrivateFileSystemStorage(FileSystemStorage):
    def url(self, name: str | None) -> str:
        raise ValueError("Recordings have no public URL: play them through the noojee playback views.")
