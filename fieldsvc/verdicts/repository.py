"""Queries that store verdicts, their findings and their trail entries.

On PostgreSQL every write is one set-based statement per batch (arrays bound as single parameters, so no batch
size can reach the 32,767 bind-parameter limit), on the connection of the caller's transaction. SQLite goes
through Piccolo, in chunks that stay under its own bind-parameter limit.
"""

from __future__ import annotations

from contextlib import asynccontextmanager
from datetime import datetime
from typing import Any, AsyncIterator
from uuid import UUID

from piccolo.engine.base import Engine
from piccolo.utils.encoding import dump_json

from fieldsvc import db
from fieldsvc.tables import AuditFinding, AuditResult, TrailEntry, Visit
from fieldsvc.trail.chain import GENESIS_HASH, entry_hash, entry_text
from fieldsvc.trail.service import TRAIL_LOCK_KEY

VERDICT_STATUSES = ("pending", "passed", "flagged")
SQLITE_MAX_PARAMETERS = 32_766


@asynccontextmanager
async def pg_connection(engine: Engine) -> AsyncIterator[Any]:
    """The asyncpg connection of the current transaction, or one from the pool when there is none."""
    transaction = engine.current_transaction.get()
    if transaction is not None:
        yield transaction.connection
    elif engine.pool is not None:
        async with engine.pool.acquire() as connection:
            yield connection
    else:
        connection = await engine.get_new_connection()
        try:
            yield connection
        finally:
            await connection.close()


def _engine() -> Engine:
    return AuditResult._meta.db


