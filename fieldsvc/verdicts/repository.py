"""Queries that store verdicts and their findings.

On PostgreSQL every write is one set-based statement per batch (arrays bound as single parameters, so no batch
size can reach the 32,767 bind-parameter limit), on the connection of the caller's transaction. SQLite goes
through Piccolo, in chunks that stay under its own bind-parameter limit.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any
from uuid import UUID

from piccolo.engine.base import Engine
from piccolo.utils.encoding import dump_json

from fieldsvc import db
from fieldsvc.tables import AuditFinding, AuditResult, ReviewDecision, Visit, VisitEvent

VERDICT_STATUSES = ("pending", "passed", "flagged")
DECIDED_STATES = ("confirmed", "dismissed")
SQLITE_MAX_PARAMETERS = 32_766


def _engine() -> Engine:
    return AuditResult._meta.db


def _chunks(rows: list, columns: int) -> list[list]:
    size = max(1, SQLITE_MAX_PARAMETERS // columns)
    return [rows[start : start + size] for start in range(0, len(rows), size)]


async def stored_digests(visit_ids: list[UUID]) -> dict[UUID, str]:
    engine = _engine()
    if not visit_ids:  # a batch whose visits were all deleted since it was listed
        return {}
    if db.is_sqlite(engine):
        rows = await AuditResult.select(AuditResult.visit, AuditResult.facts_digest).where(
            AuditResult.visit.is_in(visit_ids)
        )
        return {row["visit"]: row["facts_digest"] for row in rows}
    async with db.pg_connection(engine) as connection:
        rows = await connection.fetch(
            "SELECT visit, facts_digest FROM audit_result WHERE visit = ANY($1::uuid[])", visit_ids
        )
    return {visit: digest for visit, digest in rows}


@dataclass(frozen=True)
class StoredVerdict:
    status: str
    policy: str  # id@version
    digest: str
    audited_at: datetime
    codes: frozenset[str]  # its findings'


async def stored_verdicts(visit_ids: list[UUID]) -> dict[UUID, StoredVerdict]:
    rows = await AuditResult.select(
        AuditResult.visit, AuditResult.status, AuditResult.policy_id, AuditResult.policy_version,
        AuditResult.facts_digest, AuditResult.audited_at, AuditResult.findings,
    ).where(AuditResult.visit.is_in(visit_ids)).output(load_json=True)
    return {
        row["visit"]: StoredVerdict(
            row["status"], f"{row['policy_id']}@{row['policy_version']}", row["facts_digest"], row["audited_at"],
            frozenset(finding["code"] for finding in row["findings"]),
        )
        for row in rows
    }


async def visits_with_facts(visit_ids: list[UUID]) -> list[UUID]:
    rows = await VisitEvent.select(VisitEvent.visit).where(VisitEvent.visit.is_in(visit_ids)).distinct()
    return [row["visit"] for row in rows]


_INSERT_RESULTS = """
INSERT INTO audit_result (visit, status, policy_id, policy_version, findings, trusted_arrival, facts_digest, audited_at)
SELECT r.visit, r.status, r.policy_id, r.policy_version, r.findings, r.trusted_arrival, r.facts_digest, $8
FROM unnest($1::uuid[], $2::text[], $3::text[], $4::int[], $5::json[], $6::json[], $7::text[])
    AS r(visit, status, policy_id, policy_version, findings, trusted_arrival, facts_digest)
