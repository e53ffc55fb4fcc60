"""V-GEOFENCE (every check-in at the site, accuracy-aware), V-CHECKOUT after the arrival, V-LEAVE (leaves paired)."""

from __future__ import annotations

from datetime import datetime, timedelta

from fieldsvc.audit.facts import CheckinFacts, LeaveFacts, NeighbourFix
from fieldsvc.audit.findings import VIOLATION, WARNING, Finding, refs_to
from fieldsvc.audit.geometry import distance_m
from fieldsvc.audit.policy import Policy
from fieldsvc.audit.timeline import (
    AuditInput, Fix, away_for_good, away_on_leave, checked_out_before, fix_age, later_trip_start, photo_time, test_time,
)
from fieldsvc.audit.wording import CHECKIN_KIND_ZH, local_time, minutes


def v_geofence(audit: AuditInput) -> list[Finding]:
    policy = audit.policy
    findings = []
    for fix in audit.timeline.fixes:
        checkin = fix.checkin
        kind_zh = CHECKIN_KIND_ZH[checkin.kind]
        if checkin.kind == "checkout" and _gone_for_good(fix, audit):
            continue  # V-LEAVE allows leaving without returning (to the exchange room, say): checked out from there
        if fix.presence == "unverifiable" and _away_and_unproven(fix, audit):
            findings.append(_unverifiable_away(fix, audit))
        elif fix.presence == "unverifiable":
            findings.append(Finding(
                rule_id="V-GEOFENCE", code="v.geofence.unverifiable", severity=policy.unverifiable_location_severity,
                message_en=f"location unverifiable: the {checkin.kind} fix is accurate only to "
                           f"{checkin.accuracy_m:.0f} m (limit {policy.accuracy_limit_m:.0f} m)",
                message_zh=f"位置无法核实：{kind_zh}签到定位精度仅 {checkin.accuracy_m:.0f} 米"
                           f"（上限 {policy.accuracy_limit_m:.0f} 米）",
                measured=round(checkin.accuracy_m, 1), threshold=policy.accuracy_limit_m, unit="m",
                refs=(f"checkin:{checkin.event_id}",),
            ))
        elif fix.presence == "stale":
            age = minutes(fix_age(checkin, fix.at))
            # Away as well (were it fresh, outside) and no check-in of its kind proves presence: like a coarse fix
            # from afar, an old fix from 5 km away must not stand for an arrival.
            away = (
                fix.distance_m - checkin.accuracy_m > policy.geofence_radius_m and checkin.kind != "checkout"
                and not _presence_proven(fix, audit)
            )
            findings.append(Finding(
                rule_id="V-GEOFENCE", code="v.geofence.stale_away" if away else "v.geofence.stale_fix",
                severity=VIOLATION if away else policy.unverifiable_location_severity,
                message_en=f"location unverifiable: the {checkin.kind} location fix was {age} min old at the "
                           f"check-in (limit {minutes(policy.durations.fix_max_age)} min)",
                message_zh=f"位置无法核实：{kind_zh}签到所用定位已是 {age} 分钟前的"
                           f"（上限 {minutes(policy.durations.fix_max_age)} 分钟）",
                measured=age, threshold=policy.fix_max_age_min, unit="min", refs=(f"checkin:{checkin.event_id}",),
            ))
        elif fix.presence == "outside":
            excused = _outside_excused(fix, audit)
            # Measured as the standard reads it: the nearest the accuracy allows (the message gives both figures).
            nearest = round(fix.distance_m - checkin.accuracy_m, 1)
            findings.append(Finding(
                rule_id="V-GEOFENCE", code="v.geofence.outside", severity=VIOLATION if excused is None else WARNING,
                message_en=f"{checkin.kind} check-in {fix.distance_m:.0f} m from the site with accuracy "
                           f"{checkin.accuracy_m:.0f} m: at least {nearest:.1f} m, outside the "
                           f"{policy.geofence_radius_m:.0f} m radius" + ("" if excused is None else f"; {excused[0]}"),
                message_zh=f"{kind_zh}签到距服务地点 {fix.distance_m:.0f} 米（定位精度 {checkin.accuracy_m:.0f} 米，"
                           f"至少 {nearest:.1f} 米），超出 {policy.geofence_radius_m:.0f} 米范围"
                           + ("" if excused is None else f"；{excused[1]}"),
                measured=nearest, threshold=policy.geofence_radius_m, unit="m",
                refs=(f"checkin:{checkin.event_id}",),
            ))
    return findings


