"""Building the audit engine's facts (VisitFacts, AuditContext) from stored rows, for one visit or a batch.

A fixed number of set-based queries per batch, whatever its size. On PostgreSQL they are plain SQL on the
connection of the caller's transaction (Piccolo's query builder costs about as much as the audit itself at bulk
scale); on SQLite they go through Piccolo. Both produce the same plain tuples (ids as text, JSON as text), and
one builder turns those into facts, so both engines load exactly the same facts.
"""

from __future__ import annotations

from bisect import bisect_left, bisect_right
from collections import defaultdict
from dataclasses import dataclass, replace
from datetime import datetime, timedelta
from operator import itemgetter
from typing import Any, Callable, Iterable, Mapping, NamedTuple
from uuid import UUID

import msgspec

from fieldsvc import db
from fieldsvc.audit.facts import (
    DONE_ON_SITE,
    AskFacts,
    AuditContext,
    CardFacts,
    CheckinFacts,
    ClockMovedFacts,
    ClockSyncFacts,
    CompletionFacts,
    LeaveFacts,
    NeighbourFix,
    NoteFacts,
    OnMyWayFacts,
    OrderFacts,
    OtherVisitPhoto,
    PhoneBoot,
    PhotoFacts,
    RebookingFacts,
    RescheduleFacts,
    ServiceTestFacts,
    SignatureFacts,
    SiteFacts,
    StepFacts,
    VisitFacts,
    WithdrawalFacts,
    phone_id,
)
from fieldsvc.audit.rules.deadlines import rebookings_of, round_first_booked
from fieldsvc.mobile.clock import borne_out_boot, by_its_counted_boot, by_the_boot_it_names, without_slow_sends
from fieldsvc.tables import (
    SEEN_PHOTO_STATUSES, FollowUp, Photo, PhotoMatch, Reschedule, ReviewDecision, Visit, VisitEvent,
)

CHECKIN_KINDS = ("arrival", "return", "checkout")
NEIGHBOUR_WINDOW = timedelta(hours=12)  # E-MOCK compares a fix with the technician's fixes this close in time
Row = tuple[Any, ...]
_decode = msgspec.json.decode


def _decode_json(value: Any) -> Any:
    """A payload or result column: JSON text (camelCase, msgspec.to_builtins of a struct), or already decoded."""
    return _decode(value) if isinstance(value, (str, bytes)) else value


@dataclass(frozen=True)
class LoadedVisit:
    """A visit's facts, the keys that choose its policy, and the context the audit needs."""

    facts: VisitFacts
    kind: str
    locality: str
    tier: str
    context: AuditContext
    # The facts whose time the audit re-read by the monotonic clock of the phone's boot (a send slow in flight, a
    # wall clock moved across a restart), by event id: the evidence view shows both times.
    reread: Mapping[str, datetime]


# Column orders of the row tuples both engines produce (ids as text, JSON columns as text).
V_ID, V_ORDER, V_AGREED, V_BOOKED, V_LATE_REASON, V_NOTIFIED = range(6)
V_KIND, V_ACCEPTED, V_FIRST_CONTACT, V_OUTCOME, V_CLOSED, V_FORCED, V_TIER = range(6, 13)
V_SITE_LAT, V_SITE_LON, V_LOCALITY, V_ZONE, V_FIRST_VISIT, V_FIRST_BOOKED = range(13, 19)
V_NOT_ALONE = 19  # the order has other visits
# Events: every column a kind does not read is NULL (technician only on located facts, for E-MOCK; the row id
# only on the facts that record a photo, which refers to it).
E_EVENT_ID, E_VISIT, E_TECHNICIAN, E_KIND, E_PAYLOAD, E_RESULT, E_DEVICE = range(7)
E_OFFSET, E_CORRECTED, E_RECEIVED, E_LAT, E_LON, E_ACCURACY, E_MOCK, E_ROW, E_FIX_TIME, E_ELAPSED = range(7, 17)
# The time source, selected for the kinds whose source the audit reads, and for every fact read by its wall clock
# ("offset"; `_moved_across_restarts`); NULL otherwise, which for a fact with a monotonic time means "elapsed".
# Then the device id the phone sent (X-Device-Id) and the boot count the fact named (deviceBoot), NULL if none.
E_TIME_SOURCE, E_DEVICE_ID, E_DEVICE_BOOT = 17, 18, 19
# Then its place in the sync batch that sent it (NULL when sent on its own).
E_BATCH_POSITION = 20
(P_ID, P_EVENT, P_VISIT, P_PURPOSE, P_SHA, P_PHASH, P_CAPTURED, P_LAT, P_LON, P_SOFTWARE, P_INK, P_FINE,
 P_TAGGED, P_FIXED) = range(14)
# What a photo needs of the fact that recorded it (its time and device time; a signature's texts), by row id.
R_EVENT_ID, R_PAYLOAD, R_RESULT, R_TIME, R_DEVICE, R_RECEIVED = range(6)
# Follow-ups are keyed by the event id of their question.
F_EVENT_ID, F_ASKED, F_QUESTION, F_NAME, F_PHONE, F_ADDRESS, F_RESOLVED = range(7)

CHECKIN_SQL = "('arrival', 'return', 'checkout')"
PHOTO_KINDS_SQL = "('photo', 'signature')"
DONE_ON_SITE_SQL = "(" + ", ".join(f"'{status}'" for status in DONE_ON_SITE) + ")"
PAYLOAD_KINDS_SQL = "('step', 'note', 'leave', 'test_result', 'completion', 'signature', 'photo_withdrawal')"
RESULT_KINDS_SQL = "('service_card', 'signature')"

