"""A-TRAIL: the service's records (facts, verdicts, auditors' decisions) checked against what the trail says of them."""

from __future__ import annotations

import json
from collections import defaultdict
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any
from uuid import UUID

from fieldsvc import db
from fieldsvc.audit.findings import verdict_digest
from fieldsvc.audit.policy import PolicyBook, load_default_policies
from fieldsvc.context import AppContext
from fieldsvc.mobile.idempotency import body_digest
from fieldsvc.review.service import REVIEW_STATE_AFTER
from fieldsvc.tables import (
    AuditFinding, AuditResult, FollowUp, Photo, ReviewDecision, TrailEntry, TrailPending, Visit, VisitEvent,
)
from fieldsvc.trail.derived import (
    CHECKIN_COLUMNS, CLOCK_COLUMNS, FOLLOW_UP_CONTACT_COLUMNS, OPTIONAL_PHOTO_COLUMNS, PHOTO_COLUMNS, answer_digest,
    clock_columns, derived_digest, photo_columns,
)
from fieldsvc.trail.service import sealed_by_the_service

VISITS_PER_BATCH = 500
_STATUS_AFTER = {"visit.assigned": "assigned", "visit.cancelled": "cancelled"}
# A fact's trail entry is made after its request arrived (an upload is received and decoded first).
RECEIPT_TO_ENTRY = timedelta(minutes=5)
_CHECKIN_KINDS = ("arrival", "return", "checkout")
PHOTO_FACT_KINDS = ("photo", "signature")
# The columns a fact's row copies from its body, which its digest covers.
_LOCATION_COLUMNS = {
    "latitude": "latitude", "longitude": "longitude", "accuracy_m": "accuracyM", "mock": "mock", "fix_time": "fixTime",
}


@dataclass(frozen=True)
class RecordMismatch:
    table: str
    row_id: str
    reason: str


@dataclass
class _Told:
    """What the trail says of one visit: its facts by event id, its last verdict, its decisions in order, its review
    state, its agreed time, its status and its answered questions (when and how, by follow-up id)."""

    facts: dict[str, dict[str, Any]]
    verdict: dict[str, Any] | None
    decisions: list[tuple[str, str, list[str], str, list[str] | None]]  # and who, and what it covered (once recorded)
    review_state: str = "none"
    agreed_time: str | None = None
    status: str | None = None
    answered: dict[str, tuple[str | None, str, str]] = field(default_factory=dict)


async def first_record_mismatch(
    ctx: AppContext, progress: Callable[[int], None] = lambda checked: None,
) -> tuple[int, RecordMismatch | None]:
    """Visit by visit: every fact's row still digests to what its trail entry recorded, at the time it recorded; the
    stored verdict is the last one the trail recorded; the decisions are the ones the trail recorded, in order. A
    row edited, added or deleted behind the service's back is named (an edited arrival time, re-audited, would
    otherwise become the official one; a probe). Each batch is read in one snapshot, entries still queued included:
    a change committed meanwhile is seen with its entries or not at all. Returns how many visits were checked and
    the first mismatch."""
    checked, after, policies = 0, None, load_default_policies()
    while True:
        query = Visit.select(
            Visit.id, Visit.verdict, Visit.review_state, Visit.agreed_time, Visit.status
        ).order_by(Visit.id).limit(VISITS_PER_BATCH)
        async with db.read_snapshot(Visit._meta.db):
            visits = await (query if after is None else query.where(Visit.id > after))
            ids = [visit["id"] for visit in visits]
            if ids:
                told = await _what_the_trail_says(ctx, ids)
                facts, verdicts, decisions, photos = await _records(ids)
                indexed = await _indexed_findings(ids)
                follow_ups = await _follow_ups(ids)
        if not ids:
            return checked, None
        for visit in visits:
            verdict, visit_id = verdicts.get(visit["id"]), str(visit["id"])
            mismatch = (
                _compare(visit, told[visit_id], facts[visit["id"]], verdict, decisions[visit["id"]])
                or _photos_mismatch(facts[visit["id"]], photos[visit["id"]])
                or _findings_mismatch(visit_id, told[visit_id], verdict, indexed[visit["id"]], policies)
                or _follow_up_mismatch(told[visit_id], facts[visit["id"]], follow_ups[visit["id"]])
            )
            if mismatch is not None:
                return checked, mismatch
            checked += 1
        after = ids[-1]
        progress(checked)


