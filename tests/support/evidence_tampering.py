"""Ways to tamper with an evidence bundle, each with what a verifier must say about it.

Used by ``tests/test_evidence.py`` (every case must be detected, by the service and by the command)
and ``bench/evidence.py`` (which counts the cases and the ones missed). Each case takes a good
bundle's bytes and returns altered ones; most rebuild the ZIP with correct CRCs, so that only the
manifest and its signature can tell, as a careful forger would.
"""

from __future__ import annotations

import base64
import hashlib
import io
import json
import warnings
import zipfile
from collections.abc import Callable
from dataclasses import dataclass

from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

MANIFEST = "manifest.json"
SIGNATURE = "manifest.json.sig"
PUBLIC_KEY = "public_key.pem"

Entries = list[tuple[str, bytes]]


def read_entries(bundle: bytes) -> Entries:
    with zipfile.ZipFile(io.BytesIO(bundle)) as archive:
        return [(info.filename, archive.read(info)) for info in archive.infolist()]


def write_entries(entries: Entries) -> bytes:
    buffer = io.BytesIO()
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # "Duplicate name": that is the point of one case
        with zipfile.ZipFile(buffer, "w", compression=zipfile.ZIP_STORED) as archive:
            for name, data in entries:
                archive.writestr(name, data)
    return buffer.getvalue()


def _audio_name(entries: Entries) -> str:
    return next(name for name, _ in entries if name.startswith("legs/"))


def _manifest(entries: Entries) -> dict:
    return json.loads(dict(entries)[MANIFEST])


def _replace(entries: Entries, name: str, data: bytes) -> Entries:
    return [(n, data if n == name else d) for n, d in entries]


def _dump(manifest: dict) -> bytes:
    return (json.dumps(manifest, indent=2, ensure_ascii=False) + "\n").encode()


def _flip(data: bytes, at: int) -> bytes:
    return data[:at] + bytes([data[at] ^ 0x01]) + data[at + 1 :]


@dataclass(frozen=True)
class TamperCase:
    name: str
    #: ``bundle bytes -> altered bytes``
    apply: Callable[[bytes], bytes]
    #: a finding of this kind must name something containing ``expect_name`` (``None``: any name)
    expect_kind: str
    expect_name: str | None


