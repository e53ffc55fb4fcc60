"""A-REAUDIT: run the audit engine over visits' stored facts and keep the latest verdict of each."""

from __future__ import annotations

import hashlib
from datetime import datetime
from typing import Any, Callable
from uuid import UUID

from fieldsvc import db
from fieldsvc.audit.engine import audit_visit
from fieldsvc.auth.caller import Caller
from fieldsvc.context import AppContext
from fieldsvc.tables import PhotoMatch, Visit
from fieldsvc.trail.chain import canonical_json
from fieldsvc.trail.service import TrailWriter
from fieldsvc.verdicts import repository
from fieldsvc.verdicts.loader import NEIGHBOUR_WINDOW, load_visits

BULK_BATCH = 500


class VerdictService:
    def __init__(self, ctx: AppContext):
        self.ctx = ctx

    async def reaudit(self, visit_ids: list[UUID], actor: Caller | None) -> dict[UUID, dict[str, Any]]:
        """Audit the visits and store changed verdicts; call inside the transaction that stored the new facts."""
        if not visit_ids:
            return {}
        now = self.ctx.now()
        results = []
        for loaded in await load_visits(visit_ids, now):
            policy = self.ctx.policies.select(loaded.kind, loaded.locality, loaded.tier)
            verdict = audit_visit(loaded.facts, policy, loaded.context).to_dict()
            digest = hashlib.sha256(canonical_json(verdict).encode()).hexdigest()
            results.append({"visit_id": UUID(loaded.facts.visit_id), "verdict": verdict, "facts_digest": digest})
        stored = await repository.stored_digests([r["visit_id"] for r in results])
        changed = [r for r in results if stored.get(r["visit_id"]) != r["facts_digest"]]
        if changed:
            await repository.replace_verdicts(changed, now)
            await repository.reopen_review([r["visit_id"] for r in changed])
            trail = TrailWriter(self.ctx)
            for result in changed:
                verdict = result["verdict"]
                await trail.append(
                    "verdict",
                    result["visit_id"],
                    actor,
                    {"status": verdict["status"], "policy": f"{verdict['policy_id']}@{verdict['policy_version']}",
                     "digest": result["facts_digest"]},
                )
        return {r["visit_id"]: r["verdict"] for r in results}

    async def reaudit_after_fact(self, visit_id: UUID, actor: Caller | None) -> None:
        """A fact about one visit can change others' verdicts: photo matches (E-REUSE), the technician's fixes (E-MOCK)."""
        await self.reaudit(await affected_visits(visit_id), actor)

    async def reaudit_all(self, visit_ids: list[UUID], progress: Callable[[int], None]) -> int:
        """Bulk A-REAUDIT in batches, each its own transaction, so an interrupted run keeps what it finished."""
        done = 0
        for start in range(0, len(visit_ids), BULK_BATCH):
            batch = visit_ids[start : start + BULK_BATCH]
            async with db.write_transaction(self.ctx.engine):
                await self.reaudit(batch, None)
            done += len(batch)
            progress(done)
        return done


async def affected_visits(visit_id: UUID) -> list[UUID]:
    matched = await PhotoMatch.select(PhotoMatch.other_visit).where(PhotoMatch.visit == visit_id)
    visit = await Visit.select(Visit.technician, Visit.agreed_time).where(Visit.id == visit_id).first()
    same_day: list[dict] = []
    if visit and visit["technician"] is not None:
        same_day = await Visit.select(Visit.id).where(
            (Visit.technician == visit["technician"])
            & (Visit.agreed_time >= visit["agreed_time"] - NEIGHBOUR_WINDOW * 2)
            & (Visit.agreed_time <= visit["agreed_time"] + NEIGHBOUR_WINDOW * 2)
        )
    return sorted({visit_id, *(m["other_visit"] for m in matched), *(v["id"] for v in same_day)}, key=str)


async def visit_ids_between(start: datetime | None, end: datetime | None) -> list[UUID]:
    query = Visit.select(Visit.id).where(Visit.status != "cancelled").order_by(Visit.agreed_time).order_by(Visit.id)
    if start is not None:
        query = query.where(Visit.agreed_time >= start)
    if end is not None:
        query = query.where(Visit.agreed_time < end)
    return [row["id"] for row in await query]
