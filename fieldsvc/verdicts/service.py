"""A-REAUDIT: run the audit engine over visits' stored facts and keep the latest verdict of each."""

from __future__ import annotations

import asyncio
import contextlib
import functools
import gc
import multiprocessing
import multiprocessing.util
import operator
import os
import signal
import time
from collections import deque
from concurrent.futures import ProcessPoolExecutor
from datetime import UTC, datetime, timedelta
from typing import Any, Callable
from uuid import UUID

from piccolo.engine.postgres import PostgresEngine

from fieldsvc import db, runtime
from fieldsvc.audit.engine import audit_visit
from fieldsvc.audit.findings import decision_covers, verdict_digest
from fieldsvc.audit.policy import Policy, PolicyBook, load_default_policies
from fieldsvc.auth.caller import Caller
from fieldsvc.context import AppContext
from fieldsvc.tables import PhotoMatch, Visit, VisitEvent
from fieldsvc.trail.service import Entry, TrailWriter, UnsealedHead, actor_id_of
from fieldsvc.verdicts import outbox, repository
from fieldsvc.verdicts.loader import NEIGHBOUR_WINDOW, LoadedVisit, load_visits
from fieldsvc.verdicts.process import exit_when_orphaned

AUDIT_SLICE = 8  # visits audited between two turns of the event loop (~1-5 ms of CPU)
# Due visits per outbox re-audit: a burst's visits share one load and one commit; a reader settling first waits for
# one such round (256 measured no faster under the check-in benchmark).
DUE_BATCH = 64
# Two auditors re-auditing one visit at once (two rounds whose due visits both touch it, or a reader settling beside
# the background auditor) would both write its verdict. They take turns from loading to commit, so the last to write
# also loaded last. A bulk run's batches hold disjoint visits: they share the turn among themselves.
AUDIT_LOCK_KEY = 0xA0D17
DUE_LEASE = timedelta(seconds=30)  # an auditor that died holding a claim is replaced after this
SETTLE_SECONDS = 5.0
SETTLE_POLL_SECONDS = 0.02
WINDOWS_PER_QUERY = 100  # (technician, stretch of time) conditions OR-ed in one query: Piccolo nests each one deeper
BULK_BATCH = 1000  # visits per transaction: fewer commits and round trips; still seconds of work each
BULK_IN_FLIGHT = 2  # batches in flight at once in one process on PostgreSQL
# A shorter run is cut into about this many batches (of at least the minimum), so its progress bar moves.
PROGRESS_STEPS, PROGRESS_MIN_BATCH = 20, 50
# A long bulk run on PostgreSQL is CPU-bound in Python (facts, rules, digests): worker processes use every core,
# plus one, because each worker also waits for its queries and commits and the spare one keeps the cores busy then.
_CORES = os.cpu_count() or 1
BULK_WORKERS = min(5, _CORES + 1) if _CORES > 1 else 1
BULK_WORKERS_MIN_BATCHES = 20  # below this a worker's start (about a second of imports) does not pay off
_DEFAULT_CLOCK = AppContext.__dataclass_fields__["clock"].default


def wall_clock() -> datetime:
    """Leases are about this machine's real time, never the domain clock tests travel with."""
    return datetime.now(UTC)


