"""The blob store contract shared by the local and S3 backends, and the server-made key scheme."""

from __future__ import annotations

import re
from collections.abc import AsyncIterator
from dataclasses import dataclass
from datetime import datetime
from typing import Any, Protocol
from urllib.parse import quote
from uuid import UUID

BLOB_KINDS = ("original", "thumb", "display")
MAX_KEY_LENGTH = 512
# Leaves room under the usual 255-byte filename limit for the local store's temp-file decoration.
MAX_SEGMENT_LENGTH = 200

# Segments may not start with "." so "..", "." and the local store's ".tmp" files can never be keys.
_KEY_PATTERN = re.compile(r"[a-z0-9_-][a-z0-9_.-]*(/[a-z0-9_-][a-z0-9_.-]*)*")
_SHA256_HEX = re.compile(r"[0-9a-f]{64}")
_FILENAME_FALLBACK_UNSAFE = re.compile(r"[^A-Za-z0-9._-]")


class StorageUnavailable(Exception):
    """The blob store cannot be reached; callers answer 503 with Retry-After."""


@dataclass(frozen=True)
class BlobInfo:
    """What a store knows about a stored blob without reading it."""

    key: str
    size: int
    sha256: str | None  # None when the backend cannot tell cheaply (e.g. an object uploaded by a phone)
    modified_at: datetime | None = None  # when it was last written; the orphan cleanup spares recent blobs


class BlobStore(Protocol):
    """Where evidence bytes live; every method is safe to await on the event loop."""

    async def put(self, key: str, data: bytes, content_type: str) -> None:
        """Store data under key; writing the same bytes to the same key again is fine."""

    async def get(self, key: str) -> bytes:
        """The blob's bytes; KeyError if there is none."""

    async def head(self, key: str) -> BlobInfo | None:
        """Size (and sha256 if known) of the blob, or None if there is none."""

    async def delete(self, key: str) -> None:
        """Remove the blob; deleting a missing key is fine."""

    def list_keys(self, prefix: str = "") -> AsyncIterator[str]:
        """Every key starting with prefix, fetched page by page (use with `async for`)."""

    async def presign_get(self, key: str, expires_seconds: int, filename: str | None = None) -> str | None:
        """A URL that downloads the blob directly, or None when the backend cannot presign."""

    async def presign_put(
        self, key: str, content_type: str, max_bytes: int, expires_seconds: int
    ) -> dict[str, Any] | None:
        """How a client uploads the blob directly ({"url", "method", "headers", ...}), or None."""

    async def ping(self) -> bool:
        """True when the store can be used right now; never raises."""


def validate_key(key: str) -> str:
    """Return key if it is a well-formed server-made key, else raise ValueError."""
    if (
        len(key) > MAX_KEY_LENGTH
        or not _KEY_PATTERN.fullmatch(key)
        or any(len(segment) > MAX_SEGMENT_LENGTH for segment in key.split("/"))
    ):
        raise ValueError(f"invalid blob key: {key!r}")
    return key


def validate_prefix(prefix: str) -> str:
    """Return prefix if some valid key could start with it ("" lists everything), else raise ValueError."""
    if prefix and not _KEY_PATTERN.fullmatch(prefix.removesuffix("/")):
        raise ValueError(f"invalid blob key prefix: {prefix!r}")
    return prefix


def content_key(sha256_hex: str, kind: str) -> str:
    """The content-addressed key for a blob of this kind, e.g. original/ab/ab12...; fanned out by 2 hex digits."""
    if kind not in BLOB_KINDS:
        raise ValueError(f"unknown blob kind {kind!r}; expected one of {BLOB_KINDS}")
    if not _SHA256_HEX.fullmatch(sha256_hex):
        raise ValueError("sha256_hex must be 64 lower-case hex digits")
    return f"{kind}/{sha256_hex[:2]}/{sha256_hex}"


def staging_key(upload_id: UUID) -> str:
    """Where a phone uploads a presigned photo: never a content key, so a false sha256 cannot overwrite evidence."""
    return f"upload/{upload_id}"


_SERVICE_KEY = re.compile(rf"({'|'.join(BLOB_KINDS)})/[0-9a-f]{{2}}/[0-9a-f]{{64}}|upload/[0-9a-f-]{{36}}")


def made_by_the_service(key: str) -> bool:
    """A content key or a staging key: the only kinds of blob this service writes (a bucket may hold others' files)."""
    return _SERVICE_KEY.fullmatch(key) is not None


def content_disposition(filename: str) -> str:
    """An inline Content-Disposition for a user-visible filename, safe against header injection. Inline: an auditor
    opening a photo's link sees the photo, not a download (a probe). Only decoded, validated images are stored, each
    with its own image content type (the local route adds nosniff and a sandbox), so a browser shows an image."""
    filename = filename or "download"
    ascii_fallback = _FILENAME_FALLBACK_UNSAFE.sub("_", filename)
    return f"inline; filename=\"{ascii_fallback}\"; filename*=UTF-8''{quote(filename, safe='')}"