async def _what_the_trail_says(ctx: AppContext, visit_ids: list[UUID]) -> dict[str, _Told]:
    told: dict[str, _Told] = defaultdict(lambda: _Told({}, None, []))
    for entry in await trail_statements(ctx, visit_ids):
        kind, text = entry["kind"], json.loads(entry["payload"])
        data, about = text["data"], told[entry["subject_id"]]
        if kind.startswith("fact."):
            about.facts[data["eventId"]] = {"kind": kind.removeprefix("fact."), "entered_at": text["at"], **data}
        elif kind == "verdict":
            about.verdict = data
        elif kind.startswith("review."):
            decision = kind.removeprefix("review.")
            about.decisions.append((decision, data["reason"], data["requested"], text["actor"], data.get("covers")))
            about.review_state = REVIEW_STATE_AFTER[decision]
            # Confirmed or dismissed while returned, the visit is closed as it stands (A-DECIDE).
            about.status = "returned" if decision == "return" else "completed" if about.status == "returned" else about.status
        elif kind == "visit.review_state":
            about.review_state = data["to"]
        elif kind == "visit.booked":
            about.agreed_time, about.status = data["agreedTime"], "scheduled"
        elif kind == "visit.rescheduled":
            # A visit moved while its technician was on the way is assigned again (they go when it is due).
            about.agreed_time, about.status = data["new"], "assigned" if about.status == "en_route" else about.status
        elif kind in _STATUS_AFTER:
            about.status = _STATUS_AFTER[kind]
        elif kind == "visit.status":
            about.status = data["to"]
        elif kind == "follow_up.resolved":
            about.answered[data["followUpId"]] = (data.get("resolvedAt"), text["at"], data["resolution"])
    return told


async def trail_statements(
    ctx: AppContext, subject_ids: list[UUID] | None = None, kinds: list[str] | None = None
) -> list[dict[str, Any]]:
    """What the trail says (of these subjects, in these kinds; None: all), in order: its chained entries, then those
    still queued (a change committed while the trail is verified is queued with its entries) that the service sealed
    and that say something not said before (an entry queued behind its back, or a sealed one copied and queued
    again, would otherwise vouch for a record edited to match it)."""
    said = await _entries(TrailEntry.select(TrailEntry.kind, TrailEntry.subject_id, TrailEntry.payload),
                          subject_ids, kinds)
    statements = {(entry["subject_id"], entry["payload"]) for entry in said}
    for entry in await _entries(TrailPending.select(), subject_ids, kinds):
        statement = (entry["subject_id"], entry["payload"])
        if statement not in statements and sealed_by_the_service(ctx, entry):
            said.append(entry)
            statements.add(statement)
    return said


async def _entries(query: Any, subject_ids: list[UUID] | None, kinds: list[str] | None) -> list[dict[str, Any]]:
    table = query.table
    if subject_ids is not None:
        query = query.where(table.subject_id.is_in([str(subject_id) for subject_id in subject_ids]))
    if kinds is not None:
        query = query.where(table.kind.is_in(kinds))
    return await query.order_by(table._meta.primary_key)


