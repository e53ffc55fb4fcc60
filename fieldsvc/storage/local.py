"""Blob store on the local filesystem: one file per key under a root directory, written atomically."""

from __future__ import annotations

import contextlib
import hashlib
import itertools
import os
import tempfile
from collections.abc import AsyncIterator, Iterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import anyio.to_thread

from fieldsvc.storage.base import BlobInfo, StorageUnavailable, validate_key, validate_prefix

_LIST_BATCH_SIZE = 1000
_HASH_CHUNK_BYTES = 1024 * 1024
# A key that names a directory, or runs through a file, is simply not a blob.
_NOT_A_BLOB = (FileNotFoundError, IsADirectoryError, NotADirectoryError)
_PATH_CONFLICTS = (FileExistsError, *_NOT_A_BLOB)


class LocalBlobStore:
    """Stores blobs as files under root; the directory tree is created on the first put."""

    def __init__(self, root: Path, *, fsync: bool = True) -> None:
        self._root = Path(root)
        self._fsync = fsync

    @property
    def root(self) -> Path:
        return self._root

    async def put(self, key: str, data: bytes, content_type: str) -> None:
        # The content type is not kept: whoever serves a blob knows its type from its own record of it.
        path = self._path(key)
        await anyio.to_thread.run_sync(self._write_atomically, path, data)

    async def get(self, key: str) -> bytes:
        return await anyio.to_thread.run_sync(self._read, self._path(key), key)

    async def head(self, key: str) -> BlobInfo | None:
        return await anyio.to_thread.run_sync(self._stat_and_hash, self._path(key), key)

    async def delete(self, key: str) -> None:
        await anyio.to_thread.run_sync(self._unlink, self._path(key))

    async def list_keys(self, prefix: str = "") -> AsyncIterator[str]:
        validate_prefix(prefix)
        walker = self._walk_keys(prefix)
        # Walk in batches so a large tree neither blocks the event loop nor sits in memory at once.
        while batch := await anyio.to_thread.run_sync(_take, walker, _LIST_BATCH_SIZE):
            for key in batch:
                yield key

    async def presign_get(self, key: str, expires_seconds: int, filename: str | None = None) -> str | None:
        return None

    async def presign_put(
        self, key: str, content_type: str, max_bytes: int, expires_seconds: int
    ) -> dict[str, Any] | None:
        return None

    async def ping(self) -> bool:
        return await anyio.to_thread.run_sync(self._root_is_writable)

    def _path(self, key: str) -> Path:
        return self._root.joinpath(*validate_key(key).split("/"))

    def _write_atomically(self, path: Path, data: bytes) -> None:
        try:
            self._replace_via_temp_file(path, data)
        except _PATH_CONFLICTS as error:
            self._refuse_broken_root()
            # Only keys of differing depth can collide ("a" as a file, "a/b" wanting it as a directory).
            raise ValueError(f"blob key collides with an existing key: {path}") from error

    def _replace_via_temp_file(self, path: Path, data: bytes) -> None:
        with _unavailable_on_os_error():
            path.parent.mkdir(parents=True, exist_ok=True)
            # The temp file shares the target's directory so os.replace is a same-filesystem rename:
            # readers see the old blob or the new one, never a torn write. Its leading "." keeps it
            # out of list_keys and out of the key space.
            descriptor, temp_name = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
            try:
                with os.fdopen(descriptor, "wb") as temp_file:
                    temp_file.write(data)
                    if self._fsync:
                        temp_file.flush()
                        os.fsync(temp_file.fileno())
                os.replace(temp_name, path)
            except BaseException:
                with contextlib.suppress(FileNotFoundError):
                    os.unlink(temp_name)
                raise
            if self._fsync:
                _fsync_directory(path.parent)  # makes the rename itself survive a power cut

    def _read(self, path: Path, key: str) -> bytes:
        try:
            with _unavailable_on_os_error():
                return path.read_bytes()
        except _NOT_A_BLOB:
            self._refuse_broken_root()
            raise KeyError(key) from None

    def _stat_and_hash(self, path: Path, key: str) -> BlobInfo | None:
        digest = hashlib.sha256()
        try:
            with _unavailable_on_os_error(), path.open("rb") as blob:
                stat = os.fstat(blob.fileno())
                while chunk := blob.read(_HASH_CHUNK_BYTES):
                    digest.update(chunk)
        except _NOT_A_BLOB:
            self._refuse_broken_root()
            return None
        modified_at = datetime.fromtimestamp(stat.st_mtime, UTC)
        return BlobInfo(key=key, size=stat.st_size, sha256=digest.hexdigest(), modified_at=modified_at)

    def _refuse_broken_root(self) -> None:
        """A root that is a file is the store broken, not a key colliding or a blob missing: 503, try again later."""
        if self._root.exists() and not self._root.is_dir():
            raise StorageUnavailable(f"local blob store root is not a directory: {self._root}")

    @staticmethod
    def _unlink(path: Path) -> None:
        with contextlib.suppress(*_NOT_A_BLOB), _unavailable_on_os_error():
            path.unlink()

    def _walk_keys(self, prefix: str) -> Iterator[str]:
        directory_part = prefix.rpartition("/")[0]
        start = self._root.joinpath(*directory_part.split("/")) if directory_part else self._root
        # os.walk skips unreadable or missing directories, so a store that was never written lists nothing.
        for directory, subdirectories, filenames in os.walk(start):
            subdirectories[:] = sorted(name for name in subdirectories if not name.startswith("."))
            relative = Path(directory).relative_to(self._root).as_posix()
            for filename in sorted(filenames):
                if filename.startswith("."):
                    continue
                key = filename if relative == "." else f"{relative}/{filename}"
                if key.startswith(prefix):
                    yield key

    def _root_is_writable(self) -> bool:
        try:
            self._root.mkdir(parents=True, exist_ok=True)
        except OSError:
            return False
        return os.access(self._root, os.W_OK | os.X_OK)


def _take(iterator: Iterator[str], count: int) -> list[str]:
    return list(itertools.islice(iterator, count))


def _fsync_directory(directory: Path) -> None:
    descriptor = os.open(directory, os.O_RDONLY)
    try:
        os.fsync(descriptor)
    finally:
        os.close(descriptor)


@contextlib.contextmanager
def _unavailable_on_os_error() -> Iterator[None]:
    """Turn disk trouble (full, read-only, permissions) into StorageUnavailable; path problems pass through."""
    try:
        yield
    except _PATH_CONFLICTS:
        raise
    except OSError as error:
        raise StorageUnavailable(f"local blob store failed: {error}") from error
