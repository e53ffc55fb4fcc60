"""Appending to the trail (queued in the caller's transaction, or chained at once), chaining, and verifying."""

from __future__ import annotations

import hashlib
import hmac
import logging
from dataclasses import dataclass
from datetime import datetime
from typing import Any, Callable
from uuid import UUID, uuid4

from fieldsvc import db
from fieldsvc.auth.caller import Caller
from fieldsvc.context import AppContext
from fieldsvc.tables import TrailEntry, TrailHead, TrailPending
from fieldsvc.trail.chain import (
    FORGED_KIND, GENESIS_HASH, BrokenLink, content_mismatch, entry_hash, entry_text, first_broken_link,
)

log = logging.getLogger("fieldsvc.trail")

TRAIL_LOCK_KEY = 0x7A11  # the advisory lock that makes PostgreSQL writers take turns on the chain
VERIFY_BATCH = 2000
CHAIN_BATCH = 5000  # queued entries chained per transaction


# One statement for a batch of entries on PostgreSQL (arrays bound as single parameters), in the given order.
_INSERT_ENTRIES = """
INSERT INTO trail_entry (prev_hash, entry_hash, kind, subject_id, actor_id, payload, recorded_at)
SELECT e.prev_hash, e.entry_hash, e.kind, e.subject_id, e.actor_id, e.payload, e.recorded_at
FROM unnest($1::text[], $2::text[], $3::text[], $4::text[], $5::text[], $6::text[], $7::timestamptz[])
    WITH ORDINALITY AS e(prev_hash, entry_hash, kind, subject_id, actor_id, payload, recorded_at, position)
ORDER BY e.position
"""
# Written out: every fact queues one or two entries, and Piccolo took longer to build this INSERT than to run it.
SQLITE_ROWS_PER_INSERT = 4000  # 8 columns each: under SQLite's bind-parameter limit
QUEUED_COLUMNS = ("kind", "subject_id", "actor_id", "payload", "recorded_at", "seal")  # a queued entry, in order
PENDING_COLUMNS = ", ".join(QUEUED_COLUMNS)
_QUEUE_ENTRY = f"INSERT INTO trail_pending ({PENDING_COLUMNS}) VALUES ({{}}, {{}}, {{}}, {{}}, {{}}, {{}})"

Unchained = tuple[str, str, str, str, datetime]  # kind, subject id, actor id, canonical text, recorded at
Queued = tuple[str, str, str, str, datetime, str]  # an Unchained entry and its seal
Statement = tuple[str, UUID, dict[str, Any]]  # kind, subject id and data of an entry for a caller to append


class UnsealedHead(Exception):
    """The chain's head does not vouch for its last entry under this key: changed behind the service's back, or the
    key is not the one that sealed it."""


@dataclass(frozen=True)
class Entry:
    subject_id: str
    actor_id: str
    data: dict[str, Any]


