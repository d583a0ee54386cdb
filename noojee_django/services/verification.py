"""Checking an evidence bundle: is every byte the one that was signed, and signed by whom we expect?

:func:`verify_evidence` reads a bundle (a path or an open binary file) and reports every problem it
finds, each naming the file (or the part of the manifest) concerned: a file altered (its size or
sha256 is not the manifest's), added (not in the manifest), removed (in the manifest, not in the
ZIP), renamed (a removed file's bytes under a name the manifest does not know), entries that appear
twice, a damaged or truncated ZIP, a signature that does not verify against the bundle's own public
key, and a bundle signed by another key than the expected one (the configured key, or one given): a
bundle altered and signed again by someone else verifies against its own key, never against ours.

It needs nothing of the app but the format (``docs/evidence.md``, which shows the same checks with
``sha256sum`` and ``openssl``).
"""

from __future__ import annotations

import collections
import hashlib
import json
import os
import zipfile
import zlib
from dataclasses import dataclass, field
from typing import IO, Any

from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PublicKey

from .. import signing
from .evidence import BLOCK_SIZE, FORMAT, MANIFEST, PUBLIC_KEY, SIGNATURE


@dataclass(frozen=True)
class Finding:
    """One problem: ``kind`` is one of ``altered``, ``added``, ``removed``, ``renamed``, ``duplicated``,
    ``damaged``, ``signature`` or ``key``; ``name`` the file (or ``manifest.json: <field>``)."""

    kind: str
    name: str
    message: str

    def __str__(self) -> str:
        return f"{self.kind.upper()} {self.name}: {self.message}"


@dataclass
class VerificationReport:
    """What :func:`verify_evidence` found. ``ok`` only when there is no finding at all."""

    findings: list[Finding] = field(default_factory=list)
    #: the files whose size and sha256 matched the manifest
    files_verified: list[str] = field(default_factory=list)
    #: the sha256 of the bundle's public key, and of the key it was expected to be
    fingerprint: str | None = None
    expected_fingerprint: str | None = None
    manifest: dict[str, Any] | None = None

    @property
    def ok(self) -> bool:
        return not self.findings

    def add(self, kind: str, name: str, message: str) -> None:
        self.findings.append(Finding(kind, name, message))

    def lines(self) -> list[str]:
        if self.ok:
            tag = (self.manifest or {}).get("recording", {}).get("tag")
            return [
                f"OK: {len(self.files_verified)} files match the manifest of recording {tag!r}; "
                f"manifest.json is signed by the expected key {self.fingerprint}."
            ]
        return [str(finding) for finding in self.findings]


def verify_evidence(
    bundle: str | os.PathLike[str] | IO[bytes],
    *,
    public_key: Ed25519PublicKey | bytes | None = None,
) -> VerificationReport:
    """Check ``bundle`` against its manifest, its signature, and the expected public key.

    ``public_key`` (a key, or its PEM) is the key the bundle must be signed with; without one, the
    configured signing key's public half. With neither, the report says so: a signature by a key
    nobody vouches for proves nothing.
    """
    report = VerificationReport()
    expected = _expected_key(public_key, report)
    try:
        archive = zipfile.ZipFile(bundle)
    except (zipfile.BadZipFile, zipfile.LargeZipFile, OSError, EOFError) as exc:
        report.add(
            "damaged",
            _bundle_name(bundle),
            f"is not a complete ZIP file (truncated, or not a bundle at all): {exc}.",
        )
        return report
    with archive:
        contents = _read_entries(archive, report)
    manifest = _manifest(contents, report)
    _check_signature(contents, manifest, expected, report)
    if manifest is not None:
        _check_files(contents, manifest, report)
        _check_script(manifest, report)
    return report


def _bundle_name(bundle: Any) -> str:
    if isinstance(bundle, str | os.PathLike):
        return os.fspath(bundle)
    return str(getattr(bundle, "name", "the bundle"))