def _outside_excused(fix: Fix, audit: AuditInput) -> tuple[str, str] | None:
    """Why a check-in outside the geofence is only a warning, in English and Chinese; None: it is a violation. Another
    check-in of its kind inside proves the presence it was for (GPS jitter at the door; a probe). A check-out only
    records the departure, which V-CHECKOUT asks to be geotagged, not to be at the site: pressed at the van, or
    forgotten and pressed from the next site (probes)."""
    if _presence_proven(fix, audit):
        return "another check-in of the same kind proves presence", "另一次同类签到已证明在场"
    if fix.checkin.kind == "checkout":
        return "a check-out only records the departure (V-CHECKOUT)", "签退只记录离开时间（V-CHECKOUT）"
    return None


def _gone_for_good(checkout: Fix, audit: AuditInput) -> bool:
    """The check-out falls after a recorded leave without return, before any return check-in."""
    return any(
        leave.left_at <= checkout.at and (back is None or checkout.at < back) for leave, back in away_for_good(audit)
    )


def v_checkout(audit: AuditInput) -> list[Finding]:
    """The departure follows the arrival: a check-out before every arrival departs from nothing."""
    arrival, departure = audit.timeline.arrival, audit.timeline.departure
    if arrival is None or departure is None or departure >= arrival.at:
        return []
    early = minutes(arrival.at - departure)
    shown = local_time(departure, audit.visit.site.time_zone)
    checkouts = (fix.checkin.event_id for fix in audit.timeline.fixes if fix.checkin.kind == "checkout")
    return [Finding(
        rule_id="V-CHECKOUT", code="v.checkout.before_arrival", severity=VIOLATION,
        message_en=f"the last check-out ({shown}) is {early} min before the arrival",
        message_zh=f"最后一次签退（{shown}）早于到达 {early} 分钟",
        measured=-early, threshold=0.0, unit="min", refs=refs_to("checkin", checkouts),
    )]


def _away_and_unproven(fix: Fix, audit: AuditInput) -> bool:
    """A coarse fix proves nothing; one whose own position is farther than any fix that proves presence could be
    (radius + accuracy limit) says the phone was elsewhere, unless a check-in of the same kind inside the geofence
    proves it was at the site then (a coarse first fix followed by a good one). A large accuracy must not hide an
    arrival from afar: the arrival's time is what V-PUNCT measures."""
    policy = audit.policy
    if fix.distance_m <= policy.reach_m or fix.checkin.kind == "checkout":
        return False  # a check-out only records the departure (V-CHECKOUT): pressed indoors at a later site, say
    return not _presence_proven(fix, audit)


def _presence_proven(fix: Fix, audit: AuditInput) -> bool:
    """A check-in of the same kind inside the geofence (and not mock) proves the phone was at the site then; on the
    same side of the visit's first completion: a check-in at the site days later, after an auditor returned the
    visit, proves nothing about the visit, nor one made during the visit anything about a later trip to correct it
    (an arrival from home 5 km away, then a re-test; probes)."""
    completed = audit.visit.first_completed_at
    after = completed is not None and fix.at >= completed
    return any(
        other.checkin.kind == fix.checkin.kind and other.presence == "inside" and not other.checkin.mock
        and (completed is None or (other.at >= completed) == after)
        for other in audit.timeline.fixes
    )


