"""The phone's facts under the on-site rules (V-*): each claimed once by its event id, in one write transaction."""

from __future__ import annotations

import hashlib
from dataclasses import dataclass, field, replace
from datetime import datetime, timedelta
from typing import Any, Awaitable, Callable
from uuid import UUID, uuid4
from zoneinfo import ZoneInfo

import msgspec

from fieldsvc import db, geo
from fieldsvc.answers import Recorded
from fieldsvc.audit.closure import gives_a_reason
from fieldsvc.audit.policy import Policy
from fieldsvc.audit.timeline import by_an_earlier_boot, sent_at_once_yet_recorded_long_before
from fieldsvc.auth.caller import Caller
from fieldsvc.config import Settings
from fieldsvc.context import AppContext
from fieldsvc.dispatch import repository as dispatch_repository
from fieldsvc.dispatch.service import VisitNotFound
from fieldsvc.errors import ApiError, ValidationFailed, api_error
from fieldsvc.mobile import repository
from fieldsvc.mobile.clock import (
    ClockReading,
    EventTiming,
    borne_out_boot,
    contradiction,
    event_timing,
    parse_boot_count,
    parse_device_id,
    parse_device_wall,
    parse_elapsed_ms,
)
from fieldsvc.mobile.completion import AbsentCustomerResolved, CompletionReasonRequired, refuse_if_incomplete
from fieldsvc.mobile.idempotency import EventConflict, body_digest, replayed
from fieldsvc.mobile.schemas import (
    Checkin,
    CheckinResult,
    Complete,
    CompletionResult,
    Fact,
    FactKind,
    FactResult,
    Leave,
    Note,
    OnMyWay,
    PhotoWithdrawal,
    PhotoWithdrawalResult,
    Question,
    QuestionResult,
    Receipt,
    ServiceCard,
    ServiceCardResult,
    ServiceTest,
    Step,
    Summary,
    SyncBatch,
    SyncFact,
    SyncReceipts,
)
from fieldsvc.tables import FollowUp
from fieldsvc.trail.derived import FOLLOW_UP_CONTACT_COLUMNS, answer_digest, clock_columns, derived_digest
from fieldsvc.trail.dispatch_records import state_records
from fieldsvc.trail.service import Statement, TrailWriter
from fieldsvc.wire import NESTED_TOO_DEEP, whole_numbers_as_integers

VisitClosed = api_error(409, "visit.closed", "The visit is completed or cancelled; it takes no new facts.")
ClockContradiction = api_error(
    422, "clock.contradictory", "E-CLOCK: the fact's deviceBoot and deviceElapsedMs cannot be of the phone that sent "
    "it: a fact is recorded no later than it is sent, in its boot or an earlier one."
)
ClockRequired = api_error(
    400, "clock.required", "E-CLOCK: send the phone's wall clock at sending time in X-Device-Clock (RFC 3339)."
)
ClockInvalid = api_error(
    400,
    "clock.invalid",
    "E-CLOCK: X-Device-Clock must be an RFC 3339 instant with a UTC offset, X-Device-Elapsed-Ms whole milliseconds, "
    "X-Device-Boot a whole boot count, X-Device-Id 1 to 64 letters, digits and - . _ :",
)
ConsentScopeRequired = api_error(
    422, "step.consent_scope_required", "V-CONSENT: say what the customer agreed to in consentScope."
)
ShoeReasonRequired = api_error(
    422,
    "step.shoe_reason_required",
    "V-SHOES: at a rural site the shoe-cover step needs the reason, in words, as its note.",
)
RestoreByBeforeLeave = api_error(
    422, "leave.restore_by_before_leave", "V-LEAVE: restoreBy is when service is back for the customer: after the leave."
)
RestoreByRequired = api_error(
    422, "leave.restore_by_required", "V-LEAVE: when not coming back, give restoreBy, as promised to the customer."
)
# A promise no one could hold to: a restore-by years ahead can never be broken (a probe sent 2999-12-31).
RestoreByTooFar = api_error(
    422, "leave.restore_by_too_far",
    "V-LEAVE: restoreBy is the time promised to the customer; it may lie only a few days after the leave.",
)
PhotoNotFound = api_error(404, "photo.not_found", "No such photo.")
PhotoAlreadyWithdrawn = api_error(409, "photo.already_withdrawn", "That photo is already withdrawn from this visit.")
NotReturned = api_error(
    409, "visit.not_returned", "A photo can be withdrawn only while an auditor has the visit returned for correction."
)

