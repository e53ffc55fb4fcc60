"""Appending to the trail inside the caller's transaction, and verifying the whole chain."""

from __future__ import annotations

from typing import Any, Callable
from uuid import UUID

from fieldsvc import db
from fieldsvc.auth.caller import Caller
from fieldsvc.context import AppContext
from fieldsvc.tables import TrailEntry
from fieldsvc.trail.chain import GENESIS_HASH, BrokenLink, entry_hash, entry_text, first_broken_link

TRAIL_LOCK_KEY = 0x7A11  # the advisory lock that makes PostgreSQL writers take turns on the chain
VERIFY_BATCH = 2000


class TrailWriter:
    def __init__(self, ctx: AppContext):
        self.ctx = ctx

    async def append(self, kind: str, subject_id: UUID | str, actor: Caller | None, data: dict[str, Any]) -> None:
        """Must run inside a write transaction, so the entry commits or rolls back with the change it records."""
        engine = self.ctx.engine
        if engine.current_transaction.get() is None:
            raise RuntimeError("trail appends must run inside the transaction of the change they record")
        await db.serialise_appends(engine, TRAIL_LOCK_KEY)
        last = await TrailEntry.select(TrailEntry.entry_hash).order_by(TrailEntry.seq, ascending=False).first()
        prev_hash = last["entry_hash"] if last else GENESIS_HASH
        actor_id = str(actor.user_id) if actor else "system"
        now = self.ctx.now()
        text = entry_text(kind, str(subject_id), actor_id, now, data)
        await TrailEntry.insert(
            TrailEntry(
                prev_hash=prev_hash,
                entry_hash=entry_hash(prev_hash, text),
                kind=kind,
                subject_id=str(subject_id),
                actor_id=actor_id,
                payload=text,
                recorded_at=now,
            )
        )


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