# The batch drives every query (unnest, so PostgreSQL looks rows up by index instead of scanning tables).
_VISITS_SQL = f"""
SELECT v.id::text, v.work_order::text, v.agreed_time, v.booked_at, v.late_reason, v.customer_notified_at,
       o.kind, o.accepted_at, o.first_contact_at, o.outcome, o.closed_at, o.forced_close_reason, c.tier,
       s.latitude, s.longitude, s.locality, s.time_zone,
       (SELECT f.id::text FROM visit f WHERE f.work_order = v.work_order
        ORDER BY f.status = 'cancelled', f.booked_at, f.id LIMIT 1),
       (SELECT min(f.booked_at) FROM visit f WHERE f.work_order = v.work_order AND f.booked_at <= v.booked_at
        AND NOT EXISTS (SELECT 1 FROM visit c WHERE c.work_order = v.work_order AND c.status IN {DONE_ON_SITE_SQL}
                        AND c.booked_at >= f.booked_at AND c.booked_at < v.booked_at)),
       EXISTS (SELECT 1 FROM visit f WHERE f.work_order = v.work_order AND f.id <> v.id)
FROM unnest($1::uuid[]) AS b(id)
JOIN visit v ON v.id = b.id
JOIN work_order o ON o.id = v.work_order
JOIN customer c ON c.id = o.customer
JOIN site s ON s.id = o.site
"""
# Every reschedule of every visit of the batch's orders (order-level SLA references, B-REPAIR), by the order ids
# the visits query found. OFFSET 0 keeps the lookups per order (by index): a join here got two scans of visit.
_RESCHEDULES_SQL = """
SELECT r.id::text, r.visit::text, r.old_time, r.new_time, r.initiator, r.reason_code, r.customer_confirmed,
       r.recorded_at, r.note, o.id::text
FROM unnest($1::uuid[]) AS o(id)
CROSS JOIN LATERAL (SELECT id FROM visit WHERE work_order = o.id OFFSET 0) AS v
JOIN reschedule r ON r.visit = v.id
"""
# The visits of the batch's repair orders (B-REPAIR: a visit booked again moved the order's appointment).
_ORDER_VISITS_SQL = """
SELECT o.id::text, v.id::text, v.booked_at, v.original_agreed_time, v.agreed_time
FROM unnest($1::uuid[]) AS o(id)
CROSS JOIN LATERAL (
    SELECT id, booked_at, original_agreed_time, agreed_time FROM visit WHERE work_order = o.id OFFSET 0
) AS v
"""
_EVENTS_SQL = f"""
SELECT e.event_id::text, e.visit::text, e.technician::text, e.kind,
       CASE WHEN e.kind IN {PAYLOAD_KINDS_SQL} THEN e.payload END,
       CASE WHEN e.kind IN {RESULT_KINDS_SQL} THEN e.result END,
       CASE WHEN e.kind IN {CHECKIN_SQL} OR e.kind IN {PHOTO_KINDS_SQL} OR e.kind = 'test_result'
            THEN e.device_time END,
       e.clock_offset_ms, e.corrected_time, e.server_received_at, e.latitude, e.longitude, e.accuracy_m, e.mock,
       CASE WHEN e.kind IN {PHOTO_KINDS_SQL} THEN e.id::text END,
       CASE WHEN e.kind IN {CHECKIN_SQL} THEN e.fix_time END, e.device_elapsed_ms,
       CASE WHEN e.kind IN {CHECKIN_SQL} OR e.kind = 'test_result' OR e.time_source = 'offset' THEN e.time_source END,
       e.device, e.device_boot, e.batch_position
FROM unnest($1::uuid[]) AS b(id) JOIN visit_event e ON e.visit = b.id
"""
_PHOTOS_SQL = """
SELECT p.id::text, p.event::text, p.visit::text, p.purpose, p.sha256, p.perceptual_hash, p.captured_at_utc,
       p.gps_latitude, p.gps_longitude, p.software, p.ink_coverage, p.fine_hash, p.captured_offset_known,
       p.gps_fixed_at
FROM unnest($1::uuid[]) AS b(id) JOIN photo p ON p.visit = b.id
WHERE p.status = 'accepted'
"""
# Photos recorded by a fact the events query did not bring (another kind, or another visit's fact).
_PHOTO_EVENTS_SQL = """
SELECT id::text, event_id::text, payload, result, corrected_time, device_time, server_received_at
FROM visit_event WHERE id = ANY($1::uuid[])
"""
# Only for the visits with a question; OFFSET 0 keeps these lookups per visit (by index) as the tables grow.
_FOLLOW_UPS_SQL = """
SELECT e.event_id::text, f.asked_at, f.question, f.customer_name, f.customer_phone, f.address, f.resolved_at
FROM unnest($1::uuid[]) AS b(id)
CROSS JOIN LATERAL (SELECT * FROM follow_up WHERE visit = b.id OFFSET 0) AS f
JOIN visit_event e ON e.id = f.event
"""
_MATCHES_SQL = """
SELECT DISTINCT m.visit::text, p.visit::text, p.id::text, p.sha256, p.perceptual_hash, m.photo::text, m.distance,
    m.fine_distance, m.other_first
FROM unnest($1::uuid[]) AS b(id)
CROSS JOIN LATERAL (
    SELECT visit, photo, other_photo, distance, fine_distance, other_first FROM photo_match WHERE visit = b.id OFFSET 0
) AS m
JOIN photo p ON p.id = m.other_photo
WHERE p.status IN ('accepted', 'withdrawn')
"""  # SEEN_PHOTO_STATUSES
# One time range per technician and stretch of the batch (merged, so no fix comes twice). Served by an index on
# visit_event (technician, corrected_time) where it exists; otherwise this is one scan of visit_event per batch.
_NEIGHBOURS_SQL = """
SELECT n.event_id::text, n.visit::text, n.technician::text, n.corrected_time, n.latitude, n.longitude, n.accuracy_m
FROM unnest($1::uuid[], $2::timestamptz[], $3::timestamptz[]) AS r(technician, low, high)
JOIN visit_event n ON n.technician = r.technician AND n.corrected_time >= r.low AND n.corrected_time <= r.high
WHERE n.latitude IS NOT NULL
"""

# When an auditor first returned each visit of the batch for correction (a later trip to it can only follow that).
_RETURNED_SQL = """
SELECT d.visit::text, min(d.decided_at)
FROM unnest($1::uuid[]) AS b(id) JOIN review_decision d ON d.visit = b.id
WHERE d.decision = 'return'
GROUP BY d.visit
"""

_PLAIN_KINDS = frozenset(("photo", "signature", "photo_presign"))  # nothing read beyond the clock
_TIMED_KINDS = frozenset((*CHECKIN_KINDS, "test_result"))  # whose time source the audit reads
_EVENT_ORDER = itemgetter(E_CORRECTED, E_EVENT_ID)  # a visit's facts of one kind are read in this order
_PHOTO_ORDER = itemgetter(P_ID)


@dataclass
class _Rows:
    visits: list[Row]
    reschedules: list[Row]
    events: list[Row]
    photos: list[Row]
    photo_events: dict[str, Row]  # event row id -> (event id, payload, result, corrected time, device time, receipt)
    follow_ups: list[Row]
    # (visit, other photo's visit, other photo, sha256, perceptual hash, photo, distance, fine distance), distinct
    matches: list[Row]
    neighbours: list[Row]
    spans: dict[str, tuple[str, datetime, datetime]]
    returned: dict[str, datetime]  # visit -> when an auditor first returned it for correction
    rebookings: dict[str, tuple[RebookingFacts, ...]]  # by repair order


