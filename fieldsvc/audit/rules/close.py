"""V-CLOSE: a forced close is always flagged (once, on the order's first visit); "unresolved" needs a reason."""

from __future__ import annotations

from fieldsvc.audit.findings import VIOLATION, Finding
from fieldsvc.audit.timeline import AuditInput


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
    return findings
