"""The key that signs evidence bundles, and the public keys that check them.

The private key is ``NOOJEE['EVIDENCE_SIGNING_KEY']``, else the environment variable
``NOOJEE_EVIDENCE_SIGNING_KEY``: the standard base64 of a raw 32-byte Ed25519 private key (one line,
at home in an environment variable; ``manage.py noojee_evidence_key --generate`` makes one). It never
comes from the repository, and no message of this module ever holds it or any part of it: an
unreadable key is described by its shape (its length, "looks like PEM"), never by its content.

A public key travels as PEM (``SubjectPublicKeyInfo``), which ``openssl`` reads; its fingerprint is the
sha256 of its 32 raw bytes, in hex.
"""

from __future__ import annotations

import base64
import binascii
import hashlib

from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey, Ed25519PublicKey
from django.core.exceptions import ImproperlyConfigured

from .conf import noojee_settings

SETTING = "NOOJEE['EVIDENCE_SIGNING_KEY']"
ENVIRONMENT_VARIABLE = "NOOJEE_EVIDENCE_SIGNING_KEY"


class SigningKeyError(ImproperlyConfigured):
    """The signing key is missing or cannot be read. The message says which, never what the key is."""


class NoSigningKey(SigningKeyError):
    """No signing key is configured: evidence bundles cannot be signed (check ``noojee.W010``)."""


class UnreadableSigningKey(SigningKeyError):
    """The configured signing key is not the base64 of 32 raw bytes (check ``noojee.E010``)."""


def parse_private_key(text: str) -> Ed25519PrivateKey:
    """The Ed25519 private key ``text`` holds (base64 of its 32 raw bytes; whitespace ignored)."""
    where = f"{SETTING} (or {ENVIRONMENT_VARIABLE})"
    compact = "".join(text.split())
    if compact.startswith("-----BEGIN"):
        raise UnreadableSigningKey(
            f"{where} looks like a PEM file: give the base64 of the raw 32-byte Ed25519 private key "
            "instead (manage.py noojee_evidence_key --generate makes one)."
        )
    try:
        raw = base64.b64decode(compact, validate=True)
    except (binascii.Error, ValueError):
        raise UnreadableSigningKey(
            f"{where} is not base64 text ({len(compact)} characters): it must be the standard base64 "
            "of a raw 32-byte Ed25519 private key."
        ) from None
    if len(raw) != 32:
        raise UnreadableSigningKey(
            f"{where} decodes to {len(raw)} bytes: an Ed25519 private key is 32 raw bytes, in base64."
        )
    return Ed25519PrivateKey.from_private_bytes(raw)


def signing_key() -> Ed25519PrivateKey:
    """The configured private key. :class:`NoSigningKey` or :class:`UnreadableSigningKey` when there is
    none or it cannot be read."""
    text = noojee_settings.EVIDENCE_SIGNING_KEY
    if not text:
        raise NoSigningKey(
            f"No evidence signing key is configured: set the {ENVIRONMENT_VARIABLE} environment variable "
            f"(or {SETTING}); manage.py noojee_evidence_key --generate makes one."
        )
    return parse_private_key(text)


def configured_public_key() -> Ed25519PublicKey | None:
    """The public half of the configured key; ``None`` when none is configured."""
    try:
        return signing_key().public_key()
    except NoSigningKey:
        return None


def generate_private_key() -> str:
    """A new private key, as the setting takes it."""
    raw = Ed25519PrivateKey.generate().private_bytes(
        serialization.Encoding.Raw, serialization.PrivateFormat.Raw, serialization.NoEncryption()
    )
    return base64.b64encode(raw).decode("ascii")


def raw_public_key(public_key: Ed25519PublicKey) -> bytes:
    return public_key.public_bytes(serialization.Encoding.Raw, serialization.PublicFormat.Raw)


def fingerprint(public_key: Ed25519PublicKey) -> str:
    """The sha256 of the key's 32 raw bytes, in hex: what a bundle's manifest names its signer by."""
    return hashlib.sha256(raw_public_key(public_key)).hexdigest()


def public_key_pem(public_key: Ed25519PublicKey) -> bytes:
    return public_key.public_bytes(
        serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo
    )


def load_public_key_pem(data: bytes) -> Ed25519PublicKey:
    """An Ed25519 public key from PEM; ``ValueError`` (in words) for anything else."""
    try:
        key = serialization.load_pem_public_key(data)
    except (ValueError, TypeError):
        raise ValueError("not a public key in PEM form") from None
    if not isinstance(key, Ed25519PublicKey):
        raise ValueError(f"a {type(key).__name__.removeprefix('_')}, not an Ed25519 public key")
    return key


def signature_matches(public_key: Ed25519PublicKey, signature: bytes, data: bytes) -> bool:
    try:
        public_key.verify(signature, data)
    except InvalidSignature:
        return False
    return True


__all__ = [
    "ENVIRONMENT_VARIABLE",
    "NoSigningKey",
    "SigningKeyError",
    "UnreadableSigningKey",
    "configured_public_key",
    "fingerprint",
    "generate_private_key",
    "load_public_key_pem",
    "parse_private_key",
    "public_key_pem",
    "raw_public_key",
    "signature_matches",
    "signing_key",
]
