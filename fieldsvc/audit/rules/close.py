"""V-CLOSE: a forced close is always flagged (once, on the order's first visit); "unresolved" needs a reason; a
customer absent needs a wait at the site and nothing showing the customer was there."""

from __future__ import annotations

from datetime import datetime, timedelta

from fieldsvc.audit.facts import CompletionFacts
from fieldsvc.audit.findings import INFO, VIOLATION, Finding
from fieldsvc.audit.timeline import AuditInput, Fix, away_on_leave, checkins_on_later_trips, fix_age
from fieldsvc.audit.wording import minutes


def v_close(audit: AuditInput) -> list[Finding]:
    visit = audit.visit
    findings = []
    forced_reason = visit.order.forced_close_reason
    if forced_reason is not None and audit.carries_order_rules:
        findings.append(Finding(
            rule_id="V-CLOSE", code="v.close.forced", severity=VIOLATION,
            message_en=f"the work order was force-closed by a dispatcher: {forced_reason}",
            message_zh=f"工单被调度员强制关闭：{forced_reason}",
            measured=forced_reason, threshold="closed by the visit's completion",
            refs=(f"order:{visit.order.order_id}",),
        ))
    completion = visit.completion
    if completion is not None and completion.outcome == "unresolved" and not completion.reason.strip():
        findings.append(Finding(
            rule_id="V-CLOSE", code="v.close.no_reason", severity=VIOLATION,
            message_en="completed as unresolved without a reason", message_zh="以未解决结单但未说明原因",
            measured="no reason", threshold="a reason", refs=(f"completion:{completion.event_id}",),
        ))
    if completion is not None and completion.customer_absent:
        findings += _customer_absent(audit, completion)
    return findings


def _customer_absent(audit: AuditInput, completion: CompletionFacts) -> list[Finding]:
    """The wait runs from the trusted arrival, or the agreed time if that came later (the customer was not due before
    it), to the first check-out after it; without either, V-CLOSE lists it as missing. A visit returned for a wait
    too short is put right by going back: the longest wait of any trip counts (a probe: the first trip's stood)."""
    wait = audit.policy.durations.customer_absent_wait
    waits = _waits(audit)
    if wait is None or not waits:
        return []
    waited, trip_ref = max(waits, key=lambda trip: trip[0])
    refs = (f"completion:{completion.event_id}", trip_ref)
    findings = []
    if waited < wait:
        findings.append(Finding(
            rule_id="V-CLOSE", code="v.close.absent_wait_short", severity=VIOLATION,
            message_en=f"completed as customer absent after waiting {minutes(waited)} min at the site",
            message_zh=f"以客户不在家结单，但在现场仅等待{minutes(waited)}分钟",
            measured=minutes(waited), threshold=minutes(wait), unit="min", refs=refs,
        ))
    else:
        findings.append(Finding(
            rule_id="V-CLOSE", code="v.close.customer_absent", severity=INFO,
            message_en=f"customer not at home: the technician waited {minutes(waited)} min at the site",
            message_zh=f"客户不在家：技术员在现场等待{minutes(waited)}分钟",
            measured=minutes(waited), threshold=minutes(wait), unit="min", refs=refs,
        ))
    present = _someone_at_home(audit)
    if present:
        findings.append(Finding(
            rule_id="V-CLOSE", code="v.close.absent_contradicted", severity=VIOLATION,
            message_en="completed as customer absent, yet someone answered the door (work ID shown, service card "
            "handed over), the customer signed, accepted a test, gave consent or asked a question, or the technician "
            "worked inside",
            message_zh="以客户不在家结单，但有人应门（出示工作证、递交服务卡），或客户曾签名、验收测试、表示同意或提出问题，"
            "或技术员曾入户施工",
            measured=len(present), threshold=0, unit="facts", refs=(f"completion:{completion.event_id}", *present),
        ))
    return findings


def _waits(audit: AuditInput) -> list[tuple[timedelta, str]]:
    """The wait of each trip, with the check-in that began it: the first from the trusted arrival (or the agreed time,
    if later), less time on any leave; a later one from each check-in at the door after an auditor returned the
    visit (one tapped en route, with a stale fix or by jitter, is skipped; a visit returned twice is gone back to
    twice; probes), less time on leaves of the later trips (one of the first trip ends with it). A trip without a
    check-out has none."""
    arrival = audit.timeline.arrival
    if arrival is None:
        return []
    trips = [(arrival.at, max(arrival.at, audit.visit.agreed_time), arrival.ref, None)]
    trips += [
        (fix.at, fix.at, f"checkin:{fix.checkin.event_id}", audit.visit.first_completed_at)
        for fix in checkins_on_later_trips(audit) if _at_the_door(fix, audit) and not fix.checkin.mock
    ]
    waits = (_wait(audit, arrived, began, ref, leaves_since) for arrived, began, ref, leaves_since in trips)
    return [wait for wait in waits if wait is not None]


def _at_the_door(fix: Fix, audit: AuditInput) -> bool:
    """Presence proven, or an indoor fix too coarse to prove it counted by its position, as on the first trip."""
    return fix.presence == "inside" or (fix.presence == "unverifiable" and _near_the_site(fix, audit))


def _wait(
    audit: AuditInput, arrived: datetime, began: datetime, ref: str, leaves_since: datetime | None
) -> tuple[timedelta, str] | None:
    left = _waited_until(audit, arrived)
    if left is None:
        return None
    return max(left - began - _away_on_leave(audit, began, left, leaves_since), timedelta(0)), ref


