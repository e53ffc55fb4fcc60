"""E-MOCK: locations the phone reports as mock, and consecutive fixes of a technician at an impossible speed."""

from __future__ import annotations

from datetime import datetime

from fieldsvc.audit.findings import VIOLATION, Finding
from fieldsvc.audit.geometry import distance_m
from fieldsvc.audit.timeline import AuditInput, Fix, fix_age
from fieldsvc.audit.wording import CHECKIN_KIND_ZH


def e_mock(audit: AuditInput) -> list[Finding]:
    findings = [
        Finding(
            rule_id="E-MOCK", code="e.mock.mock_location", severity=VIOLATION,
            message_en=f"the phone reported the {fix.checkin.kind} location as mock (simulated)",
            message_zh=f"手机报告该{CHECKIN_KIND_ZH[fix.checkin.kind]}签到位置为模拟位置",
            measured="mock", threshold="a real fix", refs=(f"checkin:{fix.checkin.event_id}",),
        )
        for fix in audit.timeline.fixes if fix.checkin.mock
    ]
    # (trusted time, event id, latitude, longitude, accuracy, other visit's id or "" for this visit's own fixes)
    # A stale fix says where the phone was when the fix was taken, not at its check-in: it counts at that time.
    points = [
        (_fix_taken_at(fix), fix.checkin.event_id, fix.checkin.latitude, fix.checkin.longitude,
         fix.checkin.accuracy_m, "")
        for fix in audit.timeline.fixes
    ]
    points += [
        (neighbour.at, neighbour.event_id, neighbour.latitude, neighbour.longitude, neighbour.accuracy_m,
         neighbour.visit_id)
        for neighbour in audit.context.neighbour_fixes if neighbour.visit_id != audit.visit.visit_id
    ]
    points.sort()
    # Consecutive fixes, and consecutive precise ones: a coarse fix slipped in between (60 km "accuracy") must not
    # break the chain, and a coarse end point still counts what its accuracy circle cannot explain.
    # Pairs by position in the time order: cheap to deduplicate and to sort, unlike the points themselves.
    precise = [index for index, point in enumerate(points) if point[4] <= audit.policy.accuracy_limit_m]
    pairs = {*zip(range(len(points)), range(1, len(points))), *zip(precise, precise[1:])}
    limit = audit.policy.impossible_speed_kmh
    for start, end in ((points[first], points[second]) for first, second in sorted(pairs)):
        if start[5] and end[5]:
            continue  # two neighbouring fixes are their own visits' business
        # Only the distance the two accuracy circles cannot explain counts, so GPS jitter is never "speed".
        provable = distance_m(start[2], start[3], end[2], end[3]) - start[4] - end[4]
        if provable <= 0:
            continue
        seconds = max((end[0] - start[0]).total_seconds(), audit.policy.speed_min_interval_s)
        speed = provable / seconds * 3.6
        if speed > limit:
            findings.append(Finding(
                rule_id="E-MOCK", code="e.mock.impossible_speed", severity=VIOLATION,
                message_en=f"consecutive fixes {provable / 1000:.1f} km apart in {seconds / 60:.1f} min imply "
                           f"{speed:.0f} km/h (limit {limit:.0f} km/h)",
                message_zh=f"相邻两次定位相距 {provable / 1000:.1f} 公里、间隔 {seconds / 60:.1f} 分钟，"
                           f"速度达 {speed:.0f} 公里/小时（上限 {limit:.0f} 公里/小时）",
                measured=round(speed, 1), threshold=limit, unit="km/h", refs=(_ref(start), _ref(end)),
            ))
    return findings


def _fix_taken_at(fix: Fix) -> datetime:
    if fix.presence != "stale":
        return fix.at
    return fix.at - fix_age(fix.checkin, fix.at)


def _ref(point: tuple[object, ...]) -> str:
    _, event_id, _, _, _, other_visit = point
    return f"visit:{other_visit}/checkin:{event_id}" if other_visit else f"checkin:{event_id}"
