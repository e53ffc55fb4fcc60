"""HMAC-SHA256 signed, expiring tokens for the app route that serves local-backend blobs."""

from __future__ import annotations

import base64
import binascii
import hashlib
import hmac
import json
from dataclasses import dataclass
from typing import Literal

MIN_SECRET_BYTES = 16
# Tokens we issue are a few hundred characters; anything much longer is rejected before any work.
_MAX_TOKEN_LENGTH = 4096
# Binds the MAC to this purpose so a token can never be replayed where the same secret signs something else.
_DOMAIN = b"fieldsvc.blob-url.v1\x00"

InvalidBlobTokenCode = Literal["blob_url.expired", "blob_url.invalid"]


class InvalidBlobToken(Exception):
    """A blob URL token that must not be honoured; code is the stable machine code for the response."""

    def __init__(self, code: InvalidBlobTokenCode) -> None:
        super().__init__(code)
        self.code: InvalidBlobTokenCode = code


@dataclass(frozen=True)
class BlobGrant:
    """What a valid token allows: download key until expires_at, optionally as filename."""

    key: str
    expires_at: int
    filename: str | None


def sign_blob_token(secret: bytes, key: str, expires_at: int, filename: str | None = None) -> str:
    """A URL-safe token granting a download of key until expires_at (Unix seconds, exclusive)."""
    _check_secret(secret)
    payload = json.dumps([key, expires_at, filename], separators=(",", ":"), ensure_ascii=True).encode()
    encoded_payload = _b64encode(payload)
    return f"{encoded_payload}.{_mac(secret, encoded_payload)}"


def open_blob_token(secret: bytes, token: str, now: int) -> BlobGrant:
    """The grant inside a token signed with secret; raises InvalidBlobToken if forged, altered or expired."""
    _check_secret(secret)
    if len(token) > _MAX_TOKEN_LENGTH or not token.isascii():
        raise InvalidBlobToken("blob_url.invalid")
    encoded_payload, _, encoded_mac = token.partition(".")
    # The MAC covers the encoded text, so any edit to the token (even one base64 would forgive) fails here.
    if not hmac.compare_digest(encoded_mac, _mac(secret, encoded_payload)):
        raise InvalidBlobToken("blob_url.invalid")
    grant = _parse_payload(encoded_payload)
    if now >= grant.expires_at:
        raise InvalidBlobToken("blob_url.expired")
    return grant


def verify_blob_token(secret: bytes, token: str, now: int) -> str:
    """The key a valid token grants; raises InvalidBlobToken like open_blob_token."""
    return open_blob_token(secret, token, now).key


def _parse_payload(encoded_payload: str) -> BlobGrant:
    try:
        key, expires_at, filename = json.loads(_b64decode(encoded_payload))
    except (ValueError, TypeError, binascii.Error):
        raise InvalidBlobToken("blob_url.invalid") from None
    if not (
        isinstance(key, str)
        and isinstance(expires_at, int)
        and not isinstance(expires_at, bool)
        and (filename is None or isinstance(filename, str))
    ):
        raise InvalidBlobToken("blob_url.invalid")
    return BlobGrant(key=key, expires_at=expires_at, filename=filename)


def _mac(secret: bytes, encoded_payload: str) -> str:
    return _b64encode(hmac.new(secret, _DOMAIN + encoded_payload.encode("ascii"), hashlib.sha256).digest())


def _check_secret(secret: bytes) -> None:
    if len(secret) < MIN_SECRET_BYTES:
        raise ValueError(f"blob URL secret must be at least {MIN_SECRET_BYTES} bytes")


def _b64encode(raw: bytes) -> str:
    return base64.urlsafe_b64encode(raw).rstrip(b"=").decode("ascii")


def _b64decode(text: str) -> bytes:
    return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))