async def load_visits(visit_ids: list[UUID], now: datetime) -> list[LoadedVisit]:
    """Everything the audit reads about these visits, in a fixed number of queries whatever the batch size."""
    if not visit_ids:
        return []
    engine = Visit._meta.db
    rows = await (_sqlite_rows(visit_ids) if db.is_sqlite(engine) else _postgres_rows(engine, visit_ids))
    return _build(rows, now)


async def _postgres_rows(engine: Any, visit_ids: list[UUID]) -> _Rows:
    async with db.pg_connection(engine) as connection:
        visits = await connection.fetch(_VISITS_SQL, visit_ids)
        if not visits:
            return _Rows([], [], [], [], {}, [], [], [], {}, {}, {})
        reschedules = await connection.fetch(_RESCHEDULES_SQL, list({v[V_ORDER] for v in visits}))
        # Nearly every order has one visit: its rebookings are none, without another round trip.
        repairs = list({v[V_ORDER] for v in visits if v[V_KIND] == "repair" and v[V_NOT_ALONE]})
        rebookings = _rebookings_by_order(await connection.fetch(_ORDER_VISITS_SQL, repairs) if repairs else [])
        events = await connection.fetch(_EVENTS_SQL, visit_ids)
        photos = await connection.fetch(_PHOTOS_SQL, visit_ids)
        photo_events = {
            e[E_ROW]: (e[E_EVENT_ID], e[E_PAYLOAD], e[E_RESULT], e[E_CORRECTED], e[E_DEVICE], e[E_RECEIVED])
            for e in events if e[E_ROW] is not None
        }
        missing = list({p[P_EVENT] for p in photos if p[P_EVENT] not in photo_events})
        if missing:
            extra = await connection.fetch(_PHOTO_EVENTS_SQL, missing)
            photo_events.update((r[0], tuple(r[1:])) for r in extra)
        asked = list({e[E_VISIT] for e in events if e[E_KIND] == "question"})
        follow_ups = await connection.fetch(_FOLLOW_UPS_SQL, asked) if asked else []
        matches = await connection.fetch(_MATCHES_SQL, visit_ids)
        returned = dict(await connection.fetch(_RETURNED_SQL, visit_ids))
        spans = _spans(events)
        neighbours = []
        if spans:
            neighbours = await connection.fetch(_NEIGHBOURS_SQL, *_ranges(spans))
    return _Rows(
        visits, reschedules, events, photos, photo_events, follow_ups, matches, neighbours, spans, returned, rebookings
    )


async def _sqlite_rows(visit_ids: list[UUID]) -> _Rows:
    """The same rows through Piccolo's query builder (SQLite has no arrays to bind)."""
    visit_rows = await Visit.select(
        Visit.id, Visit.work_order, Visit.agreed_time, Visit.booked_at, Visit.late_reason, Visit.customer_notified_at,
        Visit.work_order.kind, Visit.work_order.accepted_at, Visit.work_order.first_contact_at,
        Visit.work_order.outcome, Visit.work_order.closed_at, Visit.work_order.forced_close_reason,
        Visit.work_order.customer.tier, Visit.work_order.site.latitude, Visit.work_order.site.longitude,
        Visit.work_order.site.locality, Visit.work_order.site.time_zone,
    ).where(Visit.id.is_in(visit_ids))
    if not visit_rows:
        return _Rows([], [], [], [], {}, [], [], [], {}, {}, {})
    order_ids = list({row["work_order"] for row in visit_rows})
    order_visits = await Visit.select(
        Visit.id, Visit.work_order, Visit.booked_at, Visit.status, Visit.original_agreed_time, Visit.agreed_time
    ).where(Visit.work_order.is_in(order_ids))
    first = _first_visit_per_order(order_visits)
    repairs = {row["work_order"] for row in visit_rows if row["work_order.kind"] == "repair"}
    rebookings = _rebookings_by_order(
        (str(v["work_order"]), str(v["id"]), v["booked_at"], v["original_agreed_time"], v["agreed_time"])
        for v in order_visits if v["work_order"] in repairs
    )
    # Piccolo names the columns as selected: id, work_order, then the V_AGREED .. V_ZONE columns in order.
    visits = []
    for row in visit_rows:
        same_order = [v for v in order_visits if v["work_order"] == row["work_order"]]
        visits.append((
            str(row["id"]), str(row["work_order"]), *list(row.values())[2:], first[row["work_order"]],
            round_first_booked(row["booked_at"], same_order), len(same_order) > 1,
        ))
    reschedules = [
        (str(r["id"]), str(r["visit"]), r["old_time"], r["new_time"], r["initiator"], r["reason_code"],
         r["customer_confirmed"], r["recorded_at"], r["note"], str(r["work_order"]))
        for r in await Reschedule.select(
            Reschedule.id, Reschedule.visit, Reschedule.old_time, Reschedule.new_time, Reschedule.initiator,
            Reschedule.reason_code, Reschedule.customer_confirmed, Reschedule.recorded_at, Reschedule.note,
            Reschedule.visit.work_order.as_alias("work_order"),
        ).where(Reschedule.visit.work_order.is_in(order_ids))
    ]
    event_rows = await VisitEvent.select(
        VisitEvent.id, VisitEvent.event_id, VisitEvent.visit, VisitEvent.technician, VisitEvent.kind,
        VisitEvent.payload, VisitEvent.result, VisitEvent.device_time, VisitEvent.clock_offset_ms,
        VisitEvent.corrected_time, VisitEvent.server_received_at, VisitEvent.latitude, VisitEvent.longitude,
        VisitEvent.accuracy_m, VisitEvent.mock, VisitEvent.fix_time, VisitEvent.device_elapsed_ms,
        VisitEvent.time_source, VisitEvent.device, VisitEvent.device_boot, VisitEvent.batch_position,
    ).where(VisitEvent.visit.is_in(visit_ids))
    by_row = {e["id"]: e for e in event_rows}
    events = [
        (str(e["event_id"]), str(e["visit"]), str(e["technician"]), e["kind"],
         e["payload"], e["result"], e["device_time"], e["clock_offset_ms"], e["corrected_time"],
         e["server_received_at"], e["latitude"], e["longitude"], e["accuracy_m"], e["mock"], str(e["id"]),
         e["fix_time"], e["device_elapsed_ms"],
         e["time_source"] if e["kind"] in _TIMED_KINDS or e["time_source"] == "offset" else None, e["device"],
         e["device_boot"], e["batch_position"])
        for e in event_rows
    ]
    photos = [
        (str(p["id"]), str(p["event"]), str(p["visit"]), p["purpose"], p["sha256"], p["perceptual_hash"],
         p["captured_at_utc"], p["gps_latitude"], p["gps_longitude"], p["software"], p["ink_coverage"], p["fine_hash"],
         p["captured_offset_known"], p["gps_fixed_at"])
        for p in await Photo.select(
            Photo.id, Photo.event, Photo.visit, Photo.purpose, Photo.sha256, Photo.perceptual_hash,
            Photo.captured_at_utc, Photo.gps_latitude, Photo.gps_longitude, Photo.software, Photo.ink_coverage,
            Photo.fine_hash, Photo.captured_offset_known, Photo.gps_fixed_at,
        ).where(Photo.visit.is_in(visit_ids) & (Photo.status == "accepted"))
    ]
    missing = list({p[P_EVENT] for p in photos} - {str(row_id) for row_id in by_row})
    if missing:
        by_row.update(
            (e["id"], e) for e in await VisitEvent.select(
                VisitEvent.id, VisitEvent.event_id, VisitEvent.payload, VisitEvent.result, VisitEvent.corrected_time,
                VisitEvent.device_time, VisitEvent.server_received_at,
            ).where(VisitEvent.id.is_in(missing))
        )
    photo_events = {
        str(row_id): (
            str(e["event_id"]), e["payload"], e["result"], e["corrected_time"], e["device_time"], e["server_received_at"]
        )
        for row_id, e in by_row.items()
    }
    asked = [str(e["visit"]) for e in event_rows if e["kind"] == "question"]
    follow_ups = []
    for f in await FollowUp.select(
        FollowUp.event, FollowUp.asked_at, FollowUp.question, FollowUp.customer_name, FollowUp.customer_phone,
        FollowUp.address, FollowUp.resolved_at,
    ).where(FollowUp.visit.is_in(asked)) if asked else []:
        e = by_row.get(f["event"])
        if e is not None:
            follow_ups.append((str(e["event_id"]), *list(f.values())[1:]))
    matches = await _sqlite_matches(visit_ids)
    returned: dict[str, datetime] = {}
    for decision in await ReviewDecision.select(ReviewDecision.visit, ReviewDecision.decided_at).where(
        ReviewDecision.visit.is_in(visit_ids) & (ReviewDecision.decision == "return")
    ):
        visit, at = str(decision["visit"]), decision["decided_at"]
        returned[visit] = min(returned.get(visit, at), at)
    spans = _spans(events)
    neighbours = []
    if spans:
        # One query over the whole stretch (SQLite has no index for it either way); each visit takes its window.
        technicians, lows, highs = _ranges(spans)
        neighbours = [
            (str(n["event_id"]), str(n["visit"]), str(n["technician"]), n["corrected_time"], n["latitude"],
             n["longitude"], n["accuracy_m"])
            for n in await VisitEvent.select(
                VisitEvent.event_id, VisitEvent.visit, VisitEvent.technician, VisitEvent.corrected_time,
                VisitEvent.latitude, VisitEvent.longitude, VisitEvent.accuracy_m,
            ).where(
                VisitEvent.technician.is_in(list(set(technicians))) & VisitEvent.latitude.is_not_null()
                & (VisitEvent.corrected_time >= min(lows)) & (VisitEvent.corrected_time <= max(highs))
            )
        ]
    return _Rows(
        visits, reschedules, events, photos, photo_events, follow_ups, matches, neighbours, spans, returned, rebookings
    )


