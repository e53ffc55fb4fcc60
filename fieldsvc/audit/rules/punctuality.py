"""V-PUNCT: arrival within the tolerance of the agreed time, judged on the trusted arrival time, which the phone's
own earlier messages must not contradict."""

from __future__ import annotations

from datetime import datetime, timedelta

from fieldsvc.audit.facts import CheckinFacts, OnMyWayFacts
from fieldsvc.audit.findings import VIOLATION, Finding
from fieldsvc.audit.timeline import AuditInput, arrival_checkin, to_the_second
from fieldsvc.audit.wording import local_time, minutes


def v_punct(audit: AuditInput) -> list[Finding]:
    arrival = audit.timeline.arrival
    if arrival is None:
        return []  # no arrival at all is V-CHECKIN's finding
    return _backdated(audit) + _before_booking(audit) + _against_agreed_time(audit)


def _before_booking(audit: AuditInput) -> list[Finding]:
    """No phone knew of the visit before it was booked: an arrival dated earlier was dated back (an offline phone
    can make one up to put old photos inside the visit's time window), whatever the early-arrival severity."""
    arrival, booked = audit.timeline.arrival, audit.visit.booked_at
    limit = audit.policy.durations.clock_skew_limit
    if booked - arrival.at <= limit:
        return []
    zone = audit.visit.site.time_zone
    return [Finding(
        rule_id="V-PUNCT", code="v.punct.before_booking", severity=VIOLATION,
        message_en=f"the arrival is dated {local_time(arrival.at, zone)}, {minutes(booked - arrival.at)} min before "
                   f"the visit was booked at {local_time(booked, zone)}",
        message_zh=f"到达时间记为 {local_time(arrival.at, zone)}，比本次上门的预约时间 {local_time(booked, zone)} "
                   f"还早 {minutes(booked - arrival.at)} 分钟",
        measured=minutes(arrival.at - booked), threshold=-minutes(limit), unit="min", refs=(arrival.ref,),
    )]


def _backdated(audit: AuditInput) -> list[Finding]:
    """An arrival dated before another arrival or an "on my way" that reached the service first: the phone said it
    arrived, or was still on the way, after the time the arrival claims, so the arrival was sent later and dated back
    (an app sends what it queued in order; a phone offline all along sends both together, in order)."""
    arrival, checkin = audit.timeline.arrival, arrival_checkin(audit)
    if checkin is None:
        return []
    # A phone clock put right between the two (the network's, while offline) moves a wall-clock correction by as much:
    # the spread of the offsets measured on the arrival's phone is allowed on top of the skew limit (not another
    # phone's, on a visit handed over: the first technician's clock put right once widened the second's; a probe).
    offsets = [sync.offset_s for sync in audit.visit.clock_syncs if sync.phone_id == checkin.phone_id]
    spread = timedelta(seconds=max(offsets) - min(offsets)) if offsets else timedelta(0)
    limit = audit.policy.durations.clock_skew_limit + spread
    arrivals = [fix for fix in audit.timeline.fixes if fix.checkin.kind == "arrival"]
    for dated in sorted(arrivals, key=lambda fix: fix.at):
        sent_first = max(
            (fix for fix in arrivals if _sent_before(fix.checkin, dated.checkin) and fix.at - dated.at > limit),
            key=lambda fix: fix.at, default=None,
        )
        if sent_first is not None:  # an arrival dated before one the phone had already sent
            return [_backdated_finding(
                audit, (dated.at, f"checkin:{dated.checkin.event_id}"),
                (sent_first.at, f"checkin:{sent_first.checkin.event_id}"),
                limit, ("the phone had already sent an arrival at {}", "手机此前已发送 {} 的到达签到"),
            )]
    contradicting = [
        message for message in audit.visit.on_my_way
        if _sent_before(message, checkin) and message.at - arrival.at > limit
    ]
    if not contradicting:
        return []
    latest = max(contradicting, key=lambda message: message.at)
    return [_backdated_finding(
        audit, (arrival.at, arrival.ref), (latest.at, f"on_my_way:{latest.event_id}"), limit,
        ("at {} the phone said the technician was still on the way, and it sent that first",
         "手机在 {} 先发送了“正在路上”"),
    )]


def _sent_before(first: CheckinFacts | OnMyWayFacts, then: CheckinFacts) -> bool:
    """`first` reached the service before `then`: received earlier, or earlier in the same sync batch (its facts share
    the batch's receipt; a phone offline with an arrival dated back before its own "on my way" passed; a probe)."""
    if first.received_at != then.received_at:
        return first.received_at < then.received_at
    return None not in (first.batch_position, then.batch_position) and first.batch_position < then.batch_position


def _backdated_finding(
    audit: AuditInput, dated: tuple[datetime, str], sent_first: tuple[datetime, str], limit: timedelta,
    said: tuple[str, str],
) -> Finding:
    """`dated` and `sent_first`: the arrival's time and reference, and those of what the phone sent before it; `said`:
    what it sent first, worded in English and Chinese around the local time it names."""
    zone = audit.visit.site.time_zone
    (arrival_at, arrival_ref), (sent_first_at, sent_first_ref) = dated, sent_first
    by, shown = minutes(sent_first_at - arrival_at), local_time(sent_first_at, zone)
    return Finding(
        rule_id="V-PUNCT", code="v.punct.backdated", severity=VIOLATION,
        message_en=f"the arrival is dated {local_time(arrival_at, zone)}, but {said[0].format(shown)}: the arrival "
                   f"is dated {by} min too early (allowed {minutes(limit)} min)",
        message_zh=f"到达时间记为 {local_time(arrival_at, zone)}，但{said[1].format(shown)}：到达时间被提前了 {by} 分钟"
                   f"（允许 {minutes(limit)} 分钟）",
        measured=by, threshold=minutes(limit), unit="min", refs=(arrival_ref, sent_first_ref),
    )


def _against_agreed_time(audit: AuditInput) -> list[Finding]:
    arrival = audit.timeline.arrival
    policy = audit.policy
    agreed = audit.visit.agreed_time
    tolerance = policy.durations.punctuality_tolerance
    offset = to_the_second(arrival.at - agreed)
    if -tolerance <= offset <= tolerance:
        return []
    zone = audit.visit.site.time_zone
    arrived, agreed_shown, tolerance_min = local_time(arrival.at, zone), local_time(agreed, zone), minutes(tolerance)
    if offset > tolerance:
        code, severity, threshold = "v.punct.late", VIOLATION, tolerance_min
        en = f"arrived at {arrived}, {minutes(offset)} min after the agreed {agreed_shown} (limit {tolerance_min} min)"
        zh = f"到达时间 {arrived}，比约定时间 {agreed_shown} 晚 {minutes(offset)} 分钟（上限 {tolerance_min} 分钟）"
    else:
        code, severity, threshold = "v.punct.early", policy.early_arrival_severity, -tolerance_min
        en = (f"arrived at {arrived}, {minutes(-offset)} min before the agreed {agreed_shown} "
              f"(limit {tolerance_min} min)")
        zh = f"到达时间 {arrived}，比约定时间 {agreed_shown} 早 {minutes(-offset)} 分钟（上限 {tolerance_min} 分钟）"
    return [Finding(
        rule_id="V-PUNCT", code=code, severity=severity,
        message_en=f"{en}; arrival time: {arrival.reason_en}",
        message_zh=f"{zh}；到达时间依据：{arrival.reason_zh}",
        measured=minutes(offset), threshold=threshold, unit="min", refs=(arrival.ref,),
    )]
