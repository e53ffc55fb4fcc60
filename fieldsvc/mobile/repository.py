"""Queries behind the phone's facts; every visit read is filtered by the calling technician."""

from __future__ import annotations

import enum
from dataclasses import dataclass
from datetime import datetime
from typing import Any, Iterable
from uuid import UUID

from piccolo.engine.base import Engine
from piccolo.utils.encoding import dump_json

from fieldsvc import db
from fieldsvc.tables import (
    SEEN_PHOTO_STATUSES, Assignment, FollowUp, Photo, PhotoHashBand, PhotoMatch, Visit, VisitEvent,
)
from fieldsvc.trail.service import PENDING_COLUMNS, QUEUED_COLUMNS, Queued, queue_entries
from fieldsvc.verdicts import outbox

Row = dict[str, Any]

# Rows per INSERT: far below PostgreSQL's 32,767 bind parameters for any of these tables.
INSERT_BATCH = 1000

# The technician read API's view of a visit (order, customer, site), plus who the technician is (V-CARD, V-SIGN).
# Written out, not built by Piccolo: on the path of every fact, building this join costs more than running it.
OWN_VISIT_SQL = """
SELECT visit.*, work_order.kind, work_order.description, work_order.reported_fault, work_order.customer AS customer_id,
    customer.name AS customer_name, customer.phone AS customer_phone, customer.tier AS customer_tier,
    site.address, site.latitude, site.longitude, site.locality, site.time_zone,
    technician.name AS technician_name, technician.staff_number, technician.phone AS technician_phone,
    technician.team AS technician_team
FROM visit
JOIN work_order ON work_order.id = visit.work_order
JOIN customer ON customer.id = work_order.customer
JOIN site ON site.id = work_order.site
JOIN technician ON technician.id = visit.technician
WHERE visit.id = {} AND visit.technician = {}
"""


async def own_visit(visit_id: UUID, technician_id: UUID) -> Row | None:
    """The visit with its order, customer, site and technician, only if it is assigned to this technician."""
    rows = await Visit.raw(OWN_VISIT_SQL, visit_id, technician_id)
    return rows[0] if rows else None


async def lock_own_visit(visit_id: UUID, technician_id: UUID, engine) -> Row | None:  # noqa: ANN001
    """own_visit, holding the visit's row lock (not its order's, site's or technician's) so facts of one visit (and
    their status changes) take turns."""
    lock = "" if db.is_sqlite(engine) else " FOR NO KEY UPDATE OF visit"
    rows = await Visit.raw(OWN_VISIT_SQL + lock, visit_id, technician_id)
    return rows[0] if rows else None


async def handed_over_from(visit_id: UUID, technician_id: UUID) -> datetime | None:
    """When the visit was last handed over from this technician to another, if it ever was."""
    row = await Assignment.select(Assignment.handed_over_at).where(
        (Assignment.visit == visit_id) & (Assignment.previous_technician == technician_id)
    ).order_by(Assignment.handed_over_at, ascending=False).first()
    return None if row is None else row["handed_over_at"]


async def stored_event(event_id: UUID) -> Row | None:
    return await VisitEvent.select().where(VisitEvent.event_id == event_id).output(load_json=True).first()


async def presign_grant(row_id: UUID, visit_id: UUID, technician_id: UUID) -> Row | None:
    """A presigned-upload fact of this technician's visit, by its row id (which is the photo id it granted)."""
    return (
        await VisitEvent.select()
        .where(
            (VisitEvent.id == row_id)
            & (VisitEvent.kind == "photo_presign")
            & (VisitEvent.visit == visit_id)
            & (VisitEvent.technician == technician_id)
        )
        .output(load_json=True)
        .first()
    )