class TrailWriter:
    def __init__(self, ctx: AppContext):
        self.ctx = ctx

    async def append(self, kind: str, subject_id: UUID | str, actor: Caller | None, data: dict[str, Any]) -> None:
        """Queue one entry in the caller's write transaction: it commits or rolls back with the change it records.

        Requests never wait for the chain's lock; the background auditor chains queued entries in their order.
        """
        _require_transaction(self.ctx)
        await queue_entries([self.entry(kind, subject_id, actor, data)])
        self.ctx.audit_wakeup.set()

    def entry(self, kind: str, subject_id: UUID | str, actor: Caller | None, data: dict[str, Any]) -> Queued:
        """An entry as append() queues it, for a caller that queues it in a statement of its own."""
        now, subject, actor_id = self.ctx.now(), str(subject_id), actor_id_of(actor)
        # Two statements alike at one instant (a clock frozen in tests, or coarse) must not read as one queued again.
        text = entry_text(kind, subject, actor_id, now, data, entry_id=str(uuid4()))
        return kind, subject, actor_id, text, now, queue_seal(self.ctx, text)

    async def append_many(self, kind: str, entries: list[Entry]) -> None:
        """Chain entries now, in order, in the caller's transaction (batch writers: the verdicts of a re-audit)."""
        if not entries:
            return
        _require_transaction(self.ctx)
        now = self.ctx.now()
        await db.serialise_appends(self.ctx.engine, TRAIL_LOCK_KEY)
        # The facts a verdict was computed from come before it on the chain: their queued entries go on first (a
        # verdict was chained ahead of the photo it counted; a probe).
        while await self._chain_queued(CHAIN_BATCH) == CHAIN_BATCH:
            pass
        await self._chain(
            [(kind, e.subject_id, e.actor_id, entry_text(kind, e.subject_id, e.actor_id, now, e.data), now) for e in entries]
        )

    @staticmethod
    async def pending_count() -> int:
        """Entries queued by facts and not yet on the chain (the background auditor chains them)."""
        return await TrailPending.count()

    async def chain_pending(self, limit: int = CHAIN_BATCH) -> int:
        """Move up to `limit` queued entries onto the chain, oldest first; returns how many were chained."""
        async with db.write_transaction(self.ctx.engine):
            await db.serialise_appends(self.ctx.engine, TRAIL_LOCK_KEY)  # before reading: one chainer at a time
            return await self._chain_queued(limit)

    async def _chain_queued(self, limit: int) -> int:
        """Up to `limit` queued entries onto the chain, oldest first; the caller holds the chain's lock."""
        queued = await TrailPending.select().order_by(TrailPending.id).limit(limit)
        if queued:
            said = await _said_already(queued)
            await self._chain([self._as_chained(row, said) for row in queued])
            await TrailPending.delete().where(TrailPending.id.is_in([row["id"] for row in queued]))
        return len(queued)

    async def chain_all_pending(self) -> int:
        chained = total = await self.chain_pending()
        while chained:
            chained = await self.chain_pending()
            total += chained
        return total

    def _as_chained(self, row: dict[str, Any], said: set[tuple[str, str]]) -> Unchained:
        """A queued entry as it goes on the chain: itself when the service sealed it and it says something not said
        before; otherwise (written behind the service's back: a sealed entry copied while it waited and queued again
        would repeat a statement the records were since changed to match) the system's record of it, which verify
        names and no records check reads as a statement."""
        statement = (row["subject_id"], row["payload"])
        why = "queued again" if statement in said else None if sealed_by_the_service(self.ctx, row) else "no seal"
        if why is None:
            said.add(statement)
            return row["kind"], row["subject_id"], row["actor_id"], row["payload"], row["recorded_at"]
        log.error("queued trail entry %s (%s): chaining a record of the forgery instead", row["id"], why)
        forged = {"pendingId": row["id"], "kind": row["kind"], "subject": row["subject_id"], "actor": row["actor_id"],
                  "recordedAt": row["recorded_at"], "payload": row["payload"], "seal": row["seal"], "why": why}
        now = self.ctx.now()
        return FORGED_KIND, "trail", "system", entry_text(FORGED_KIND, "trail", "system", now, forged), now

    async def seal(self) -> tuple[bool, int]:
        """Seal the head and the queued entries not sealed, as they stand, if the head names the last entry (else
        nothing): once, after upgrading from a version before seals, or after changing the key. Returns whether the
        head was sealed and how many queued entries were."""
        async with db.write_transaction(self.ctx.engine):
            await db.serialise_appends(self.ctx.engine, TRAIL_LOCK_KEY)
            last_hash = await _last_hash()
            if [head["entry_hash"] for head in await TrailHead.select(TrailHead.entry_hash)] != [last_hash]:
                return False, 0
            await TrailHead.update({TrailHead.seal: head_seal(self.ctx, last_hash)}, force=True)
            unsealed = [row for row in await TrailPending.select() if not sealed_by_the_service(self.ctx, row)]
            for row in unsealed:
                seal = queue_seal(self.ctx, row["payload"])
                await TrailPending.update({TrailPending.seal: seal}).where(TrailPending.id == row["id"])
        return True, len(unsealed)

    async def _chain(self, items: list[Unchained]) -> None:
        """Append after the last entry; the caller holds the chain's lock until its transaction ends."""
        engine = self.ctx.engine
        prev_hash = await _last_hash()
        await self._require_sealed_head(prev_hash)
        rows = []
        for kind, subject_id, actor_id, text, recorded_at in items:
            rows.append((prev_hash, entry_hash(prev_hash, text), kind, subject_id, actor_id, text, recorded_at))
            prev_hash = rows[-1][1]
        if db.is_sqlite(engine):
            columns = ("prev_hash", "entry_hash", "kind", "subject_id", "actor_id", "payload", "recorded_at")
            for start in range(0, len(rows), SQLITE_ROWS_PER_INSERT):
                chunk = rows[start : start + SQLITE_ROWS_PER_INSERT]
                await TrailEntry.insert(*(TrailEntry(**dict(zip(columns, row))) for row in chunk))
        else:
            async with db.pg_connection(engine) as connection:
                await connection.execute(_INSERT_ENTRIES, *(list(column) for column in zip(*rows)))
        await TrailHead.update(
            {TrailHead.entry_hash: prev_hash, TrailHead.seal: head_seal(self.ctx, prev_hash)}, force=True
        )

    async def _require_sealed_head(self, last_hash: str) -> None:
        """Append only after a head that names the last entry, sealed with this key (at the genesis it needs none): the
        next append sealed a chain rewritten behind the service's back (a probe), and one made with a wrong key marked
        every queued entry forged for good (a probe). Refused, nothing is chained: facts stay queued, verify names the
        head, and chaining resumes once the right key is back or, the chain examined, `fieldsvc trail seal` ran."""
        if not await _head_sealed(self.ctx, last_hash):
            said = "the trail's head is not its last entry's, sealed with this key: nothing is chained"
            log.error(said)
            raise UnsealedHead(f"{said}; run fieldsvc trail verify")

    async def can_chain(self) -> bool:
        """Whether appends would be taken: the head names the last entry, sealed with this key (read in one snapshot:
        an append committing between the two reads is no broken head)."""
        async with db.read_snapshot(self.ctx.engine):
            return await _head_sealed(self.ctx, await _last_hash())


