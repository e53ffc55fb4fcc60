"""A-REAUDIT for findings that change with time alone: a repair deadline (B-REPAIR) or a V-ASK follow-up passing."""

from __future__ import annotations

from datetime import datetime

from fieldsvc.audit.policy import PolicyBook
from fieldsvc.tables import Visit
from fieldsvc.verdicts import outbox

# No fact arrives when one of these deadlines passes, so nothing else would re-audit the visit. A visit is marked
# once the earliest deadline any current policy could give it has passed and its verdict does not carry the overdue
# finding yet; once it does, sweeps leave it alone (the finding keeps the wait measured by the audit that found it).
# A verdict thus changes, and the trail grows, only when a deadline has really passed.
_OVERDUE_REPAIRS = """
SELECT visit.id FROM visit JOIN work_order ON work_order.id = visit.work_order
WHERE work_order.status = 'open' AND work_order.kind = 'repair' AND work_order.accepted_at <= {}
AND NOT EXISTS (
    SELECT 1 FROM visit AS sibling JOIN audit_finding ON audit_finding.visit = sibling.id
    WHERE sibling.work_order = work_order.id AND audit_finding.code = 'b.repair.overdue'
)
"""
_OVERDUE_QUESTIONS = """
SELECT follow_up.visit AS id FROM follow_up WHERE follow_up.resolved_at IS NULL AND follow_up.asked_at <= {}
GROUP BY follow_up.visit
HAVING count(*) > (
    SELECT count(*) FROM audit_finding WHERE audit_finding.visit = follow_up.visit AND audit_finding.code = 'v.ask.overdue'
)
"""


async def mark_overdue(policies: PolicyBook, now: datetime) -> int:
    """Mark due every visit whose verdict may lack an overdue finding only because time went by since its audit."""
    current = list(policies.latest())
    repair_cutoff = now - min(limit for policy in current for limit in policy.durations.repair_deadline.values())
    ask_cutoff = now - min(policy.durations.ask_follow_up for policy in current)
    rows = [*await Visit.raw(_OVERDUE_REPAIRS, repair_cutoff), *await Visit.raw(_OVERDUE_QUESTIONS, ask_cutoff)]
    visit_ids = sorted({outbox.as_uuid(row["id"]) for row in rows}, key=str)
    await outbox.mark_without_new_evidence(visit_ids, now)
    return len(visit_ids)
