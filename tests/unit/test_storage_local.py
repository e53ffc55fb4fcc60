"""LocalBlobStore: round trips, atomic writes, key validation, listing and missing blobs."""

from __future__ import annotations

import hashlib
from datetime import UTC, datetime
import os
from pathlib import Path

import pytest

from fieldsvc.storage import LocalBlobStore, StorageUnavailable, content_key
from fieldsvc.storage import local as local_module

PHOTO = b"\xff\xd8\xff\xe0 pretend jpeg bytes \xff\xd9"
PHOTO_KEY = content_key(hashlib.sha256(PHOTO).hexdigest(), "original")

BAD_KEYS = [
    "",
    "/etc/passwd",
    "../outside",
    "original/../../outside",
    "original/./x",
    "original//x",
    "original/x/",
    ".hidden",
    "original/.x.tmp",
    "Original/x",
    "original/x y",
    "original\\x",
    "original/x\x00",
    "original/照片",
    "a" * 513,
    "original/" + "a" * 201,
]


def files_under(root: Path) -> list[str]:
    return sorted(path.relative_to(root).as_posix() for path in root.rglob("*") if path.is_file())


@pytest.fixture
def store(tmp_path: Path) -> LocalBlobStore:
    return LocalBlobStore(tmp_path / "blobs")


def test_constructor_touches_no_disk(tmp_path: Path) -> None:
    LocalBlobStore(tmp_path / "not-yet")

    assert not (tmp_path / "not-yet").exists()


@pytest.mark.asyncio
async def test_round_trip_reports_size_and_sha256(store: LocalBlobStore) -> None:
    await store.put(PHOTO_KEY, PHOTO, "image/jpeg")

    assert await store.get(PHOTO_KEY) == PHOTO
    info = await store.head(PHOTO_KEY)
    assert (info.key, info.size, info.sha256) == (PHOTO_KEY, len(PHOTO), hashlib.sha256(PHOTO).hexdigest())
    assert abs((datetime.now(UTC) - info.modified_at).total_seconds()) < 60
    assert files_under(store.root) == [PHOTO_KEY]


@pytest.mark.asyncio
async def test_putting_the_same_bytes_again_is_fine(store: LocalBlobStore) -> None:
    await store.put(PHOTO_KEY, PHOTO, "image/jpeg")
    await store.put(PHOTO_KEY, PHOTO, "image/jpeg")

    assert await store.get(PHOTO_KEY) == PHOTO
    assert files_under(store.root) == [PHOTO_KEY]


@pytest.mark.asyncio
async def test_overwrite_replaces_content_and_leaves_no_temp_files(store: LocalBlobStore) -> None:
    await store.put("display/ab/blob", b"first version", "image/webp")
    await store.put("display/ab/blob", b"second", "image/webp")

    assert await store.get("display/ab/blob") == b"second"
    assert os.listdir(store.root / "display" / "ab") == ["blob"]


@pytest.mark.asyncio
async def test_failed_write_keeps_the_previous_blob_and_cleans_up(
    store: LocalBlobStore, monkeypatch: pytest.MonkeyPatch
) -> None:
    await store.put("display/ab/blob", b"intact", "image/webp")

    def disk_full(source: str, target: str) -> None:
        raise OSError(28, "No space left on device")

    monkeypatch.setattr(local_module.os, "replace", disk_full)
    with pytest.raises(StorageUnavailable):
        await store.put("display/ab/blob", b"never lands", "image/webp")

    assert await store.get("display/ab/blob") == b"intact"
    assert os.listdir(store.root / "display" / "ab") == ["blob"]


@pytest.mark.asyncio
async def test_writes_without_fsync_round_trip(tmp_path: Path) -> None:
    store = LocalBlobStore(tmp_path, fsync=False)

    await store.put("thumb/ab/blob", b"small", "image/webp")

    assert await store.get("thumb/ab/blob") == b"small"


@pytest.mark.asyncio
@pytest.mark.parametrize("key", BAD_KEYS)
async def test_bad_keys_are_refused_by_every_operation(store: LocalBlobStore, key: str) -> None:
    with pytest.raises(ValueError):
        await store.put(key, b"x", "image/jpeg")
    with pytest.raises(ValueError):
        await store.get(key)
    with pytest.raises(ValueError):
        await store.head(key)
    with pytest.raises(ValueError):
        await store.delete(key)

    assert not store.root.exists()


@pytest.mark.asyncio
async def test_missing_blob(store: LocalBlobStore) -> None:
    with pytest.raises(KeyError):
        await store.get(PHOTO_KEY)
    assert await store.head(PHOTO_KEY) is None
    await store.delete(PHOTO_KEY)