class VerdictService:
    def __init__(self, ctx: AppContext):
        self.ctx = ctx

    async def reaudit(
        self, visit_ids: list[UUID], actor: Caller | None, *, bulk: bool = False
    ) -> dict[UUID, dict[str, Any]]:
        """Audit the visits and store changed verdicts, inside the caller's transaction (after its new facts).
        bulk: one of a run's batches, which never share a visit."""
        if not visit_ids:
            return {}
        await db.serialise_appends(self.ctx.engine, AUDIT_LOCK_KEY, shared=bulk)
        now = self.ctx.now()
        results = await audited(await load_visits(visit_ids, now), self.ctx.policies)
        stored = await repository.stored_digests([r["visit_id"] for r in results])
        changed = [r for r in results if stored.get(r["visit_id"]) != r["facts_digest"]]
        if changed:
            replaced = [r["visit_id"] for r in changed if r["visit_id"] in stored]
            decided = await repository.decided_violations(replaced)
            await repository.replace_verdicts(changed, now, replaced)
            await self._reopen_on_new_violations(decided, changed, actor)
            await TrailWriter(self.ctx).append_many(
                "verdict",
                [
                    Entry(
                        str(result["visit_id"]),
                        actor_id_of(actor),
                        {
                            "status": result["verdict"]["status"],
                            "policy": f"{result['verdict']['policy_id']}@{result['verdict']['policy_version']}",
                            "digest": result["facts_digest"],
                            # The digest is verdict_digest's: trail verify recomputes it from the stored findings
                            # (earlier entries' digests were spelled otherwise, and are not recomputed).
                            "coversFindings": True,
                        },
                    )
                    for result in changed
                ],
            )
        return {r["visit_id"]: r["verdict"] for r in results}

    async def _reopen_on_new_violations(
        self, decided: dict[UUID, tuple[str, set[str]]], changed: list[dict[str, Any]], actor: Caller | None
    ) -> None:
        """A-DECIDE: a decision covers the violations the visit had then. One found later (a repair resolved late,
        a photo reused by a later visit, a fact that came in after) puts the visit back in the auditors' queue."""
        reopened = {
            r["visit_id"]: decided[r["visit_id"]][0]
            for r in changed
            if r["visit_id"] in decided and r["verdict"]["status"] == "flagged"
            and any(
                finding["severity"] == "violation" and not decision_covers(decided[r["visit_id"]][1], finding)
                for finding in r["verdict"]["findings"]
            )
        }
        if reopened:
            await repository.reopen_reviews(list(reopened))
            await TrailWriter(self.ctx).append_many("visit.review_state", [
                Entry(str(visit), actor_id_of(actor), {"from": state, "to": "open"}) for visit, state in reopened.items()
            ])

    async def audit_due(self, limit: int = DUE_BATCH) -> int:
        """Claim up to `limit` visits from the outbox, re-audit them and the visits their facts touch, clear them.

        The verdicts are written in one transaction that locks no visit while loading and auditing, so phones keep
        recording facts meanwhile; a fact that commits during it marks its visit again, and that visit is audited
        again. Returns how many due visits were claimed (0: nothing due, or all leased by other auditors).
        """
        claimed = await outbox.claim(limit, wall_clock(), wall_clock() + DUE_LEASE)
        if not claimed:
            return 0
        own = [due.visit for due in claimed]
        try:
            visits = sorted({*own, *await affected_visits(own, [d.visit for d in claimed if d.located])}, key=str)
            async with db.write_transaction(self.ctx.engine):
                await self.reaudit(visits, None)
                ended = await repository.end_returns([due.visit for due in claimed if due.reopens])
                await TrailWriter(self.ctx).append_many("visit.review_state", [
                    Entry(str(visit), actor_id_of(None), {"from": "returned", "to": state})
                    for visit, state in ended.items()
                ])
                await outbox.release(claimed)  # cleared with the verdicts they led to: one commit, not three
        except BaseException:
            with contextlib.suppress(Exception):  # free them for the next try now, not when the lease runs out
                await outbox.release(claimed, audited=False)
            raise
        return len(claimed)

    async def settle(self, within_seconds: float = SETTLE_SECONDS) -> None:
        """Read-your-writes for verdict readers: audit what is due now, waiting for what other auditors hold.

        Bounded: under a steady stream of new facts it gives up after `within_seconds` and the reader sees the
        verdicts as they are (each still consistent with the facts it was computed from).
        """
        give_up = time.monotonic() + within_seconds
        while await outbox.backlog() and time.monotonic() < give_up:
            try:
                claimed = await self.audit_due()
            except UnsealedHead:
                # Verdicts cannot be chained under this server's key: readers see them as they are (they were
                # answered 500, the technician's own day list among them). Readiness says so; the error is logged.
                return
            if not claimed:
                await asyncio.sleep(SETTLE_POLL_SECONDS)  # the rest is leased: another auditor is on it

    async def reaudit_all(self, visit_ids: list[UUID], progress: Callable[[int], None]) -> int:
        """Bulk A-REAUDIT in batches, each its own transaction, so an interrupted run keeps what it finished.

        Progress is reported in batch order. On PostgreSQL, a long run is shared by worker processes (BULK_WORKERS,
        each batch still its own transaction with the same queries and writes); a shorter one keeps two batches in
        flight in this process, each on its own connection, so the database's work overlaps Python's. Inside a
        caller's transaction (one connection), on SQLite (one writer), or with a replaced clock or policy book,
        batches take turns in this process.
        """
        engine = self.ctx.engine
        size = min(BULK_BATCH, max(PROGRESS_MIN_BATCH, -(-len(visit_ids) // PROGRESS_STEPS)))
        batches = [visit_ids[start : start + size] for start in range(0, len(visit_ids), size)]
        if self._may_use_workers(len(visit_ids)):
            return await self._reaudit_in_workers(batches, progress)
        in_flight = 1 if db.is_sqlite(engine) or engine.current_transaction.get() is not None else BULK_IN_FLIGHT

        async def run(batch: list[UUID]) -> int:
            async with db.write_transaction(engine):
                await self.reaudit(batch, None, bulk=True)
            return len(batch)

        done = 0
        if in_flight == 1:
            for batch in batches:
                done += await run(batch)
                progress(done)
            return done
        pending: deque[asyncio.Task[int]] = deque()
        try:
            for batch in batches:
                pending.append(asyncio.create_task(run(batch)))
                if len(pending) >= in_flight:
                    done += await pending.popleft()
                    progress(done)
            while pending:
                done += await pending.popleft()
                progress(done)
        finally:
            for task in pending:  # a failed batch (or an interrupted run) rolls back the batches still in flight
                task.cancel()
            await asyncio.gather(*pending, return_exceptions=True)
        return done

    def _may_use_workers(self, visit_count: int) -> bool:
        """Workers rebuild the context from the engine's config: only when nothing else of it matters."""
        engine = self.ctx.engine
        if BULK_WORKERS < 2 or visit_count < BULK_WORKERS_MIN_BATCHES * BULK_BATCH:
            return False
        if not isinstance(engine, PostgresEngine) or engine.current_transaction.get() is not None:
            return False
        if self.ctx.clock is not _DEFAULT_CLOCK:
            return False
        if "policies" in vars(self.ctx):  # read already: it must be the shipped book the workers will read
            shipped = {(p.policy_id, p.version, p.fingerprint) for p in load_default_policies()}
            return {(p.policy_id, p.version, p.fingerprint) for p in self.ctx.policies} == shipped
        return True

    async def _reaudit_in_workers(self, batches: list[list[UUID]], progress: Callable[[int], None]) -> int:
        loop = asyncio.get_running_loop()
        pool = ProcessPoolExecutor(
            max_workers=BULK_WORKERS,
            mp_context=multiprocessing.get_context("spawn"),  # never fork a process with a running loop and pool
            initializer=_start_worker,
            initargs=(self.ctx.engine.config, self.ctx.settings, os.getpid()),
        )
        futures = [loop.run_in_executor(pool, _reaudit_batch, batch) for batch in batches]
        done = 0
        try:
            for future in futures:
                done += await future
                progress(done)
        except BaseException:
            for future in futures:
                future.cancel()
            pool.shutdown(wait=False, cancel_futures=True)
            raise
        await loop.run_in_executor(None, pool.shutdown)
        return done


_worker: dict[str, Any] = {}  # in a bulk worker process: its event loop and service


def _start_worker(config: dict[str, Any], settings: Any, parent_pid: int) -> None:
    """A bulk worker: its own loop, engine (bound to every table) and one connection."""
    # Ctrl-C reaches the whole process group: the parent stops the pool; a worker finishes (commits) its batch.
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    exit_when_orphaned(parent_pid)  # from the parent: one killed while this process started is gone already
    loop = runtime.new_event_loop()
    asyncio.set_event_loop(loop)
    engine = PostgresEngine(config=config)
    db.bind_engine(engine)
    loop.run_until_complete(engine.start_connection_pool(min_size=1, max_size=1))
    # A batch keeps hundreds of thousands of small objects alive until it is written, and the cyclic GC would rescan
    # them again and again (with the default thresholds a quarter of the worker's CPU). They die with the batch, by
    # reference counting: the worker collects once after each batch instead, and never rescans what the imports
    # left behind.
    gc.freeze()
    gc.disable()
    _worker.update(loop=loop, service=VerdictService(AppContext(settings=settings, engine=engine, blobs=None)))
    multiprocessing.util.Finalize(None, _stop_worker, exitpriority=10)


def _stop_worker() -> None:
    loop, service = _worker.pop("loop", None), _worker.pop("service", None)
    if loop is not None and service is not None:
        # A database gone mid-run fails the close too: the parent reports the outage in one line, and the worker's
        # traceback of the same (printed by multiprocessing's finalizer) only buried it (a probe).
        with contextlib.suppress(Exception):
            loop.run_until_complete(service.ctx.engine.close_connection_pool())
        loop.close()


def _reaudit_batch(batch: list[UUID]) -> int:
    service: VerdictService = _worker["service"]

    async def run() -> None:
        async with db.write_transaction(service.ctx.engine):
            await service.reaudit(batch, None, bulk=True)

    _worker["loop"].run_until_complete(run())
    gc.collect()  # the batch's few reference cycles, now that its objects are gone
    return len(batch)


async def audited(visits: list[LoadedVisit], book: PolicyBook) -> list[dict[str, Any]]:
    """Each visit's verdict under the policy the book selects for it, and the verdict's digest."""
    policies: dict[tuple[str, str, str], Policy] = {}
    results = []
    for index, loaded in enumerate(visits, start=1):
        if index % AUDIT_SLICE == 0:
            await asyncio.sleep(0)  # requests served by this event loop go on between slices of a long audit
        key = (loaded.kind, loaded.locality, loaded.tier)
        policy = policies.get(key)
        if policy is None:
            policy = policies[key] = book.select(*key)
        verdict = audit_visit(loaded.facts, policy, loaded.context).to_dict()
        results.append(
            {"visit_id": UUID(loaded.facts.visit_id), "verdict": verdict, "facts_digest": verdict_digest(verdict)}
        )
    return results


async def affected_visits(visit_ids: list[UUID], located: list[UUID]) -> set[UUID]:
    """Other visits that new facts on these visits can change: photo matches (E-REUSE), the orders' other visits
    (order-level findings sit on an order's first visit) and, for the visits given a new located fact, the
    technician's visits with located facts within NEIGHBOUR_WINDOW of any located fact of theirs (E-MOCK)."""
    matched = await PhotoMatch.select(PhotoMatch.other_visit).where(PhotoMatch.visit.is_in(visit_ids))
    orders = Visit.select(Visit.work_order).where(Visit.id.is_in(visit_ids))
    same_order = await Visit.select(Visit.id).where(Visit.work_order.is_in(orders))
    others = {m["other_visit"] for m in matched} | {v["id"] for v in same_order}
    times: dict[UUID, list[datetime]] = {}  # per technician: the times of the given visits' located facts
    fixes = located and await VisitEvent.select(VisitEvent.technician, VisitEvent.corrected_time).where(
        VisitEvent.visit.is_in(located) & VisitEvent.latitude.is_not_null()
    )
    for fix in fixes:
        times.setdefault(fix["technician"], []).append(fix["corrected_time"])
    # Only near the fixes themselves: a technician's visits two days apart have nothing to say about each other.
    windows = [
        (VisitEvent.technician == technician)
        & (VisitEvent.corrected_time >= start)
        & (VisitEvent.corrected_time <= end)
        for technician, at in times.items()
        for start, end in merged_windows(at, NEIGHBOUR_WINDOW)
    ]
    for first in range(0, len(windows), WINDOWS_PER_QUERY):
        near = functools.reduce(operator.or_, windows[first : first + WINDOWS_PER_QUERY])
        nearby = VisitEvent.select(VisitEvent.visit).where(VisitEvent.latitude.is_not_null() & near)
        others |= {e["visit"] for e in await nearby.distinct()}
    return others - set(visit_ids)


def merged_windows(times: list[datetime], reach: timedelta) -> list[tuple[datetime, datetime]]:
    """The stretches within `reach` of any of the times: [t - reach, t + reach] each, overlapping ones merged."""
    windows: list[tuple[datetime, datetime]] = []
    for at in sorted(times):
        if windows and at - reach <= windows[-1][1]:
            windows[-1] = (windows[-1][0], at + reach)
        else:
            windows.append((at - reach, at + reach))
    return windows


async def visit_ids_between(start: datetime | None, end: datetime | None) -> list[UUID]:
    query = Visit.select(Visit.id).where(Visit.status != "cancelled").order_by(Visit.agreed_time).order_by(Visit.id)
    if start is not None:
        query = query.where(Visit.agreed_time >= start)
    if end is not None:
        query = query.where(Visit.agreed_time < end)
    return [row["id"] for row in await query]
