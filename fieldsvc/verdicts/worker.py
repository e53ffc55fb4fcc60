"""The background auditor of one serving process: chains queued trail entries and audits visits marked due."""

from __future__ import annotations

import asyncio
import logging
import time

from fieldsvc.context import AppContext
from fieldsvc.trail.service import CHAIN_BATCH, TrailWriter
from fieldsvc.verdicts.service import DUE_BATCH, VerdictService
from fieldsvc.verdicts.sweep import mark_overdue

log = logging.getLogger("fieldsvc.audit")

IDLE_POLL_SECONDS = 0.5  # facts recorded by other processes are noticed within this; this process's wake it at once
# An auditor in a process of its own hears no wake-ups: it looks for due visits this often instead.
PROCESS_POLL_SECONDS = 0.1
RETRY_SECONDS = 1.0  # after a failure (database down): the outbox keeps the work, so just try again later
# Under a steady stream of facts, a pause between rounds lets one round take a technician's many facts at once: the
# technician's neighbouring visits are then re-audited once per round, not once per fact. A full round (a backlog)
# goes straight on; a lone fact on an idle service is audited at once.
GATHER_SECONDS = 0.1


async def run_auditor(ctx: AppContext, idle_poll: float = IDLE_POLL_SECONDS) -> None:
    """Until cancelled: work batch after batch while there is work, then wait for a wake-up or the next poll;
    every few minutes, mark the visits a passing deadline may have made overdue."""
    service, trail = VerdictService(ctx), TrailWriter(ctx)
    sweep_every = ctx.settings.deadline_sweep_minutes * 60
    next_sweep = time.monotonic() + sweep_every
    while True:
        ctx.audit_wakeup.clear()
        if time.monotonic() >= next_sweep:
            next_sweep = time.monotonic() + sweep_every
            try:
                await asyncio.create_task(mark_overdue(ctx.policies, ctx.now()))
            except Exception as error:  # noqa: BLE001 - the next sweep tries again
                log.warning("deadline sweep failed: %r", error)
        try:
            # Each round in a task of its own, so no context a failed round left behind (a transaction Piccolo could
            # not finish when the database went away) reaches the next; db.write_transaction clears what it knows of.
            done = await asyncio.create_task(_one_round(service, trail))
        except asyncio.CancelledError:
            raise
        except Exception as error:  # noqa: BLE001 - a failed batch is released by its lease; the loop must survive
            log.warning("background audit failed, retrying: %r", error)
            await asyncio.sleep(RETRY_SECONDS)
            continue
        chained, audited = done
        if chained >= CHAIN_BATCH or audited >= DUE_BATCH:
            continue
        if audited:
            await asyncio.sleep(GATHER_SECONDS)
            continue
        try:
            await asyncio.wait_for(ctx.audit_wakeup.wait(), idle_poll)
        except TimeoutError:
            pass


async def _one_round(service: VerdictService, trail: TrailWriter) -> tuple[int, int]:
    """Chain the queued trail entries, then audit a batch of due visits: how many of each."""
    return await trail.chain_pending(), await service.audit_due()
