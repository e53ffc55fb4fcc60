"""A-DECIDE: what a technician withdrew while an auditor had the visit returned is for an auditor to judge."""

from __future__ import annotations

from fieldsvc.audit.findings import VIOLATION, Finding
from fieldsvc.audit.timeline import AuditInput


def a_decide(audit: AuditInput) -> list[Finding]:
    """A withdrawn photo is no longer read by the rules, so whatever it showed is the technician's word: the visit
    stays flagged for an auditor to accept the withdrawal (dismiss) or not. Otherwise withdrawing a copied photo the
    auditor never asked about would have erased its findings and passed the visit (a probe)."""
    return [
        Finding(
            rule_id="A-DECIDE", code="a.decide.photo_withdrawn", severity=VIOLATION,
            message_en=f"the technician withdrew photo {withdrawal.photo_id} while the visit was returned: "
                       f"{withdrawal.reason}",
            message_zh=f"退回期间技术员撤回了照片 {withdrawal.photo_id}：{withdrawal.reason}",
            measured="withdrawn", threshold="an auditor's decision",
            refs=(f"photo:{withdrawal.photo_id}", f"withdrawal:{withdrawal.event_id}"),
        )
        for withdrawal in audit.visit.withdrawals
    ]
