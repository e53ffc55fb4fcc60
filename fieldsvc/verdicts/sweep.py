"""A-REAUDIT for findings that change with time alone: an open order's deadlines, an unanswered V-ASK follow-up."""

from __future__ import annotations

from datetime import datetime

from fieldsvc.tables import Visit
from fieldsvc.verdicts import outbox

# No fact arrives when a deadline passes, so nothing else would re-audit these visits: B-CONTACT, B-FIRST and
# B-REPAIR run against "now" while their order is open, V-ASK while a question waits for its follow-up.
_CLOCK_DEPENDENT_VISITS = """
SELECT visit.id FROM visit JOIN work_order ON work_order.id = visit.work_order WHERE work_order.status = 'open'
UNION
SELECT visit FROM follow_up WHERE resolved_at IS NULL
"""


async def mark_clock_dependent(now: datetime) -> int:
    """Mark due every visit whose verdict may have changed since its last audit only because time went by."""
    visit_ids = [outbox.as_uuid(row["id"]) for row in await Visit.raw(_CLOCK_DEPENDENT_VISITS)]
    await outbox.mark_many(visit_ids, False, now)
    return len(visit_ids)