def _expected_key(
    given: Ed25519PublicKey | bytes | None, report: VerificationReport
) -> Ed25519PublicKey | None:
    if isinstance(given, bytes):
        try:
            given = signing.load_public_key_pem(given)
        except ValueError as exc:
            report.add("key", "the expected public key", f"cannot be read: {exc}.")
            return None
    if given is None:
        try:
            given = signing.configured_public_key()
        except signing.SigningKeyError as exc:
            report.add("key", "the expected public key", f"the configured signing key cannot be read: {exc}")
            return None
    if given is None:
        report.add(
            "key",
            "the expected public key",
            "none was given and no signing key is configured: give the public key the bundle should be "
            "signed with (--public-key), or nothing proves who signed it.",
        )
        return None
    report.expected_fingerprint = signing.fingerprint(given)
    return given


@dataclass
class _Entry:
    size: int
    sha256: str
    #: the whole content, kept only for the small files the verifier reads (manifest, key, signature)
    data: bytes | None


def _read_entries(archive: zipfile.ZipFile, report: VerificationReport) -> dict[str, _Entry]:
    """Each entry's size and sha256 (read in blocks, as ``zipfile`` checks its CRC); an entry that
    appears twice, or cannot be read, is a finding, and is left out."""
    counts = collections.Counter(info.filename for info in archive.infolist())
    for name, count in counts.items():
        if count > 1:
            report.add("duplicated", name, f"appears {count} times in the ZIP: a reader may see either copy.")
    contents: dict[str, _Entry] = {}
    for info in archive.infolist():
        if counts[info.filename] > 1 or info.is_dir():
            continue
        keep = info.filename in (MANIFEST, SIGNATURE, PUBLIC_KEY)
        digest = hashlib.sha256()
        size = 0
        kept = bytearray()
        try:
            with archive.open(info) as handle:
                while block := handle.read(BLOCK_SIZE):
                    digest.update(block)
                    size += len(block)
                    if keep and len(kept) < 16 * 1024 * 1024:
                        kept += block
        except (zipfile.BadZipFile, zlib.error, OSError, EOFError, NotImplementedError) as exc:
            report.add("damaged", info.filename, f"cannot be read from the ZIP (altered in place?): {exc}.")
            continue
        contents[info.filename] = _Entry(size, digest.hexdigest(), bytes(kept) if keep else None)
    return contents


def _manifest(contents: dict[str, _Entry], report: VerificationReport) -> dict[str, Any] | None:
    entry = contents.get(MANIFEST)
    if entry is None:
        if not any(f.name == MANIFEST for f in report.findings):
            report.add("removed", MANIFEST, "the bundle has no manifest: nothing says what it should hold.")
        return None
    try:
        manifest = json.loads((entry.data or b"").decode("utf-8"))
    except (UnicodeDecodeError, ValueError) as exc:
        report.add("altered", MANIFEST, f"is not valid JSON ({exc}).")
        return None
    if not isinstance(manifest, dict) or manifest.get("format") != FORMAT:
        report.add("altered", f"{MANIFEST}: format", f"is not a manifest of the {FORMAT} format.")
        return manifest if isinstance(manifest, dict) else None
    report.manifest = manifest
    return manifest


def _check_signature(
    contents: dict[str, _Entry],
    manifest: dict[str, Any] | None,
    expected: Ed25519PublicKey | None,
    report: VerificationReport,
) -> None:
    names = {f.name for f in report.findings}
    key_entry = contents.get(PUBLIC_KEY)
    signature = contents.get(SIGNATURE)
    if key_entry is None and PUBLIC_KEY not in names:
        report.add("removed", PUBLIC_KEY, "the bundle has no public key to check its signature with.")
    if signature is None and SIGNATURE not in names:
        report.add("removed", SIGNATURE, "the bundle has no signature: its manifest proves nothing.")
    bundle_key = None
    if key_entry is not None:
        try:
            bundle_key = signing.load_public_key_pem(key_entry.data or b"")
        except ValueError as exc:
            report.add("altered", PUBLIC_KEY, f"is {exc}.")
    if bundle_key is not None:
        report.fingerprint = signing.fingerprint(bundle_key)
        named = ((manifest or {}).get("signing") or {}).get("public_key_sha256")
        if manifest is not None and named != report.fingerprint:
            report.add(
                "altered",
                f"{MANIFEST}: signing.public_key_sha256",
                f"names key {named}, but {PUBLIC_KEY} is key {report.fingerprint}: the public key was "
                "swapped.",
            )
        if expected is not None and report.fingerprint != report.expected_fingerprint:
            report.add(
                "key",
                PUBLIC_KEY,
                f"the bundle is signed by key {report.fingerprint}, not by the expected key "
                f"{report.expected_fingerprint}: it was signed again by someone else, or comes from "
                "another signer.",
            )
    manifest_entry = contents.get(MANIFEST)
    if bundle_key is not None and signature is not None and manifest_entry is not None:
        if not signing.signature_matches(bundle_key, signature.data or b"", manifest_entry.data or b""):
            report.add(
                "signature",
                MANIFEST,
                f"its signature ({SIGNATURE}) does not verify against {PUBLIC_KEY}: the manifest or its "
                "signature was altered after signing, or the public key was swapped.",
            )


