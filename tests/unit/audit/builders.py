"""Honest visits to start every audit test from, and small helpers to bend one detail at a time."""

from __future__ import annotations

import hashlib
from dataclasses import replace
from datetime import datetime, timedelta
from functools import cache
from zoneinfo import ZoneInfo

from geopy.distance import geodesic

from fieldsvc.audit import PolicyBook, Verdict, audit_visit, load_default_policies
from fieldsvc.audit.facts import (
    AskFacts, AuditContext, CardFacts, CheckinFacts, ClockSyncFacts, CompletionFacts, LeaveFacts, NeighbourFix,
    NoteFacts, OrderFacts, OtherVisitPhoto, PhotoFacts, RescheduleFacts, ServiceTestFacts, SignatureFacts, SiteFacts,
    StepFacts, VisitFacts,
)
from fieldsvc.audit.findings import STANDARD_RULE_IDS
from fieldsvc.audit.policy import Policy

SHANGHAI = ZoneInfo("Asia/Shanghai")
SITE_LAT, SITE_LON = 31.2304, 121.4737
VISIT_ID = "visit-1"
SUMMARY_DIGEST = "sha256:" + "ab" * 32


def at(hour: int, minute: int = 0, second: int = 0, day: int = 6) -> datetime:
    """A site-local wall time on 2024-05-<day>, as the aware UTC instant the engine expects."""
    return datetime(2024, 5, day, hour, minute, second, tzinfo=SHANGHAI).astimezone(ZoneInfo("UTC"))


AGREED = at(10, 0)
NOW = at(12, 0, day=9)


def moved(north_m: float, east_m: float, lat: float = SITE_LAT, lon: float = SITE_LON) -> tuple[float, float]:
    """The point north_m metres due north (or south) of (lat, lon), then east_m due east (or west), on WGS84."""
    there = geodesic(meters=abs(north_m)).destination((lat, lon), 0 if north_m >= 0 else 180)
    there = geodesic(meters=abs(east_m)).destination(there, 90 if east_m >= 0 else 270)
    return there.latitude, there.longitude


def checkin(kind: str, when: datetime, *, event_id: str | None = None, north_m: float = 20.0,
            accuracy_m: float = 12.0, clock_offset_s: float = 0.0, sent_after_s: float = 2.0,
            mock: bool = False, fix_age_s: float = 5.0) -> CheckinFacts:
    """A check-in at `when` (true time) from a phone whose clock is `clock_offset_s` off, offset measured, with a
    location fix `fix_age_s` old (by the phone's clock)."""
    latitude, longitude = moved(north_m, 0.0)
    device_time = when + timedelta(seconds=clock_offset_s)
    return CheckinFacts(
        event_id=event_id or f"{kind}-{when:%H%M%S}", kind=kind, latitude=latitude, longitude=longitude,
        accuracy_m=accuracy_m, device_time=device_time, received_at=when + timedelta(seconds=sent_after_s),
        corrected_time=when, mock=mock, fix_time=device_time - timedelta(seconds=fix_age_s),
    )


def perceptual_hash(seed: str) -> str:
    return hashlib.sha256(b"phash:" + seed.encode()).hexdigest()[:16]


def photo(purpose: str, when: datetime, *, photo_id: str | None = None, gps: bool = True,
          software: str | None = "Android 14", exif_time: bool = True) -> PhotoFacts:
    photo_id = photo_id or f"{purpose}-{when:%H%M%S}"
    latitude, longitude = moved(-15.0, 10.0) if gps else (None, None)
    return PhotoFacts(
        photo_id=photo_id, purpose=purpose, sha256=hashlib.sha256(photo_id.encode()).hexdigest(),
        perceptual_hash=perceptual_hash(photo_id), recorded_at=when, captured_at=when if exif_time else None,
        latitude=latitude, longitude=longitude, software=software,
    )


def order(kind: str = "install", tier: str = "gold", **changes: object) -> OrderFacts:
    accepted = at(9, 0, day=5)
    facts = OrderFacts(
        order_id="order-1", kind=kind, tier=tier, accepted_at=accepted, first_visit_id=VISIT_ID,
        first_contact_at=accepted + timedelta(minutes=25), resolved_at=at(11, 15),
    )
    return replace(facts, **changes)


