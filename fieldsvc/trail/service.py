"""Appending to the trail inside the caller's transaction, and verifying the whole chain."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Callable
from uuid import UUID

from fieldsvc import db
from fieldsvc.auth.caller import Caller
from fieldsvc.context import AppContext
from fieldsvc.tables import TrailEntry
from fieldsvc.trail.chain import GENESIS_HASH, BrokenLink, entry_hash, entry_text, first_broken_link

TRAIL_LOCK_KEY = 0x7A11  # the advisory lock that makes PostgreSQL writers take turns on the chain
VERIFY_BATCH = 2000


# One statement for a batch of entries on PostgreSQL (arrays bound as single parameters), in the given order.
_INSERT_ENTRIES = """
INSERT INTO trail_entry (prev_hash, entry_hash, kind, subject_id, actor_id, payload, recorded_at)
SELECT e.prev_hash, e.entry_hash, e.kind, e.subject_id, e.actor_id, e.payload, e.recorded_at
FROM unnest($1::text[], $2::text[], $3::text[], $4::text[], $5::text[], $6::text[], $7::timestamptz[])
    WITH ORDINALITY AS e(prev_hash, entry_hash, kind, subject_id, actor_id, payload, recorded_at, position)
ORDER BY e.position
"""
SQLITE_ROWS_PER_INSERT = 4000  # 8 columns each: under SQLite's bind-parameter limit


@dataclass(frozen=True)
class Entry:
    subject_id: str
    actor_id: str
    data: dict[str, Any]


class TrailWriter:
    def __init__(self, ctx: AppContext):
        self.ctx = ctx

    async def append(self, kind: str, subject_id: UUID | str, actor: Caller | None, data: dict[str, Any]) -> None:
        """Must run inside a write transaction, so the entry commits or rolls back with the change it records."""
        await self.append_many(kind, [Entry(str(subject_id), actor_id_of(actor), data)])

    async def append_many(self, kind: str, entries: list[Entry]) -> None:
        """Append entries in order, chained after the last one; writers take turns until their commit."""
        engine = self.ctx.engine
        if not entries:
            return
        if engine.current_transaction.get() is None:
            raise RuntimeError("trail appends must run inside the transaction of the change they record")
        await db.serialise_appends(engine, TRAIL_LOCK_KEY)
        last = await TrailEntry.select(TrailEntry.entry_hash).order_by(TrailEntry.seq, ascending=False).first()
        prev_hash, now = (last["entry_hash"] if last else GENESIS_HASH), self.ctx.now()
        rows = []
        for entry in entries:
            text = entry_text(kind, entry.subject_id, entry.actor_id, now, entry.data)
            rows.append((prev_hash, entry_hash(prev_hash, text), kind, entry.subject_id, entry.actor_id, text, now))
            prev_hash = rows[-1][1]
        if db.is_sqlite(engine):
            columns = ("prev_hash", "entry_hash", "kind", "subject_id", "actor_id", "payload", "recorded_at")
            for start in range(0, len(rows), SQLITE_ROWS_PER_INSERT):
                chunk = rows[start : start + SQLITE_ROWS_PER_INSERT]
                await TrailEntry.insert(*(TrailEntry(**dict(zip(columns, row))) for row in chunk))
            return
        async with db.pg_connection(engine) as connection:
            await connection.execute(_INSERT_ENTRIES, *(list(column) for column in zip(*rows)))


def actor_id_of(actor: Caller | None) -> str:
    return str(actor.user_id) if actor else "system"


async def verify_trail(progress: Callable[[int], None] = lambda checked: None) -> tuple[int, BrokenLink | None]:
    """Check every link in order, in batches; return how many entries were checked and the first broken one."""
    prev_hash, last_seq, checked = GENESIS_HASH, 0, 0
    while True:
        batch = await (
            TrailEntry.select().where(TrailEntry.seq > last_seq).order_by(TrailEntry.seq).limit(VERIFY_BATCH)
        )
        if not batch:
            return checked, None
        broken, prev_hash = first_broken_link(batch, prev_hash)
        if broken is not None:
            return checked + sum(1 for e in batch if e["seq"] < broken.seq), broken
        checked += len(batch)
        last_seq = batch[-1]["seq"]
        progress(checked)
