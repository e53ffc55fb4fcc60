"""Orphaned blobs: stored but referred to by no photo (a commit that failed, a presigned upload never confirmed)."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Callable

from fieldsvc.storage import BlobStore
from fieldsvc.tables import Photo


@dataclass(frozen=True)
class CleanupReport:
    scanned: int
    orphans: int
    removed: int


async def referenced_keys() -> set[str]:
    rows = await Photo.select(Photo.original_key, Photo.thumbnail_key, Photo.display_key)
    return {key for row in rows for key in row.values()}


async def remove_orphans(
    blobs: BlobStore, now: datetime, grace: timedelta, dry_run: bool, progress: Callable[[int], None]
) -> CleanupReport:
    """Delete unreferenced blobs older than `grace`: younger ones may belong to an upload still committing."""
    keep = await referenced_keys()
    scanned = orphans = removed = 0
    async for key in blobs.list_keys():
        scanned += 1
        if key not in keep:
            info = await blobs.head(key)
            if info is not None and info.modified_at is not None and info.modified_at <= now - grace:
                orphans += 1
                if not dry_run:
                    await blobs.delete(key)
                    removed += 1
        progress(scanned)
    return CleanupReport(scanned, orphans, removed)