def honest_urban_install() -> VisitFacts:
    """Everything by the book, with small real-world noise (clock a second off, GPS a few metres off)."""
    return VisitFacts(
        visit_id=VISIT_ID, agreed_time=AGREED, booked_at=at(10, 0, day=5), site=SiteFacts(SITE_LAT, SITE_LON),
        order=order(),
        checkins=(checkin("arrival", at(9, 57), clock_offset_s=0.8), checkin("checkout", at(11, 12))),
        clock_syncs=(ClockSyncFacts(at(9, 57, 5), 0.8), ClockSyncFacts(at(11, 12, 5), 0.9)),
        steps=(StepFacts("step-id", "V-ID", at(9, 58)), StepFacts("step-mat", "V-MAT", at(10, 6))),
        photos=(
            photo("shoe_covers", at(10, 1)),
            photo("before", at(10, 4), gps=False),
            photo("tool_mat", at(10, 6)),
            photo("test_result", at(10, 52), software="HDR+ 1.0.345"),
            photo("after", at(10, 58)),
            photo("site_clean", at(11, 2)),
        ),
        tests=(ServiceTestFacts("test-1", at(10, 50), True, download_mbps=512.0, upload_mbps=51.0, latency_ms=7.0),),
        signature=SignatureFacts("signature-1", "Li Wei", 0.043, at(11, 5), SUMMARY_DIGEST, SUMMARY_DIGEST),
        card=CardFacts("card-1", at(11, 6), "Zhang San", "T-1024", "+86 138 0000 0000", "10000", "2024 summer leaflet"),
        completion=CompletionFacts("completion-1", "resolved"),
    )


def honest_rural_repair() -> VisitFacts:
    """Legal but awkward: offline phone with a skewed clock, 9 min late, a trip for parts, no shoe-cover photo
    but a reason, a photo without EXIF time, the customer's own router at fault, a question followed up."""
    visit_id = "visit-rural"
    arrival = replace(
        checkin("arrival", at(14, 9), accuracy_m=35.0, clock_offset_s=-95.0),
        received_at=at(17, 40),  # synced hours later from the village; the sync measured the offset
    )
    return VisitFacts(
        visit_id=visit_id, agreed_time=at(14, 0), booked_at=at(10, 30), site=SiteFacts(SITE_LAT, SITE_LON),
        order=order(kind="repair", tier="standard", accepted_at=at(9, 40), first_contact_at=at(10, 5),
                    first_visit_id=visit_id, resolved_at=at(16, 0)),
        checkins=(
            arrival,
            replace(checkin("return", at(15, 5), accuracy_m=20.0, clock_offset_s=-95.0), received_at=at(17, 40)),
            replace(checkin("checkout", at(15, 50), accuracy_m=40.0, north_m=-60.0, clock_offset_s=-95.0),
                    received_at=at(17, 40)),
        ),
        clock_syncs=(ClockSyncFacts(at(17, 40), -95.0),),
        steps=(
            StepFacts("step-id", "V-ID", at(14, 10)),
            StepFacts("step-consent", "V-CONSENT", at(14, 12), note="enter the study to reach the router"),
            StepFacts("step-mat", "V-MAT", at(14, 14)),
        ),
        notes=(NoteFacts("note-shoes", "V-SHOES", "customer asked to keep shoes on: dirt-floor yard", at(14, 11)),),
        leaves=(LeaveFacts("leave-1", at(14, 40), will_return=True),),
        tests=(ServiceTestFacts("test-1", at(15, 30), True, download_mbps=98.0),),
        asks=(AskFacts("ask-1", at(15, 35), "Can I move my IPTV box?", "Wang Fang", "13900000000",
                       "Village 3, No. 12", followed_up_at=at(9, 0, day=7)),),
        photos=(
            photo("tool_mat", at(14, 14), gps=False),
            photo("before", at(14, 15), exif_time=False),
            photo("test_result", at(15, 31)),
            photo("site_clean", at(15, 40)),
        ),
        signature=SignatureFacts("signature-1", "Wang Fang", 0.012, at(15, 44), SUMMARY_DIGEST, SUMMARY_DIGEST),
        card=CardFacts("card-1", at(15, 46), "Zhao Liu", "T-2048", "+86 139 0000 0000", "10000", "2024 summer leaflet"),
        completion=CompletionFacts(
            "completion-1", "resolved", customer_equipment_fault=True,
            terminal_explanation="the customer's own router was faulty; showed how to reset it",
            terminal_help_given=True,
        ),
    )


