"""What every rule shares, derived once per audit: trusted check-in times, arrival, departure, work start."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Literal

from fieldsvc.audit.facts import AuditContext, CheckinFacts, LeaveFacts, PhotoFacts, ServiceTestFacts, VisitFacts
from fieldsvc.audit.findings import Doubt, TimeSource, TrustedTime
from fieldsvc.audit.geometry import distance_m
from fieldsvc.audit.policy import Policy

_REST_OF_THE_SECOND = timedelta(microseconds=999_999)
_REST_OF_THE_MILLISECOND = timedelta(microseconds=999)

Presence = Literal["inside", "outside", "unverifiable", "stale"]


@dataclass(frozen=True, slots=True)
class Fix:
    """A check-in with the time the audit trusts for it and where it puts the technician (V-GEOFENCE)."""

    checkin: CheckinFacts
    at: datetime
    source: TimeSource
    distance_m: float
    presence: Presence
    doubt: Doubt = ""  # why the phone's monotonic time was not believed, when it was not


@dataclass(frozen=True, slots=True)
class Timeline:
    fixes: tuple[Fix, ...]  # ordered by (trusted time, event id)
    arrival: TrustedTime | None
    departure: datetime | None  # trusted time of the last checkout
    work_started_at: datetime | None  # tools laid out (V-MAT)


@dataclass(frozen=True, slots=True)
class AuditInput:
    """Everything a rule may read."""

    visit: VisitFacts
    policy: Policy
    context: AuditContext
    timeline: Timeline
    finished: bool  # completed by the technician or force-closed; missing items only count then

    @property
    def carries_order_rules(self) -> bool:
        """Order-level findings go on the order's first visit only, so an order is counted once, not per visit."""
        return self.visit.visit_id == self.visit.order.first_visit_id


def arrival_checkin(audit: AuditInput) -> CheckinFacts | None:
    """The check-in the trusted arrival rests on (None without one)."""
    arrival = audit.timeline.arrival
    if arrival is None:
        return None
    return next((fix.checkin for fix in audit.timeline.fixes if f"checkin:{fix.checkin.event_id}" == arrival.ref), None)


def checked_out_before(audit: AuditInput, at: datetime, by_receipt: bool = False) -> datetime | None:
    """When the technician had left by `at`: the first check-out before it since their last arrival or return
    check-in (a later check-out does not bring them back, nor move the time they left); None if still on site.
    `by_receipt`: `at` is when a fact reached the service, so the check-ins are read by when they reached it too."""

    def when(fix: Fix) -> datetime:
        return fix.checkin.received_at if by_receipt else fix.at

    left = None
    for fix in sorted(audit.timeline.fixes, key=when):
        # By receipt, a check-in the service got with the fact (one sync batch, one receipt) may have come before it.
        if when(fix) > at if by_receipt else when(fix) >= at:
            break
        if fix.checkin.kind != "checkout":
            left = None
        elif left is None:
            left = when(fix)
    return left


def later_trip_start(audit: AuditInput) -> Fix | None:
    """The check-in that began a trip to correct the visit after an auditor returned it: the first since then but a
    check-out, arrival or return, whatever the phone called it. None before."""
    return next(iter(checkins_on_later_trips(audit)), None)


def checkins_on_later_trips(audit: AuditInput) -> list[Fix]:
    """The check-ins but check-outs after both the visit's first completion and an auditor's first return of it. No
    trip before the return corrects anything: a completion dated back in a sync batch, or a trip dated before the
    return, made a short wait seem put right (probes)."""
    completed, returned = audit.visit.first_completed_at, audit.visit.first_returned_at
    if completed is None or returned is None:
        return []
    since = max(completed, returned)
    return [fix for fix in audit.timeline.fixes if fix.at > since and fix.checkin.kind != "checkout"]


def away_on_leave(
    audit: AuditInput, until: datetime, *, dated_before_arrival: bool = False
) -> list[tuple[datetime, datetime]]:
    """Each recorded leave made after the arrival (or any, with `dated_before_arrival`: where time away counts against
    the technician, a leave dated before the arrival hid one; a probe), from its time to the return check-in after it
    (a return ends even a leave "for good"), or to `until` without one."""
    arrival = audit.timeline.arrival
    returns = sorted(fix.at for fix in audit.timeline.fixes if fix.checkin.kind == "return")
    return [
        (leave.left_at, next((at for at in returns if at >= leave.left_at), until))
        for leave in audit.visit.leaves
        if arrival is not None and (dated_before_arrival or leave.left_at >= arrival.at)
    ]


