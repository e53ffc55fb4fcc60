"""Pure booking rules of STANDARD section 1: quiet hours, deadlines, overlap with travel, reschedule compliance."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, time, timedelta
from zoneinfo import ZoneInfo

from fieldsvc.geo import travel_time

LATE_INSTALL_REASONS = ("customer_requested", "resource_unavailable")
# B-RESCHED: reasons on the company's side; a customer-initiated (SLA-moving) reschedule cannot give them.
COMPANY_REASONS = frozenset({"technician_unavailable", "parts_unavailable", "resource_unavailable"})


def in_quiet_hours(start: datetime, zone: ZoneInfo, quiet_start_hour: int, quiet_end_hour: int) -> bool:
    """B-QUIET: does a visit starting at `start` begin inside the site-local quiet window?"""
    local = start.astimezone(zone).time()
    begins, ends = time(quiet_start_hour), time(quiet_end_hour)
    if begins > ends:  # the window wraps midnight (20:00-08:00)
        return local >= begins or local < ends
    return begins <= local < ends


@dataclass(frozen=True)
class SlaHours:
    """Deadline lengths for one visit kind and customer tier, from the policy in force."""

    contact: float  # B-CONTACT
    first_response: float  # B-FIRST (repairs)
    install_schedule: float  # B-INSTALL-24
    repair: float  # B-REPAIR
    reschedule_notice: float  # B-RESCHED


@dataclass(frozen=True)
class Deadlines:
    contact_due_at: datetime
    first_response_due_at: datetime | None
    resolve_due_at: datetime | None


def order_deadlines(kind: str, accepted_at: datetime, hours: SlaHours) -> Deadlines:
    """B-CONTACT for every order; B-FIRST and B-REPAIR only for repairs, all from accepted-at."""
    repair = kind == "repair"
    return Deadlines(
        contact_due_at=accepted_at + timedelta(hours=hours.contact),
        first_response_due_at=accepted_at + timedelta(hours=hours.first_response) if repair else None,
        resolve_due_at=accepted_at + timedelta(hours=hours.repair) if repair else None,
    )


def install_too_late(booked_at: datetime, agreed_time: datetime, hours: SlaHours) -> bool:
    """B-INSTALL-24: an install must be scheduled within the limit after booking unless a reason allows later."""
    return agreed_time - booked_at > timedelta(hours=hours.install_schedule)


@dataclass(frozen=True)
class Slot:
    """A technician's booked visit as the overlap rule sees it."""

    visit_id: object
    start: datetime
    duration: timedelta
    latitude: float
    longitude: float


@dataclass(frozen=True)
class Conflict:
    """A booked slot too close to the candidate: the travel between their sites against the time the earlier one
    leaves before the later one starts (negative when they overlap outright)."""

    slot: Slot
    travel: timedelta
    gap: timedelta


def conflicting_slots(candidate: Slot, booked: list[Slot], speed_kmh: float) -> list[Conflict]:
    """B-ASSIGN: slots whose [start, start + duration + travel to the next site] overlaps the candidate's."""
    conflicts = []
    for other in booked:
        if other.visit_id == candidate.visit_id:
            continue
        first, second = (other, candidate) if other.start <= candidate.start else (candidate, other)
        travel = travel_time(first.latitude, first.longitude, second.latitude, second.longitude, speed_kmh)
        gap = second.start - (first.start + first.duration)
        if travel > gap:
            conflicts.append(Conflict(other, travel, gap))
    return conflicts


def reschedule_is_compliant(
    recorded_at: datetime, original_time: datetime, reason_code: str, customer_confirmed: bool, notice: timedelta
) -> bool:
    """B-RESCHED decision: recorded with enough notice, with a reason code, and confirmed by the customer."""
    return bool(reason_code) and customer_confirmed and recorded_at <= original_time - notice