def _rebookings_by_order(order_visits: Iterable[Row]) -> dict[str, tuple[RebookingFacts, ...]]:
    """(order, visit, booked at, first agreed time, agreed time) rows as each order's rebookings."""
    visits: dict[str, list[Row]] = defaultdict(list)
    for order, *visit in order_visits:
        visits[order].append(visit)
    return {order: rebookings_of(booked) for order, booked in visits.items() if len(booked) > 1}


def _first_visit_per_order(rows: list[dict[str, Any]]) -> dict[Any, str]:
    """The order's first visit by booking time (then id) that was not cancelled, if any: order-level rules are judged
    on it only. A cancelled visit keeps a pending verdict out of the queue, so cancelling the first visit and booking
    another would hide a late repair or a forced close (a probe)."""
    first: dict[Any, tuple[bool, datetime, str]] = {}
    for row in rows:
        candidate = (row["status"] == "cancelled", row["booked_at"], str(row["id"]))
        current = first.get(row["work_order"])
        if current is None or candidate < current:
            first[row["work_order"]] = candidate
    return {order: visit_id for order, (_, _, visit_id) in first.items()}


async def _sqlite_matches(visit_ids: list[UUID]) -> list[Row]:
    matches = await PhotoMatch.select(
        PhotoMatch.visit, PhotoMatch.photo, PhotoMatch.other_photo, PhotoMatch.distance, PhotoMatch.fine_distance,
        PhotoMatch.other_first,
    ).where(PhotoMatch.visit.is_in(visit_ids))
    if not matches:
        return []
    others = {
        row["id"]: row
        for row in await Photo.select(Photo.id, Photo.visit, Photo.sha256, Photo.perceptual_hash).where(
            Photo.id.is_in(list({m["other_photo"] for m in matches})) & Photo.status.is_in(SEEN_PHOTO_STATUSES)
        )
    }
    found = set()
    for match in matches:
        other = others.get(match["other_photo"])
        if other is not None:
            found.add((
                str(match["visit"]), str(other["visit"]), str(other["id"]), other["sha256"], other["perceptual_hash"],
                str(match["photo"]), match["distance"], match["fine_distance"], match["other_first"],
            ))
    return list(found)


def _spans(events: Iterable[Row]) -> dict[str, tuple[str, datetime, datetime]]:
    """E-MOCK: per visit with located facts, its technician and the first and last time of those facts.

    The technician is the one of the visit's earliest located fact (a visit handed over mid-way has two).
    """
    first: dict[str, tuple[datetime, str, str]] = {}  # visit -> (time, event id, technician) of its earliest fix
    spans: dict[str, tuple[str, datetime, datetime]] = {}
    for event in events:
        if event[E_LAT] is None:
            continue
        visit, at = event[E_VISIT], event[E_CORRECTED]
        candidate = (at, event[E_EVENT_ID], event[E_TECHNICIAN])
        earliest = first.get(visit)
        if earliest is None:
            first[visit] = candidate
            spans[visit] = (candidate[2], at, at)
            continue
        if candidate < earliest:
            first[visit] = earliest = candidate
        _, start, end = spans[visit]
        spans[visit] = (earliest[2], min(start, at), max(end, at))
    return spans


