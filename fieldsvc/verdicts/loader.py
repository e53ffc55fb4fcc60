"""Building the audit engine's facts (VisitFacts, AuditContext) from stored rows, for one visit or a batch."""

from __future__ import annotations

from collections import defaultdict
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any, Iterable
from uuid import UUID

from fieldsvc.audit.facts import (
    AskFacts,
    AuditContext,
    CardFacts,
    CheckinFacts,
    ClockSyncFacts,
    CompletionFacts,
    LeaveFacts,
    NeighbourFix,
    NoteFacts,
    OrderFacts,
    OtherVisitPhoto,
    PhotoFacts,
    RescheduleFacts,
    ServiceTestFacts,
    SignatureFacts,
    SiteFacts,
    StepFacts,
    VisitFacts,
)
from fieldsvc.tables import FollowUp, Photo, PhotoMatch, Reschedule, Visit, VisitEvent

CHECKIN_KINDS = ("arrival", "return", "checkout")
NEIGHBOUR_WINDOW = timedelta(hours=12)  # E-MOCK compares a fix with the technician's fixes this close in time
Row = dict[str, Any]


@dataclass(frozen=True)
class LoadedVisit:
    """A visit's facts, the keys that choose its policy, and the context the audit needs."""

    facts: VisitFacts
    kind: str
    locality: str
    tier: str
    context: AuditContext


async def load_visits(visit_ids: list[UUID], now: datetime) -> list[LoadedVisit]:
    """Everything the audit reads about these visits, in a fixed number of queries whatever the batch size."""
    if not visit_ids:
        return []
    visits = await Visit.select(
        Visit.all_columns(),
        Visit.work_order.kind.as_alias("kind"),
        Visit.work_order.accepted_at.as_alias("accepted_at"),
        Visit.work_order.first_contact_at.as_alias("first_contact_at"),
        Visit.work_order.outcome.as_alias("order_outcome"),
        Visit.work_order.closed_at.as_alias("order_closed_at"),
        Visit.work_order.forced_close_reason.as_alias("forced_close_reason"),
        Visit.work_order.customer.tier.as_alias("tier"),
        Visit.work_order.site.latitude.as_alias("site_latitude"),
        Visit.work_order.site.longitude.as_alias("site_longitude"),
        Visit.work_order.site.locality.as_alias("locality"),
        Visit.work_order.site.time_zone.as_alias("time_zone"),
    ).where(Visit.id.is_in(visit_ids))
    order_ids = list({v["work_order"] for v in visits})
    order_visits = await Visit.select(Visit.id, Visit.work_order, Visit.booked_at).where(Visit.work_order.is_in(order_ids))
    reschedules = await Reschedule.select(Reschedule.all_columns(), Reschedule.visit.work_order.as_alias("work_order")).where(
        Reschedule.visit.work_order.is_in(order_ids)
    )
    events = await VisitEvent.select().where(VisitEvent.visit.is_in(visit_ids))
    photos = await Photo.select().where(Photo.visit.is_in(visit_ids) & (Photo.status == "accepted"))
    follow_ups = await FollowUp.select().where(FollowUp.visit.is_in(visit_ids))
    other_photos = await _matched_photos(visit_ids)
    neighbours = await _neighbour_fixes(visits, events)

    first_visit = _first_visit_per_order(order_visits)
    by_order = _group(reschedules, "work_order")
    events_by_visit, photos_by_visit = _group(events, "visit"), _group(photos, "visit")
    asks_by_event = {row["event"]: row for row in follow_ups}
    return [
        LoadedVisit(
            facts=_visit_facts(
                visit,
                first_visit[visit["work_order"]],
                by_order.get(visit["work_order"], []),
                events_by_visit.get(visit["id"], []),
                photos_by_visit.get(visit["id"], []),
                asks_by_event,
            ),
            kind=visit["kind"],
            locality=visit["locality"],
            tier=visit["tier"],
            context=AuditContext(
                now=now,
                other_photos=tuple(other_photos.get(visit["id"], ())),
                neighbour_fixes=tuple(neighbours.get(visit["id"], ())),
            ),
        )
        for visit in sorted(visits, key=lambda v: str(v["id"]))
    ]


def _group(rows: Iterable[Row], key: str) -> dict[Any, list[Row]]:
    grouped: dict[Any, list[Row]] = defaultdict(list)
    for row in rows:
        grouped[row[key]].append(row)
    return grouped


def _first_visit_per_order(rows: list[Row]) -> dict[UUID, str]:
    first: dict[UUID, Row] = {}
    for row in rows:
        current = first.get(row["work_order"])
        if current is None or (row["booked_at"], str(row["id"])) < (current["booked_at"], str(current["id"])):
            first[row["work_order"]] = row
    return {order: str(row["id"]) for order, row in first.items()}