async def _records(visit_ids: list[UUID]) -> tuple[dict, dict, dict, dict]:
    facts: dict[UUID, list[dict[str, Any]]] = defaultdict(list)
    for row in await VisitEvent.select(
        VisitEvent.id, VisitEvent.event_id, VisitEvent.visit, VisitEvent.kind, VisitEvent.body_digest,
        VisitEvent.payload, VisitEvent.result, VisitEvent.technician, VisitEvent.corrected_time,
        VisitEvent.device_time, VisitEvent.device_elapsed_ms,
        *(getattr(VisitEvent, column) for column in CLOCK_COLUMNS),
        VisitEvent.server_received_at, *(getattr(VisitEvent, column) for column in _LOCATION_COLUMNS),
        *(getattr(VisitEvent, column) for column in CHECKIN_COLUMNS),
    ).where(VisitEvent.visit.is_in(visit_ids)).output(load_json=True):
        facts[row["visit"]].append(row)
    photo_rows = await Photo.select(
        Photo.id, Photo.event, Photo.visit, Photo.status,
        *(getattr(Photo, column) for column in (*PHOTO_COLUMNS, *OPTIONAL_PHOTO_COLUMNS))
    ).where(Photo.visit.is_in(visit_ids))
    photos = {row["event"]: row for row in photo_rows}
    follow_ups = {
        row["event"]: row for row in await FollowUp.select(
            FollowUp.id, FollowUp.event, *(getattr(FollowUp, column) for column in FOLLOW_UP_CONTACT_COLUMNS)
        ).where(FollowUp.visit.is_in(visit_ids))
    }
    for visit_facts in facts.values():
        for fact in visit_facts:
            fact["photo"], fact["follow_up"] = photos.get(fact["id"]), follow_ups.get(fact["id"])
    verdicts = {
        row["visit"]: row for row in await AuditResult.select(
            AuditResult.visit, AuditResult.status, AuditResult.policy_id, AuditResult.policy_version,
            AuditResult.facts_digest, AuditResult.findings, AuditResult.trusted_arrival,
        ).where(AuditResult.visit.is_in(visit_ids)).output(load_json=True)
    }
    decisions: dict[UUID, list[dict[str, Any]]] = defaultdict(list)
    for row in await ReviewDecision.select(
        ReviewDecision.id, ReviewDecision.visit, ReviewDecision.decision, ReviewDecision.reason, ReviewDecision.requested,
        ReviewDecision.auditor, ReviewDecision.decided_codes,
    ).where(ReviewDecision.visit.is_in(visit_ids)).order_by(ReviewDecision.decided_at).output(load_json=True):
        decisions[row["visit"]].append(row)
    photos_of: dict[UUID, list[dict[str, Any]]] = defaultdict(list)
    for row in photo_rows:
        photos_of[row["visit"]].append(row)
    return facts, verdicts, decisions, photos_of


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
    stored_decisions = [
        (row["decision"], row["reason"], row["requested"], str(row["auditor"]),
         None if said[4] is None else row["decided_codes"])
        for row, said in zip(decisions, told.decisions)
    ]
    if len(decisions) != len(told.decisions) or stored_decisions != told.decisions:
        return RecordMismatch("review_decision", visit_id, "the auditors' decisions (who decided, how, why, and the "
                                                           "violations each covers) differ from those the trail "
                                                           "recorded")
    if visit["review_state"] != told.review_state:
        return RecordMismatch("visit", visit_id, f"the visit's review state ({visit['review_state']}) is not the one "
                                                 f"the trail leads to ({told.review_state})")
    if told.status is not None and visit["status"] != told.status:
        return RecordMismatch("visit", visit_id, f"the visit's status ({visit['status']}) is not the one the trail "
                                                 f"leads to ({told.status})")
    if told.agreed_time is not None and visit["agreed_time"] != datetime.fromisoformat(told.agreed_time):
        return RecordMismatch("visit", visit_id, "the visit's agreed time is not the one it was booked or last "
                                                 "rescheduled to")
    return None


async def _indexed_findings(visit_ids: list[UUID]) -> dict[UUID, list[tuple[str, str, str]]]:
    indexed: dict[UUID, list[tuple[str, str, str]]] = defaultdict(list)
    for row in await AuditFinding.select(
        AuditFinding.visit, AuditFinding.rule_id, AuditFinding.code, AuditFinding.severity
    ).where(AuditFinding.visit.is_in(visit_ids)):
        indexed[row["visit"]].append((row["rule_id"], row["code"], row["severity"]))
    return indexed


async def _follow_ups(visit_ids: list[UUID]) -> dict[UUID, list[dict[str, Any]]]:
    follow_ups: dict[UUID, list[dict[str, Any]]] = defaultdict(list)
    for row in await FollowUp.select(
        FollowUp.id, FollowUp.visit, FollowUp.event, FollowUp.question, FollowUp.asked_at, FollowUp.resolved_at,
        FollowUp.resolution,
    ).where(FollowUp.visit.is_in(visit_ids)):
        follow_ups[row["visit"]].append(row)
    return follow_ups