def _ranges(spans: dict[str, tuple[str, datetime, datetime]]) -> tuple[list[str], list[datetime], list[datetime]]:
    """Each technician's windows around the batch's visits, merged where they overlap."""
    by_technician: dict[str, list[tuple[datetime, datetime]]] = defaultdict(list)
    for technician, start, end in spans.values():
        by_technician[technician].append((start - NEIGHBOUR_WINDOW, end + NEIGHBOUR_WINDOW))
    technicians: list[str] = []
    lows: list[datetime] = []
    highs: list[datetime] = []
    for technician, windows in by_technician.items():
        windows.sort()
        low, high = windows[0]
        for next_low, next_high in windows[1:]:
            if next_low <= high:
                high = max(high, next_high)
                continue
            technicians.append(technician), lows.append(low), highs.append(high)
            low, high = next_low, next_high
        technicians.append(technician), lows.append(low), highs.append(high)
    return technicians, lows, highs


def _neighbour_fixes(rows: _Rows) -> dict[str, tuple[NeighbourFix, ...]]:
    """E-MOCK: each visit's technician's located facts on other visits close in time to this visit's own."""
    if not rows.spans:
        return {}
    fixes_by_technician: dict[str, list[tuple[datetime, str, NeighbourFix]]] = defaultdict(list)
    for event_id, visit, technician, at, latitude, longitude, accuracy in rows.neighbours:
        fixes_by_technician[technician].append(
            (at, event_id, NeighbourFix(event_id, visit, at, latitude, longitude, accuracy or 0.0))
        )
    times_by_technician: dict[str, list[datetime]] = {}
    for technician, fixes in fixes_by_technician.items():
        fixes.sort(key=_time_and_id)
        times_by_technician[technician] = [fix[0] for fix in fixes]
    found: dict[str, tuple[NeighbourFix, ...]] = {}
    for visit_id, (technician, start, end) in rows.spans.items():
        times = times_by_technician.get(technician)
        if times is None:
            found[visit_id] = ()
            continue
        fixes = fixes_by_technician[technician]
        low, high = bisect_left(times, start - NEIGHBOUR_WINDOW), bisect_right(times, end + NEIGHBOUR_WINDOW)
        found[visit_id] = tuple(fix[2] for fix in fixes[low:high] if fix[2].visit_id != visit_id)
    return found


def _time_and_id(fix: tuple[datetime, str, NeighbourFix]) -> tuple[datetime, str]:
    return fix[0], fix[1]


def _matched_photos(rows: _Rows) -> dict[str, tuple[OtherVisitPhoto, ...]]:
    """E-REUSE candidates recorded at ingest (identical or perceptually close photos on other visits)."""
    found: dict[str, list[OtherVisitPhoto]] = defaultdict(list)
    for visit, other_visit, other_photo, sha256, perceptual_hash, photo, distance, fine, first in rows.matches:
        found[visit].append(
            OtherVisitPhoto(other_visit, other_photo, sha256, perceptual_hash, photo, distance, fine, first)
        )
    return {visit: tuple(sorted(set(photos), key=_match_order)) for visit, photos in found.items()}


def _match_order(photo: OtherVisitPhoto) -> tuple[str, str, int, int]:
    return photo.photo_id, photo.matched_photo_id or "", photo.recorded_distance or 0, photo.recorded_fine_distance or 0


def _runs(rows: list[Row], key: int) -> dict[str, list[Row]]:
    """Rows grouped by `key`, each group keeping the rows' order."""
    grouped: dict[str, list[Row]] = {}
    for row in rows:
        group = grouped.get(row[key])
        if group is None:
            grouped[row[key]] = [row]
        else:
            group.append(row)
    return grouped


def _build(rows: _Rows, now: datetime) -> list[LoadedVisit]:
    events_by_visit = _runs(rows.events, E_VISIT)
    for events in events_by_visit.values():
        events.sort(key=_EVENT_ORDER)
    photos_by_visit = _runs(rows.photos, P_VISIT)
    for photos in photos_by_visit.values():
        photos.sort(key=_PHOTO_ORDER)
    reschedules_by_order: dict[str, list[RescheduleFacts]] = defaultdict(list)
    for r in sorted(rows.reschedules, key=_reschedule_order):
        reschedules_by_order[r[9]].append(RescheduleFacts(r[0], r[1], r[2], r[3], r[4], r[5], r[6], r[7], r[8]))
    asks_by_event = {row[F_EVENT_ID]: row for row in rows.follow_ups}
    other_photos = _matched_photos(rows)
    neighbours = _neighbour_fixes(rows)
    loaded = []
    for visit in sorted(rows.visits, key=_visit_order):
        visit_id = visit[V_ID]
        events = events_by_visit.get(visit_id, ())
        phone_of = _phone_namer(events)
        moved = _moved_across_restarts(events, phone_of)
        reread = {**_without_slow_sends(events, phone_of), **{fact.event_id: fact.by_boot for fact in moved}}
        facts = _visit_facts(
            visit,
            tuple(reschedules_by_order.get(visit[V_ORDER], ())),
            rows.rebookings.get(visit[V_ORDER], ()),
            events,
            photos_by_visit.get(visit_id, ()),
            rows.photo_events,
            asks_by_event,
            rows.returned.get(visit_id),
            other_photos.get(visit_id, ()),
            _Rereading(phone_of, moved, reread),
        )
        context = AuditContext(now, other_photos.get(visit_id, ()), neighbours.get(visit_id, ()))
        loaded.append(LoadedVisit(facts, visit[V_KIND], visit[V_LOCALITY], visit[V_TIER], context, reread))
    return loaded


_visit_order = itemgetter(V_ID)


def _reschedule_order(row: Row) -> tuple[datetime, str]:
    return row[7], row[0]


