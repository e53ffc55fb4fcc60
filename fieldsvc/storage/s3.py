"""Blob store on S3 or an S3-compatible service (MinIO, Ceph, moto) through boto3 in worker threads."""

from __future__ import annotations

import base64
import hashlib
import logging
import threading
from collections.abc import AsyncIterator, Callable
from functools import partial
from typing import Any, TypeVar

import anyio.to_thread
import boto3.session
from botocore.config import Config
from botocore.exceptions import BotoCoreError, ClientError, HTTPClientError, IncompleteReadError
from botocore.exceptions import ConnectionError as BotoConnectionError

from fieldsvc.storage.base import BlobInfo, StorageUnavailable, content_disposition, validate_key, validate_prefix

log = logging.getLogger("fieldsvc.storage")

_WORKER_THREADS = 40  # anyio.to_thread's default limit

Result = TypeVar("Result")

SHA256_METADATA_KEY = "sha256"
MAX_PRESIGN_SECONDS = 7 * 24 * 3600  # SigV4 refuses longer
# A GET for a missing key always carries an S3 error body; only HEAD (no body) leaves the bare status.
# Keeping them apart stops a stray proxy's empty 404 on GET from reading as "blob missing".
_MISSING_ON_GET_CODES = frozenset({"NoSuchKey"})
_MISSING_ON_HEAD_CODES = frozenset({"NoSuchKey", "NotFound", "404"})
_MISSING_BUCKET_CODES = frozenset({"NoSuchBucket", "NotFound", "404"})
# Besides 5xx, these mean the store is unusable until the network, the operator or the provider acts,
# so callers should answer 503 rather than 500. Note S3 answers 403 (not 404) for a missing key when the
# credentials lack s3:ListBucket: grant it, or missing blobs will look like an outage.
_UNAVAILABLE_CODES = frozenset(
    {
        "SlowDown",
        "RequestTimeout",
        "RequestTimeTooSkewed",
        "NoSuchBucket",
        "AccessDenied",
        "InvalidAccessKeyId",
        "SignatureDoesNotMatch",
    }
)
# Connection refused, DNS, TLS, connect/read timeouts, connections dropped mid-response.
_TRANSPORT_ERRORS = (BotoConnectionError, HTTPClientError, IncompleteReadError)