def _unverifiable_away(fix: Fix, audit: AuditInput) -> Finding:
    checkin, policy = fix.checkin, audit.policy
    reach = policy.reach_m
    kind_zh = CHECKIN_KIND_ZH[checkin.kind]
    return Finding(
        rule_id="V-GEOFENCE", code="v.geofence.unverifiable_away", severity=VIOLATION,
        message_en=f"location unverifiable and away: the {checkin.kind} fix, accurate only to "
                   f"{checkin.accuracy_m:.0f} m, puts the phone {fix.distance_m:.0f} m from the site "
                   f"(a fix that proves presence is within {reach:.0f} m)",
        message_zh=f"位置无法核实且不在现场：{kind_zh}签到定位精度仅 {checkin.accuracy_m:.0f} 米，"
                   f"定位点距服务地点 {fix.distance_m:.0f} 米（可证明在场的定位不超过 {reach:.0f} 米）",
        measured=round(fix.distance_m, 1), threshold=reach, unit="m", refs=(f"checkin:{checkin.event_id}",),
    )


def v_leave(audit: AuditInput) -> list[Finding]:
    return (
        _leaves_paired(audit) + _away_at_other_visits(audit) + _work_after_leaving_for_good(audit)
        + _restore_promise_broken(audit)
    )


def _restore_promise_broken(audit: AuditInput) -> list[Finding]:
    """A technician who left without coming back promised the customer service restored by a time: the work order
    resolved later than that broke the promise. One not resolved yet is judged when it is (B-REPAIR tells an overdue
    repair meanwhile): a finding follows the facts, not the hour of the audit."""
    order, zone = audit.visit.order, audit.visit.site.time_zone
    if order.resolved_at is None:
        return []
    findings = []
    for leave in sorted(set(audit.visit.leaves), key=lambda leave: (leave.left_at, leave.event_id)):
        if leave.will_return or leave.restore_by is None or order.resolved_at <= leave.restore_by:
            continue
        late, promised = minutes(order.resolved_at - leave.restore_by), local_time(leave.restore_by, zone)
        findings.append(Finding(
            rule_id="V-LEAVE", code="v.leave.restore_promise_broken", severity=VIOLATION,
            message_en=f"the technician left promising service restored by {promised}, but the work order was "
                       f"resolved {late} min later",
            message_zh=f"技术员离开时承诺 {promised} 前恢复服务，但工单晚了 {late} 分钟才解决",
            measured=late, threshold=0.0, unit="min", refs=(f"leave:{leave.event_id}", f"order:{order.order_id}"),
        ))
    return findings


def _work_after_leaving_for_good(audit: AuditInput) -> list[Finding]:
    """After a leave without return, and before a return check-in, nothing is done at the site: no site-clean photo,
    no signature, no card (beyond the clock-skew limit two facts' times may differ by). A line test is not among them:
    a fault fixed at the street cabinet is tested from there, the customer accepting it by phone (a probe)."""
    away = away_for_good(audit)
    if not away:
        return []
    limit, visit = audit.policy.durations.clock_skew_limit, audit.visit
    on_site: list[tuple[datetime, str]] = [
        (photo_time(photo), f"photo:{photo.photo_id}") for photo in visit.photos if photo.purpose == "site_clean"
    ]
    if visit.signature is not None:
        on_site.append((visit.signature.signed_at, f"signature:{visit.signature.event_id}"))
    if visit.card is not None:
        on_site.append((visit.card.handed_at, f"card:{visit.card.event_id}"))
    findings = []
    for leave, back in away:
        after = sorted(ref for at, ref in on_site if at - leave.left_at > limit and (back is None or at < back))
        if after:
            zone = visit.site.time_zone
            findings.append(Finding(
                rule_id="V-LEAVE", code="v.leave.work_after_leaving", severity=VIOLATION,
                message_en=f"the technician left for good at {local_time(leave.left_at, zone)} without checking in "
                           f"again, yet work with the customer is dated after that ({len(after)} item(s))",
                message_zh=f"技术员于 {local_time(leave.left_at, zone)} 离开且未再签到返回，"
                           f"但之后仍有与客户相关的工作记录（{len(after)} 项）",
                measured=float(len(after)), threshold=0.0, unit="items", refs=(f"leave:{leave.event_id}", *after),
            ))
    return findings