# The columns a fact is claimed with; the INSERT is written out because building it with Piccolo cost more CPU than
# the database took to run it (the single biggest share of a check-in).
EVENT_COLUMNS = (
    "id", "event_id", "visit", "technician", "kind", "body_digest", "payload", "result", "device_time",
    "device_elapsed_ms", "device", "device_boot", "clock_offset_ms", "corrected_time", "time_source",
    "server_received_at", "batch_position",
    "latitude", "longitude", "accuracy_m", "fix_time", "mock", "distance_m",
)  # fmt: skip
JSON_COLUMNS = ("payload", "result")
CLAIM_EVENT_SQL = (
    f"INSERT INTO visit_event ({', '.join(EVENT_COLUMNS)}) VALUES ({', '.join('{}' for _ in EVENT_COLUMNS)})"
    " ON CONFLICT (event_id) DO NOTHING RETURNING id"
)
SET_STATUS_SQL = "UPDATE visit SET status = {}, updated_at = {} WHERE id = {}"
_N = len(EVENT_COLUMNS)
# PostgreSQL: the claim and everything that commits with a claimed fact, in one statement (one round trip instead of
# three or four), which also checks under the visit's row lock that the visit is still the caller's and in the
# status the fact was decided on: it can run on its own, outside any transaction. Every part after the claim reads
# `claimed`, so a fact already stored changes nothing.
CLAIM_FACT_SQL = f"""
WITH locked AS (
    SELECT status FROM visit WHERE id = ${_N + 1} AND technician = ${_N + 2} FOR NO KEY UPDATE
), unchanged AS (
    SELECT FROM locked WHERE status = ${_N + 3}
), claimed AS (
    INSERT INTO visit_event ({', '.join(EVENT_COLUMNS)}) SELECT {', '.join(f'${n}' for n in range(1, _N + 1))}
    FROM unchanged ON CONFLICT (event_id) DO NOTHING RETURNING id
), status_changed AS (
    UPDATE visit SET status = ${_N + 4}, updated_at = ${_N + 5} FROM claimed WHERE visit.id = ${_N + 1}
        AND ${_N + 4}::text IS NOT NULL
), marked AS (
    INSERT INTO audit_due {outbox.MARK_COLUMNS} SELECT ${_N + 1}, ${_N + 6}, ${_N + 5}, ${_N + 7}, ${_N + 8}, NULL
    FROM claimed {outbox.MARKED_AGAIN_BY_FACT}
), queued AS (
    INSERT INTO trail_pending ({PENDING_COLUMNS}) SELECT {', '.join(f'entry.{column}' for column in QUEUED_COLUMNS)}
    FROM claimed, unnest(${_N + 9}::text[], ${_N + 10}::text[], ${_N + 11}::text[], ${_N + 12}::text[],
        ${_N + 13}::timestamptz[], ${_N + 14}::text[]) WITH ORDINALITY AS entry({PENDING_COLUMNS}, position)
    ORDER BY entry.position
)
SELECT (SELECT id FROM claimed) AS claimed, EXISTS (SELECT FROM unchanged) AS unchanged
"""


class Claimed(enum.Enum):
    NOW = "claimed now"
    BEFORE = "claimed before"  # the event id is taken: the same fact again (replay), or a conflict
    VISIT_CHANGED = "visit changed"  # no longer the caller's, or not in the status it was read in


@dataclass(frozen=True)
class FactClaim:
    """A fact to claim by its event id, and what commits with it if this call claims it."""

    event: Row  # the VisitEvent columns by name; those not given are NULL
    technician: UUID
    status_before: str  # the visit's status the fact was decided on
    status: str | None  # the visit's new status, if the fact changes it
    at: datetime
    located: bool  # a fact with a fix: the auditor re-audits the technician's neighbouring visits too (E-MOCK)
    entries: list[Queued]  # its trail entries, in order
    resubmits: bool = False  # the completion of a returned visit: its re-audit sends it back to the auditors