VisitReassigned = api_error(
    409, "visit.reassigned", "This visit was handed over to another technician: it takes no more facts from this phone."
)
FACT_ERRORS: tuple[type[ApiError], ...] = (
    VisitNotFound, VisitReassigned, VisitClosed, EventConflict, ClockContradiction,
)
CLOCK_ERRORS: tuple[type[ApiError], ...] = (ClockRequired, ClockInvalid)

# 'returned' is a visit an auditor sent back for more evidence (A-DECIDE); completed and cancelled ones are closed.
OPEN_FOR_FACTS = ("assigned", "en_route", "on_site", "returned")
STATUS_AFTER: dict[str, dict[str, str]] = {
    "on_my_way": {"assigned": "en_route"},
    "arrival": {"assigned": "on_site", "en_route": "on_site"},
    "completion": {state: "completed" for state in OPEN_FOR_FACTS},
}

Row = dict[str, Any]


@dataclass(frozen=True)
class FactScope:
    """What deciding a fact may look at: the caller's visit (locked), the fact's times, settings, policy, now."""

    visit: Row
    timing: EventTiming
    settings: Settings
    policy: Policy  # the audit policy of this visit's kind, locality and tier
    now: datetime


@dataclass(frozen=True)
class Outcome:
    """What a fact changes beyond its own VisitEvent row."""

    details: dict[str, Any] = field(default_factory=dict)  # the kind's own result fields
    columns: dict[str, Any] = field(default_factory=dict)  # the kind's own VisitEvent columns (location)
    # Rows referring to the claimed event, given its row id; returns what the trail is to say of them, if anything.
    write: Callable[[UUID], Awaitable[list[Statement] | None]] | None = None
    derived: dict[str, Any] = field(default_factory=dict)  # what the audit reads that the service worked out (A-TRAIL)


Decide = Callable[[Any, FactScope], Outcome]


def no_effect(body: Fact, scope: FactScope) -> Outcome:
    return Outcome()


@dataclass(frozen=True)
class Decided:
    """A fact decided on a visit as read: its answer, its claim, and the rows of its own to write once claimed."""

    result: FactResult
    claim: repository.FactClaim
    write: Callable[[UUID], Awaitable[None]] | None


@dataclass(frozen=True)
class FactDraft:
    """A fact ready to record; decide(body, scope) runs once the visit is read and known to take it (a decision on a
    visit that changed before the claim is made again)."""

    kind: str
    event_id: UUID
    body: Fact
    payload: dict[str, Any]
    digest: str
    timing: EventTiming
    result_type: type[FactResult]
    decide: Decide = no_effect
    row_id: UUID = field(default_factory=uuid4)


def draft_of(
    kind: str,
    visit_id: UUID,
    body: Fact,
    reading: ClockReading,
    result_type: type[FactResult],
    *,
    decide: Decide = no_effect,
    extra: dict[str, Any] | None = None,
) -> FactDraft:
    """A fact as the phone sent it; extra joins the stored payload and the digest (an upload's file hash)."""
    contradicted = contradiction(reading, body.device_elapsed_ms, body.device_boot)
    if contradicted is not None:
        raise ClockContradiction(details={"reason": contradicted})
    payload = {**msgspec.to_builtins(body), **(extra or {})}
    return FactDraft(
        kind=kind,
        event_id=body.event_id,
        body=body,
        payload=payload,
        digest=body_digest(kind, visit_id, payload),
        timing=event_timing(reading, body.device_time, body.device_elapsed_ms, body.device_boot),
        result_type=result_type,
        decide=decide,
    )