"""
_INSERT_FINDINGS = """
INSERT INTO audit_finding (visit, rule_id, code, severity)
SELECT * FROM unnest($1::uuid[], $2::text[], $3::text[], $4::text[])
"""
_SET_VERDICTS_ONLY = """
UPDATE visit SET verdict = u.status
FROM unnest($1::uuid[], $2::text[]) AS u(id, status)
WHERE visit.id = u.id AND visit.verdict IS DISTINCT FROM u.status
"""


async def replace_verdicts(results: list[dict[str, Any]], at: datetime, stored: list[UUID]) -> None:
    """Store each visit's latest verdict: the result row, one finding row per finding, and the visit's status.

    `stored`: those of the visits that have a verdict already (found by stored_digests in this transaction); only
    their old rows are deleted, so a first audit (a whole cold bulk run) spends nothing on deleting.
    """
    if not results:
        return
    engine = _engine()
    if db.is_sqlite(engine):
        await _replace_verdicts_piccolo(results, at, stored)
        return
    visit_ids = [r["visit_id"] for r in results]
    verdicts = [r["verdict"] for r in results]
    finding_visits, rule_ids, codes, severities = [], [], [], []
    for visit_id, verdict in zip(visit_ids, verdicts):
        for finding in verdict["findings"]:
            finding_visits.append(visit_id)
            rule_ids.append(finding["rule_id"])
            codes.append(finding["code"])
            severities.append(finding["severity"])
    statuses = [r["verdict"]["status"] for r in results]
    async with db.pg_connection(engine) as connection:
        if stored:
            await connection.execute("DELETE FROM audit_result WHERE visit = ANY($1::uuid[])", stored)
            await connection.execute("DELETE FROM audit_finding WHERE visit = ANY($1::uuid[])", stored)
        await connection.execute(
            _INSERT_RESULTS,
            visit_ids,
            [v["status"] for v in verdicts],
            [v["policy_id"] for v in verdicts],
            [v["policy_version"] for v in verdicts],
            # What Piccolo's JSON column would store for the same values (None stays SQL NULL).
            [dump_json(v["findings"]) if v["findings"] else "[]" for v in verdicts],
            [None if v["trusted_arrival"] is None else dump_json(v["trusted_arrival"]) for v in verdicts],
            [r["facts_digest"] for r in results],
            at,
        )
        if finding_visits:
            await connection.execute(_INSERT_FINDINGS, finding_visits, rule_ids, codes, severities)
        await connection.execute(_SET_VERDICTS_ONLY, visit_ids, statuses)


async def _replace_verdicts_piccolo(results: list[dict[str, Any]], at: datetime, stored: list[UUID]) -> None:
    if stored:
        await AuditResult.delete().where(AuditResult.visit.is_in(stored))
        await AuditFinding.delete().where(AuditFinding.visit.is_in(stored))
    rows = [
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
    ]
    for chunk in _chunks(rows, 9):
        await AuditResult.insert(*chunk)
    findings = [
        AuditFinding(visit=r["visit_id"], rule_id=f["rule_id"], code=f["code"], severity=f["severity"])
        for r in results
        for f in r["verdict"]["findings"]
    ]
    for chunk in _chunks(findings, 5):
        await AuditFinding.insert(*chunk)
    for status in VERDICT_STATUSES:
        ids = [r["visit_id"] for r in results if r["verdict"]["status"] == status]
        if ids:
            await Visit.update({Visit.verdict: status}).where(Visit.id.is_in(ids))


async def end_returns(visit_ids: list[UUID]) -> dict[UUID, str]:
    """A-DECIDE: a returned visit completed again goes back to the auditors' queue when still flagged, and has
    nothing left to review when it now passes. Returns the review state each returned visit got."""
    if not visit_ids:
        return {}
    rows = await Visit.select(Visit.id, Visit.verdict).where(
        Visit.id.is_in(visit_ids) & (Visit.review_state == "returned")
    )
    ended = {row["id"]: "open" if row["verdict"] == "flagged" else "none" for row in rows}
    for state in ("open", "none"):
        ids = [visit for visit, new_state in ended.items() if new_state == state]
        if ids:
            await Visit.update({Visit.review_state: state}).where(Visit.id.is_in(ids))
    return ended


async def decided_violations(visit_ids: list[UUID]) -> dict[UUID, tuple[str, set[str]]]:
    """A-DECIDE: of these visits, the confirmed or dismissed ones, each with its review state and the violations its
    decisions covered: those its verdict had then, as violation keys (a violation gone and back is not new; a probe
    made one come and go to send a confirmed visit back again and again, another between two decisions). A last
    decision made before they were kept covers the violation codes of the stored verdict (read before a new verdict
    replaces it)."""
    if not visit_ids:
        return {}
    rows = await Visit.select(Visit.id, Visit.review_state).where(
        Visit.id.is_in(visit_ids) & Visit.review_state.is_in(list(DECIDED_STATES))
    )
    if not rows:
        return {}
    decided_ids = [row["id"] for row in rows]
    covered: dict[UUID, set[str]] = {visit: set() for visit in decided_ids}
    last_codes: dict[UUID, list[str] | None] = {}
    for decision in await ReviewDecision.select(ReviewDecision.visit, ReviewDecision.decided_codes).where(
        ReviewDecision.visit.is_in(decided_ids)
    ).order_by(ReviewDecision.decided_at).output(load_json=True):
        covered[decision["visit"]].update(decision["decided_codes"] or ())
        last_codes[decision["visit"]] = decision["decided_codes"]
    decided = {row["id"]: (row["review_state"], covered[row["id"]]) for row in rows}
    unknown = [visit for visit in decided_ids if last_codes.get(visit) is None]
    if unknown:
        for finding in await AuditFinding.select(AuditFinding.visit, AuditFinding.code).where(
            AuditFinding.visit.is_in(unknown) & (AuditFinding.severity == "violation")
        ):
            decided[finding["visit"]][1].add(finding["code"])
    return decided


async def reopen_reviews(visit_ids: list[UUID]) -> None:
    """A-DECIDE: back to the auditors' queue."""
    if visit_ids:
        await Visit.update({Visit.review_state: "open"}).where(Visit.id.is_in(visit_ids))

