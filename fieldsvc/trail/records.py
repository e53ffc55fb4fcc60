"""A-TRAIL: the service's records (facts, verdicts, auditors' decisions) checked against what the trail says of them."""

from __future__ import annotations

import json
from collections import defaultdict
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime
from typing import Any
from uuid import UUID

from fieldsvc.mobile.idempotency import body_digest
from fieldsvc.tables import AuditResult, ReviewDecision, TrailEntry, Visit, VisitEvent

VISITS_PER_BATCH = 500


@dataclass(frozen=True)
class RecordMismatch:
    table: str
    row_id: str
    reason: str


@dataclass
class _Told:
    """What the trail says of one visit: its facts by event id, its last verdict, its decisions in order."""

    facts: dict[str, dict[str, Any]]
    verdict: dict[str, Any] | None
    decisions: list[tuple[str, str, list[str]]]


async def first_record_mismatch(progress: Callable[[int], None] = lambda checked: None) -> tuple[int, RecordMismatch | None]:
    """Visit by visit: every fact's row still digests to what its trail entry recorded, at the time it recorded; the
    stored verdict is the last one the trail recorded; the decisions are the ones the trail recorded, in order. A
    row edited, added or deleted behind the service's back is named (an edited arrival time, re-audited, would
    otherwise become the official one; a probe). Returns how many visits were checked and the first mismatch."""
    checked, after = 0, None
    while True:
        query = Visit.select(Visit.id, Visit.verdict).order_by(Visit.id).limit(VISITS_PER_BATCH)
        visits = await (query if after is None else query.where(Visit.id > after))
        if not visits:
            return checked, None
        ids = [visit["id"] for visit in visits]
        told = await _what_the_trail_says(ids)
        facts, verdicts, decisions = await _records(ids)
        for visit in visits:
            mismatch = _compare(visit, told[str(visit["id"])], facts[visit["id"]], verdicts.get(visit["id"]),
                                decisions[visit["id"]])
            if mismatch is not None:
                return checked, mismatch
            checked += 1
        after = ids[-1]
        progress(checked)


async def _what_the_trail_says(visit_ids: list[UUID]) -> dict[str, _Told]:
    told: dict[str, _Told] = defaultdict(lambda: _Told({}, None, []))
    entries = await (
        TrailEntry.select(TrailEntry.kind, TrailEntry.subject_id, TrailEntry.payload)
        .where(TrailEntry.subject_id.is_in([str(visit_id) for visit_id in visit_ids]))
        .order_by(TrailEntry.seq)
    )
    for entry in entries:
        kind, data = entry["kind"], json.loads(entry["payload"])["data"]
        about = told[entry["subject_id"]]
        if kind.startswith("fact."):
            about.facts[data["eventId"]] = {"kind": kind.removeprefix("fact."), **data}
        elif kind == "verdict":
            about.verdict = data
        elif kind.startswith("review."):
            about.decisions.append((kind.removeprefix("review."), data["reason"], data["requested"]))
    return told


async def _records(visit_ids: list[UUID]) -> tuple[dict, dict, dict]:
    facts: dict[UUID, list[dict[str, Any]]] = defaultdict(list)
    for row in await VisitEvent.select(
        VisitEvent.id, VisitEvent.event_id, VisitEvent.visit, VisitEvent.kind, VisitEvent.body_digest,
        VisitEvent.payload, VisitEvent.corrected_time,
    ).where(VisitEvent.visit.is_in(visit_ids)).output(load_json=True):
        facts[row["visit"]].append(row)
    verdicts = {
        row["visit"]: row for row in await AuditResult.select(
            AuditResult.visit, AuditResult.status, AuditResult.policy_id, AuditResult.policy_version,
            AuditResult.facts_digest,
        ).where(AuditResult.visit.is_in(visit_ids))
    }
    decisions: dict[UUID, list[dict[str, Any]]] = defaultdict(list)
    for row in await ReviewDecision.select(
        ReviewDecision.id, ReviewDecision.visit, ReviewDecision.decision, ReviewDecision.reason, ReviewDecision.requested,
    ).where(ReviewDecision.visit.is_in(visit_ids)).order_by(ReviewDecision.decided_at).output(load_json=True):
        decisions[row["visit"]].append(row)
    return facts, verdicts, decisions


def _compare(
    visit: dict[str, Any], told: _Told, facts: list[dict[str, Any]], verdict: dict[str, Any] | None,
    decisions: list[dict[str, Any]],
) -> RecordMismatch | None:
    visit_id = str(visit["id"])
    for fact in facts:
        mismatch = _fact_mismatch(fact, told.facts.pop(str(fact["event_id"]), None))
        if mismatch is not None:
            return mismatch
    if told.facts:
        return RecordMismatch("visit_event", next(iter(told.facts)), f"a fact of visit {visit_id} the trail recorded "
                                                                      "is gone")
    said = told.verdict
    if (verdict is None) != (said is None):
        return RecordMismatch("audit_result", visit_id, "the stored verdict and the trail's last verdict do not both "
                                                        "exist")
    if verdict is not None and said is not None:
        stored = (verdict["status"], f"{verdict['policy_id']}@{verdict['policy_version']}", verdict["facts_digest"])
        if stored != (said["status"], said["policy"], said["digest"]):
            return RecordMismatch("audit_result", visit_id, f"the stored verdict ({stored[0]}) is not the last one "
                                                            f"the trail recorded ({said['status']})")
    if said is not None and visit["verdict"] != said["status"]:
        return RecordMismatch("visit", visit_id, f"the visit's verdict ({visit['verdict']}) is not the last one the "
                                                 f"trail recorded ({said['status']})")
    stored_decisions = [(row["decision"], row["reason"], row["requested"]) for row in decisions]
    if stored_decisions != told.decisions:
        return RecordMismatch("review_decision", visit_id, "the auditors' decisions differ from those the trail "
                                                           "recorded")
    return None


def _fact_mismatch(fact: dict[str, Any], said: dict[str, Any] | None) -> RecordMismatch | None:
    row_id = str(fact["event_id"])
    if said is None:
        return RecordMismatch("visit_event", row_id, "a fact the trail never recorded")
    digest = body_digest(fact["kind"], fact["visit"], fact["payload"])
    if fact["kind"] != said["kind"] or digest != fact["body_digest"] or digest != said["digest"]:
        return RecordMismatch("visit_event", row_id, "the fact's content differs from what the trail recorded")
    if fact["corrected_time"] != datetime.fromisoformat(said["correctedTime"]):
        return RecordMismatch("visit_event", row_id, "the fact's corrected time differs from the trail's")
    return None