@dataclass(frozen=True)
class FactSpec:
    body_type: type[Fact]
    result_type: type[FactResult]
    decide: Decide


def read_clock(
    received_at: datetime,
    device_clock: str | None,
    device_elapsed_ms: str | None,
    transit_allowance: timedelta,
    device_id: str | None = None,
    device_boot: str | None = None,
) -> ClockReading:
    """E-CLOCK: the phone's clocks (and which phone) from its request headers, stamped with the server's receipt
    time."""
    if device_clock is None or not device_clock.strip():
        raise ClockRequired()
    try:
        wall = parse_device_wall(device_clock)
        elapsed = None if device_elapsed_ms is None else parse_elapsed_ms(device_elapsed_ms)
        device = None if device_id is None else parse_device_id(device_id)
        boot = None if device_boot is None else parse_boot_count(device_boot)
    except ValueError as error:
        raise ClockInvalid(details={"reason": str(error)}) from error
    return ClockReading(received_at, wall, elapsed, transit_allowance, device, boot)


def technician_of(caller: Caller) -> UUID:
    if caller.technician_id is None:  # a technician account without a profile has no visits
        raise VisitNotFound()
    return caller.technician_id


def work_order_summary(visit: Row) -> Summary:
    """V-SIGN: the canonical text the customer signs (the agreed time in the site's zone) and its digest."""
    agreed = visit["agreed_time"].astimezone(ZoneInfo(visit["time_zone"]))
    text = "\n".join(
        (
            f"Work order: {visit['work_order']}",
            f"Kind: {visit['kind']}",
            f"Customer: {visit['customer_name']}",
            f"Site address: {visit['address']}",
            f"Description: {visit['description']}",
            f"Technician: {visit['technician_name']} (staff number {visit['staff_number']})",
            f"Agreed time: {agreed.isoformat()}",
        )
    )
    return Summary(text=text, digest=hashlib.sha256(text.encode()).hexdigest())


def checkin(body: Checkin, scope: FactScope) -> Outcome:
    """V-CHECKIN / V-CHECKOUT and a return after V-LEAVE: the raw fix and its distance from the site (V-GEOFENCE)."""
    fix = body.location
    distance = geo.distance_m(fix.latitude, fix.longitude, scope.visit["latitude"], scope.visit["longitude"])
    return Outcome(
        details={"distance_m": round(distance, 1), "accuracy_m": fix.accuracy_m},
        columns={
            "latitude": fix.latitude,
            "longitude": fix.longitude,
            "accuracy_m": fix.accuracy_m,
            "fix_time": fix.fix_time,
            "mock": fix.mock,
            "distance_m": distance,
        },
        derived={"distance_m": distance},
    )


def step(body: Step, scope: FactScope) -> Outcome:
    if body.step == "V-CONSENT" and body.consent_scope is None:
        raise ConsentScopeRequired()
    if body.step == "V-SHOES" and scope.visit["locality"] == "rural" and not gives_a_reason(body.note or ""):
        raise ShoeReasonRequired()
    return Outcome()


def leave(body: Leave, scope: FactScope) -> Outcome:
    """V-LEAVE. How far the promise reaches is held to the leave's corrected time, not the phone's clock: one set a
    month ahead made a promise five weeks out seem days away (a probe). It must come after the leave by either clock:
    an app on a clock running fast or slow writes it by that clock (one 2 h fast was refused an honest promise)."""
    if not body.will_return and body.restore_by is None:
        raise RestoreByRequired()
    left_at = scope.timing.corrected_time
    if body.restore_by is not None and body.restore_by <= min(left_at, body.device_time):
        raise RestoreByBeforeLeave()
    longest = scope.settings.max_restore_promise_days
    if body.restore_by is not None and body.restore_by - left_at > timedelta(days=longest):
        raise RestoreByTooFar(
            f"V-LEAVE: restoreBy is the time promised to the customer; it may lie at most {longest} days after the leave."
        )
    return Outcome()