async def claim_fact(claim: FactClaim, engine: Engine) -> Claimed:
    """Claim the fact (see claim_event); if this call claimed it, also change the visit's status, mark the visit due
    for re-audit (A-REAUDIT) and queue the trail entries (A-TRAIL), in the caller's transaction if there is one.

    On SQLite, where the caller's transaction holds the database's one write lock, the visit is checked first.
    """
    visit_id = claim.event["visit"]
    if db.is_sqlite(engine):
        current = await Visit.select(Visit.status).where(
            (Visit.id == visit_id) & (Visit.technician == claim.technician)
        ).first()
        if current is None or current["status"] != claim.status_before:
            return Claimed.VISIT_CHANGED
        if not await claim_event(claim.event):
            return Claimed.BEFORE
        if claim.status is not None:
            await set_visit_status(visit_id, claim.status, claim.at)
        await outbox.mark(visit_id, claim.located, claim.at, resubmits=claim.resubmits)
        await queue_entries(claim.entries)
        return Claimed.NOW
    _, token, _, located, reopens = outbox.fact_mark(visit_id, claim.located, claim.at, resubmits=claim.resubmits)
    entries = [list(column) for column in zip(*claim.entries)]
    async with db.pg_connection(engine) as connection:
        row = await connection.fetchrow(
            CLAIM_FACT_SQL, *_event_values(claim.event), visit_id, claim.technician, claim.status_before,
            claim.status, claim.at, token, located, reopens, *entries,
        )  # fmt: skip
    if row["claimed"] is not None:
        return Claimed.NOW
    return Claimed.BEFORE if row["unchanged"] else Claimed.VISIT_CHANGED


async def claim_event(event: Row) -> bool:
    """Insert the fact (its columns by name; those not given are NULL) unless its event id is taken; True when this
    call claimed it.

    ON CONFLICT DO NOTHING makes the unique index the referee: of two racing twins exactly one insert returns a
    row, and PostgreSQL makes the loser wait for the winner's commit, so it can then read what the winner stored.
    """
    return bool(await VisitEvent.raw(CLAIM_EVENT_SQL, *_event_values(event)))


def _event_values(event: Row) -> list[Any]:
    return [dump_json(event[column]) if column in JSON_COLUMNS else event.get(column) for column in EVENT_COLUMNS]


async def set_visit_status(visit_id: UUID, status: str, at: datetime) -> None:
    await Visit.raw(SET_STATUS_SQL, status, at, visit_id)


async def latest_fact_time(visit_id: UUID, but_event_row: UUID) -> datetime | None:
    """The latest corrected time of the visit's facts other than this one."""
    row = await VisitEvent.select(VisitEvent.corrected_time).where(
        (VisitEvent.visit == visit_id) & (VisitEvent.id != but_event_row)
    ).order_by(VisitEvent.corrected_time, ascending=False).first()
    return None if row is None else row["corrected_time"]


async def monotonic_marks(visit_id: UUID, technician_id: UUID, device: str | None) -> list[Row]:
    """The facts of the visit sent by this phone of the technician's (its device id, and those sent without one:
    the app updated mid-visit; a probe) that sent a monotonic time: corrected time, elapsed ms, how the service
    corrected it, and a check-in's location fix time."""
    this_phone = VisitEvent.device.is_null()
    if device is not None:
        this_phone = this_phone | (VisitEvent.device == device)
    return await VisitEvent.select(
        VisitEvent.corrected_time, VisitEvent.device_elapsed_ms, VisitEvent.time_source, VisitEvent.fix_time
    ).where(
        (VisitEvent.visit == visit_id) & (VisitEvent.technician == technician_id) & this_phone
        & VisitEvent.device_elapsed_ms.is_not_null() & VisitEvent.corrected_time.is_not_null()
    )


async def set_completed_at(visit_id: UUID, at: datetime) -> None:
    await Visit.update({Visit.completed_at: at}).where(Visit.id == visit_id)


async def insert_follow_up(follow_up: FollowUp) -> None:
    await FollowUp.insert(follow_up)


async def withdraw_photo(photo_id: UUID, visit_id: UUID) -> str | None:
    """Mark an accepted photo of this visit withdrawn, and say what it was: `accepted`, `withdrawn` already (then it
    is left alone), or None when the visit has no such photo (or only one still awaiting its presigned upload)."""
    withdrawn = await Photo.update({Photo.status: "withdrawn"}).where(
        (Photo.id == photo_id) & (Photo.visit == visit_id) & (Photo.status == "accepted")
    ).returning(Photo.id)
    if withdrawn:
        return "accepted"
    before = await Photo.select(Photo.status).where((Photo.id == photo_id) & (Photo.visit == visit_id)).first()
    return "withdrawn" if before is not None and before["status"] == "withdrawn" else None


async def insert_photo(photo: Photo) -> None:
    await Photo.insert(photo)


