"""V-CLOSE: a forced close is always flagged (once, on the order's first visit); "unresolved" needs a reason; a
customer absent needs a wait at the site and nothing showing the customer was there."""

from __future__ import annotations

from fieldsvc.audit.facts import CompletionFacts
from fieldsvc.audit.findings import INFO, VIOLATION, Finding
from fieldsvc.audit.timeline import AuditInput
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
    it), to the check-out; without either, V-CLOSE lists it as missing."""
    wait = audit.policy.durations.customer_absent_wait
    arrival, departure = audit.timeline.arrival, audit.timeline.departure
    if wait is None or arrival is None or departure is None:
        return []
    refs = (f"completion:{completion.event_id}", arrival.ref)
    waited = departure - max(arrival.at, audit.visit.agreed_time)
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
            message_en="completed as customer absent, yet the customer signed, accepted a test, gave consent or "
            "asked a question, or the technician worked inside",
            message_zh="以客户不在家结单，但客户曾签名、验收测试、表示同意或提出问题，或技术员曾入户施工",
            measured=len(present), threshold=0, unit="facts", refs=(f"completion:{completion.event_id}", *present),
        ))
    return findings


# Evidence of work inside the home: someone let the technician in.
_WORK_INSIDE_PHOTOS = frozenset({"shoe_covers", "tool_mat", "site_clean"})


def _someone_at_home(audit: AuditInput) -> list[str]:
    """Facts only a customer at home makes (their signature, acceptance, consent, question), and work inside (shoe
    covers on, tools on the mat, a site cleaned). A photo of the door or a line test from outside proves nothing."""
    visit = audit.visit
    seen = [f"signature:{visit.signature.event_id}"] if visit.signature is not None else []
    seen += [f"test:{test.event_id}" for test in visit.tests if test.customer_accepted]
    seen += [f"step:{step.event_id}" for step in visit.steps if step.step in ("V-CONSENT", "V-MAT")]
    seen += [f"ask:{ask.event_id}" for ask in visit.asks]
    seen += [f"photo:{photo.photo_id}" for photo in visit.photos if photo.purpose in _WORK_INSIDE_PHOTOS]
    return seen