def question(body: Question, scope: FactScope) -> Outcome:
    """V-ASK: a follow-up due a set time after the question, with the customer's contact copied from the order."""
    visit, asked_at = scope.visit, scope.timing.corrected_time
    follow_up_id = uuid4()
    due_at = asked_at + timedelta(hours=scope.policy.ask_follow_up_h)
    contact = {column: visit[column] for column in FOLLOW_UP_CONTACT_COLUMNS}

    async def write(event_row_id: UUID) -> None:
        await repository.insert_follow_up(
            FollowUp(
                id=follow_up_id,
                visit=visit["id"],
                event=event_row_id,
                **contact,
                question=body.question,
                asked_at=asked_at,
                due_at=due_at,
            )
        )

    return Outcome(details={"follow_up_id": follow_up_id, "due_at": due_at}, write=write, derived=contact)


def service_card(body: Fact, scope: FactScope) -> Outcome:
    """V-CARD: the card's content comes from the technician's record and the settings, not from the phone."""
    visit, settings = scope.visit, scope.settings
    card = ServiceCard(
        technician_name=visit["technician_name"],
        staff_number=visit["staff_number"],
        technician_phone=visit["technician_phone"],
        hotline=settings.service_hotline,
        leaflet=settings.seasonal_leaflet,
    )
    return Outcome(details={"card": card})


async def _order_taken_over(visit: Row, engine) -> str | None:  # noqa: ANN001
    """For a returned visit completed again: the status of its order if a visit booked since took the order over (the
    correction then leaves the order alone), else None. Read under the order's lock, as a booking takes it, so the
    phone's answer and the order agree (a probe)."""
    order = await dispatch_repository.lock_work_order(visit["work_order"], engine)
    if order is not None and await dispatch_repository.later_visit_booked(visit["work_order"], visit["booked_at"]):
        return order["status"]
    return None


def completion(body: Complete, scope: FactScope) -> Outcome:
    """V-CLOSE / V-TERMINAL: close the visit and its work order, unless the policy still misses something."""
    if body.customer_absent and body.outcome == "resolved":
        raise AbsentCustomerResolved()
    if body.outcome == "unresolved" and not body.reason:
        raise CompletionReasonRequired()
    visit = scope.visit

    async def write(event_row_id: UUID) -> None:
        await refuse_if_incomplete(visit["id"], scope.policy, scope.now)
        latest_before = await repository.latest_fact_time(visit["id"], event_row_id)
        recorded = scope.timing.corrected_time
        await repository.set_completed_at(visit["id"], max(recorded, latest_before) if latest_before else recorded)
        if visit.get("order_status_since_taken_over"):
            return  # corrected after the order's next visit was booked: the order is that visit's now
        await dispatch_repository.close_work_order(
            visit["work_order"], body.outcome, body.reason or "", await closed_at(scope, latest_before), forced=False
        )

    # A returned visit's order taken over by its next visit stays as that visit leaves it (MobileService._claim).
    order_status = visit.get("order_status_since_taken_over") or "closed"
    return Outcome(details={"work_order_status": order_status, "outcome": body.outcome}, write=write)


