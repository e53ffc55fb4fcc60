"""A-TRAIL: the E-REUSE matches and index bands each photo's ingest recorded, stated on the trail with it and checked
against it."""

from __future__ import annotations

import json
from collections import defaultdict
from typing import Any
from uuid import UUID

from fieldsvc import db
from fieldsvc.context import AppContext
from fieldsvc.tables import Photo, PhotoHashBand, PhotoMatch
from fieldsvc.trail.records import RecordMismatch, trail_statements
from fieldsvc.trail.service import Statement

MATCHES_KIND = "photo.matched"
_COLUMNS = (
    PhotoMatch.pair_key, PhotoMatch.photo, PhotoMatch.visit, PhotoMatch.other_photo, PhotoMatch.other_visit,
    PhotoMatch.distance, PhotoMatch.fine_distance, PhotoMatch.identical, PhotoMatch.other_first,
)


def _statement(row: dict[str, Any]) -> list[Any]:
    return [row["distance"], row["fine_distance"], row["identical"], row["other_first"]]


async def stated_matches(visit_id: UUID, photo_id: UUID, pair_keys: list[str]) -> Statement:
    """The entry that states, in the ingest's transaction, the photo's matches (both ways) and the bands later photos
    find it by, as stored, none included: a photo stated with no match has none the trail does not know of."""
    rows = await PhotoMatch.select(*_COLUMNS).where(PhotoMatch.pair_key.is_in(pair_keys)) if pair_keys else []
    bands = await PhotoHashBand.select(PhotoHashBand.band_key).where(PhotoHashBand.photo == photo_id)
    return MATCHES_KIND, visit_id, {
        "photoId": photo_id,
        "matches": {row["pair_key"]: _statement(row) for row in rows},
        "bands": sorted(row["band_key"] for row in bands),
    }


async def first_match_mismatch(ctx: AppContext) -> tuple[int, RecordMismatch | None]:
    """Every match of a photo whose ingest stated its matches is one a statement holds, as it holds it, and every
    stated match is still there (a match deleted behind the service's back hid a reused photo from the next audit;
    one added flagged an honest visit), and so are its index bands. Matches and bands of photos ingested before
    ingests stated them are left alone. Returns how many matches were checked and the first mismatch."""
    async with db.read_snapshot(PhotoMatch._meta.db):
        statements = await trail_statements(ctx, kinds=[MATCHES_KIND])
        rows = await PhotoMatch.select(*_COLUMNS)
        band_rows = await PhotoHashBand.select(PhotoHashBand.photo, PhotoHashBand.band_key)
        visit_of = {row["id"]: row["visit"] for row in await Photo.select(Photo.id, Photo.visit)}
    stated: dict[str, list[Any]] = {}
    stated_photos: set[str] = set()
    stated_bands: dict[str, list[int]] = {}
    for entry in statements:
        data = json.loads(entry["payload"])["data"]
        stated_photos.add(data["photoId"])
        stated.update(data["matches"])
        if "bands" in data:  # stated since ingests stated them
            stated_bands[data["photoId"]] = data["bands"]
    mismatch = _bands_mismatch(stated_bands, band_rows)
    if mismatch is not None:
        return 0, mismatch
    checked = 0
    for row in rows:
        named = (f"{row['photo']}:{row['other_photo']}", visit_of.get(row["photo"]), visit_of.get(row["other_photo"]))
        if named != (row["pair_key"], row["visit"], row["other_visit"]):
            # The audit reads a match by its visit column (a match moved to an unrelated visit cleared a reuse; a probe)
            return checked, RecordMismatch("photo_match", row["pair_key"], "its photos or visits are not the ones its "
                                                                           "key and its photos name")
        said = stated.pop(row["pair_key"], None)
        if said is None and not {str(row["photo"]), str(row["other_photo"])} & stated_photos:
            continue
        if said != _statement(row):
            return checked, RecordMismatch("photo_match", row["pair_key"], "a photo match the trail never recorded, "
                                                                           "or recorded otherwise")
        checked += 1
    if stated:
        return checked, RecordMismatch("photo_match", next(iter(stated)), "a photo match the trail recorded is gone")
    return checked, None


def _bands_mismatch(stated: dict[str, list[int]], rows: list[dict[str, Any]]) -> RecordMismatch | None:
    """E-REUSE finds a near-duplicate through its photo's index bands: a photo whose bands were deleted or changed was
    hidden from every later photo's search."""
    stored: dict[str, list[int]] = defaultdict(list)
    for row in rows:
        stored[str(row["photo"])].append(row["band_key"])
    for photo_id, bands in stated.items():
        if sorted(stored.pop(photo_id, [])) != bands:
            return RecordMismatch("photo_hash_band", photo_id, "the photo's reuse index bands differ from those its "
                                                               "ingest recorded")
    return None