def away_for_good(audit: AuditInput) -> list[tuple[LeaveFacts, datetime | None]]:
    """Each leave without return made after the arrival, with the return check-in that ended it (None: none did). A
    check-out at the site ends it too: the technician was back, or never left (a leave recorded early to have the
    work end there, with the test and the check-out at the site long after; a probe)."""
    arrival = audit.timeline.arrival
    leaves = [leave for leave in set(audit.visit.leaves) if not leave.will_return]
    if arrival is None or not leaves:
        return []
    returns = sorted(
        fix.at for fix in audit.timeline.fixes
        if fix.checkin.kind == "return" or (fix.checkin.kind == "checkout" and fix.presence == "inside")
    )
    return [
        (leave, next((at for at in returns if at >= leave.left_at), None))
        for leave in sorted(leaves, key=lambda leave: (leave.left_at, leave.event_id))
        if leave.left_at >= arrival.at
    ]


def test_time(test: ServiceTestFacts) -> datetime:
    """When a service test counts as done: one sent after the visit was first completed (an auditor returned it) was
    not done before that, whatever its wall clock claims (dated back into the visit, it replaced the test the
    customer had refused; a probe): it counts when its monotonic time says, else when it reached the service (a
    re-test on a second trip synced offline later is dated by the former; a probe)."""
    return test.tested_at if test.after_completion_at is None else test.after_completion_at


def to_the_second(span: timedelta) -> timedelta:
    """A span cut to whole seconds (towards zero), as clocks and people read it: a phone stamping 10:00.002 late
    arrived 10:00 late, and a photo 15:00.4 after arrival was taken 15 min after it."""
    return timedelta(seconds=int(span.total_seconds()))


def photo_time(photo: PhotoFacts) -> datetime:
    """When the photo says it was taken: its EXIF capture time, else when the app recorded it. Rules that need a
    photo taken before something read this: a fact dated before its own EXIF (backdated to hide a late shoe-cover
    photo) does not move the picture earlier. Nor later than its fact reached the service, by the server's clock: an
    EXIF time after that (a camera on Beijing time at an Urumqi site, its app sending UTC; a probe) cannot be."""
    if photo.captured_at is None:
        return photo.recorded_at
    return photo.captured_at if photo.received_at is None else min(photo.captured_at, photo.received_at)


def latest_photo_time(photo: PhotoFacts) -> datetime:
    """The latest the photo can have been taken, which rules that need it taken after something read: within the
    second (or, with sub-seconds, the millisecond) its EXIF names, so one taken 0.8 s into the second in which the
    work started is not "before the work"; and never after the fact that sent it, since EXIF is the phone's to
    write (a clean-up photo sent before the tools came out, dated after, was not taken after)."""
    if photo.captured_at is None:
        return photo.recorded_at
    rest = _REST_OF_THE_SECOND if photo.captured_to_the_second else _REST_OF_THE_MILLISECOND
    return min(photo.captured_at + rest, photo.recorded_at)


def trusted_checkin_time(
    checkin: CheckinFacts, visit: VisitFacts, policy: Policy
) -> tuple[datetime, TimeSource, Doubt]:
    """Best time for a check-in that a phone cannot move earlier than the truth without the audit noticing.

    1. The device time corrected by the clock offset measured at sync. An event cannot happen after the server
       received it, so a correction landing later than the receipt (beyond measurement noise) is wrong, e.g.
       the wall clock was moved between the event and the sync; it is not used.
    2. The server receipt, when the check-in arrived promptly after its device time (sent online). The server
       clock is out of the phone's reach and a receipt is never earlier than the event.
    3. The phone's own clock, unverified (E-CLOCK reports it), never later than the receipt.

    A phone that sent its monotonic clock with the visit's other facts but left it off this check-in kept back what
    would date it: the check-in counts when it reached the service (a phone dated a late arrival back so, online or
    in a sync; a probe).
    """
    at, source, doubt = _by_the_phone(checkin, visit, policy)
    # Not corrected by a monotonic time of the boot it was sent in (none sent, or one of an earlier boot), a check-in's
    # time rests on the phone's wall clock alone. A location fix dated well after it was timed by another clock than
    # the phone's (the satellites'): the phone's clock was behind, set back to date the check-in earlier (a probe), or
    # put right by the network after an offline check-in. A phone records a check-in no longer before its fix than a
    # fix takes (the clock-skew limit): no earlier than that is believed. A monotonic time that bears the wall clock
    # out dates the tap, however long the fix then took (a slow GPS read an honest arrival late; a probe).
    limit = policy.durations.clock_skew_limit
    fixed = checkin.fix_time
    if not checkin.by_monotonic and fixed is not None and fixed - checkin.device_time > limit:
        floor = min(fixed - limit, checkin.received_at)
        if floor > at:
            return floor, "location_fix", ""
    return at, source, doubt


