"""A-TRAIL: each stored verdict is the one its visit's facts give now, unless a re-audit of the visit is due."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any
from uuid import UUID

from fieldsvc import db
from fieldsvc.audit.policy import PolicyBook
from fieldsvc.context import AppContext
from fieldsvc.tables import Visit
from fieldsvc.trail.records import VISITS_PER_BATCH, RecordMismatch
from fieldsvc.verdicts import outbox, repository
from fieldsvc.verdicts.loader import load_visits
from fieldsvc.verdicts.service import affected_visits, audited


async def first_stale_verdict(
    ctx: AppContext, progress: Callable[[int], None] = lambda checked: None
) -> tuple[int, RecordMismatch | None]:
    """Visit by visit, each batch in one snapshot: the engine, given the visit's facts, gives the stored verdict.

    Visits marked for re-audit, and those their new facts can change, are passed over: their verdict is due to
    change. Removing a visit's marks behind the service's back kept a verdict its later facts overturned (passed,
    out of the auditors' queue; a probe). A verdict is stale only if neither now nor when it was stored gives it: a
    deadline passed since then re-audits the visit at the auditor's next sweep. A verdict stored under another policy
    version than the one in force now is not recomputed. Returns how many visits were checked and the first stale.
    """
    checked, after, book = 0, None, ctx.policies
    while True:
        query = Visit.select(Visit.id).order_by(Visit.id).limit(VISITS_PER_BATCH)
        async with db.read_snapshot(Visit._meta.db):
            ids = [row["id"] for row in await (query if after is None else query.where(Visit.id > after))]
            if not ids:
                return checked, None
            due = await _due()
            stored = await repository.stored_verdicts(ids)
            audited_visits = [visit for visit in await repository.visits_with_facts(ids) if visit not in due]
            now = ctx.now()
            for result in await audited(await load_visits(audited_visits, now), book):
                verdict, visit = result["verdict"], result["visit_id"]
                kept = stored.get(visit)
                if kept is not None and kept.policy != f"{verdict['policy_id']}@{verdict['policy_version']}":
                    continue
                if kept is not None and kept.digest == result["facts_digest"]:
                    continue
                if kept is not None and await _given_when_stored(visit, kept, book):
                    continue
                return checked, RecordMismatch("audit_result", str(visit), _stale(kept, verdict))
        checked += len(ids)
        after = ids[-1]
        progress(checked)


async def _due() -> set[UUID]:
    """The visits marked for re-audit and those their marks' new facts can change."""
    marked = await outbox.marked()
    if not marked:
        return set()
    return set(marked) | await affected_visits(list(marked), [visit for visit, located in marked.items() if located])


async def _given_when_stored(visit: UUID, kept: repository.StoredVerdict, book: PolicyBook) -> bool:
    [result] = await audited(await load_visits([visit], kept.audited_at), book)
    return result["facts_digest"] == kept.digest


def _stale(kept: repository.StoredVerdict | None, given: dict[str, Any]) -> str:
    if kept is None:
        told = f"no verdict is stored, but its facts give one ({given['status']})"
    else:
        codes = {finding["code"] for finding in given["findings"]}
        change = [f"+{code}" for code in sorted(codes - kept.codes)]
        change += [f"-{code}" for code in sorted(kept.codes - codes)]
        told = (f"the stored verdict ({kept.status}) is not the one its facts give ({given['status']}"
                f"{'; findings ' + ' '.join(change) if change else ''})")
    return (f"{told}, and no re-audit of the visit is due: its re-audit marks were removed behind the service's back, "
            "or an upgrade changed the audit rules (then run `fieldsvc audit rerun`)")