async def closed_at(scope: FactScope, latest_before: datetime | None) -> datetime:
    """When the technician closed the order (B-REPAIR measures to it): when the phone recorded the completion, by its
    monotonic clock, which a phone offline for a day keeps (a probe), also across a restart, read by the boot it came
    from when that agrees with its wall clock and the boot's time is borne out (by the monotonic clock of a fact sent
    in it, or a check-in's satellite fix; probes); a wall-clock time alone could be set back, so without it, when
    the completion reached the service. Never before the visit's other facts: a monotonic time sent set back dated a
    completion before the arrival, even before the order was accepted (a probe)."""
    timing = scope.timing
    by_wall = timing.device_time + timedelta(milliseconds=timing.clock_offset_ms)
    if timing.source != "elapsed":
        if timing.device_elapsed_ms is None:
            return scope.now
        marks = await repository.monotonic_marks(scope.visit["id"], scope.visit["technician"], timing.device_id)
        boots = boots_a_completion_may_be_of(marks, timing.device_elapsed_ms, scope.policy.durations.clock_skew_limit)
        recorded = by_an_earlier_boot(timing.device_elapsed_ms, by_wall, boots, scope.policy)
        if recorded is None:
            return scope.now
        return max(min(recorded, timing.received_at), latest_before or recorded)
    # The wall clock saying the completion was sent the moment it was recorded, against a monotonic time saying long
    # before: only the monotonic time can have been made up there (V-PUNCT's monotonic_disputed, the same test).
    if sent_at_once_yet_recorded_long_before(by_wall, timing.corrected_time, timing.received_at, scope.policy):
        return scope.now
    return max(timing.corrected_time, latest_before or timing.corrected_time)


def boots_a_completion_may_be_of(marks: list[Row], elapsed_ms: int, within: timedelta) -> list[datetime]:
    """The phone's boots (a fact's corrected time minus its elapsed time) whose time something besides its wall clock
    bears out: a fact's monotonic clock in the boot it was sent in, or a check-in's location fix timed by the
    satellites within `within` of it (a phone offline all visit and restarted before the sync has no other witness;
    a probe). Only those a completion, `elapsed_ms` into its boot, can be of: no earlier in the boot than the
    boot's other facts (a completion tapped after a restart, the clock set back by the time between two boots,
    matched the earlier boot with an elapsed time that boot had long passed; a probe)."""
    booted = []
    for mark in marks:
        at, elapsed = mark["corrected_time"], mark["device_elapsed_ms"]
        boot = borne_out_boot(at, elapsed, mark["time_source"], mark["fix_time"], within)
        booted.append((at - timedelta(milliseconds=elapsed) if boot is None else boot, elapsed, boot is not None))
    return [
        boot for boot, _, borne_out in booted
        if borne_out and all(elapsed <= elapsed_ms for other, elapsed, _ in booted if abs(other - boot) <= within)
    ]


def photo_withdrawal(body: PhotoWithdrawal, scope: FactScope) -> Outcome:
    """A-DECIDE: a picture attached by mistake (last week's photo for this week's shoe covers) is withdrawn while an
    auditor has the visit returned for correction; without it the visit could never be cleared however it was
    corrected. It stays in the trail and the evidence view, marked withdrawn; no rule reads it any more, and the
    visit stays flagged (a.decide.photo_withdrawn) until an auditor accepts the withdrawal."""
    if scope.visit["status"] != "returned":
        raise NotReturned()

    async def write(_event_row_id: UUID) -> None:
        status = await repository.withdraw_photo(body.photo_id, scope.visit["id"])
        if status is None:
            raise PhotoNotFound()
        if status == "withdrawn":
            raise PhotoAlreadyWithdrawn()

    return Outcome(details={"photo_id": body.photo_id}, write=write)


FACTS: dict[str, FactSpec] = {
    "on_my_way": FactSpec(OnMyWay, FactResult, no_effect),
    "arrival": FactSpec(Checkin, CheckinResult, checkin),
    "step": FactSpec(Step, FactResult, step),
    "note": FactSpec(Note, FactResult, no_effect),
    "leave": FactSpec(Leave, FactResult, leave),
    "return": FactSpec(Checkin, CheckinResult, checkin),
    "test_result": FactSpec(ServiceTest, FactResult, no_effect),
    "question": FactSpec(Question, QuestionResult, question),
    "service_card": FactSpec(Fact, ServiceCardResult, service_card),
    "checkout": FactSpec(Checkin, CheckinResult, checkin),
    "completion": FactSpec(Complete, CompletionResult, completion),
    "photo_withdrawal": FactSpec(PhotoWithdrawal, PhotoWithdrawalResult, photo_withdrawal),
}


