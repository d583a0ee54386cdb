"""A state file, so that a restarted emulator is the same PBX: same calls, legs, audio, events and ``seq``.

A real PBX keeps its records across a restart; a drill that restarts the emulator mid-poll needs the
same. The file is JSON, rewritten atomically (a temporary file beside it, then ``os.replace``) shortly
after every change and once more on shutdown, so a reader never sees half a file and a crash loses at
most the last fraction of a second.
"""

from __future__ import annotations

import json
import os
import tempfile
import threading
from pathlib import Path
from typing import Any

from .pbx import Pbx

FORMAT = "noojee-emulator-state"
VERSION = 1
#: After a change, wait this long for more changes before writing: one write for a burst of events.
SAVE_DELAY = 0.05


class StateFileError(ValueError):
    """The state file exists but cannot be used (not JSON, another format, a newer version)."""


def load_state(path: str | os.PathLike[str]) -> dict[str, Any] | None:
    """The saved state, or ``None`` when there is no file yet (a first start)."""
    try:
        text = Path(path).read_text(encoding="utf-8")
    except FileNotFoundError:
        return None
    try:
        data = json.loads(text)
    except ValueError as exc:
        raise StateFileError(f"emulator state file {path}: not JSON ({exc})") from None
    if not isinstance(data, dict) or data.get("format") != FORMAT:
        raise StateFileError(f"emulator state file {path}: not an emulator state file")
    if data.get("version") != VERSION:
        found = data.get("version")
        raise StateFileError(f"emulator state file {path}: version {found!r}, expected {VERSION}")
    state = data.get("state")
    if not isinstance(state, dict):
        raise StateFileError(f"emulator state file {path}: no state in it")
    return state


def write_state(path: str | os.PathLike[str], state: dict[str, Any]) -> None:
    """Replace the file with ``state`` in one step: readers see the old file or the new one, never a mix."""
    target = Path(path)
    target.parent.mkdir(parents=True, exist_ok=True)
    payload = json.dumps({"format": FORMAT, "version": VERSION, "state": state}, separators=(",", ":"))
    handle, temporary = tempfile.mkstemp(prefix=f".{target.name}.", suffix=".tmp", dir=target.parent)
    try:
        with os.fdopen(handle, "w", encoding="utf-8") as out:
            out.write(payload)
            out.flush()
            os.fsync(out.fileno())
        os.replace(temporary, target)
    except BaseException:
        Path(temporary).unlink(missing_ok=True)
        raise


class StateKeeper:
    """Writes the PBX's state to ``path`` on a thread, shortly after each change, and on :meth:`stop`."""

    def __init__(self, pbx: Pbx, path: str | os.PathLike[str]) -> None:
        self.pbx = pbx
        self.path = path
        self._wake = threading.Event()
        self._stopping = threading.Event()
        self._write_lock = threading.Lock()
        self._saved_version = -1
        self._thread: threading.Thread | None = None

    def load(self) -> bool:
        """Restore the PBX from the file; False when there was none."""
        state = load_state(self.path)
        if state is None:
            return False
        self.pbx.restore(state)
        self._saved_version = self.pbx.version
        return True

    def start(self) -> None:
        self.pbx.on_change(self._wake.set)
        self._thread = threading.Thread(target=self._run, name="noojee-emulator-state", daemon=True)
        self._thread.start()

    def save(self, *, force: bool = False) -> None:
        """Write the state now, unless the file already holds this version of it (``force``: the
        request counters, which change on every request without making the state new, are written too)."""
        with self._write_lock:
            version = self.pbx.version
            if version == self._saved_version and not force:
                return
            state = self.pbx.snapshot()
            write_state(self.path, state)
            self._saved_version = version

    def stop(self) -> None:
        """Stop the thread and write whatever it had not written yet."""
        self.pbx.on_change(None)
        self._stopping.set()
        self._wake.set()
        if self._thread is not None:
            self._thread.join(5)
            self._thread = None
        self.save(force=True)

    def _run(self) -> None:
        while not self._stopping.is_set():
            self._wake.wait()
            if self._stopping.is_set():
                return
            self._stopping.wait(SAVE_DELAY)
            self._wake.clear()
            self.save()