async def _matched_photos(visit_ids: list[UUID]) -> dict[UUID, list[OtherVisitPhoto]]:
    """E-REUSE candidates recorded at ingest (identical or perceptually close photos on other visits)."""
    matches = await PhotoMatch.select(PhotoMatch.visit, PhotoMatch.other_photo).where(PhotoMatch.visit.is_in(visit_ids))
    if not matches:
        return {}
    others = {
        row["id"]: row
        for row in await Photo.select(Photo.id, Photo.visit, Photo.sha256, Photo.perceptual_hash).where(
            Photo.id.is_in(list({m["other_photo"] for m in matches})) & (Photo.status == "accepted")
        )
    }
    found: dict[UUID, set[OtherVisitPhoto]] = defaultdict(set)
    for match in matches:
        other = others.get(match["other_photo"])
        if other is not None:
            found[match["visit"]].add(
                OtherVisitPhoto(str(other["visit"]), str(other["id"]), other["sha256"], other["perceptual_hash"])
            )
    return {visit: sorted(photos, key=lambda p: p.photo_id) for visit, photos in found.items()}


async def _neighbour_fixes(visits: list[Row], events: list[Row]) -> dict[UUID, list[NeighbourFix]]:
    """E-MOCK: each visit's technician's located facts on other visits close in time to this visit's own."""
    spans: dict[UUID, tuple[UUID, datetime, datetime]] = {}
    for event in events:
        if event["latitude"] is None:
            continue
        technician, start, end = spans.get(event["visit"], (event["technician"], event["corrected_time"], event["corrected_time"]))
        spans[event["visit"]] = (technician, min(start, event["corrected_time"]), max(end, event["corrected_time"]))
    if not spans:
        return {}
    earliest = min(start for _, start, _ in spans.values()) - NEIGHBOUR_WINDOW
    latest = max(end for _, _, end in spans.values()) + NEIGHBOUR_WINDOW
    nearby = await VisitEvent.select(
        VisitEvent.event_id, VisitEvent.visit, VisitEvent.technician, VisitEvent.corrected_time,
        VisitEvent.latitude, VisitEvent.longitude, VisitEvent.accuracy_m,
    ).where(
        VisitEvent.technician.is_in(list({technician for technician, _, _ in spans.values()}))
        & VisitEvent.latitude.is_not_null()
        & (VisitEvent.corrected_time >= earliest)
        & (VisitEvent.corrected_time <= latest)
    )
    found: dict[UUID, list[NeighbourFix]] = {}
    for visit_id, (technician, start, end) in spans.items():
        found[visit_id] = sorted(
            (
                NeighbourFix(
                    str(row["event_id"]), str(row["visit"]), row["corrected_time"],
                    row["latitude"], row["longitude"], row["accuracy_m"] or 0.0,
                )
                for row in nearby
                if row["technician"] == technician
                and row["visit"] != visit_id
                and start - NEIGHBOUR_WINDOW <= row["corrected_time"] <= end + NEIGHBOUR_WINDOW
            ),
            key=lambda fix: (fix.at, fix.event_id),
        )
    return found


def _visit_facts(
    visit: Row, first_visit_id: str, reschedules: list[Row], events: list[Row], photos: list[Row], asks: dict[UUID, Row]
) -> VisitFacts:
    by_kind = _group(sorted(events, key=lambda e: (e["corrected_time"], str(e["event_id"]))), "kind")
    photo_events = {e["id"]: e for e in events}
    signature_rows = [p for p in photos if p["purpose"] == "signature"]
    return VisitFacts(
        visit_id=str(visit["id"]),
        agreed_time=visit["agreed_time"],
        booked_at=visit["booked_at"],
        site=SiteFacts(visit["site_latitude"], visit["site_longitude"], visit["time_zone"]),
        order=OrderFacts(
            order_id=str(visit["work_order"]),
            kind=visit["kind"],
            tier=visit["tier"],
            accepted_at=visit["accepted_at"],
            first_visit_id=first_visit_id,
            first_contact_at=visit["first_contact_at"],
            resolved_at=visit["order_closed_at"] if visit["order_outcome"] == "resolved" else None,
            forced_close_reason=visit["forced_close_reason"],
            reschedules=tuple(_reschedule(r) for r in sorted(reschedules, key=lambda r: (r["recorded_at"], str(r["id"])))),
        ),
        install_late_reason=visit["late_reason"],
        customer_notified_at=visit["customer_notified_at"],
        checkins=tuple(_checkin(e) for e in events if e["kind"] in CHECKIN_KINDS),
        clock_syncs=tuple(sorted({_clock_sync(e) for e in events if e["clock_offset_ms"] is not None}, key=_sync_key)),
        steps=tuple(
            StepFacts(str(e["event_id"]), e["payload"]["step"], e["corrected_time"], e["payload"].get("note") or "")
            for e in by_kind.get("step", [])
        ),
        notes=tuple(
            NoteFacts(
                str(e["event_id"]),
                "V-SHOES" if e["payload"]["topic"] == "shoe_covers_reason" else "general",
                e["payload"]["text"],
                e["corrected_time"],
            )
            for e in by_kind.get("note", [])
        ),
        leaves=tuple(
            LeaveFacts(str(e["event_id"]), e["corrected_time"], e["payload"]["willReturn"], _instant(e["payload"].get("restoreBy")))
            for e in by_kind.get("leave", [])
        ),
        tests=tuple(
            ServiceTestFacts(
                str(e["event_id"]), e["corrected_time"], e["payload"]["customerAccepted"],
                e["payload"].get("downloadMbps"), e["payload"].get("uploadMbps"), e["payload"].get("latencyMs"),
            )
            for e in by_kind.get("test_result", [])
        ),
        asks=tuple(_ask(e, asks[e["id"]]) for e in by_kind.get("question", []) if e["id"] in asks),
        photos=tuple(
            _photo(p, photo_events[p["event"]]) for p in sorted(photos, key=lambda p: str(p["id"])) if p["purpose"] != "signature"
        ),
        signature=_signature(signature_rows, photo_events),
        card=_card(by_kind.get("service_card", [])),
        completion=_completion(by_kind.get("completion", [])),
    )