def context(now: datetime = NOW, other_photos: tuple[OtherVisitPhoto, ...] = (),
            neighbour_fixes: tuple[NeighbourFix, ...] | None = None) -> AuditContext:
    """By default the technician came from a site 5 km away and went on to one 8 km away, both in good time."""
    if neighbour_fixes is None:
        before_lat, before_lon = moved(5000.0, 0.0)
        after_lat, after_lon = moved(0.0, 8000.0)
        neighbour_fixes = (
            NeighbourFix("prev-checkout", "visit-0", at(9, 20), before_lat, before_lon, 15.0),
            NeighbourFix("next-arrival", "visit-2", at(11, 50), after_lat, after_lon, 15.0),
        )
    unrelated = tuple(
        OtherVisitPhoto(f"visit-{n}", f"other-{n}", hashlib.sha256(f"other-{n}".encode()).hexdigest(),
                        perceptual_hash(f"other-{n}"))
        for n in range(3)
    )
    return AuditContext(now=now, other_photos=unrelated + other_photos, neighbour_fixes=neighbour_fixes)


def reschedule(visit: VisitFacts, new_time: datetime, *, initiator: str, recorded_at: datetime,
               reason_code: str = "customer_requested", confirmed: bool = True, note: str = "") -> VisitFacts:
    """The visit after a reschedule: the move is on the order, the agreed time (punctuality reference) moves."""
    move = RescheduleFacts(
        event_id=f"resched-{len(visit.order.reschedules) + 1}", visit_id=visit.visit_id, old_time=visit.agreed_time,
        new_time=new_time, initiator=initiator, reason_code=reason_code, customer_confirmed=confirmed,
        recorded_at=recorded_at, note=note,
    )
    moves = visit.order.reschedules + (move,)
    return replace(visit, agreed_time=new_time, order=replace(visit.order, reschedules=moves))


def replace_checkin(visit: VisitFacts, kind: str, new: CheckinFacts) -> VisitFacts:
    return replace(visit, checkins=tuple(c for c in visit.checkins if c.kind != kind) + (new,))


def replace_photos(visit: VisitFacts, purpose: str, *new: PhotoFacts) -> VisitFacts:
    return replace(visit, photos=tuple(p for p in visit.photos if p.purpose != purpose) + new)


def arriving_at(visit: VisitFacts, when: datetime) -> VisitFacts:
    return replace_checkin(visit, "arrival", checkin("arrival", when, event_id="arrival"))


@cache
def policies() -> PolicyBook:
    return load_default_policies()


def policy_for(visit: VisitFacts, locality: str | None = None) -> Policy:
    if locality is None:
        locality = "rural" if visit.visit_id == "visit-rural" else "urban"
    return policies().select(visit.order.kind, locality, visit.order.tier)


def audit(visit: VisitFacts, audit_context: AuditContext | None = None, policy: Policy | None = None) -> Verdict:
    """The verdict, each of its findings checked for what A-VERDICT asks: the measured value and the threshold."""
    verdict = audit_visit(visit, policy or policy_for(visit), audit_context or context())
    assert unexplained(verdict) == [], "findings without a measured value or a threshold"
    assert {f.rule_id for f in verdict.findings} <= set(STANDARD_RULE_IDS), "a finding names no rule of the standard"
    return verdict


def unexplained(verdict: Verdict) -> list[str]:
    return [f.code for f in verdict.findings if f.measured is None or f.threshold is None]