@pytest.mark.asyncio
async def test_a_directory_is_not_a_blob(store: LocalBlobStore) -> None:
    await store.put("original/ab/blob", PHOTO, "image/jpeg")

    with pytest.raises(KeyError):
        await store.get("original/ab")
    with pytest.raises(KeyError):
        await store.get("original/ab/blob/deeper")
    assert await store.head("original/ab") is None
    await store.delete("original/ab")
    assert await store.get("original/ab/blob") == PHOTO


@pytest.mark.asyncio
async def test_keys_that_collide_by_depth_are_refused(store: LocalBlobStore) -> None:
    await store.put("original/ab", b"a file", "image/jpeg")

    with pytest.raises(ValueError):
        await store.put("original/ab/blob", b"needs a directory", "image/jpeg")
    with pytest.raises(ValueError):
        await store.put("original", b"is a directory", "image/jpeg")


@pytest.mark.asyncio
async def test_a_root_that_is_a_file_is_the_store_unavailable_for_writes_and_reads(store: LocalBlobStore) -> None:
    store.root.write_bytes(b"someone replaced the blob directory")

    with pytest.raises(StorageUnavailable):
        await store.put(PHOTO_KEY, PHOTO, "image/jpeg")
    with pytest.raises(StorageUnavailable):
        await store.get(PHOTO_KEY)
    with pytest.raises(StorageUnavailable):
        await store.head(PHOTO_KEY)


@pytest.mark.asyncio
async def test_delete_removes_the_blob(store: LocalBlobStore) -> None:
    await store.put(PHOTO_KEY, PHOTO, "image/jpeg")

    await store.delete(PHOTO_KEY)

    assert await store.head(PHOTO_KEY) is None
    assert files_under(store.root) == []


@pytest.mark.asyncio
async def test_list_keys_filters_by_prefix_and_skips_temp_files(store: LocalBlobStore) -> None:
    keys = ["display/cd/2", "original/ab/1", "original/ab/2", "original/ac/3", "thumb/ab/1"]
    for key in keys:
        await store.put(key, key.encode(), "image/jpeg")
    (store.root / "original" / "ab" / ".1.abandoned.tmp").write_bytes(b"crashed mid-write")

    assert sorted([key async for key in store.list_keys()]) == keys
    assert [key async for key in store.list_keys("original/")] == ["original/ab/1", "original/ab/2", "original/ac/3"]
    assert [key async for key in store.list_keys("original/a")] == ["original/ab/1", "original/ab/2", "original/ac/3"]
    assert [key async for key in store.list_keys("original/ab/")] == ["original/ab/1", "original/ab/2"]
    assert [key async for key in store.list_keys("original/ab/2")] == ["original/ab/2"]
    assert [key async for key in store.list_keys("nothing/")] == []


@pytest.mark.asyncio
async def test_list_keys_pages_through_large_trees(store: LocalBlobStore, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(local_module, "_LIST_BATCH_SIZE", 2)
    keys = [f"thumb/00/{index}" for index in range(5)]
    for key in keys:
        await store.put(key, b"x", "image/webp")

    assert [key async for key in store.list_keys("thumb/")] == keys


@pytest.mark.asyncio
async def test_list_keys_of_an_empty_store_touches_no_disk(store: LocalBlobStore) -> None:
    assert [key async for key in store.list_keys()] == []
    assert not store.root.exists()


@pytest.mark.asyncio
@pytest.mark.parametrize("prefix", ["../", "/", "original/../", "ORIGINAL/"])
async def test_list_keys_refuses_bad_prefixes(store: LocalBlobStore, prefix: str) -> None:
    with pytest.raises(ValueError):
        [key async for key in store.list_keys(prefix)]


@pytest.mark.asyncio
async def test_local_store_cannot_presign(store: LocalBlobStore) -> None:
    assert await store.presign_get(PHOTO_KEY, 300, "photo.jpg") is None
    assert await store.presign_put(PHOTO_KEY, "image/jpeg", 1024, 300) is None


@pytest.mark.asyncio
async def test_ping_creates_the_root_lazily(store: LocalBlobStore) -> None:
    assert await store.ping() is True
    assert store.root.is_dir()


@pytest.mark.asyncio
async def test_ping_is_false_when_the_root_cannot_exist(tmp_path: Path) -> None:
    (tmp_path / "a-file").write_bytes(b"")

    assert await LocalBlobStore(tmp_path / "a-file" / "blobs").ping() is False


def test_content_key_is_fanned_out_by_hash_prefix() -> None:
    digest = hashlib.sha256(b"x").hexdigest()

    assert content_key(digest, "thumb") == f"thumb/{digest[:2]}/{digest}"


@pytest.mark.parametrize(
    ("digest", "kind"),
    [("ab" * 32, "avatar"), ("AB" * 32, "original"), ("ab" * 31, "original"), ("zz" * 32, "original")],
)
def test_content_key_refuses_unknown_kinds_and_malformed_digests(digest: str, kind: str) -> None:
    with pytest.raises(ValueError):
        content_key(digest, kind)
