"""Orphaned blobs: stored but referred to by no photo (a commit that failed, a presigned upload never confirmed)."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Callable

from fieldsvc.storage import BlobStore, made_by_the_service
from fieldsvc.tables import Photo


@dataclass(frozen=True)
class CleanupReport:
    scanned: int
    foreign: int  # files the service never writes (another program's, in a shared bucket): left alone
    orphans: int
    removed: int


class CleanupRefused(Exception):
    """More orphans than blobs the database refers to: the store likely serves another database."""

    def __init__(self, orphans: int, referenced: int):
        super().__init__(
            f"{orphans} blobs are unknown to this database, more than the {referenced} it refers to: the blob store "
            "may belong to another database (check FIELDSVC_DATABASE_URL and the store's settings); nothing was "
            "deleted. --dry-run counts them; --force deletes them all the same"
        )


async def referenced_keys() -> set[str]:
    rows = await Photo.select(Photo.original_key, Photo.thumbnail_key, Photo.display_key)
    return {key for row in rows for key in row.values()}


async def remove_orphans(
    blobs: BlobStore, now: datetime, grace: timedelta, dry_run: bool, progress: Callable[[int], None],
    force: bool = False,
) -> CleanupReport:
    """Delete unreferenced blobs the service made, older than `grace`: younger ones may belong to an upload still
    committing. Orphans are counted before any is deleted: a database that refers to fewer blobs than it would
    delete (the wrong or an empty database, pointed at a production bucket) deletes nothing unless forced."""
    keep = await referenced_keys()
    counted = await _sweep(blobs, keep, now - grace, delete=False, progress=progress)
    if dry_run or counted.orphans == 0:
        return counted
    if counted.orphans > len(keep) and not force:
        raise CleanupRefused(counted.orphans, len(keep))
    return await _sweep(blobs, keep, now - grace, delete=True, progress=progress)


async def _sweep(
    blobs: BlobStore, keep: set[str], older_than: datetime, *, delete: bool, progress: Callable[[int], None]
) -> CleanupReport:
    scanned = foreign = orphans = removed = 0
    async for key in blobs.list_keys():
        scanned += 1
        if not made_by_the_service(key):
            foreign += 1
        elif key not in keep:
            info = await blobs.head(key)
            if info is not None and info.modified_at is not None and info.modified_at <= older_than:
                orphans += 1
                if delete:
                    await blobs.delete(key)
                    removed += 1
        progress(scanned)
    return CleanupReport(scanned, foreign, orphans, removed)