def _follow_up_mismatch(
    told: _Told, facts: list[dict[str, Any]], follow_ups: list[dict[str, Any]]
) -> RecordMismatch | None:
    """V-ASK: each follow-up is its question's (asked when the question's fact was, as it was put), answered when and
    as the trail recorded, or not at all (an answer dated back, or added, made an overdue question answered in time)."""
    questions = {fact["id"]: fact for fact in facts if fact["kind"] == "question"}
    for row in follow_ups:
        row_id, question = str(row["id"]), questions.pop(row["event"], None)
        if question is None or (row["question"], row["asked_at"]) != (
            question["payload"]["question"], question["corrected_time"]
        ):
            return RecordMismatch("follow_up", row_id, "not the question its fact recorded, or asked at another time")
        if not _answered_as_told(row, told.answered.get(row_id)):
            return RecordMismatch("follow_up", row_id, "answered otherwise than the trail recorded, or at another time")
    if questions:
        return RecordMismatch("visit_event", str(next(iter(questions.values()))["event_id"]), "a question whose "
                                                                                              "follow-up is gone")
    return None


def _answered_as_told(row: dict[str, Any], said: tuple[str | None, str, str] | None) -> bool:
    """Entries made before they recorded the answer's time were made within moments of it."""
    if said is None or row["resolved_at"] is None:
        return said is None and row["resolved_at"] is None
    resolved_at, entered_at, resolution = said
    if row["resolution"] != resolution:
        return False
    if resolved_at is not None:
        return row["resolved_at"] == datetime.fromisoformat(resolved_at)
    return timedelta(0) <= datetime.fromisoformat(entered_at) - row["resolved_at"] <= RECEIPT_TO_ENTRY


def _findings_mismatch(
    visit_id: str, told: _Told, verdict: dict[str, Any] | None, indexed: list[tuple[str, str, str]],
    policies: PolicyBook,
) -> RecordMismatch | None:
    """The stored findings are those of the verdict the trail recorded (its digest covers them; entries made before
    it did are not recomputed), and the auditors' queue indexes exactly those (a row deleted there hid a visit from
    the queue's filter by rule; a probe)."""
    findings = verdict["findings"] if verdict is not None else []
    if sorted(indexed) != sorted((f["rule_id"], f["code"], f["severity"]) for f in findings):
        return RecordMismatch("audit_finding", visit_id, "the auditors' queue indexes other findings than the stored "
                                                         "verdict's")
    if verdict is None or not (told.verdict or {}).get("coversFindings"):
        return None
    try:
        fingerprint = policies.get(verdict["policy_id"], verdict["policy_version"]).fingerprint
    except LookupError:
        return RecordMismatch("audit_result", visit_id, "the stored verdict names a policy this service never had")
    stored = {
        "status": verdict["status"], "policy_id": verdict["policy_id"], "policy_version": verdict["policy_version"],
        "policy_fingerprint": fingerprint, "trusted_arrival": verdict["trusted_arrival"], "findings": findings,
    }
    if verdict_digest(stored) != verdict["facts_digest"]:
        return RecordMismatch("audit_result", visit_id, "the stored findings or trusted arrival are not the verdict's "
                                                        "the trail recorded")
    return None