def _check_files(contents: dict[str, _Entry], manifest: dict[str, Any], report: VerificationReport) -> None:
    listed = manifest.get("files")
    if not isinstance(listed, list) or not all(
        isinstance(item, dict)
        and isinstance(item.get("name"), str)
        and isinstance(item.get("size"), int)
        and isinstance(item.get("sha256"), str)
        for item in listed
    ):
        report.add(
            "altered", f"{MANIFEST}: files", "is not a list of files with their name, size and sha256."
        )
        return
    expected = {item["name"]: item for item in listed}
    if len(expected) != len(listed):
        report.add("altered", f"{MANIFEST}: files", "names a file more than once.")
    for own in (MANIFEST, SIGNATURE):
        if own in expected:
            report.add("altered", f"{MANIFEST}: files", f"lists {own}, which cannot hold its own hash.")
    already = {f.name for f in report.findings}
    present = set(contents) | {f.name for f in report.findings if f.kind in ("duplicated", "damaged")}
    removed = [name for name in expected if name not in present and name not in (MANIFEST, SIGNATURE)]
    added = [name for name in contents if name not in expected and name not in (MANIFEST, SIGNATURE)]
    for name, item in expected.items():
        entry = contents.get(name)
        if entry is None or name in (MANIFEST, SIGNATURE):
            continue
        if entry.size != item["size"]:
            empty = " (it is empty)" if entry.size == 0 else ""
            report.add("altered", name, f"is {entry.size} bytes{empty}; the manifest says {item['size']}.")
        elif entry.sha256 != item["sha256"]:
            report.add("altered", name, f"has sha256 {entry.sha256}; the manifest says {item['sha256']}.")
        else:
            report.files_verified.append(name)
    for new in list(added):
        twin = next(
            (
                old
                for old in removed
                if expected[old]["sha256"] == contents[new].sha256
                and expected[old]["size"] == contents[new].size
            ),
            None,
        )
        if twin is not None:
            report.add("renamed", twin, f"is in the ZIP as {new}, a name the manifest does not know.")
            removed.remove(twin)
            added.remove(new)
    for name in removed:
        if name not in already:
            report.add("removed", name, "is in the manifest but not in the ZIP.")
    for name in added:
        report.add("added", name, f"is in the ZIP but not in the manifest ({contents[name].size} bytes).")
    for section, label in (("legs", "legs"), ("signature", "signature")):
        value = manifest.get(section)
        items = value if isinstance(value, list) else [value] if isinstance(value, dict) else []
        for item in items:
            named = item.get("file") if isinstance(item, dict) else None
            if named is not None and named not in expected:
                report.add(
                    "altered", f"{MANIFEST}: {label}", f"names {named!r}, which the file list does not."
                )


def _check_script(manifest: dict[str, Any], report: VerificationReport) -> None:
    """The script text a recording keeps must still hash to the sha256 kept with it when it started: a
    text edited in the database afterwards is named, even in a bundle signed since."""
    script = manifest.get("script")
    if script is None:
        return
    text, digest = (
        (script.get("text"), script.get("text_sha256")) if isinstance(script, dict) else (None, None)
    )
    if not isinstance(text, str) or not isinstance(digest, str):
        report.add("altered", f"{MANIFEST}: script", "has no text and text_sha256.")
        return
    actual = hashlib.sha256(text.encode("utf-8")).hexdigest()
    if actual != digest:
        report.add(
            "altered",
            f"{MANIFEST}: script.text",
            f"has sha256 {actual}; the recording kept {digest} when it started: the text was changed "
            "after the agent was shown it.",
        )


__all__ = ["Finding", "VerificationReport", "verify_evidence"]
