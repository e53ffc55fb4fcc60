"""The query behind evidence links: an accepted photo and whose visit it belongs to."""

from __future__ import annotations

from typing import Any
from uuid import UUID

from fieldsvc.tables import Photo


async def viewable_photo(photo_id: UUID) -> dict[str, Any] | None:
    return (
        await Photo.select(
            Photo.id,
            Photo.content_type,
            Photo.original_key,
            Photo.display_key,
            Photo.thumbnail_key,
            Photo.visit.technician.as_alias("visit_technician"),
        )
        .where((Photo.id == photo_id) & Photo.status.is_in(["accepted", "withdrawn"]))
        .first()
    )