def _by_the_phone(checkin: CheckinFacts, visit: VisitFacts, policy: Policy) -> tuple[datetime, TimeSource, Doubt]:
    received = checkin.received_at
    if checkin.device_elapsed_ms is None and _boots_of_its_phone(checkin, visit):
        return received, "server_receipt", "monotonic_left_off"
    corrected = _before_a_restart(checkin, visit, policy) or checkin.corrected_time
    if corrected is not None and corrected - received <= policy.durations.clock_skew_limit:
        # Only a monotonic time can disagree with the wall clock (without one, the correction is the wall clock's).
        by_wall = _by_its_wall_clock(checkin, visit) if checkin.device_elapsed_ms is not None else None
        if by_wall is not None and sent_at_once_yet_recorded_long_before(by_wall, corrected, received, policy):
            return min(by_wall, received), "server_receipt", "monotonic_disputed"
        return min(corrected, received), "device_corrected", ""
    if abs((received - checkin.device_time).total_seconds()) <= policy.prompt_receipt_s:
        return received, "server_receipt", ""
    return min(checkin.device_time, received), "device_clock", ""


def _before_a_restart(checkin: CheckinFacts, visit: VisitFacts, policy: Policy) -> datetime | None:
    """A check-in recorded before the phone restarted and synced after: the service corrected it by the monotonic
    clock of the new boot, which starts from zero, so it reads too late. An earlier boot of the phone by which its
    elapsed time gives what its wall clock says (corrected by its own sync's offset) is the boot it came from; that
    time is returned. None otherwise: one boot throughout leaves nothing to re-read, and a wall clock that was moved
    (the phone restarted or not) is not taken alone against the monotonic clock."""
    boots = _boots_of_its_phone(checkin, visit)
    if checkin.device_elapsed_ms is None or checkin.corrected_time is None or len(boots) < 2:
        return None
    by_wall = _by_its_wall_clock(checkin, visit)
    if by_wall is None:
        return None
    as_corrected_boot = checkin.corrected_time - timedelta(milliseconds=checkin.device_elapsed_ms)
    limit = policy.durations.clock_skew_limit
    earlier = [boot for boot in boots if as_corrected_boot - boot > limit]
    return by_an_earlier_boot(checkin.device_elapsed_ms, by_wall, earlier, policy)


def by_an_earlier_boot(elapsed_ms: int, by_wall: datetime, boots: list[datetime], policy: Policy) -> datetime | None:
    """A fact's time by the boot its monotonic time belongs to: the first of the phone's boots from which its elapsed
    time lands where its wall clock (corrected by its sync's offset) says, within the clock-skew limit; the two clocks
    then bear each other out. None if no boot does."""
    elapsed, limit = timedelta(milliseconds=elapsed_ms), policy.durations.clock_skew_limit
    return next((boot + elapsed for boot in boots if abs(boot + elapsed - by_wall) <= limit), None)


def _boots_of_its_phone(checkin: CheckinFacts, visit: VisitFacts) -> list[datetime]:
    """The boots of the phone that sent the check-in: another technician's, on a visit handed over, say nothing of
    it (a probe: the new technician's phone sends no monotonic time, the first one's did)."""
    return [boot.at for boot in visit.boots if boot.phone_id == checkin.phone_id]


def _by_its_wall_clock(checkin: CheckinFacts, visit: VisitFacts) -> datetime | None:
    """The check-in's device time corrected by the offset measured when it was sent; None if that was not kept."""
    own = next((sync for sync in visit.clock_syncs if sync.measured_at == checkin.received_at), None)
    return None if own is None else checkin.device_time - timedelta(seconds=own.offset_s)


def sent_at_once_yet_recorded_long_before(
    by_wall: datetime, by_elapsed: datetime, received: datetime, policy: Policy
) -> bool:
    """The phone's wall clock says the fact was sent the moment it was recorded, which the server's receipt bears
    out; its monotonic clock says it was recorded long before. Both cannot be right, and the monotonic time is only
    the phone's word (a scripted phone set it 17 min back to hide a late arrival; a probe). An honest phone gets here
    only if its clock ran fast by just as long as it held the check-in and was put right before sending it."""
    return (
        abs(received - by_wall).total_seconds() <= policy.prompt_receipt_s
        and by_wall - by_elapsed > policy.durations.clock_skew_limit
    )


def _presence(checkin: CheckinFacts, distance: float, at: datetime, policy: Policy) -> Presence:
    if checkin.accuracy_m > policy.accuracy_limit_m:
        return "unverifiable"
    if fix_age(checkin, at) > policy.durations.fix_max_age:
        return "stale"
    return "inside" if distance - checkin.accuracy_m <= policy.geofence_radius_m else "outside"