def _visit_facts(
    visit: Row, reschedules: tuple[RescheduleFacts, ...], rebookings: tuple[RebookingFacts, ...],
    events: Iterable[Row], photos: Iterable[Row], photo_events: dict[str, Row], asks: dict[str, Row],
    returned_at: datetime | None, matches: tuple[OtherVisitPhoto, ...], rereading: _Rereading,
) -> VisitFacts:
    """One visit's facts; `events` come in (corrected time, event id) order, `photos` in id order; `matches` the
    photos ingest matched this visit's with; `rereading` which facts' times the audit re-reads (the completions counted
    later than their own time are added to it, for the evidence timeline)."""
    checkins, syncs, steps, notes, leaves, tests, ask_facts, on_my_way, withdrawals = [], [], [], [], [], [], [], [], []
    card = completion = None
    completions = []  # (corrected time, received, event id) of each completion
    boot_marks: dict[str, list[tuple[datetime, int]]] = {}  # per phone: (corrected time, elapsed ms) of its facts
    phone_of, moved, redated = rereading
    for (event_id, _, technician, kind, payload, result, device, offset, at, received, lat, lon, accuracy, mock, _, fix,
         elapsed, time_source, device_id, _, batch_position) in events:
        at = redated.get(event_id, at)
        phone = phone_of(technician, device_id)
        if offset is not None:
            # Stored as server minus device (what to add to a device time); the engine reads device minus server.
            syncs.append((received, -offset / 1000, str(event_id), phone))
        if elapsed is not None and at is not None:
            boot_marks.setdefault(phone, []).append((at, elapsed))
        if kind in _PLAIN_KINDS:  # photos and signatures are read from their Photo rows
            continue
        if kind in CHECKIN_KINDS:
            checkins.append(
                CheckinFacts(
                    event_id, kind, lat, lon, accuracy, device, received, at, bool(mock), fix, elapsed,
                    time_source == "elapsed", phone, batch_position,
                )
            )
        elif kind == "step":
            payload = _decode_json(payload)
            # What a consent was for is its scope (required by the API), else the note.
            described = payload.get("note") or payload.get("consentScope") or ""
            steps.append(StepFacts(event_id, payload["step"], at, described))
        elif kind == "note":
            payload = _decode_json(payload)
            rule_id = "V-SHOES" if payload["topic"] == "shoe_covers_reason" else "general"
            notes.append(NoteFacts(event_id, rule_id, payload["text"], at))
        elif kind == "leave":
            payload = _decode_json(payload)
            leaves.append(LeaveFacts(event_id, at, payload["willReturn"], _instant(payload.get("restoreBy"))))
        elif kind == "test_result":
            payload = _decode_json(payload)
            tests.append((
                ServiceTestFacts(
                    event_id, at, payload["customerAccepted"],
                    payload.get("downloadMbps"), payload.get("uploadMbps"), payload.get("latencyMs"),
                ),
                received,
                _retest_time(at, device, offset, received) if time_source == "elapsed" else received,
            ))
        elif kind == "question":
            follow_up = asks.get(event_id)
            if follow_up is not None:
                ask_facts.append(
                    AskFacts(event_id, follow_up[F_ASKED], follow_up[F_QUESTION], follow_up[F_NAME],
                             follow_up[F_PHONE], follow_up[F_ADDRESS], follow_up[F_RESOLVED])
                )
        elif kind == "service_card":
            if card is None:  # the first one counts
                card = _card(event_id, at, result)
        elif kind == "completion":
            completion = (event_id, payload)  # the last one counts
            completions.append((at, received, event_id))
        elif kind == "photo_withdrawal":
            payload = _decode_json(payload)
            withdrawals.append(WithdrawalFacts(event_id, payload["photoId"], payload["reason"], at))
        elif kind == "on_my_way":
            on_my_way.append(OnMyWayFacts(event_id, at, received, batch_position))
    # A picture was taken no later than the first time its bytes reached the service: the same file sent again
    # later (the shoe-cover photo as the site-clean one, a signature after the clean-up) keeps that first time.
    first_sent: dict[str, datetime] = {}
    recorded_by = photo_events if not redated else {
        photo[P_EVENT]: _photo_event(photo_events[photo[P_EVENT]], redated) for photo in photos
    }
    for photo in photos:
        sent = recorded_by[photo[P_EVENT]][R_TIME]
        first_sent[photo[P_SHA]] = min(first_sent.get(photo[P_SHA], sent), sent)
    photo_facts, signatures = [], []
    for photo in photos:
        event = recorded_by[photo[P_EVENT]]
        if photo[P_PURPOSE] == "signature":
            signatures.append((photo, event))
        else:
            photo_facts.append(_photo(photo, event, first_sent[photo[P_SHA]]))
    counted = _completions_counted(completions, events)
    own_time = {event_id: at for at, _, event_id in completions}
    redated.update((event_id, at) for event_id, at in counted.items() if at != own_time[event_id])
    first_completed = min(counted.values(), default=None)
    return VisitFacts(
        visit[V_ID],
        visit[V_AGREED],
        visit[V_BOOKED],
        SiteFacts(visit[V_SITE_LAT], visit[V_SITE_LON], visit[V_ZONE]),
        OrderFacts(
            visit[V_ORDER],
            visit[V_KIND],
            visit[V_TIER],
            visit[V_ACCEPTED],
            visit[V_FIRST_VISIT],
            visit[V_FIRST_CONTACT],
            visit[V_CLOSED] if visit[V_OUTCOME] == "resolved" else None,
            visit[V_FORCED],
            reschedules,
            visit[V_FIRST_BOOKED],
            rebookings,
        ),
        visit[V_LATE_REASON],
        visit[V_NOTIFIED],
        tuple(checkins),
        _clock_syncs(syncs),
        tuple(steps),
        tuple(notes),
        tuple(leaves),
        _tests(tests, completions, first_completed),
        tuple(ask_facts),
        tuple(photo_facts),
        _signature(signatures, first_sent, [match for match in matches if match.visit_id == visit[V_ID]]),
        card,
        None if completion is None else _completion(*completion),
        tuple(on_my_way),
        tuple(PhoneBoot(at, phone) for phone, marks in boot_marks.items() for at in _distinct_boots(marks)),
        first_completed,
        tuple(withdrawals),
        moved,
        returned_at,
    )


class _Rereading(NamedTuple):
    """Who sent each of a visit's facts, and the facts whose time the audit re-reads."""

    phone_of: Callable[[str, str | None], str]
    moved: tuple[ClockMovedFacts, ...]  # across a restart
    times: dict[str, datetime]  # those, the slow sends and the completions counted later, by event id


def _phone_namer(events: Iterable[Row]) -> Callable[[str, str | None], str]:
    """`phone_id` of a fact's technician and device id, where a fact without an id is of the technician's one phone
    that sent an id on the visit, if only one did: the app was updated mid-visit (its earlier facts, sent without,
    lost the clock offsets and boots they measured; a probe)."""
    ids: dict[str, set[str]] = defaultdict(set)
    for event in events:
        if event[E_DEVICE_ID] is not None:
            ids[event[E_TECHNICIAN]].add(event[E_DEVICE_ID])
    sole = {technician: next(iter(seen)) for technician, seen in ids.items() if len(seen) == 1}

    def phone_of(technician: str, device_id: str | None) -> str:
        return phone_id(technician, sole.get(technician) if device_id is None else device_id)

    return phone_of


