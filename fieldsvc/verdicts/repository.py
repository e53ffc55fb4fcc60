"""Queries that store verdicts and their findings."""

from __future__ import annotations

from datetime import datetime
from typing import Any
from uuid import UUID

from fieldsvc.tables import AuditFinding, AuditResult, Visit


async def stored_digests(visit_ids: list[UUID]) -> dict[UUID, str]:
    rows = await AuditResult.select(AuditResult.visit, AuditResult.facts_digest).where(AuditResult.visit.is_in(visit_ids))
    return {row["visit"]: row["facts_digest"] for row in rows}


async def replace_verdicts(results: list[dict[str, Any]], at: datetime) -> None:
    """Store each visit's latest verdict: the result row, one finding row per finding, and the visit's status."""
    visit_ids = [r["visit_id"] for r in results]
    await AuditResult.delete().where(AuditResult.visit.is_in(visit_ids))
    await AuditFinding.delete().where(AuditFinding.visit.is_in(visit_ids))
    await AuditResult.insert(
        *(
            AuditResult(
                visit=r["visit_id"],
                status=r["verdict"]["status"],
                policy_id=r["verdict"]["policy_id"],
                policy_version=r["verdict"]["policy_version"],
                findings=r["verdict"]["findings"],
                trusted_arrival=r["verdict"]["trusted_arrival"],
                facts_digest=r["facts_digest"],
                audited_at=at,
            )
            for r in results
        )
    )
    findings = [
        AuditFinding(visit=r["visit_id"], rule_id=f["rule_id"], code=f["code"], severity=f["severity"])
        for r in results
        for f in r["verdict"]["findings"]
    ]
    if findings:
        await AuditFinding.insert(*findings)
    for status in ("pending", "passed", "flagged"):
        ids = [r["visit_id"] for r in results if r["verdict"]["status"] == status]
        if ids:
            await Visit.update({Visit.verdict: status}).where(Visit.id.is_in(ids))


async def reopen_review(visit_ids: list[UUID]) -> None:
    """A returned visit that is still flagged after its correction goes back into the auditors' queue."""
    await Visit.update({Visit.review_state: "open"}).where(
        Visit.id.is_in(visit_ids) & (Visit.verdict == "flagged") & Visit.review_state.is_in(["none", "returned"])
    )