class S3BlobStore:
    """Blobs as objects in one bucket; no I/O until the first call, which builds the client in a thread."""

    def __init__(
        self,
        bucket: str,
        region: str,
        endpoint_url: str | None,
        access_key_id: str | None,
        secret_access_key: str | None,
        *,
        connect_timeout: float = 2,
        read_timeout: float = 10,
        max_attempts: int = 2,
        ensure_bucket: bool = False,
    ) -> None:
        """Empty endpoint_url means AWS; empty credentials mean boto3's default chain (e.g. an IAM role).

        ensure_bucket=True creates the bucket on first use (development and tests).
        """
        self._bucket = bucket
        self._region = region
        self._endpoint_url = endpoint_url or None
        self._access_key_id = access_key_id or None
        self._secret_access_key = secret_access_key or None
        self._create_bucket_on_first_use = ensure_bucket
        self._config = Config(
            region_name=region,
            connect_timeout=connect_timeout,
            read_timeout=read_timeout,
            # botocore's "max_attempts" counts retries only; total_max_attempts includes the first try,
            # which is what our max_attempts means.
            retries={"total_max_attempts": max_attempts, "mode": "standard"},
            # One connection for each worker thread that may call S3 at once (anyio's 40): with botocore's 10, a
            # few concurrent uploads (three blobs each) discarded connections, warning in the log (a probe).
            max_pool_connections=_WORKER_THREADS,
            signature_version="s3v4",
            # Path-style works on MinIO, Ceph and moto without wildcard DNS for bucket subdomains.
            s3={"addressing_style": "path"},
            # Since botocore 1.36 the default adds CRC checksum headers that many S3-compatible
            # services reject; put() sends Content-MD5 instead, which every implementation checks.
            request_checksum_calculation="when_required",
            response_checksum_validation="when_required",
        )
        self._client: Any = None
        self._client_lock = threading.Lock()

    @property
    def bucket(self) -> str:
        return self._bucket

    async def put(self, key: str, data: bytes, content_type: str) -> None:
        validate_key(key)
        sha256_hex = hashlib.sha256(data).hexdigest()
        content_md5 = base64.b64encode(hashlib.md5(data, usedforsecurity=False).digest()).decode("ascii")
        await self._run(
            lambda client: client.put_object(
                Bucket=self._bucket,
                Key=key,
                Body=data,
                ContentType=content_type,
                ContentMD5=content_md5,
                Metadata={SHA256_METADATA_KEY: sha256_hex},
            )
        )

    async def get(self, key: str) -> bytes:
        validate_key(key)
        return await self._run(partial(self._read_object, key))

    async def head(self, key: str) -> BlobInfo | None:
        validate_key(key)
        return await self._run(partial(self._head_object, key))

    async def delete(self, key: str) -> None:
        validate_key(key)
        # S3 answers 204 for a missing key too, which is what we want.
        await self._run(lambda client: client.delete_object(Bucket=self._bucket, Key=key))

    async def list_keys(self, prefix: str = "") -> AsyncIterator[str]:
        validate_prefix(prefix)
        continuation: dict[str, str] = {}
        while True:
            page = await self._run(
                lambda client: client.list_objects_v2(Bucket=self._bucket, Prefix=prefix, **continuation)
            )
            for entry in page.get("Contents", []):
                yield entry["Key"]
            if not page.get("IsTruncated"):
                return
            continuation = {"ContinuationToken": page["NextContinuationToken"]}

    async def presign_get(self, key: str, expires_seconds: int, filename: str | None = None) -> str | None:
        validate_key(key)
        _check_expiry(expires_seconds)
        params = {"Bucket": self._bucket, "Key": key}
        if filename is not None:
            params["ResponseContentDisposition"] = content_disposition(filename)
        # Signing is local computation, but the first call may build the client (reads config files).
        return await self._run(
            lambda client: client.generate_presigned_url("get_object", Params=params, ExpiresIn=expires_seconds)
        )

    async def presign_put(
        self, key: str, content_type: str, max_bytes: int, expires_seconds: int
    ) -> dict[str, Any] | None:
        """A presigned PUT; the uploader must send exactly the returned headers.

        A presigned PUT cannot carry a size limit (only POST policies can), and emulators such as moto
        enforce neither the signed Content-Type nor the expiry, so max_bytes is handed to the client as a
        promise and the server must verify the object (head: size, then hash and decode) after upload.
        """
        validate_key(key)
        _check_expiry(expires_seconds)
        if max_bytes <= 0:
            raise ValueError("max_bytes must be positive")
        # Signing sends no request, so a store that is down granted URLs no upload could use, and the grant was
        # recorded (a probe): the bucket is asked first.
        if not await self.ping():
            raise StorageUnavailable(f"S3 bucket {self._bucket} unreachable; no upload granted")
        url = await self._run(
            lambda client: client.generate_presigned_url(
                "put_object",
                Params={"Bucket": self._bucket, "Key": key, "ContentType": content_type},
                ExpiresIn=expires_seconds,
                HttpMethod="PUT",
            )
        )
        return {"url": url, "method": "PUT", "headers": {"Content-Type": content_type}, "max_bytes": max_bytes}

    async def ping(self) -> bool:
        try:
            # A caller that stops waiting (a readiness probe with a deadline) leaves the thread to its own timeouts.
            await self._run(lambda client: client.head_bucket(Bucket=self._bucket), abandon_on_cancel=True)
        except (StorageUnavailable, ClientError, BotoCoreError):
            return False
        return True

    async def ensure_bucket(self) -> None:
        """Create the bucket if it does not exist (startup in development, tests)."""
        await self._run(self._create_bucket_if_missing)

    async def _run(self, operation: Callable[[Any], Result], *, abandon_on_cancel: bool = False) -> Result:
        return await anyio.to_thread.run_sync(self._call_in_thread, operation, abandon_on_cancel=abandon_on_cancel)

    def _call_in_thread(self, operation: Callable[[Any], Result]) -> Result:
        try:
            return operation(self._client_in_thread())
        except _TRANSPORT_ERRORS as error:
            raise StorageUnavailable(f"S3 endpoint unreachable: {error}") from error
        except ClientError as error:
            if _means_unavailable(error):
                raise StorageUnavailable(f"S3 refused the request: {error}") from error
            raise

    def _client_in_thread(self) -> Any:
        # boto3 sessions are not thread-safe to create clients from, hence the lock and a private session;
        # the client itself is thread-safe and shared.
        with self._client_lock:
            if self._client is None:
                client = boto3.session.Session().client(
                    "s3",
                    endpoint_url=self._endpoint_url,
                    aws_access_key_id=self._access_key_id,
                    aws_secret_access_key=self._secret_access_key,
                    config=self._config,
                )
                if self._create_bucket_on_first_use:
                    self._create_bucket_if_missing(client)
                self._client = client
            return self._client

    def _read_object(self, key: str, client: Any) -> bytes:
        try:
            response = client.get_object(Bucket=self._bucket, Key=key)
        except ClientError as error:
            if _error_code(error) in _MISSING_ON_GET_CODES:
                raise KeyError(key) from None
            raise
        with response["Body"] as body:
            return body.read()

    def _head_object(self, key: str, client: Any) -> BlobInfo | None:
        try:
            response = client.head_object(Bucket=self._bucket, Key=key)
        except ClientError as error:
            if _error_code(error) in _MISSING_ON_HEAD_CODES:
                return None
            raise
        return BlobInfo(
            key=key,
            size=response["ContentLength"],
            # Objects uploaded through a presigned PUT carry no such metadata: the caller hashes them.
            sha256=response.get("Metadata", {}).get(SHA256_METADATA_KEY),
            modified_at=response.get("LastModified"),
        )

    def _create_bucket_if_missing(self, client: Any) -> None:
        try:
            client.head_bucket(Bucket=self._bucket)
            return
        except ClientError as error:
            if _error_code(error) not in _MISSING_BUCKET_CODES:
                raise
        request: dict[str, Any] = {"Bucket": self._bucket}
        if self._region != "us-east-1":  # us-east-1 is the one region S3 refuses as a LocationConstraint
            request["CreateBucketConfiguration"] = {"LocationConstraint": self._region}
        try:
            client.create_bucket(**request)
        except ClientError as error:
            if _error_code(error) != "BucketAlreadyOwnedByYou":  # another process won the race
                raise
            return
        log.warning("blob store: the bucket %r did not exist, and was created (check FIELDSVC_S3_BUCKET if the "
                    "photos stored so far are in another)", self._bucket)


def _error_code(error: ClientError) -> str:
    return str(error.response.get("Error", {}).get("Code", ""))


def _means_unavailable(error: ClientError) -> bool:
    status = error.response.get("ResponseMetadata", {}).get("HTTPStatusCode", 0)
    return status >= 500 or _error_code(error) in _UNAVAILABLE_CODES


def _check_expiry(expires_seconds: int) -> None:
    if not 0 < expires_seconds <= MAX_PRESIGN_SECONDS:
        raise ValueError(f"expires_seconds must be between 1 and {MAX_PRESIGN_SECONDS}")