def codes(verdict: Verdict, severity: str | None = None) -> set[str]:
    return {f.code for f in verdict.findings if severity is None or f.severity == severity}


def finding(verdict: Verdict, code: str):  # noqa: ANN201 - the single finding with that code
    matches = [f for f in verdict.findings if f.code == code]
    assert len(matches) == 1, f"expected one {code}, got {[f.code for f in verdict.findings]}"
    return matches[0]


def flipped(perceptual: str, bits: int) -> str:
    """The hash with its lowest `bits` bits inverted: a near-duplicate `bits` apart."""
    return f"{int(perceptual, 16) ^ ((1 << bits) - 1):016x}"


def messy_visit() -> VisitFacts:
    """Many findings at once, for the property tests: every fact kind, repeated and in several states."""
    visit = honest_urban_install()
    visit = reschedule(visit, at(10, 30), initiator="customer", recorded_at=at(8, 0))
    visit = reschedule(visit, at(10, 40), initiator="company", recorded_at=at(10, 20), confirmed=False)
    return replace(
        visit,
        checkins=(
            checkin("arrival", at(10, 41), accuracy_m=400.0),
            checkin("arrival", at(10, 55), mock=True),
            checkin("return", at(11, 30), north_m=900.0),
            checkin("return", at(11, 40)),
            checkin("checkout", at(12, 10), accuracy_m=150.0),
        ),
        clock_syncs=(ClockSyncFacts(at(10, 41), -20.0), ClockSyncFacts(at(12, 10), 300.0)),
        leaves=(LeaveFacts("leave-1", at(11, 10), will_return=True), LeaveFacts("leave-2", at(12, 5), False)),
        steps=visit.steps + (
            StepFacts("step-consent", "V-CONSENT", at(11, 0)), StepFacts("late-id", "V-ID", at(13, 0)),
        ),
        asks=(AskFacts("ask-1", at(11, 0), "IPTV?", "", "139", "Road 1"),),
        photos=(
            photo("shoe_covers", at(11, 20)),
            photo("tool_mat", at(11, 0)),
            photo("site_clean", at(10, 58), software="Snapseed 2.0"),
            photo("site_clean", at(12, 0), exif_time=False),
            photo("before", at(9, 0, day=5)),
            replace(photo("after", at(12, 1)), latitude=SITE_LAT + 0.01),
        ),
        signature=replace(visit.signature, signed_at=at(11, 50), ink_ratio=0.0005),
    )


def messy_context() -> AuditContext:
    visit = messy_visit()
    clean = next(p for p in visit.photos if p.purpose == "site_clean")
    shoes = next(p for p in visit.photos if p.purpose == "shoe_covers")
    return context(other_photos=(
        OtherVisitPhoto("visit-7", "reused", clean.sha256, clean.perceptual_hash),
        OtherVisitPhoto("visit-8", "lookalike", "f" * 64, flipped(shoes.perceptual_hash, 3)),
    ))


def shifted(visit: VisitFacts, delta: timedelta) -> VisitFacts:
    """The same visit happening `delta` later: everything the phone recorded moves, the appointment does not."""
    return replace(
        visit,
        checkins=tuple(
            replace(c, device_time=c.device_time + delta, received_at=c.received_at + delta,
                    corrected_time=c.corrected_time + delta if c.corrected_time else None)
            for c in visit.checkins
        ),
        clock_syncs=tuple(replace(s, measured_at=s.measured_at + delta) for s in visit.clock_syncs),
        steps=tuple(replace(s, confirmed_at=s.confirmed_at + delta) for s in visit.steps),
        notes=tuple(replace(n, written_at=n.written_at + delta) for n in visit.notes),
        leaves=tuple(replace(leave, left_at=leave.left_at + delta) for leave in visit.leaves),
        tests=tuple(replace(t, tested_at=t.tested_at + delta) for t in visit.tests),
        photos=tuple(
            replace(p, recorded_at=p.recorded_at + delta, captured_at=p.captured_at + delta if p.captured_at else None)
            for p in visit.photos
        ),
        signature=replace(visit.signature, signed_at=visit.signature.signed_at + delta) if visit.signature else None,
    )