def _leaves_paired(audit: AuditInput) -> list[Finding]:
    # Sets: a replayed leave or return is the same fact and must not be paired twice.
    returns = {fix for fix in audit.timeline.fixes if fix.checkin.kind == "return"}
    if not audit.visit.leaves and not returns:
        return []
    zone = audit.visit.site.time_zone
    leaves = sorted(set(audit.visit.leaves), key=lambda leave: (leave.left_at, leave.event_id))
    findings = [_no_restore_time(leave) for leave in leaves if not leave.will_return and leave.restore_by is None]
    # Each return pairs with the earliest leave still open before it (a leave sorts before a return at the same
    # instant); a return with no open leave means the technician left without recording it.
    events: list[tuple[object, ...]] = [(leave.left_at, 0, leave.event_id, leave) for leave in leaves]
    events += [(fix.at, 1, fix.checkin.event_id, fix) for fix in returns]
    open_leaves: list[LeaveFacts] = []
    last_return: Fix | None = None  # since the last leave
    for _, _, _, event in sorted(events, key=lambda event: event[:3]):
        if isinstance(event, LeaveFacts):
            open_leaves.append(event)
            last_return = None
            continue
        if open_leaves:
            open_leaves.pop(0)
        elif not _tried_again(last_return, event, audit.policy) and not _on_a_later_trip(event, audit):
            findings.append(_unrecorded_leave(event, zone))
        last_return = event
    if audit.finished:
        findings += [_no_return(leave, zone) for leave in open_leaves if leave.will_return]
    return findings


def _on_a_later_trip(return_fix: Fix, audit: AuditInput) -> bool:
    """A return check-in that begins the trip to correct the visit owes no leave of the first trip (a probe); one
    later in that trip, after a check-out too, owes a leave like any other (probes: excused)."""
    return return_fix == later_trip_start(audit)


_TAPPED_TWICE = timedelta(minutes=1)  # a return tapped again this soon is the same return


def _tried_again(earlier: Fix | None, return_fix: Fix, policy: Policy) -> bool:
    """A return check-in right after one whose fix did not show the site (GPS jitter at the door, 188 m then 20 m;
    a probe) is the same return tried again, not a second departure; within the age a fix may have. So is one tapped
    again within a minute, wherever (a double tap; a probe): no one leaves the site and comes back so soon."""
    if earlier is None:
        return False
    since = return_fix.at - earlier.at
    return since <= _TAPPED_TWICE or (earlier.presence != "inside" and since <= policy.durations.fix_max_age)


def _away_at_other_visits(audit: AuditInput) -> list[Finding]:
    """Between arrival and check-out the technician's own fixes at other visits, outside this site's geofence by
    their whole accuracy circle, show a departure: each must fall in a recorded leave (from the leave, made after
    the arrival, to the return that follows it, or to the check-out). Unless the next fix of this visit is where
    that one was: a technician who checks in next door and then checks out of here from there has left for good,
    only checked out late; and a check-out sent from away from the site ends the visit at the last fact that shows
    the technician at work here (pressed from the site after next, it was only late too; a probe)."""
    arrival, departure, policy = audit.timeline.arrival, audit.timeline.departure, audit.policy
    if arrival is None or departure is None:
        return []
    last_checkout = max((fix for fix in audit.timeline.fixes if fix.checkin.kind == "checkout"), key=lambda f: f.at)
    coarse_and_away = last_checkout.distance_m > policy.reach_m
    if last_checkout.presence == "outside" or (last_checkout.presence == "unverifiable" and coarse_and_away):
        departure = min(departure, _last_shown_at_work(audit))
    away = away_on_leave(audit, departure)
    site, findings, reported = audit.visit.site, [], set()
    completed = audit.visit.first_completed_at
    for fix in sorted(audit.context.neighbour_fixes, key=lambda fix: (fix.at, fix.event_id)):
        if not arrival.at < fix.at < departure or fix.visit_id in reported:
            continue
        distance = distance_m(site.latitude, site.longitude, fix.latitude, fix.longitude)
        # Away by the whole accuracy circle (a fix 5 km away at 150 m is away); or, for a fix too coarse to prove
        # anything, by its own position, as V-GEOFENCE reads such a fix: claiming 10 km of accuracy hides nothing.
        coarse = fix.accuracy_m > policy.accuracy_limit_m
        away_by_circle = distance - fix.accuracy_m > policy.geofence_radius_m
        away_as_claimed = coarse and distance > policy.reach_m
        if not (away_by_circle or away_as_claimed) or any(start <= fix.at <= end for start, end in away):
            continue
        if completed is not None and fix.at > completed and checked_out_before(audit, fix.at) is not None:
            continue  # between two trips to a visit returned for correction, checked out of the first (a probe)
        back = next((own for own in audit.timeline.fixes if own.at > fix.at), None)
        if back is not None and not coarse and _same_place(fix, back.checkin) and not _came_back(back, audit):
            continue
        reported.add(fix.visit_id)
        shown = local_time(fix.at, site.time_zone)
        findings.append(Finding(
            rule_id="V-LEAVE", code="v.leave.unrecorded", severity=VIOLATION,
            message_en=f"at {shown}, between arrival and check-out, the technician checked in at another visit "
                       f"{distance:.0f} m away, but no leave was recorded",
            message_zh=f"{shown}（到达与签退之间）技术员在距此 {distance:.0f} 米的另一次上门签到，但未记录离开现场",
            # As it was found away: by the accuracy circle, else (too coarse) by its own position against the reach.
            measured=round(distance - fix.accuracy_m, 1) if away_by_circle else round(distance, 1),
            threshold=policy.geofence_radius_m + (0.0 if away_by_circle else policy.accuracy_limit_m), unit="m",
            refs=(f"visit:{fix.visit_id}/checkin:{fix.event_id}",),
        ))
    return findings