def audio_byte_flipped(bundle: bytes) -> bytes:
    entries = read_entries(bundle)
    name = _audio_name(entries)
    data = dict(entries)[name]
    return write_entries(_replace(entries, name, _flip(data, len(data) // 2)))


def audio_byte_flipped_in_the_zip(bundle: bytes) -> bytes:
    """One byte of audio flipped where it lies in the ZIP file, CRC left as it was."""
    with zipfile.ZipFile(io.BytesIO(bundle)) as archive:
        info = next(i for i in archive.infolist() if i.filename.startswith("legs/"))
    # the local header: 30 bytes, the name, the extra field; then the data
    name_length = int.from_bytes(bundle[info.header_offset + 26 : info.header_offset + 28], "little")
    extra_length = int.from_bytes(bundle[info.header_offset + 28 : info.header_offset + 30], "little")
    data_start = info.header_offset + 30 + name_length + extra_length
    return _flip(bundle, data_start + info.file_size // 2)


def manifest_field_changed(bundle: bytes) -> bytes:
    entries = read_entries(bundle)
    manifest = _manifest(entries)
    manifest["record"]["id"] = manifest["record"]["id"] + "0"
    return write_entries(_replace(entries, MANIFEST, _dump(manifest)))


def file_added(bundle: bytes) -> bytes:
    return write_entries([*read_entries(bundle), ("legs/leg-9-extra.wav", b"RIFF....WAVEfmt ")])


def file_removed(bundle: bytes) -> bytes:
    return write_entries([(n, d) for n, d in read_entries(bundle) if n != "signature.wav"])


def file_renamed(bundle: bytes) -> bytes:
    entries = read_entries(bundle)
    name = _audio_name(entries)
    return write_entries([(n.replace(".wav", "-copy.wav") if n == name else n, d) for n, d in entries])


def signature_altered(bundle: bytes) -> bytes:
    entries = read_entries(bundle)
    return write_entries(_replace(entries, SIGNATURE, _flip(dict(entries)[SIGNATURE], 10)))


def _pem(key: Ed25519PrivateKey) -> bytes:
    return key.public_key().public_bytes(
        serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo
    )


def _fingerprint(key: Ed25519PrivateKey) -> str:
    raw = key.public_key().public_bytes(serialization.Encoding.Raw, serialization.PublicFormat.Raw)
    return hashlib.sha256(raw).hexdigest()


def resigned_with_another_key(bundle: bytes) -> bytes:
    """A forger's bundle: audio replaced, manifest made to match, signed with the forger's own key."""
    forger = Ed25519PrivateKey.generate()
    entries = read_entries(bundle)
    name = _audio_name(entries)
    audio = _flip(dict(entries)[name], 100)
    pem = _pem(forger)
    manifest = _manifest(entries)
    for item in manifest["files"]:
        if item["name"] == name:
            item["sha256"] = hashlib.sha256(audio).hexdigest()
        if item["name"] == PUBLIC_KEY:
            item["sha256"], item["size"] = hashlib.sha256(pem).hexdigest(), len(pem)
    manifest["signing"]["public_key_sha256"] = _fingerprint(forger)
    manifest_bytes = _dump(manifest)
    entries = _replace(_replace(_replace(entries, name, audio), PUBLIC_KEY, pem), MANIFEST, manifest_bytes)
    return write_entries(_replace(entries, SIGNATURE, forger.sign(manifest_bytes)))


def public_key_swapped(bundle: bytes) -> bytes:
    return write_entries(_replace(read_entries(bundle), PUBLIC_KEY, _pem(Ed25519PrivateKey.generate())))


def file_list_edited(bundle: bytes) -> bytes:
    entries = read_entries(bundle)
    manifest = _manifest(entries)
    manifest["files"] = [item for item in manifest["files"] if item["name"] != "signature.wav"]
    return write_entries(_replace(entries, MANIFEST, _dump(manifest)))


def truncated(bundle: bytes) -> bytes:
    return bundle[: len(bundle) * 2 // 3]


def duplicated_entry(bundle: bytes) -> bytes:
    entries = read_entries(bundle)
    name = _audio_name(entries)
    return write_entries([*entries, (name, _flip(dict(entries)[name], 200))])


def empty_file(bundle: bytes) -> bytes:
    return write_entries(_replace(read_entries(bundle), "signature.wav", b""))


def manifest_removed(bundle: bytes) -> bytes:
    return write_entries([(n, d) for n, d in read_entries(bundle) if n != MANIFEST])


def signature_removed(bundle: bytes) -> bytes:
    return write_entries([(n, d) for n, d in read_entries(bundle) if n != SIGNATURE])


def signature_of_garbage(bundle: bytes) -> bytes:
    entries = read_entries(bundle)
    return write_entries(_replace(entries, SIGNATURE, base64.b64encode(dict(entries)[SIGNATURE])))


CASES: list[TamperCase] = [
    TamperCase("a byte of audio flipped", audio_byte_flipped, "altered", "legs/leg-"),
    TamperCase("a byte of audio flipped in the ZIP", audio_byte_flipped_in_the_zip, "damaged", "legs/leg-"),
    TamperCase("a manifest field changed", manifest_field_changed, "signature", MANIFEST),
    TamperCase("a file added", file_added, "added", "legs/leg-9-extra.wav"),
    TamperCase("a file removed", file_removed, "removed", "signature.wav"),
    TamperCase("a file renamed", file_renamed, "renamed", "legs/leg-"),
    TamperCase("the signature altered", signature_altered, "signature", MANIFEST),
    TamperCase("the signature replaced by other bytes", signature_of_garbage, "signature", MANIFEST),
    TamperCase("re-signed with another key", resigned_with_another_key, "key", PUBLIC_KEY),
    TamperCase("the public key swapped", public_key_swapped, "signature", MANIFEST),
    TamperCase("the manifest's file list edited", file_list_edited, "signature", MANIFEST),
    TamperCase("a truncated ZIP", truncated, "damaged", None),
    TamperCase("a duplicated entry", duplicated_entry, "duplicated", "legs/leg-"),
    TamperCase("an empty file", empty_file, "altered", "signature.wav"),
    TamperCase("the manifest removed", manifest_removed, "removed", MANIFEST),
    TamperCase("the signature removed", signature_removed, "removed", SIGNATURE),
]


def detected(case: TamperCase, findings: list) -> bool:
    """Whether ``findings`` (of ``verify_evidence``) report ``case`` as it should be reported."""
    return any(
        f.kind == case.expect_kind and (case.expect_name is None or case.expect_name in f.name)
        for f in findings
    )