def _moved_across_restarts(
    events: Iterable[Row], phone_of: Callable[[str, str | None], str]
) -> tuple[ClockMovedFacts, ...]:
    """The facts whose wall clock was set back between their boot and them and put right before they were sent after
    a restart, with the time their boot's monotonic clock gives (`clock.by_the_boot_it_names`), from the phone's boots
    its facts bear out; when the phone counts its boots, by the boot the fact names, set back or ahead
    (`clock.by_its_counted_boot`), as a fact sent in that boot dates it. Check-ins only by a counted boot, unless
    their fix is dated after them (the satellites' time then reads them, `trusted_checkin_time`): a boot estimated
    from a check-in on a clock running fast re-read an honest arrival late (a probe)."""
    suspects = [
        event for event in events
        if event[E_TIME_SOURCE] == "offset" and event[E_ELAPSED] is not None
        and (event[E_KIND] not in CHECKIN_KINDS or (event[E_DEVICE_BOOT] is not None and not _fix_dated_after(event)))
    ]
    if not suspects:  # nearly every visit: all its facts were read by the monotonic clock of their boot, or sent none
        return ()
    borne_out: dict[str, list[tuple[datetime, int]]] = defaultdict(list)  # per phone: (boot, 0), a mark at its boot
    counted: dict[tuple[str, int], datetime] = {}  # (phone, boot count): when that boot began
    for event in events:
        elapsed, at = event[E_ELAPSED], event[E_CORRECTED]
        if elapsed is None or at is None:
            continue
        # The time source is left out of facts of other kinds read by the monotonic clock of their boot.
        source = event[E_TIME_SOURCE] or "elapsed"
        boot = borne_out_boot(at, elapsed, source, event[E_FIX_TIME], _REREAD_BEYOND)
        if boot is not None:
            phone, count = phone_of(event[E_TECHNICIAN], event[E_DEVICE_ID]), event[E_DEVICE_BOOT]
            borne_out[phone].append((boot, 0))
            if count is not None and source == "elapsed":
                counted[(phone, count)] = boot  # exact: by the monotonic clock of the boot it was sent in
    boots = {phone: list(_distinct_boots(marks)) for phone, marks in borne_out.items()}
    moved = []
    for event in suspects:
        phone = phone_of(event[E_TECHNICIAN], event[E_DEVICE_ID])
        by_wall, elapsed = event[E_CORRECTED], event[E_ELAPSED]
        counted_boot = None if event[E_DEVICE_BOOT] is None else counted.get((phone, event[E_DEVICE_BOOT]))
        if counted_boot is not None:
            at = by_its_counted_boot(by_wall, elapsed, counted_boot, event[E_RECEIVED], _REREAD_BEYOND)
        elif event[E_KIND] in CHECKIN_KINDS:
            continue
        else:
            at = by_the_boot_it_names(by_wall, elapsed, boots.get(phone, []), event[E_RECEIVED], _REREAD_BEYOND)
        if at is not None:
            moved.append(ClockMovedFacts(event[E_EVENT_ID], by_wall, at))
    return tuple(moved)


def _without_slow_sends(events: Iterable[Row], phone_of: Callable[[str, str | None], str]) -> dict[str, datetime]:
    """The facts read by the monotonic clock of the boot they were sent in whose send was slow, re-read without its
    time in flight (`clock.without_slow_sends`), by event id; per phone and boot count (None: not counted)."""
    timed = [
        event for event in events
        if event[E_ELAPSED] is not None and event[E_CORRECTED] is not None and event[E_TIME_SOURCE] != "offset"
    ]
    # All of them read as one boot re-read at least the facts each boot would: none is nearly every visit's answer.
    if not any(without_slow_sends([(event[E_CORRECTED], event[E_ELAPSED]) for event in timed])):
        return {}
    boots: dict[tuple[str, int | None], list[Row]] = defaultdict(list)
    for event in timed:
        boots[(phone_of(event[E_TECHNICIAN], event[E_DEVICE_ID]), event[E_DEVICE_BOOT])].append(event)
    reread = {}
    for facts in boots.values():
        for event, at in zip(facts, without_slow_sends([(fact[E_CORRECTED], fact[E_ELAPSED]) for fact in facts])):
            if at is not None:
                reread[event[E_EVENT_ID]] = at
    return reread


def _fix_dated_after(checkin: Row) -> bool:
    """A check-in whose location fix is dated later than its own corrected time by more than a boot's estimate can be
    off: the fix was timed by another clock than the phone's, which was behind."""
    fix, at = checkin[E_FIX_TIME], checkin[E_CORRECTED]
    return fix is not None and at is not None and fix - at > _REREAD_BEYOND


def _photo_event(event: Row, redated: dict[str, datetime]) -> Row:
    """The fact that recorded a photo, at its time re-read across a restart if it was (its EXIF follows it)."""
    at = redated.get(event[R_EVENT_ID])
    return event if at is None else (*event[:R_TIME], at, *event[R_TIME + 1:])


_MADE_AFTER = timedelta(milliseconds=1)  # a re-test came after the completion, not with it


def _tests(
    tests: list[tuple[ServiceTestFacts, datetime, datetime]], completions: list[tuple[datetime, datetime, str]],
    first_completed: datetime | None,
) -> tuple[ServiceTestFacts, ...]:
    """The tests, each (test, received, when it counts if sent after the completion); those that reached the service
    after the visit was first completed (the facts of the completion's own sync batch share its receipt) marked with
    when they count: by the phone's monotonic clock in the boot it was sent in, else at the receipt; never before
    that completion, since a phone sends its facts in order (both clocks dated a re-test made at home into the
    visit; a probe)."""
    if first_completed is None:  # no completion yet
        return tuple(test for test, _, _ in tests)
    completed = min(received for _, received, _ in completions)
    return tuple(
        test if received <= completed
        else replace(
            test, after_completion_at=max(counts, first_completed + _MADE_AFTER),
            after_completion_by_receipt=counts == received,
        )
        for test, received, counts in tests
    )


def _retest_time(by_elapsed: datetime, device: datetime, offset_ms: int | None, received: datetime) -> datetime:
    """When a test sent after the first completion counts, given a monotonic time of the boot it was sent in: the
    later of its two clocks' readings (an honest phone's agree), never after its receipt. A monotonic time set back
    dated a re-test made at home into the visit while its wall clock said it was sent at once (a probe)."""
    by_wall = device + timedelta(milliseconds=offset_ms or 0)
    return min(max(by_elapsed, by_wall), received)


def _completions_counted(
    completions: list[tuple[datetime, datetime, str]], events: Iterable[Row]
) -> dict[str, datetime]:
    """When each completion counts, by event id: no earlier than a fact the phone sent before it (a monotonic time sent
    set back dated one before the real arrival, which then counted for nothing; a probe). The first of them is when
    the visit was first completed."""
    if not completions:
        return {}
    sent = [(event[E_RECEIVED], event[E_CORRECTED]) for event in events if event[E_CORRECTED] is not None]
    return {
        event_id: max([at, *(earlier_at for received_before, earlier_at in sent if received_before < received)])
        for at, received, event_id in completions
    }