def _chunks(rows: list, columns: int) -> list[list]:
    size = max(1, SQLITE_MAX_PARAMETERS // columns)
    return [rows[start : start + size] for start in range(0, len(rows), size)]


async def stored_digests(visit_ids: list[UUID]) -> dict[UUID, str]:
    engine = _engine()
    if db.is_sqlite(engine):
        rows = await AuditResult.select(AuditResult.visit, AuditResult.facts_digest).where(
            AuditResult.visit.is_in(visit_ids)
        )
        return {row["visit"]: row["facts_digest"] for row in rows}
    async with pg_connection(engine) as connection:
        rows = await connection.fetch(
            "SELECT visit, facts_digest FROM audit_result WHERE visit = ANY($1::uuid[])", visit_ids
        )
    return {visit: digest for visit, digest in rows}


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
# The visit's verdict, and (reopen_review) a returned or unreviewed visit that is flagged goes back into the
# auditors' queue: one new row version per visit, and none where nothing changes.
_SET_VISIT_VERDICTS = """
UPDATE visit SET
    verdict = u.status,
    review_state = CASE WHEN u.status = 'flagged' AND visit.review_state IN ('none', 'returned') THEN 'open'
                        ELSE visit.review_state END
FROM unnest($1::uuid[], $2::text[]) AS u(id, status)
WHERE visit.id = u.id
  AND (visit.verdict IS DISTINCT FROM u.status OR (u.status = 'flagged' AND visit.review_state IN ('none', 'returned')))
"""


async def replace_verdicts(results: list[dict[str, Any]], at: datetime, reopen: bool = False) -> None:
    """Store each visit's latest verdict: the result row, one finding row per finding, and the visit's status.

    With `reopen`, also what reopen_review does for the same visits, in the same statement on PostgreSQL.
    """
    if not results:
        return
    engine = _engine()
    if db.is_sqlite(engine):
        await _replace_verdicts_piccolo(results, at)
        if reopen:
            await reopen_review([r["visit_id"] for r in results])
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
    statused = [(r["visit_id"], r["verdict"]["status"]) for r in results if r["verdict"]["status"] in VERDICT_STATUSES]
    async with pg_connection(engine) as connection:
        await connection.execute("DELETE FROM audit_result WHERE visit = ANY($1::uuid[])", visit_ids)
        await connection.execute("DELETE FROM audit_finding WHERE visit = ANY($1::uuid[])", visit_ids)
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
        if statused and reopen:
            await connection.execute(_SET_VISIT_VERDICTS, [v for v, _ in statused], [s for _, s in statused])
        elif statused:
            await connection.execute(_SET_VERDICTS_ONLY, [v for v, _ in statused], [s for _, s in statused])
        if reopen and len(statused) < len(results):  # a status the visit column does not take: as reopen_review does
            await reopen_review([r["visit_id"] for r in results if r["verdict"]["status"] not in VERDICT_STATUSES])


async def _replace_verdicts_piccolo(results: list[dict[str, Any]], at: datetime) -> None:
    visit_ids = [r["visit_id"] for r in results]
    await AuditResult.delete().where(AuditResult.visit.is_in(visit_ids))
    await AuditFinding.delete().where(AuditFinding.visit.is_in(visit_ids))
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


async def reopen_review(visit_ids: list[UUID]) -> None:
    """A returned visit that is still flagged after its correction goes back into the auditors' queue."""
    if not visit_ids:
        return
    engine = _engine()
    if db.is_sqlite(engine):
        await Visit.update({Visit.review_state: "open"}).where(
            Visit.id.is_in(visit_ids) & (Visit.verdict == "flagged") & Visit.review_state.is_in(["none", "returned"])
        )
        return
    async with pg_connection(engine) as connection:
        await connection.execute(
            "UPDATE visit SET review_state = 'open' WHERE id = ANY($1::uuid[]) AND verdict = 'flagged' "
            "AND review_state IN ('none', 'returned')",
            visit_ids,
        )


_INSERT_TRAIL = """
INSERT INTO trail_entry (prev_hash, entry_hash, kind, subject_id, actor_id, payload, recorded_at)
SELECT e.prev_hash, e.entry_hash, e.kind, e.subject_id, e.actor_id, e.payload, e.recorded_at
FROM unnest($1::text[], $2::text[], $3::text[], $4::text[], $5::text[], $6::text[], $7::timestamptz[])
    WITH ORDINALITY AS e(prev_hash, entry_hash, kind, subject_id, actor_id, payload, recorded_at, position)
ORDER BY e.position
"""


async def append_trail(kind: str, entries: list[tuple[str, str, datetime, dict[str, Any]]]) -> None:
    """Append (subject id, actor id, recorded at, data) entries to the trail in order, exactly as that many
    TrailWriter.append calls would: one chain, serialised with every other writer, in the caller's transaction."""
    if not entries:
        return
    engine = _engine()
    if engine.current_transaction.get() is None:
        raise RuntimeError("trail appends must run inside the transaction of the change they record")
    await db.serialise_appends(engine, TRAIL_LOCK_KEY)
    if db.is_sqlite(engine):
        last = await TrailEntry.select(TrailEntry.entry_hash).order_by(TrailEntry.seq, ascending=False).first()
        prev_hash = last["entry_hash"] if last else GENESIS_HASH
    else:
        async with pg_connection(engine) as connection:
            last = await connection.fetchval("SELECT entry_hash FROM trail_entry ORDER BY seq DESC LIMIT 1")
        prev_hash = last or GENESIS_HASH
    prev_hashes, hashes, texts = [], [], []
    for subject_id, actor_id, recorded_at, data in entries:
        text = entry_text(kind, subject_id, actor_id, recorded_at, data)
        prev_hashes.append(prev_hash)
        prev_hash = entry_hash(prev_hash, text)
        hashes.append(prev_hash)
        texts.append(text)
    if db.is_sqlite(engine):
        rows = [
            TrailEntry(prev_hash=p, entry_hash=h, kind=kind, subject_id=s, actor_id=a, payload=t, recorded_at=r)
            for p, h, t, (s, a, r, _) in zip(prev_hashes, hashes, texts, entries)
        ]
        for chunk in _chunks(rows, 8):
            await TrailEntry.insert(*chunk)
        return
    async with pg_connection(engine) as connection:
        await connection.execute(
            _INSERT_TRAIL,
            prev_hashes,
            hashes,
            [kind] * len(entries),
            [e[0] for e in entries],
            [e[1] for e in entries],
            texts,
            [e[2] for e in entries],
        )
