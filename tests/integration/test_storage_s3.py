"""S3BlobStore against a real HTTP S3 endpoint (moto server): round trips, presigned URLs, outages."""

from __future__ import annotations

import asyncio
import hashlib
import os
import socket
import subprocess
import sys
import time
import urllib.request
import uuid
from collections.abc import Awaitable, Iterator

import anyio.to_thread
import httpx
import pytest

from fieldsvc.storage import StorageUnavailable, content_key
from fieldsvc.storage.s3 import S3BlobStore
from tests.moto_server import MotoS3Server

PHOTO = b"\xff\xd8\xff\xe0 pretend jpeg bytes \xff\xd9"
PHOTO_SHA256 = hashlib.sha256(PHOTO).hexdigest()
PHOTO_KEY = content_key(PHOTO_SHA256, "original")
# Generous bound for "fails quickly": a refused connection with the default settings takes about a second.
OUTAGE_DEADLINE_SECONDS = 10


@pytest.fixture(scope="module")
def moto() -> Iterator[MotoS3Server]:
    with MotoS3Server() as server:
        yield server


def make_store(endpoint_url: str, **options: object) -> S3BlobStore:
    # A fresh bucket per store: moto's state is shared by the whole process.
    return S3BlobStore(
        f"evidence-{uuid.uuid4().hex[:12]}",
        MotoS3Server.region,
        endpoint_url,
        MotoS3Server.access_key_id,
        MotoS3Server.secret_access_key,
        **options,  # type: ignore[arg-type]
    )


@pytest.fixture
def store(moto: MotoS3Server) -> S3BlobStore:
    return make_store(moto.endpoint_url, ensure_bucket=True)


def http_get(url: str) -> tuple[bytes, dict[str, str]]:
    with urllib.request.urlopen(url, timeout=5) as response:
        return response.read(), {name.lower(): value for name, value in response.headers.items()}


async def seconds_until_unavailable(operation: Awaitable[object]) -> float:
    started = time.monotonic()
    with pytest.raises(StorageUnavailable):
        await operation
    return time.monotonic() - started


@pytest.mark.asyncio
async def test_round_trip_stores_sha256_metadata(store: S3BlobStore) -> None:
    await store.put(PHOTO_KEY, PHOTO, "image/jpeg")
    await store.put(PHOTO_KEY, PHOTO, "image/jpeg")

    assert await store.get(PHOTO_KEY) == PHOTO
    info = await store.head(PHOTO_KEY)
    assert (info.key, info.size, info.sha256) == (PHOTO_KEY, len(PHOTO), PHOTO_SHA256)
    assert info.modified_at is not None


@pytest.mark.asyncio
async def test_missing_and_deleted_blobs(store: S3BlobStore) -> None:
    await store.put(PHOTO_KEY, PHOTO, "image/jpeg")

    await store.delete(PHOTO_KEY)
    await store.delete(PHOTO_KEY)

    assert await store.head(PHOTO_KEY) is None
    with pytest.raises(KeyError):
        await store.get(PHOTO_KEY)


@pytest.mark.asyncio
async def test_list_keys_filters_by_prefix(store: S3BlobStore) -> None:
    keys = ["display/cd/2", "original/ab/1", "original/ab/2", "thumb/ab/1"]
    for key in keys:
        await store.put(key, key.encode(), "image/jpeg")

    assert [key async for key in store.list_keys()] == keys
    assert [key async for key in store.list_keys("original/")] == ["original/ab/1", "original/ab/2"]
    assert [key async for key in store.list_keys("nothing/")] == []


@pytest.mark.asyncio
async def test_bad_keys_are_refused(store: S3BlobStore) -> None:
    with pytest.raises(ValueError):
        await store.put("../escape", b"x", "image/jpeg")
    with pytest.raises(ValueError):
        await store.presign_put("Original/X", "image/jpeg", 1024, 300)
    with pytest.raises(ValueError):
        [key async for key in store.list_keys("../")]