async def _head_sealed(ctx: AppContext, last_hash: str) -> bool:
    heads = await TrailHead.select(TrailHead.entry_hash, TrailHead.seal)
    return [head["entry_hash"] for head in heads] == [last_hash] and (
        last_hash == GENESIS_HASH or hmac.compare_digest(heads[0]["seal"] or "", head_seal(ctx, last_hash))
    )


async def _last_hash() -> str:
    last = await TrailEntry.select(TrailEntry.entry_hash).order_by(TrailEntry.seq, ascending=False).first()
    return last["entry_hash"] if last else GENESIS_HASH


async def _said_already(queued: list[dict[str, Any]]) -> set[tuple[str, str]]:
    """The queued entries' statements (subject and content) already on the chain."""
    chained = await TrailEntry.select(TrailEntry.subject_id, TrailEntry.payload).where(
        TrailEntry.subject_id.is_in(list({row["subject_id"] for row in queued}))
        & TrailEntry.payload.is_in(list({row["payload"] for row in queued}))
    )
    return {(row["subject_id"], row["payload"]) for row in chained}


async def queue_entries(entries: list[Queued]) -> None:
    """Queue entries in the caller's transaction, in order."""
    for entry in entries:
        await TrailPending.raw(_QUEUE_ENTRY, *entry)


def _require_transaction(ctx: AppContext) -> None:
    if ctx.engine.current_transaction.get() is None:
        raise RuntimeError("trail appends must run inside the transaction of the change they record")


def actor_id_of(actor: Caller | None) -> str:
    return str(actor.user_id) if actor else "system"


def head_seal(ctx: AppContext, entry_hash: str) -> str:
    return _keyed(ctx, b"fieldsvc trail head", entry_hash)


def queue_seal(ctx: AppContext, text: str) -> str:
    """The seal of a queued entry's content: the chainer takes as statements only entries the service queued."""
    return _keyed(ctx, b"fieldsvc trail queued entry", text)


def sealed_by_the_service(ctx: AppContext, queued: dict[str, Any]) -> bool:
    """A queued entry whose content carries the service's seal and whose columns are its content's."""
    seal = queued["seal"] if isinstance(queued["seal"], str) else ""
    return hmac.compare_digest(seal, queue_seal(ctx, queued["payload"])) and content_mismatch(queued) is None


def _keyed(ctx: AppContext, purpose: bytes, text: str) -> str:
    key = hmac.new(ctx.secret_key(), purpose, hashlib.sha256).digest()
    return hmac.new(key, text.encode(), hashlib.sha256).hexdigest()


async def verify_trail(
    ctx: AppContext, progress: Callable[[int], None] = lambda checked: None
) -> tuple[int, BrokenLink | None]:
    """Check every link in order, in batches, then the head; return how many entries were checked and the first
    broken one."""
    prev_hash, last_seq, checked = GENESIS_HASH, 0, 0
    while True:
        batch = await (
            TrailEntry.select().where(TrailEntry.seq > last_seq).order_by(TrailEntry.seq).limit(VERIFY_BATCH)
        )
        if not batch:
            broken = await _cut_short(ctx, prev_hash, last_seq)
            # The auditor may have chained entries (and moved the head to them) after the last batch was read: walk
            # on to them. Entries removed from the end leave nothing past the walk, and stay a broken link.
            if broken is not None and not broken.whole_chain and await TrailEntry.exists().where(
                TrailEntry.seq > last_seq
            ):
                continue
            return checked, broken
        broken, prev_hash = first_broken_link(batch, prev_hash)
        if broken is not None:
            return checked + sum(1 for e in batch if e["seq"] < broken.seq), broken
        checked += len(batch)
        last_seq = batch[-1]["seq"]
        progress(checked)


async def chain_head() -> str | None:
    """The hash the chain's head records as its last entry's."""
    head = await TrailHead.select(TrailHead.entry_hash).first()
    return head["entry_hash"] if head else None


async def _cut_short(ctx: AppContext, last_hash: str, last_seq: int) -> BrokenLink | None:
    """The chain must end where its head says (entries deleted from the end leave the head pointing past it), and
    the head must carry the seal only the service's key makes (a chain rewritten and its head moved along)."""
    heads = await TrailHead.select(TrailHead.entry_hash, TrailHead.seal)
    if [head["entry_hash"] for head in heads] != [last_hash]:
        return BrokenLink(last_seq + 1, f"the chain ends at entry {last_seq}, but its head records another last entry "
                                        f"({', '.join(head['entry_hash'] for head in heads) or 'no head at all'}): "
                                        "entries were removed from its end")
    if last_seq and not hmac.compare_digest(heads[0]["seal"], head_seal(ctx, last_hash)):
        return BrokenLink(last_seq, "the head's seal does not match the last entry: the chain was rewritten without "
                                    "the service's key (or the key was changed)", whole_chain=True)
    return None
