"""Queries on follow_up (V-ASK)."""

from __future__ import annotations

from datetime import datetime
from typing import Any
from uuid import UUID

from fieldsvc.tables import FollowUp

Row = dict[str, Any]

_COLUMNS = """
f.id, f.visit, v.work_order, v.technician, f.question, f.customer_name, f.customer_phone, f.address, f.asked_at,
f.due_at, f.resolved_at, f.resolution
"""
_FROM = "FROM follow_up AS f JOIN visit AS v ON v.id = f.visit"
_BY_STATE = {
    "open": "f.resolved_at IS NULL",
    "overdue": "f.resolved_at IS NULL AND f.due_at < {}",
    "resolved": "f.resolved_at IS NOT NULL",
    "all": "1 = 1",
}
_RESOLVE = "UPDATE follow_up SET resolved_at = {}, resolution = {} WHERE id = {} AND resolved_at IS NULL RETURNING id"


async def follow_ups(state: str, now: datetime, limit: int, offset: int) -> list[Row]:
    """Oldest due first: the order in which the office should answer them."""
    condition = _BY_STATE[state]
    values = [now] if "{}" in condition else []
    sql = f"SELECT {_COLUMNS} {_FROM} WHERE {condition} ORDER BY f.due_at, f.id LIMIT {{}} OFFSET {{}}"
    return await FollowUp.raw(sql, *values, limit, offset)


async def follow_up(follow_up_id: UUID) -> Row | None:
    rows = await FollowUp.raw(f"SELECT {_COLUMNS} {_FROM} WHERE f.id = {{}}", follow_up_id)
    return rows[0] if rows else None


async def resolve(follow_up_id: UUID, at: datetime, resolution: str) -> bool:
    """Once: False when it was already resolved (or does not exist)."""
    return bool(await FollowUp.raw(_RESOLVE, at, resolution, follow_up_id))