def _distinct_boots(marks: list[tuple[datetime, int]]) -> tuple[datetime, ...]:
    """One instant per boot (corrected time minus elapsed): facts of one boot give it to within their send's transit
    time, a restart minutes apart."""
    if not marks:
        return ()
    # Nearly every visit has one boot: plain numbers settle that, without hashing and sorting aware datetimes.
    in_ms = [at.timestamp() * 1000 - elapsed for at, elapsed in marks]
    earliest = min(in_ms)
    if max(in_ms) - earliest <= _SAME_BOOT_MS:
        at, elapsed = marks[in_ms.index(earliest)]
        return (at - timedelta(milliseconds=elapsed),)
    distinct: list[datetime] = []
    for boot in sorted({at - timedelta(milliseconds=elapsed) for at, elapsed in marks}):
        if not distinct or boot - distinct[-1] > _SAME_BOOT:
            distinct.append(boot)
    return tuple(distinct)


def _clock_syncs(measured: list[tuple[datetime, float, str, str]]) -> tuple[ClockSyncFacts, ...]:
    """Distinct (measured at, offset) pairs in that order, each with the first fact (by id) that measured it."""
    measured.sort()
    syncs = []
    previous = None
    for at, offset, event_id, technician in measured:
        if (at, offset) != previous:
            syncs.append(ClockSyncFacts(at, offset, event_id, technician))
            previous = (at, offset)
    return tuple(syncs)


def _instant(text: str | None) -> datetime | None:
    return datetime.fromisoformat(text) if text else None


_NO_CORRECTION = timedelta(0)
_SAME_BOOT = timedelta(seconds=30)
# A fact is re-read by its boot's monotonic clock when that puts it this much later than its wall clock: beyond the
# few seconds by which a boot's time, estimated from a send's receipt, can be late (the standard's E-CLOCK limit).
_REREAD_BEYOND = timedelta(minutes=2)
_SAME_BOOT_MS = _SAME_BOOT.total_seconds() * 1000
# A phone set to the wrong time zone, its local time set by hand to read right: its UTC clock is off by whole
# quarters of an hour, while its camera writes the right local time (without an offset tag, read in the site's zone).
_ZONE_STEP = timedelta(minutes=15)
_ZONE_SLACK = timedelta(minutes=1)  # how near a quarter-hour step the correction is, and EXIF to the corrected time


def _photo(photo: Row, event: Row, first_sent: datetime) -> PhotoFacts:
    captured = photo[P_CAPTURED]
    # EXIF without sub-seconds (none written, or ".000") names its second only: the photo was taken within it.
    to_the_second = captured is not None and captured.microsecond == 0
    corrected, device = event[R_TIME], event[R_DEVICE]
    correction = _NO_CORRECTION
    if captured is not None and corrected is not None and device is not None:
        # The camera writes EXIF from the same phone clock as the fact's device time: the correction the fact got
        # (by the monotonic clock, or by the offset measured at sync) corrects it too, also when the phone's clock
        # was put right between the photo and an offline sync.
        correction = corrected - device
        if not _right_local_time_in_a_wrong_zone(captured, device, correction):
            captured += correction
        else:
            correction = _NO_CORRECTION
    return PhotoFacts(
        photo[P_ID], photo[P_PURPOSE], photo[P_SHA], photo[P_PHASH], first_sent, captured, photo[P_LAT],
        photo[P_LON], photo[P_SOFTWARE], to_the_second, correction, photo[P_FINE], event[R_RECEIVED],
        bool(photo[P_TAGGED]), photo[P_FIXED],
    )


def _right_local_time_in_a_wrong_zone(captured: datetime, device: datetime, correction: timedelta) -> bool:
    """EXIF that already tells the corrected time, where the correction is a time zone's worth (not the clock's
    own error, which EXIF written by that clock shares, and the correction puts right)."""
    steps = round(correction / _ZONE_STEP)
    return (
        steps != 0 and abs(correction - steps * _ZONE_STEP) <= _ZONE_SLACK
        and abs(captured - (device + correction)) <= _ZONE_SLACK < abs(captured - device)
    )


def _signature(
    signed: list[tuple[Row, Row]], first_sent: dict[str, datetime], copied: list[OtherVisitPhoto]
) -> SignatureFacts | None:
    """The latest signature (by the time of its fact, then photo id) of (photo, fact) pairs, signed when its image
    was first sent: the same bytes sent again later (to seem signed after the clean-up photo) are not a new one, nor
    is a copy of the visit's earlier signature's strokes (`copied`: the visit's own signatures ingest matched)."""
    if not signed:
        return None
    photo, event = max(signed, key=_signature_order)
    payload, result = _decode_json(event[R_PAYLOAD]), _decode_json(event[R_RESULT])
    copies = [first_sent[m.sha256] for m in copied if m.matched_photo_id == photo[P_ID] and m.sha256 in first_sent]
    return SignatureFacts(
        event_id=event[R_EVENT_ID],
        signer_name=payload["signerName"],
        ink_ratio=photo[P_INK] or 0.0,
        signed_at=min([first_sent[photo[P_SHA]], *copies]),
        summary_digest=payload["summaryDigest"],
        expected_digest=result["expectedDigest"],
        photo_id=photo[P_ID],
        sha256=photo[P_SHA],
        image=_photo(photo, event, first_sent[photo[P_SHA]]),
    )


def _signature_order(signed: tuple[Row, Row]) -> tuple[datetime, str]:
    return signed[1][R_TIME], signed[0][P_ID]


def _card(event_id: str, handed_at: datetime, result: str) -> CardFacts:
    card = _decode_json(result)["card"]
    return CardFacts(
        event_id=event_id,
        handed_at=handed_at,
        technician_name=card["technicianName"],
        staff_number=card["staffNumber"],
        contact_phone=card["technicianPhone"],
        hotline=card["hotline"],
        leaflet=card["leaflet"],
    )


def _completion(event_id: str, payload: str) -> CompletionFacts:
    payload = _decode_json(payload)
    terminal = payload.get("terminal") or {}
    return CompletionFacts(
        event_id=event_id,
        outcome=payload["outcome"],
        reason=payload.get("reason") or "",
        customer_equipment_fault=bool(terminal.get("customerEquipmentFault", False)),
        terminal_explanation=terminal.get("explanation") or "",
        terminal_help_given=terminal.get("helpGiven"),
        customer_absent=payload.get("customerAbsent") is True,
    )