@pytest.mark.asyncio
async def test_presigned_get_downloads_with_plain_http(store: S3BlobStore) -> None:
    await store.put(PHOTO_KEY, PHOTO, "image/jpeg")

    url = await store.presign_get(PHOTO_KEY, 300, filename="工单 42.jpg")
    assert url is not None
    body, headers = await anyio.to_thread.run_sync(http_get, url)

    assert body == PHOTO
    assert headers["content-type"] == "image/jpeg"
    assert headers["content-disposition"].startswith("inline;")  # shown in a browser, not downloaded
    assert "filename*=UTF-8''%E5%B7%A5%E5%8D%95%2042.jpg" in headers["content-disposition"]


@pytest.mark.asyncio
async def test_presigned_put_uploads_with_plain_http(store: S3BlobStore) -> None:
    key = content_key(PHOTO_SHA256, "display")

    upload = await store.presign_put(key, "image/jpeg", max_bytes=1024, expires_seconds=300)
    assert upload is not None
    assert upload["method"] == "PUT"
    async with httpx.AsyncClient() as client:
        response = await client.put(upload["url"], content=PHOTO, headers=upload["headers"])
    response.raise_for_status()

    # The phone wrote no sha256 metadata, so the server has to hash what arrived.
    info = await store.head(key)
    assert (info.key, info.size, info.sha256) == (key, len(PHOTO), None)
    assert await store.get(key) == PHOTO


@pytest.mark.asyncio
async def test_presign_refuses_expiry_sigv4_cannot_sign(store: S3BlobStore) -> None:
    with pytest.raises(ValueError):
        await store.presign_get(PHOTO_KEY, 8 * 24 * 3600)
    with pytest.raises(ValueError):
        await store.presign_put(PHOTO_KEY, "image/jpeg", 1024, 0)


@pytest.mark.asyncio
async def test_ping_and_a_missing_bucket(moto: MotoS3Server, store: S3BlobStore) -> None:
    never_created = make_store(moto.endpoint_url)

    assert await store.ping() is True
    assert await never_created.ping() is False
    with pytest.raises(StorageUnavailable):
        await never_created.get(PHOTO_KEY)
    await never_created.ensure_bucket()
    assert await never_created.ping() is True


@pytest.mark.asyncio
async def test_outage_fails_fast_and_recovers_on_the_same_port() -> None:
    with MotoS3Server() as server:
        store = make_store(server.endpoint_url, ensure_bucket=True)
        await store.put(PHOTO_KEY, PHOTO, "image/jpeg")
        port = server.port

        server.stop()
        assert await seconds_until_unavailable(store.put(PHOTO_KEY, PHOTO, "image/jpeg")) < OUTAGE_DEADLINE_SECONDS
        assert await seconds_until_unavailable(store.get(PHOTO_KEY)) < OUTAGE_DEADLINE_SECONDS
        assert await seconds_until_unavailable(store.head(PHOTO_KEY)) < OUTAGE_DEADLINE_SECONDS
        assert await seconds_until_unavailable(store.delete(PHOTO_KEY)) < OUTAGE_DEADLINE_SECONDS
        assert await seconds_until_unavailable(anext(aiter(store.list_keys()))) < OUTAGE_DEADLINE_SECONDS
        started = time.monotonic()
        assert await store.ping() is False
        assert time.monotonic() - started < OUTAGE_DEADLINE_SECONDS

        server.start()
        assert server.port == port
        assert await store.ping() is True
        assert await store.get(PHOTO_KEY) == PHOTO
        await store.put("thumb/ab/after-outage", b"back", "image/webp")
        assert await store.get("thumb/ab/after-outage") == b"back"


