"""A-REAUDIT for findings that change with time alone: a repair deadline (B-REPAIR) or a V-ASK follow-up passing."""

from __future__ import annotations

from datetime import datetime

from fieldsvc.audit.policy import TIERS, PolicyBook
from fieldsvc.tables import Visit
from fieldsvc.verdicts import outbox

# No fact arrives when one of these deadlines passes, so nothing else would re-audit the visit. A visit is marked
# once the earliest deadline any current policy could give it has passed and its verdict does not carry the overdue
# finding yet; once it does, sweeps leave it alone (the finding is stated as of the deadline, so a later audit of
# the same facts gives the same verdict). A verdict thus changes, and the trail grows, only when a deadline passed.
# A repair is overdue while it is not resolved: open, or closed as unresolved.
_OVERDUE_REPAIRS = """
SELECT visit.id FROM visit
JOIN work_order ON work_order.id = visit.work_order JOIN customer ON customer.id = work_order.customer
WHERE work_order.kind = 'repair'
AND (work_order.status = 'open' OR (work_order.status = 'closed' AND work_order.outcome = 'unresolved'))
AND (%s)
AND NOT EXISTS (
    SELECT 1 FROM visit AS sibling JOIN audit_finding ON audit_finding.visit = sibling.id
    WHERE sibling.work_order = work_order.id AND audit_finding.code = 'b.repair.overdue'
)
"""
_TIER_CUTOFF = "(customer.tier = {} AND work_order.accepted_at <= {})"
_OVERDUE_QUESTIONS = """
SELECT follow_up.visit AS id FROM follow_up WHERE follow_up.resolved_at IS NULL AND follow_up.asked_at <= {}
GROUP BY follow_up.visit
HAVING count(*) > (
    SELECT count(*) FROM audit_finding
    WHERE audit_finding.visit = follow_up.visit AND audit_finding.code = 'v.ask.overdue'
)
"""


async def mark_overdue(policies: PolicyBook, now: datetime) -> int:
    """Mark due every visit whose verdict may lack an overdue finding only because time went by since its audit."""
    current = list(policies.latest())
    # Customer-initiated reschedules only move a repair's deadline later: these cutoffs never miss an overdue one.
    repair_cutoffs = [
        (tier, now - min(policy.durations.repair_deadline[tier] for policy in current)) for tier in TIERS
    ]
    repairs = _OVERDUE_REPAIRS % " OR ".join([_TIER_CUTOFF] * len(repair_cutoffs))
    ask_cutoff = now - min(policy.durations.ask_follow_up for policy in current)
    rows = [
        *await Visit.raw(repairs, *[value for cutoff in repair_cutoffs for value in cutoff]),
        *await Visit.raw(_OVERDUE_QUESTIONS, ask_cutoff),
    ]
    visit_ids = sorted({outbox.as_uuid(row["id"]) for row in rows}, key=str)
    await outbox.mark_without_new_evidence(visit_ids, now)
    return len(visit_ids)
