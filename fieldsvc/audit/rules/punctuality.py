"""V-PUNCT: arrival within the tolerance of the agreed time, judged on the trusted arrival time."""

from __future__ import annotations

from fieldsvc.audit.findings import VIOLATION, Finding
from fieldsvc.audit.timeline import AuditInput
from fieldsvc.audit.wording import local_time, minutes


def v_punct(audit: AuditInput) -> list[Finding]:
    arrival = audit.timeline.arrival
    if arrival is None:
        return []  # no arrival at all is V-CHECKIN's finding
    policy = audit.policy
    agreed = audit.visit.agreed_time
    tolerance = policy.durations.punctuality_tolerance
    offset = arrival.at - agreed
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