def _photos_mismatch(facts: list[dict[str, Any]], photos: list[dict[str, Any]]) -> RecordMismatch | None:
    """Each photo is the one photo of a photo or signature fact of its visit (a photo row added on a step fact was
    read as the visit's evidence; a probe). The service stores a photo accepted, and only a withdrawal changes that:
    the photos not accepted are exactly those the visit's withdrawal facts name, each withdrawn (a reused photo
    marked awaiting upload left the audit; a probe)."""
    senders, sent = {fact["id"] for fact in facts if fact["kind"] in PHOTO_FACT_KINDS}, set()
    for photo in photos:
        if photo["event"] not in senders or photo["event"] in sent:
            return RecordMismatch("photo", str(photo["id"]), "a photo that no photo fact of its visit sent")
        sent.add(photo["event"])
    unaccepted = {str(photo["id"]): photo["status"] for photo in photos if photo["status"] != "accepted"}
    named = {fact["payload"]["photoId"] for fact in facts if fact["kind"] == "photo_withdrawal"}
    odd = sorted(set(unaccepted) ^ named) or sorted(i for i, status in unaccepted.items() if status != "withdrawn")
    if odd:
        return RecordMismatch("photo", odd[0], f"marked {unaccepted.get(odd[0], 'accepted')} without a withdrawal, "
                                               "or the other way round")
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
    # Entries made before they recorded these have none to compare.
    if said.get("technicianId", str(fact["technician"])) != str(fact["technician"]):
        return RecordMismatch("visit_event", row_id, "the fact's technician differs from the trail's")
    if said.get("answer", answer_digest(fact["result"])) != answer_digest(fact["result"]):
        return RecordMismatch("visit_event", row_id, "the fact's stored answer differs from the trail's")
    if "clock" in said and derived_digest(clock_columns(fact)) != said["clock"]:
        return RecordMismatch("visit_event", row_id, "the phone's clock offset, time source, device or boot differ "
                                                     "from the trail's")
    if "deviceTime" not in fact["payload"]:
        # The service's own confirmation of a presigned upload: its times are the presign's, checked there; what it
        # derived from the upload is its own.
        return _derived_mismatch(fact, said)
    if not _received_as_told(fact["server_received_at"], said):
        return RecordMismatch("visit_event", row_id, "the fact's receipt time differs from when the trail recorded it")
    if _copied_columns(fact) != _body_columns(fact["payload"]):
        return RecordMismatch("visit_event", row_id, "the fact's time or location columns differ from its body")
    return _derived_mismatch(fact, said)


def _received_as_told(received_at: datetime, said: dict[str, Any]) -> bool:
    """The receipt time the entry recorded; entries made before it recorded one were made within minutes of it (a
    slow upload's took longer: its body arrived 12 min after its headers, on a poor network)."""
    if "receivedAt" in said:
        return received_at == datetime.fromisoformat(said["receivedAt"])
    return timedelta(0) <= datetime.fromisoformat(said["entered_at"]) - received_at <= RECEIPT_TO_ENTRY


def _derived_mismatch(fact: dict[str, Any], said: dict[str, Any]) -> RecordMismatch | None:
    """What the service derived from the fact (a photo's EXIF and hashes, a check-in's distance, the contact a
    question's follow-up copied) is still what it derived then; entries made before the trail kept it have no digest
    to compare."""
    if "derived" not in said:
        return None
    row_id, photo, follow_up = str(fact["event_id"]), fact["photo"], fact["follow_up"]
    if fact["kind"] in _CHECKIN_KINDS:
        table, what, columns = "visit_event", "check-in's distance", {name: fact[name] for name in CHECKIN_COLUMNS}
    elif fact["kind"] == "question":
        if follow_up is None:  # named by the follow-up check
            return None
        row_id, what = str(follow_up["id"]), "follow-up's customer contact"
        table, columns = "follow_up", {name: follow_up[name] for name in FOLLOW_UP_CONTACT_COLUMNS}
    elif photo is None:
        return RecordMismatch("photo", row_id, "the photo of a fact the trail recorded is gone")
    elif photo["visit"] != fact["visit"]:
        return RecordMismatch("photo", str(photo["id"]), "the photo is another visit's than its fact's")
    else:
        row_id, what, columns = str(photo["id"]), "photo's EXIF, hashes or purpose", photo_columns(photo)
        table = "photo"
    if derived_digest(columns) != said["derived"]:
        return RecordMismatch(table, row_id, f"the {what} differ from what the service derived from the fact")
    return None


def _copied_columns(fact: dict[str, Any]) -> tuple[Any, ...]:
    located = tuple(fact[column] for column in _LOCATION_COLUMNS) if fact["latitude"] is not None else None
    return fact["device_time"], fact["device_elapsed_ms"], located


def _body_columns(body: dict[str, Any]) -> tuple[Any, ...]:
    location = body.get("location")
    located = None if location is None else tuple(
        datetime.fromisoformat(location[key]) if key == "fixTime" and location.get(key) else location.get(key)
        for key in _LOCATION_COLUMNS.values()
    )
    return datetime.fromisoformat(body["deviceTime"]), body.get("deviceElapsedMs"), located