async def take_turn(lock_key: int) -> None:
    """Make concurrent transactions doing the same kind of work queue up until the current one ends."""
    await db.serialise_appends(Photo._meta.db, lock_key)


async def insert_bands(photo_id: UUID, band_keys: Iterable[int]) -> None:
    await PhotoHashBand.insert(*(PhotoHashBand(photo=photo_id, band_key=key) for key in band_keys))


async def reuse_candidates(visit_id: UUID, probe_keys: list[int], sha256: str) -> list[Row]:
    """E-REUSE: accepted photos (never signatures) of other visits that share a probed band or the exact bytes, with
    when their phones recorded them."""
    banded = PhotoHashBand.photo
    by_band = probe_keys and await PhotoHashBand.select(
        banded.id.as_alias("id"),
        banded.visit.as_alias("visit"),
        banded.sha256.as_alias("sha256"),
        banded.perceptual_hash.as_alias("perceptual_hash"),
        banded.fine_hash.as_alias("fine_hash"),
        banded.event.corrected_time.as_alias("recorded_at"),
    ).where(PhotoHashBand.band_key.is_in(probe_keys) & _reusable_elsewhere(banded, visit_id))
    identical = await Photo.select(
        Photo.id, Photo.visit, Photo.sha256, Photo.perceptual_hash, Photo.fine_hash,
        Photo.event.corrected_time.as_alias("recorded_at"),
    ).where((Photo.sha256 == sha256) & _reusable_elsewhere(Photo, visit_id))
    return list({row["id"]: row for row in (*by_band, *identical)}.values())


async def photos_of_visit(visit_id: UUID, purposes: Iterable[str]) -> list[Row]:
    """V-CLEAN: this visit's accepted photos of these purposes, with their hashes."""
    return await Photo.select(Photo.id, Photo.visit, Photo.sha256, Photo.perceptual_hash, Photo.fine_hash).where(
        (Photo.visit == visit_id) & Photo.purpose.is_in(list(purposes)) & (Photo.status == "accepted")
    )


async def signatures_to_compare(
    visit: Row, photo_id: UUID, sha256: str, since: datetime, team_since: datetime
) -> list[Row]:
    """V-SIGN: accepted signatures of other visits with exactly these bytes; and with their ink prints, the visit's
    own others than `photo_id`, the technician's own and the customer's since `since`, and the technician's team's
    since `team_since`."""
    signatures = (Photo.purpose == "signature") & Photo.status.is_in(SEEN_PHOTO_STATUSES)
    elsewhere = (Photo.visit != visit["id"]) & signatures
    printed = elsewhere & Photo.ink_print.is_not_null()
    columns = (Photo.id, Photo.visit, Photo.sha256, Photo.ink_print, Photo.event.corrected_time.as_alias("recorded_at"))
    found = [
        *await Photo.select(*columns).where(elsewhere & (Photo.sha256 == sha256)),
        *await Photo.select(*columns).where(
            (Photo.visit == visit["id"]) & (Photo.id != photo_id) & signatures & Photo.ink_print.is_not_null()
        ),
        *await Photo.select(*columns).where(
            printed & (Photo.technician == visit["technician"]) & (Photo.created_at >= since)
        ),
        *await Photo.select(*columns).where(
            printed & (Photo.visit.work_order.customer == visit["customer_id"]) & (Photo.created_at >= since)
        ),
        *await Photo.select(*columns).where(
            printed & (Photo.technician.team == visit["technician_team"]) & (Photo.created_at >= team_since)
        ),
    ]
    return list({row["id"]: row for row in found}.values())


def _reusable_elsewhere(photo, visit_id: UUID):  # noqa: ANN001, ANN202 - the Photo table or a join to it
    return (photo.visit != visit_id) & (photo.purpose != "signature") & photo.status.is_in(SEEN_PHOTO_STATUSES)


async def insert_matches(matches: list[PhotoMatch]) -> None:
    """Both directions of every pair; a pair already recorded (by the other photo's ingest) stays as it is."""
    for start in range(0, len(matches), INSERT_BATCH):
        await PhotoMatch.insert(*matches[start : start + INSERT_BATCH]).on_conflict(
            target=PhotoMatch.pair_key, action="DO NOTHING"
        )
