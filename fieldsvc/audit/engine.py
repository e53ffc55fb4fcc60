"""audit_visit: the deterministic verdict of one visit's facts under one policy version (A-VERDICT, A-REAUDIT)."""

from __future__ import annotations

from fieldsvc.audit.closure import missing_for_closure
from fieldsvc.audit.facts import AuditContext, VisitFacts
from fieldsvc.audit.findings import VIOLATION, WARNING, Finding, Verdict, VerdictStatus, finding_code
from fieldsvc.audit.policy import Policy
from fieldsvc.audit.rules import RULES
from fieldsvc.audit.timeline import AuditInput, build_timeline


def audit_visit(visit: VisitFacts, policy: Policy, context: AuditContext) -> Verdict:
    """Same facts, policy and `context.now` give the same verdict, whatever the order facts arrived in."""
    finished = visit.completion is not None or visit.order.forced_close_reason is not None
    audit = AuditInput(visit, policy, context, build_timeline(visit, policy), finished)
    findings: list[Finding] = []
    for rule in RULES:
        findings += rule(audit)
    # A visit its technician never reached, its order force-closed, lacks nothing of theirs: only V-CLOSE stands.
    if visit.completion is not None or (finished and visit.checkins):
        findings += [
            Finding(
                rule_id=item.rule_id, code=finding_code(item.rule_id, "missing"), severity=VIOLATION,
                message_en=item.message_en, message_zh=item.message_zh, measured="absent", threshold="required",
            )
            for item in missing_for_closure(visit, policy)
        ]
    # A set, because a replayed fact yields the same finding twice; sorted, so storage is byte-stable.
    ordered = tuple(sorted(set(findings), key=Finding.sort_key))
    return Verdict(
        status=_status(ordered, policy, finished),
        findings=ordered,
        policy_id=policy.policy_id,
        policy_version=policy.version,
        policy_fingerprint=policy.fingerprint,
        trusted_arrival=audit.timeline.arrival,
    )


def _status(findings: tuple[Finding, ...], policy: Policy, finished: bool) -> VerdictStatus:
    if not finished:
        return "pending"
    flagging = (VIOLATION, WARNING) if policy.warnings_flag else (VIOLATION,)
    return "flagged" if any(finding.severity in flagging for finding in findings) else "passed"
