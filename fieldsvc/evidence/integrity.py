"""Evidence integrity: each photo's stored original still hashes to what was received, and its previews show it."""

from __future__ import annotations

import hashlib
import sys
from dataclasses import dataclass
from typing import Any, Callable
from uuid import UUID

import anyio.to_thread

from fieldsvc.imaging import ImageLimits, ImageRejected, ProcessedImage, previews_alike, process_image
from fieldsvc.storage import BlobStore
from fieldsvc.tables import Photo

PHOTOS_PER_BATCH = 200
_STORED_STATUSES = ("accepted", "withdrawn")  # an awaiting upload has no blobs of its own yet


@dataclass(frozen=True)
class BlobMismatch:
    photo_id: UUID
    visit_id: UUID
    purpose: str
    reason: str


async def blob_mismatches(blobs: BlobStore, progress: Callable[[int], None]) -> tuple[int, list[BlobMismatch]]:
    """Photo by photo: the original's bytes are the ones received (their SHA-256), and the thumbnail and display
    preview auditors are shown are the ones the original makes. Returns how many photos were checked and every
    mismatch."""
    checked, after, found = 0, None, []
    while True:
        query = Photo.select(
            Photo.id, Photo.visit, Photo.purpose, Photo.sha256, Photo.original_key, Photo.thumbnail_key,
            Photo.display_key,
        ).where(Photo.status.is_in(list(_STORED_STATUSES))).order_by(Photo.id).limit(PHOTOS_PER_BATCH)
        photos = await (query if after is None else query.where(Photo.id > after))
        if not photos:
            return checked, found
        for photo in photos:
            reason = await _mismatch(blobs, photo)
            if reason is not None:
                found.append(BlobMismatch(photo["id"], photo["visit"], photo["purpose"], reason))
            checked += 1
            progress(checked)
        after = photos[-1]["id"]


async def _mismatch(blobs: BlobStore, photo: dict[str, Any]) -> str | None:
    original = await _stored(blobs, photo["original_key"])
    if original is None:
        return "its original is missing from the blob store"
    if await anyio.to_thread.run_sync(lambda: hashlib.sha256(original).hexdigest()) != photo["sha256"]:
        return "its original's bytes are not the ones received (their SHA-256 differs)"
    try:
        remade = await anyio.to_thread.run_sync(lambda: _previews_of(original, photo))
    except ImageRejected as rejected:
        return f"its original no longer makes previews: {rejected}"
    for what, key, made in (("thumbnail", photo["thumbnail_key"], remade.thumbnail_jpeg),
                            ("display preview", photo["display_key"], remade.display_jpeg)):
        stored = await _stored(blobs, key)
        if stored is None:
            return f"its {what} is missing from the blob store"
        if not await anyio.to_thread.run_sync(lambda: previews_alike(stored, made)):
            return f"its {what} shows another picture than its original"
    return None


def _previews_of(original: bytes, photo: dict[str, Any]) -> ProcessedImage:
    # The original was accepted when it came (its hash says it is that file): limits set since then do not apply.
    accepted = ImageLimits(max_bytes=len(original), max_pixels=sys.maxsize, min_photo_edge=0, min_signature_size=(0, 0))
    return process_image(original, accepted, signature=photo["purpose"] == "signature", sha256=photo["sha256"])


async def _stored(blobs: BlobStore, key: str) -> bytes | None:
    try:
        return await blobs.get(key)
    except KeyError:
        return None