class MobileService:
    def __init__(self, ctx: AppContext):
        self.ctx = ctx
        self.trail = TrailWriter(ctx)

    async def record(
        self, kind: FactKind, caller: Caller, visit_id: UUID, body: Fact, reading: ClockReading
    ) -> Recorded[FactResult]:
        """Record one JSON fact of the given kind (the single endpoints and the sync batch both come here)."""
        spec = FACTS[kind]
        draft = draft_of(kind, visit_id, body, reading, spec.result_type, decide=spec.decide)
        return await self.record_fact(caller, visit_id, draft)

    async def record_fact(self, caller: Caller, visit_id: UUID, draft: FactDraft) -> Recorded[FactResult]:
        """The one door every phone fact goes through: recorded with its trail entries and re-audit mark, all or none.

        On PostgreSQL the usual fact is one statement (see _record_in_one_statement); the rest, and every fact on
        SQLite, one write transaction. The visit row lock makes facts of one visit take turns; the claim (ON CONFLICT DO NOTHING on the event id)
        is what guarantees once-only even for twins on different visits. A stored fact replays its first answer,
        also on a visit that has closed since.
        """
        technician = technician_of(caller)
        if not db.is_sqlite(self.ctx.engine):
            recorded = await self._record_in_one_statement(caller, visit_id, technician, draft)
            if recorded is not None:
                return recorded
        async with db.write_transaction(self.ctx.engine):
            visit = await repository.lock_own_visit(visit_id, technician, self.ctx.engine)
            if visit is None:
                return await self._answer_not_assigned(visit_id, technician, draft)
            result = None
            if visit["status"] in OPEN_FOR_FACTS:  # the usual case: claim first, look up the original only if taken
                result = await self._claim(caller, visit, draft)
            stored = None if result is not None else await repository.stored_event(draft.event_id)
            if result is None and stored is None:
                require_open(visit)
        if stored is None:
            self.ctx.audit_wakeup.set()
            return Recorded(result, replay=False)
        return replayed(stored, draft.digest, technician, visit_id, draft.result_type)

    async def _record_in_one_statement(
        self, caller: Caller, visit_id: UUID, technician: UUID, draft: FactDraft
    ) -> Recorded[FactResult] | None:
        """PostgreSQL, the usual fact (an open visit, nothing to write but the fact's own rows): the visit read without
        a lock, the fact decided, then claimed by one statement that checks, under the visit's row lock, that the
        visit is still the caller's and in the status the fact was decided on. Two round trips instead of five.

        None leaves the fact to the transaction: a visit that is not the caller's, closed or changed meanwhile, and
        facts that write rows of their own (questions, completion, photos).
        """
        visit = await repository.own_visit(visit_id, technician)
        if visit is None or visit["status"] not in OPEN_FOR_FACTS:
            return None
        decided = self._decide(caller, visit, draft)
        if decided.write is not None:
            return None
        claimed = await repository.claim_fact(decided.claim, self.ctx.engine)
        if claimed is repository.Claimed.NOW:
            self.ctx.audit_wakeup.set()
            return Recorded(decided.result, replay=False)
        stored = await repository.stored_event(draft.event_id) if claimed is repository.Claimed.BEFORE else None
        if stored is None:
            return None
        return replayed(stored, draft.digest, technician, visit_id, draft.result_type)

    async def _claim(self, caller: Caller, visit: Row, draft: FactDraft) -> FactResult | None:
        """In the fact's transaction, the visit locked: claim the fact and write its own rows; None if already taken."""
        if draft.kind == "completion" and visit["status"] == "returned":
            visit = {**visit, "order_status_since_taken_over": await _order_taken_over(visit, self.ctx.engine)}
        decided = self._decide(caller, visit, draft)
        if await repository.claim_fact(decided.claim, self.ctx.engine) is not repository.Claimed.NOW:
            return None
        if decided.write is not None:
            for kind, subject_id, data in await decided.write(draft.row_id) or []:
                await self.trail.append(kind, subject_id, None, data)
        if draft.kind == "completion":  # the one fact that changes dispatch records: it closes the work order
            await state_records(self.trail, visit["work_order"], caller)
        return decided.result

    def _decide(self, caller: Caller, visit: Row, draft: FactDraft) -> Decided:
        """The fact under the rules of its kind and the visit's policy: its answer, and what to claim and write."""
        timing, before = draft.timing, visit["status"]
        policy = self.ctx.policies.select(visit["kind"], visit["locality"], visit["customer_tier"])
        scope = FactScope(visit=visit, timing=timing, settings=self.ctx.settings, policy=policy, now=self.ctx.now())
        outcome = draft.decide(draft.body, scope)
        after = STATUS_AFTER.get(draft.kind, {}).get(before, before)
        result = draft.result_type(
            event_id=draft.event_id,
            visit_id=visit["id"],
            kind=draft.kind,
            visit_status=after,
            received_at=timing.received_at,
            corrected_time=timing.corrected_time,
            time_source=timing.source,
            clock_offset_ms=timing.clock_offset_ms,
            **outcome.details,
        )
        answer = msgspec.to_builtins(result)
        # A-REAUDIT: the visit's verdict follows every fact, late offline ones too: its pending re-audit commits with
        # the fact, and the auditor (a background task, or a reader settling first) runs it once per burst.
        # A-TRAIL: its entries are queued with the fact, so no phone waits for the one chain's lock.
        entries = [
            self.trail.entry(
                f"fact.{draft.kind}",
                visit["id"],
                caller,
                {
                    "eventId": draft.event_id, "digest": draft.digest, "correctedTime": timing.corrected_time,
                    "receivedAt": timing.received_at, "technicianId": visit["technician"],
                    "answer": answer_digest(answer), "clock": derived_digest(clock_columns(timing)),
                    **({"derived": derived_digest(outcome.derived)} if outcome.derived else {}),
                },
            )
        ]
        if after != before:
            change = {"from": before, "to": after, "eventId": draft.event_id}
            entries.append(self.trail.entry("visit.status", visit["id"], caller, change))
        claim = repository.FactClaim(
            event={
                "id": draft.row_id,
                "event_id": draft.event_id,
                "visit": visit["id"],
                "technician": visit["technician"],
                "kind": draft.kind,
                "body_digest": draft.digest,
                "payload": draft.payload,
                "result": answer,
                "device_time": timing.device_time,
                "device_elapsed_ms": timing.device_elapsed_ms,
                "device": timing.device_id,
                "device_boot": timing.device_boot,
                "clock_offset_ms": timing.clock_offset_ms,
                "corrected_time": timing.corrected_time,
                "time_source": timing.source,
                "server_received_at": timing.received_at,
                "batch_position": timing.batch_position,
                **outcome.columns,
            },
            technician=visit["technician"],
            status_before=before,
            status=after if after != before else None,
            at=scope.now,
            located=outcome.columns.get("latitude") is not None,
            entries=entries,
            # A-DECIDE: a returned visit goes back to the auditors when its technician completes it again, not at
            # the first fact of the correction (the auditor could decide while the technician was still at it).
            resubmits=draft.kind == "completion" and before == "returned",
        )
        return Decided(result, claim, outcome.write)

    async def prior_answer(self, caller: Caller, visit_id: UUID, draft: FactDraft) -> Recorded[FactResult] | None:
        """What a fact gets without any work (before an upload is decoded): 404, 409, or its stored answer.

        None means it still has to be recorded; record_fact checks all of it again under the lock.
        """
        technician = technician_of(caller)
        visit = await repository.own_visit(visit_id, technician)
        if visit is None:  # a photo the phone resends after a handover is answered as before, like any fact
            return await self._answer_not_assigned(visit_id, technician, draft)
        stored = await repository.stored_event(draft.event_id)
        if stored is not None:
            return replayed(stored, draft.digest, visit["technician"], visit_id, draft.result_type)
        require_open(visit)
        return None

    async def _answer_not_assigned(self, visit_id: UUID, technician: UUID, draft: FactDraft) -> Recorded[FactResult]:
        """A fact for a visit this technician does not hold: the replay of one recorded while they did is answered as
        before (a phone resending after a handover must not think its fact lost); a new one is refused, saying the
        visit was handed over if it was theirs, else that there is no such visit."""
        stored = await repository.stored_event(draft.event_id)
        if stored is not None and stored["technician"] == technician and stored["visit"] == visit_id:
            return replayed(stored, draft.digest, technician, visit_id, draft.result_type)
        raise await self.not_assigned_error(visit_id, technician)

    async def not_assigned_error(self, visit_id: UUID, technician: UUID) -> ApiError:
        """Why the visit is not this technician's: handed over to another (409), or never theirs (404)."""
        handed_over_at = await repository.handed_over_from(visit_id, technician)
        if handed_over_at is None:
            return VisitNotFound()
        return VisitReassigned(
            f"This visit was handed over to another technician at {handed_over_at.isoformat()}: it takes no more facts "
            "from this phone. Tell the dispatcher what was done on site.",
            details={"handedOverAt": handed_over_at.isoformat()},
        )

    async def summary(self, caller: Caller, visit_id: UUID) -> Summary:
        technician = technician_of(caller)
        visit = await repository.own_visit(visit_id, technician)
        if visit is None:
            raise await self.not_assigned_error(visit_id, technician)
        return work_order_summary(visit)

    async def sync(self, caller: Caller, batch: SyncBatch, reading: ClockReading) -> SyncReceipts:
        """Offline facts in order, each in its own transaction, so one bad fact does not sink the others."""
        return SyncReceipts(
            receipts=[await self._sync_one(caller, index, fact, reading) for index, fact in enumerate(batch.facts)]
        )

    async def _sync_one(self, caller: Caller, index: int, item: Any, reading: ClockReading) -> Receipt:
        try:
            fact = msgspec.convert(whole_numbers_as_integers(item), SyncFact)
            body = msgspec.convert(fact.body, FACTS[fact.type].body_type)
        except msgspec.ValidationError as error:
            return _refused_item(index, item, str(error))
        except RecursionError:  # the batch's own reading takes each item as any JSON, however deep (a probe: a 500)
            return _refused_item(index, item, NESTED_TOO_DEEP)
        try:
            recorded = await self.record(fact.type, caller, fact.visit_id, body, replace(reading, batch_position=index))
        except ApiError as error:
            return Receipt(
                index=index, event_id=body.event_id, status="rejected", code=error.code, message=error.detail
            )
        return Receipt(
            index=index,
            event_id=body.event_id,
            status="duplicate" if recorded.replay else "accepted",
            result=msgspec.to_builtins(recorded.result),
        )


def require_open(visit: Row) -> None:
    if visit["status"] not in OPEN_FOR_FACTS:
        raise VisitClosed(f"The visit is {visit['status']}; it takes no new facts.")


def _refused_item(index: int, item: Any, message: str) -> Receipt:
    """The receipt of a batch item that is no fact of its type."""
    return Receipt(
        index=index, event_id=_event_id_in(item), status="rejected", code=ValidationFailed.code, message=message
    )


def _event_id_in(item: Any) -> UUID | None:
    """The event id in a sync item's body, when the item has one that reads as a UUID."""
    body = item.get("body") if isinstance(item, dict) else None
    try:
        return UUID(str(body.get("eventId"))) if isinstance(body, dict) else None
    except ValueError:
        return None