@pytest.mark.asyncio
async def test_an_unresponsive_endpoint_times_out() -> None:
    # Accepts TCP connections (the kernel completes them) but never answers: only read_timeout saves us.
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as black_hole:
        black_hole.bind(("127.0.0.1", 0))
        black_hole.listen(16)
        endpoint_url = f"http://127.0.0.1:{black_hole.getsockname()[1]}"
        store = make_store(endpoint_url, connect_timeout=1, read_timeout=1, max_attempts=2)

        elapsed = await seconds_until_unavailable(store.get(PHOTO_KEY))

    assert 2 <= elapsed < OUTAGE_DEADLINE_SECONDS  # two attempts, each cut off by the 1 s read timeout


@pytest.mark.asyncio
async def test_a_bucket_created_on_first_use_is_said_in_the_log(moto: MotoS3Server, caplog) -> None:  # noqa: ANN001
    store = make_store(moto.endpoint_url, ensure_bucket=True)

    await store.put(PHOTO_KEY, PHOTO, "image/jpeg")

    assert any(store.bucket in record.getMessage() and "did not exist" in record.getMessage()
               for record in caplog.records if record.levelname == "WARNING")


@pytest.mark.asyncio
async def test_a_maintenance_command_on_a_bucket_that_does_not_exist_says_so_and_makes_none(
    moto: MotoS3Server, tmp_path
) -> None:  # noqa: ANN001
    """A mistyped bucket name was created by `blobs verify`, which then found every photo missing (a probe)."""
    typo = make_store(moto.endpoint_url)
    env = {**os.environ, "FIELDSVC_DATA_DIR": str(tmp_path), "FIELDSVC_DATABASE_URL": "", "FIELDSVC_BLOB_BACKEND": "s3",
           "FIELDSVC_S3_BUCKET": typo.bucket, "FIELDSVC_S3_ENDPOINT_URL": moto.endpoint_url,
           "FIELDSVC_S3_REGION": MotoS3Server.region, "FIELDSVC_S3_ACCESS_KEY_ID": MotoS3Server.access_key_id,
           "FIELDSVC_S3_SECRET_ACCESS_KEY": MotoS3Server.secret_access_key}
    local = {**env, "FIELDSVC_BLOB_BACKEND": "local"}  # `migrate`, like `serve`, would make the bucket, saying so
    assert subprocess.run([sys.executable, "-m", "fieldsvc", "migrate"], env=local, capture_output=True).returncode == 0

    done = subprocess.run([sys.executable, "-m", "fieldsvc", "blobs", "cleanup"], env=env, capture_output=True,
                          text=True)

    assert done.returncode == 3 and "NoSuchBucket" in done.stderr, done.stderr
    assert await typo.ping() is False


def test_a_server_prepared_with_its_blob_store_out_of_reach_says_so_in_its_log(tmp_path) -> None:  # noqa: ANN001
    """It started as if all were well; only the readiness body told (a probe)."""
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        closed_port = probe.getsockname()[1]
    env = {**os.environ, "FIELDSVC_DATA_DIR": str(tmp_path), "FIELDSVC_DATABASE_URL": "", "FIELDSVC_BLOB_BACKEND": "s3",
           "FIELDSVC_S3_ENDPOINT_URL": f"http://127.0.0.1:{closed_port}", "FIELDSVC_S3_ACCESS_KEY_ID": "key",
           "FIELDSVC_S3_SECRET_ACCESS_KEY": "secret"}

    done = subprocess.run([sys.executable, "-m", "fieldsvc", "migrate"], env=env, capture_output=True, text=True)

    assert done.returncode == 0 and "blob store (S3 bucket 'fieldsvc-evidence' at http://127.0.0.1" in done.stderr


@pytest.mark.asyncio
async def test_concurrent_uploads_keep_their_connections(store: S3BlobStore, caplog) -> None:  # noqa: ANN001
    """Three blobs an upload, a few uploads at once: more than botocore's 10 pooled connections (a probe)."""
    blobs = [(content_key(hashlib.sha256(bytes([n])).hexdigest(), "original"), bytes([n]) * 50_000) for n in range(24)]

    await asyncio.gather(*(store.put(key, data, "image/jpeg") for key, data in blobs))

    assert not [record for record in caplog.records if "pool is full" in record.getMessage()]
