"""Blob store for evidence bytes: local filesystem (default) or S3; S3BlobStore imports boto3 on first access."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from fieldsvc.storage.base import (
    BLOB_KINDS,
    BlobInfo,
    BlobStore,
    StorageUnavailable,
    content_disposition,
    content_key,
    made_by_the_service,
    staging_key,
    validate_key,
)
from fieldsvc.storage.local import LocalBlobStore
from fieldsvc.storage.signing import BlobGrant, InvalidBlobToken, open_blob_token, sign_blob_token, verify_blob_token

if TYPE_CHECKING:
    from fieldsvc.storage.s3 import S3BlobStore

__all__ = [
    "BLOB_KINDS",
    "BlobGrant",
    "BlobInfo",
    "BlobStore",
    "InvalidBlobToken",
    "LocalBlobStore",
    "S3BlobStore",
    "StorageUnavailable",
    "content_disposition",
    "content_key",
    "made_by_the_service",
    "open_blob_token",
    "sign_blob_token",
    "staging_key",
    "validate_key",
    "verify_blob_token",
]


def __getattr__(name: str) -> Any:
    # boto3 takes a noticeable moment to import; deployments on the local backend never pay for it.
    if name == "S3BlobStore":
        from fieldsvc.storage.s3 import S3BlobStore

        return S3BlobStore
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
