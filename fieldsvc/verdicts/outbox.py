"""Queries on the A-REAUDIT outbox (audit_due): marked by a fact's transaction, claimed and cleared by an auditor."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from uuid import UUID, uuid4

from fieldsvc import db
from fieldsvc.tables import AuditDue

# One row per visit: a burst of facts on a visit is one re-audit. The first mark's time stays (oldest first).
MARK_COLUMNS = "(visit, token, marked_at, located, reopens, lease_until)"
MARKED_AGAIN_BY_FACT = """ON CONFLICT (visit) DO UPDATE SET
    token = excluded.token, located = audit_due.located OR excluded.located,
    reopens = audit_due.reopens OR excluded.reopens"""
_MARK_BY_FACT = f"INSERT INTO audit_due {MARK_COLUMNS} VALUES ({{}}, {{}}, {{}}, {{}}, {{}}, NULL) {MARKED_AGAIN_BY_FACT}"
# A mark without new evidence keeps the reason of one already there (located, reopens, its time) but takes a new
# token, so an audit already running (which may have read the facts before this change) does not clear it.
_MARK_WITHOUT_EVIDENCE = """
INSERT INTO audit_due (visit, token, marked_at, located, reopens, lease_until) VALUES %s
ON CONFLICT (visit) DO UPDATE SET token = excluded.token
"""
_QUIET_ROW = "({}, {}, {}, {}, {}, NULL)"
MARK_BATCH = 400  # rows per INSERT: 5 parameters each, far below either database's limit
# SKIP LOCKED: auditors in other processes claim other rows instead of queueing behind this claim.
_CLAIM = """
UPDATE audit_due SET lease_until = {} WHERE id IN (
    SELECT id FROM audit_due WHERE lease_until IS NULL OR lease_until < {} ORDER BY marked_at LIMIT {}%s
) RETURNING visit, token, located, reopens
"""


@dataclass(frozen=True)
class Due:
    visit: UUID
    token: UUID
    located: bool
    reopens: bool


async def mark(visit_id: UUID, located: bool, at: datetime, *, resubmits: bool = False) -> None:
    """Inside the fact's transaction: the fact and its pending re-audit commit together or not at all."""
    await AuditDue.raw(_MARK_BY_FACT, *fact_mark(visit_id, located, at, resubmits=resubmits))


def fact_mark(
    visit_id: UUID, located: bool, at: datetime, *, resubmits: bool = False
) -> tuple[UUID, UUID, datetime, bool, bool]:
    """The values of a fact's mark, in MARK_COLUMNS order (up to reopens): the completion of a returned visit
    (`resubmits`) re-opens its review."""
    return visit_id, uuid4(), at, located, resubmits


async def mark_without_new_evidence(visit_ids: list[UUID], at: datetime) -> None:
    """Mark visits whose verdict may have changed though their technician added nothing (a deadline passed, the
    office followed up a question): no neighbours to re-audit, and a returned visit stays returned (A-DECIDE)."""
    for start in range(0, len(visit_ids), MARK_BATCH):
        batch = visit_ids[start : start + MARK_BATCH]
        values = [value for visit_id in batch for value in (visit_id, uuid4(), at, False, False)]
        await AuditDue.raw(_MARK_WITHOUT_EVIDENCE % ", ".join([_QUIET_ROW] * len(batch)), *values)


async def claim(limit: int, now: datetime, lease_until: datetime) -> list[Due]:
    """Lease up to `limit` due visits, oldest first; rows another auditor holds a live lease on are skipped."""
    engine = AuditDue._meta.db
    sql = _CLAIM % ("" if db.is_sqlite(engine) else " FOR UPDATE SKIP LOCKED")
    async with db.write_transaction(engine):
        rows = await AuditDue.raw(sql, lease_until, now, limit)
    return [Due(as_uuid(r["visit"]), as_uuid(r["token"]), bool(r["located"]), bool(r["reopens"])) for r in rows]


async def release(claimed: list[Due], audited: bool = True) -> None:
    """Clear what was audited (a visit marked again meanwhile keeps its row); all of them are free to claim again."""
    if audited:
        await AuditDue.delete().where(AuditDue.token.is_in([due.token for due in claimed]))
    await AuditDue.update({AuditDue.lease_until: None}).where(AuditDue.visit.is_in([due.visit for due in claimed]))


async def marked() -> dict[UUID, bool]:
    """Every visit marked for re-audit, and whether a new located fact marked it."""
    rows = await AuditDue.select(AuditDue.visit, AuditDue.located)
    return {as_uuid(row["visit"]): bool(row["located"]) for row in rows}


async def backlog() -> int:
    return await AuditDue.count()


async def oldest_mark() -> datetime | None:
    """When the longest-waiting visit was marked for re-audit (None: nothing waits)."""
    row = await AuditDue.select(AuditDue.marked_at).order_by(AuditDue.marked_at).first()
    return None if row is None else row["marked_at"]


def as_uuid(value: UUID | str) -> UUID:
    return value if isinstance(value, UUID) else UUID(str(value))