def _instant(text: str | None) -> datetime | None:
    return datetime.fromisoformat(text) if text else None


def _reschedule(row: Row) -> RescheduleFacts:
    return RescheduleFacts(
        event_id=str(row["id"]),
        visit_id=str(row["visit"]),
        old_time=row["old_time"],
        new_time=row["new_time"],
        initiator=row["initiator"],
        reason_code=row["reason_code"],
        customer_confirmed=row["customer_confirmed"],
        recorded_at=row["recorded_at"],
        note=row["note"],
    )


def _checkin(event: Row) -> CheckinFacts:
    return CheckinFacts(
        event_id=str(event["event_id"]),
        kind=event["kind"],
        latitude=event["latitude"],
        longitude=event["longitude"],
        accuracy_m=event["accuracy_m"],
        device_time=event["device_time"],
        received_at=event["server_received_at"],
        corrected_time=event["corrected_time"],
        mock=bool(event["mock"]),
    )


def _clock_sync(event: Row) -> ClockSyncFacts:
    # Stored as server minus device (what to add to a device time); the engine reads device minus server.
    return ClockSyncFacts(measured_at=event["server_received_at"], offset_s=-event["clock_offset_ms"] / 1000)


def _sync_key(sync: ClockSyncFacts) -> tuple[datetime, float]:
    return sync.measured_at, sync.offset_s


def _ask(event: Row, follow_up: Row) -> AskFacts:
    return AskFacts(
        event_id=str(event["event_id"]),
        asked_at=follow_up["asked_at"],
        question=follow_up["question"],
        customer_name=follow_up["customer_name"],
        customer_phone=follow_up["customer_phone"],
        customer_address=follow_up["address"],
        followed_up_at=follow_up["resolved_at"],
    )


def _photo(photo: Row, event: Row) -> PhotoFacts:
    captured = photo["captured_at_utc"]
    if captured is not None and event["clock_offset_ms"] is not None:
        # The camera writes EXIF from the same phone clock, so the offset measured at sync corrects it too.
        captured += timedelta(milliseconds=event["clock_offset_ms"])
    return PhotoFacts(
        photo_id=str(photo["id"]),
        purpose=photo["purpose"],
        sha256=photo["sha256"],
        perceptual_hash=photo["perceptual_hash"],
        recorded_at=event["corrected_time"],
        captured_at=captured,
        latitude=photo["gps_latitude"],
        longitude=photo["gps_longitude"],
        software=photo["software"],
    )


def _signature(rows: list[Row], events: dict[UUID, Row]) -> SignatureFacts | None:
    if not rows:
        return None
    latest = max(rows, key=lambda p: (events[p["event"]]["corrected_time"], str(p["id"])))
    event = events[latest["event"]]
    return SignatureFacts(
        event_id=str(event["event_id"]),
        signer_name=event["payload"]["signerName"],
        ink_ratio=latest["ink_coverage"] or 0.0,
        signed_at=event["corrected_time"],
        summary_digest=event["payload"]["summaryDigest"],
        expected_digest=event["result"]["expectedDigest"],
    )


def _card(events: list[Row]) -> CardFacts | None:
    if not events:
        return None
    event = events[0]
    card = event["result"]["card"]
    return CardFacts(
        event_id=str(event["event_id"]),
        technician_name=card["technicianName"],
        staff_number=card["staffNumber"],
        contact_phone=card["contactPhone"],
        hotline=card["hotline"],
        leaflet=card["leaflet"],
    )


def _completion(events: list[Row]) -> CompletionFacts | None:
    if not events:
        return None
    payload = events[-1]["payload"]
    terminal = payload.get("terminal") or {}
    return CompletionFacts(
        event_id=str(events[-1]["event_id"]),
        outcome=payload["outcome"],
        reason=payload.get("reason") or "",
        customer_equipment_fault=bool(terminal.get("customerEquipmentFault", False)),
        terminal_explanation=terminal.get("explanation") or "",
        terminal_help_given=terminal.get("helpGiven"),
    )