def _came_back(after: Fix, audit: AuditInput) -> bool:
    """A check-in at the site after this fix: the technician was back (a check-out pressed at the other job, then a
    new arrival here, hid a trip mid-visit; a probe)."""
    return any(
        own.at > after.at and own.checkin.kind != "checkout" and own.presence == "inside"
        for own in audit.timeline.fixes
    )


def _last_shown_at_work(audit: AuditInput) -> datetime:
    """The latest fact of the visit but its check-outs: a check-in, step, photo, test, signature or card."""
    visit = audit.visit
    times = [fix.at for fix in audit.timeline.fixes if fix.checkin.kind != "checkout"]
    times += [step.confirmed_at for step in visit.steps]
    times += [photo_time(photo) for photo in visit.photos]
    times += [test_time(test) for test in visit.tests]
    times += [fact.signed_at for fact in (visit.signature,) if fact is not None]
    times += [fact.handed_at for fact in (visit.card,) if fact is not None]
    return max(times)


def _same_place(fix: NeighbourFix, checkin: CheckinFacts) -> bool:
    """The two fixes cannot be told apart: their distance is within their accuracies."""
    apart = distance_m(fix.latitude, fix.longitude, checkin.latitude, checkin.longitude)
    return apart <= fix.accuracy_m + checkin.accuracy_m


def _no_restore_time(leave: LeaveFacts) -> Finding:
    return Finding(
        rule_id="V-LEAVE", code="v.leave.no_restore_time", severity=VIOLATION,
        message_en="left the site without returning and without a restore-by time promised to the customer",
        message_zh="离开现场不再返回，但未向客户承诺恢复时间",
        measured="no restore-by time", threshold="a promised restore-by time", refs=(f"leave:{leave.event_id}",),
    )


def _unrecorded_leave(return_fix: Fix, zone: str) -> Finding:
    shown = local_time(return_fix.at, zone)
    return Finding(
        rule_id="V-LEAVE", code="v.leave.unrecorded", severity=VIOLATION,
        message_en=f"returned to the site at {shown} but the departure before it was never recorded",
        message_zh=f"{shown} 返回现场，但此前离开现场未作记录",
        measured="no leave recorded", threshold="a leave recorded before the return",
        refs=(f"checkin:{return_fix.checkin.event_id}",),
    )


def _no_return(leave: LeaveFacts, zone: str) -> Finding:
    shown = local_time(leave.left_at, zone)
    return Finding(
        rule_id="V-LEAVE", code="v.leave.no_return", severity=VIOLATION,
        message_en=f"left the site at {shown} saying they would return, but no return check-in was recorded",
        message_zh=f"{shown} 离开现场并表示会返回，但没有返回签到记录",
        measured="no return check-in", threshold="a return check-in", refs=(f"leave:{leave.event_id}",),
    )