def _waited_until(audit: AuditInput, arrived: datetime) -> datetime | None:
    """When the phone last knew it was at the site before the first check-out after the arrival: that check-out's
    location fix, when at the site (or a re-tap within a fix's age of it: GPS jitter at the van), else the last
    check-in at the site before it. A check-out pressed later from the next job or from home, or sending a stale
    fix from the door, shows no wait after it (probes stretched a two-minute wait so). None without a check-out."""
    policy = audit.policy
    fixes = [fix for fix in audit.timeline.fixes if fix.at >= arrived]
    checkouts = [fix for fix in fixes if fix.checkin.kind == "checkout"]
    if not checkouts:
        return None
    first = checkouts[0]
    # A re-tap counts only after GPS jitter about the site, not after a check-out pressed from afar (a probe: 2 km),
    # however coarse it claims to be: a fix too coarse to prove anything is placed by its own position (probes).
    coarse = first.checkin.accuracy_m > policy.accuracy_limit_m
    off_by = first.distance_m - (0.0 if coarse else first.checkin.accuracy_m)
    jittered = off_by <= policy.reach_m
    retaps = (fix for fix in checkouts if jittered and fix.at - first.at <= policy.durations.fix_max_age)
    at_site = next((fix for fix in retaps if _near_the_site(fix, audit)), None)
    if at_site is not None:
        return _fix_taken(at_site)
    return max((fix.at for fix in fixes if fix.at <= first.at and fix.presence == "inside"), default=arrived)


def _fix_taken(fix: Fix) -> datetime:
    """When a check-out's location fix was taken, on the trusted clock: its age before the tap, and no later than the
    tap (a fix dated after the phone's own clock, set back or made up, stretched the wait; a probe), nor than its own
    time: the satellites' when it agrees with the corrected time (a phone running fast must not cut the wait), else
    the phone's clock's, with the check-out's correction; nor than the tap by the phone's corrected clock (a check-out
    held back and sent without its monotonic time counts at its receipt, which stretched the wait too, as did its fix
    then dated at the send; probes)."""
    checkin = fix.checkin
    before_the_tap = fix.at - max(fix_age(checkin, fix.at), timedelta(0))
    if checkin.fix_time is None or checkin.corrected_time is None:
        return before_the_tap
    correction = checkin.corrected_time - checkin.device_time
    on_the_phones_clock = abs(checkin.fix_time - checkin.device_time) <= abs(checkin.fix_time - checkin.corrected_time)
    fix_taken = checkin.fix_time + correction if on_the_phones_clock else checkin.fix_time
    return min(before_the_tap, fix_taken, checkin.corrected_time)


def _near_the_site(fix: Fix, audit: AuditInput) -> bool:
    """At the site or by it (the van): within the radius plus E-PLACE's slack by the accuracy circle; a coarse fix
    by its own position within the reach of one that proves presence (a check-out at the door with an indoor fix)."""
    policy = audit.policy
    if fix.presence == "stale":
        return False
    if fix.presence == "unverifiable":
        return fix.distance_m <= policy.reach_m
    return fix.distance_m - fix.checkin.accuracy_m <= policy.geofence_radius_m + policy.photo_place_slack_m


def _away_on_leave(audit: AuditInput, start: datetime, end: datetime, leaves_since: datetime | None) -> timedelta:
    """Time within [start, end] under a recorded leave (made after `leaves_since`, if given), to the return after it:
    waiting is done at the site."""
    spans = away_on_leave(audit, end, dated_before_arrival=True)
    return sum(
        (max(min(back, end) - max(left, start), timedelta(0))
         for left, back in spans if leaves_since is None or left > leaves_since),
        timedelta(0),
    )


# Evidence of someone at the door or of work inside the home.
_WORK_INSIDE_PHOTOS = frozenset({"shoe_covers", "tool_mat", "site_clean", "after"})
_STEPS_WITH_SOMEONE = frozenset({"V-ID", "V-SHOES", "V-MAT", "V-CONSENT"})


def _someone_at_home(audit: AuditInput) -> list[str]:
    """Facts only a customer at home makes (their signature, acceptance, consent, question, an explanation of their
    own equipment's fault), a work ID shown at the door, a service card handed over, and work inside (shoe covers on
    or a reason not to, tools on the mat, an after photo, a site cleaned). A photo of the door ("before") or a line
    test from outside proves nothing (probes)."""
    visit = audit.visit
    seen = [f"signature:{visit.signature.event_id}"] if visit.signature is not None else []
    seen += [f"card:{visit.card.event_id}"] if visit.card is not None else []
    seen += [f"test:{test.event_id}" for test in visit.tests if test.customer_accepted]
    seen += [f"step:{step.event_id}" for step in visit.steps if step.step in _STEPS_WITH_SOMEONE]
    seen += [f"note:{note.event_id}" for note in visit.notes if note.rule_id == "V-SHOES"]
    seen += [f"ask:{ask.event_id}" for ask in visit.asks]
    seen += [f"photo:{photo.photo_id}" for photo in visit.photos if photo.purpose in _WORK_INSIDE_PHOTOS]
    completion = visit.completion
    if completion is not None and (
        completion.customer_equipment_fault or completion.terminal_explanation.strip() or completion.terminal_help_given
    ):
        seen.append(f"completion:{completion.event_id}")  # V-TERMINAL: an explanation, or help, given to the customer
    return seen