def fix_age(checkin: CheckinFacts, at: datetime) -> timedelta:
    """How old the location fix was at the check-in: the smaller of its age by the phone's clock and by the trusted
    time, since a fix may carry satellite time or the phone's own, and a skewed clock must not age it."""
    if checkin.fix_time is None:
        return timedelta(0)
    return min(checkin.device_time - checkin.fix_time, at - checkin.fix_time)


def _fix(checkin: CheckinFacts, visit: VisitFacts, policy: Policy) -> Fix:
    at, source, doubt = trusted_checkin_time(checkin, visit, policy)
    distance = distance_m(visit.site.latitude, visit.site.longitude, checkin.latitude, checkin.longitude)
    return Fix(checkin, at, source, distance, _presence(checkin, distance, at, policy), doubt)


def _trusted_arrival(fix: Fix, policy: Policy, time_zone: str) -> TrustedTime:
    checkin = fix.checkin
    return TrustedTime(
        at=fix.at, source=fix.source, ref=f"checkin:{checkin.event_id}", time_zone=time_zone,
        device_time=checkin.device_time, received_at=checkin.received_at,
        correction_rejected=fix.source != "device_corrected" and checkin.corrected_time is not None,
        prompt_receipt_s=policy.prompt_receipt_s,
        doubt=fix.doubt,
    )


def _first_photo_arrival(visit: VisitFacts) -> TrustedTime | None:
    if not visit.photos:
        return None
    first = min(visit.photos, key=lambda photo: (photo_time(photo), photo.photo_id))
    return TrustedTime(photo_time(first), "first_photo", f"photo:{first.photo_id}", visit.site.time_zone)


def held_back(arrival: Fix, arrivals: list[Fix] | tuple[Fix, ...]) -> bool:
    """Another arrival reached the service before this one though dated after it (by the trusted times)."""
    return any(
        other.checkin.received_at < arrival.checkin.received_at and other.at > arrival.at for other in arrivals
    )


def _first_try(proven: Fix, arrivals: list[Fix], checkouts: list[datetime], policy: Policy) -> Fix:
    """The arrival that proves presence, or a coarse one just before it: near enough that a fix proving presence
    could have been there (radius + accuracy limit), not mock, within the age a fix may have, and no check-out in
    between. That is the same arrival tapped again for a better fix (130 m accuracy at 10:09:30, 25 m at 10:11; a
    probe), as a return tried again is for V-LEAVE; counted from the better tap, it was late."""
    for fix in arrivals:
        if fix is proven:
            break
        if (
            fix.presence == "unverifiable" and not fix.checkin.mock and fix.distance_m <= policy.reach_m
            and proven.at - fix.at <= policy.durations.fix_max_age
            and not any(fix.at < checkout <= proven.at for checkout in checkouts)
        ):
            return fix
    return proven


def build_timeline(visit: VisitFacts, policy: Policy) -> Timeline:
    fixes = tuple(sorted(
        (_fix(checkin, visit, policy) for checkin in visit.checkins),
        key=lambda fix: (fix.at, fix.checkin.event_id, fix.checkin.kind),
    ))
    checkouts = [fix.at for fix in fixes if fix.checkin.kind == "checkout"]
    # An arrival after the visit was first completed is no arrival at the visit: a check-in sent again to correct it
    # (an auditor returned it) proves presence but does not move the time the technician came. Before that, a
    # check-out does not end the arrivals: a coarse check-in on time, a check-out, and the real one later is late.
    completed = visit.first_completed_at
    arrivals = [
        fix for fix in fixes if fix.checkin.kind == "arrival" and (completed is None or fix.at < completed)
    ] or [fix for fix in fixes if fix.checkin.kind == "arrival"]
    # An arrival the phone sent after it had sent one dated later was held back while the phone was online: it proves
    # presence but does not make the technician come earlier (dated back within the clock-skew allowance, it would;
    # a probe). V-PUNCT reports one dated back beyond the allowance.
    arrivals = [fix for fix in arrivals if not held_back(fix, arrivals)]
    # The first arrival that proves presence counts: checking in on time from afar (or from a mock location)
    # and walking in later must not make a late technician punctual.
    proven = next((fix for fix in arrivals if fix.presence == "inside" and not fix.checkin.mock), None)
    arrival_fix = (
        _first_try(proven, arrivals, checkouts, policy) if proven is not None else arrivals[0] if arrivals else None
    )
    arrival = (
        _trusted_arrival(arrival_fix, policy, visit.site.time_zone) if arrival_fix is not None
        else _first_photo_arrival(visit)
    )
    work_starts = [step.confirmed_at for step in visit.steps if step.step == "V-MAT"]
    work_starts += [photo_time(photo) for photo in visit.photos if photo.purpose == "tool_mat"]
    return Timeline(
        fixes=fixes,
        arrival=arrival,
        departure=max(checkouts) if checkouts else None,
        work_started_at=min(work_starts) if work_starts else None,
    )
