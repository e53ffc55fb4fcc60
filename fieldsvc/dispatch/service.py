"""Dispatcher use cases under the booking rules (B-*), each in one transaction."""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Callable
from datetime import datetime, timedelta
from typing import TypeVar
from uuid import UUID
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from fieldsvc import db
from fieldsvc.answers import Recorded
from fieldsvc.audit.facts import DONE_ON_SITE, RescheduleFacts
from fieldsvc.audit.rules.deadlines import customer_delay, rebookings_of, round_first_booked
from fieldsvc.audit.wording import hours
from fieldsvc.auth.caller import Caller
from fieldsvc.context import AppContext
from fieldsvc.dispatch import replays, repository, rules
from fieldsvc.dispatch.replays import OfficeRequest
from fieldsvc.dispatch.schemas import (
    AssignVisit,
    BookVisit,
    CancelVisit,
    CreateWorkOrder,
    ForceClose,
    LogContact,
    NewSite,
    RescheduleVisit,
    WorkOrderView,
)
from fieldsvc.dispatch.views import visit_view, work_order_view
from fieldsvc.errors import api_error
from fieldsvc.review import repository as review_repository
from fieldsvc.tables import Assignment, Cancellation, Customer, Reschedule, Site, Technician, Visit, WorkOrder
from fieldsvc.trail.dispatch_records import state_records
from fieldsvc.trail.service import TrailWriter
from fieldsvc.verdicts import outbox
from fieldsvc.verdicts.service import VerdictService
from fieldsvc.visible import shows_text

log = logging.getLogger(__name__)
View = TypeVar("View")

WorkOrderNotFound = api_error(404, "work_order.not_found", "No such work order.")
VisitNotFound = api_error(404, "visit.not_found", "No such visit.")
TechnicianNotFound = api_error(404, "technician.not_found", "No such technician.")
TechnicianInactive = api_error(
    409, "technician.inactive", "This technician's account is deactivated; assign the visit to someone else."
)
CustomerNotFound = api_error(422, "work_order.unknown_customer", "customerId names no customer.")
SiteNotFound = api_error(422, "work_order.unknown_site", "siteId names no site of this customer.")
CustomerChoice = api_error(422, "work_order.customer_choice", "Give exactly one of customer or customerId.")
SiteChoice = api_error(422, "work_order.site_choice", "Give exactly one of site or siteId.")
FaultRequired = api_error(422, "work_order.fault_required", "A repair must record the reported fault.")
AcceptedInFuture = api_error(
    422,
    "work_order.accepted_in_future",
    "acceptedAt lies in the future: an order is accepted when the customer's request was taken, and every deadline "
    "(B-CONTACT, B-FIRST, B-REPAIR) counts from it.",
)
# A dispatcher's clock may run a little ahead of the server's; more than this would push every deadline back.
ACCEPTED_AT_LEEWAY = timedelta(minutes=5)
ContactInFuture = api_error(422, "contact.in_future", "contactedAt lies in the future.")
ContactBeforeAcceptance = api_error(
    422, "contact.before_acceptance", "contactedAt is before the work order was accepted (acceptedAt)."
)
ContactLoggedLate = api_error(
    422,
    "contact.logged_late",
    "B-CONTACT / B-FIRST: a contact is logged within 30 min of when it happened; log a later one without "
    "contactedAt, and it counts from now.",
)
# How long after a call a dispatcher may log it with the call's own time: longer would let a late first response be
# dated back into its deadline.
CONTACT_LOGGING_GRACE = timedelta(minutes=30)
UnknownTimeZone = api_error(422, "site.unknown_time_zone", "The site's time zone is not a known IANA zone name.")
OrderNotOpen = api_error(409, "work_order.not_open", "The work order is closed or cancelled.")
QuietHours = api_error(
    422, "booking.quiet_hours", "B-QUIET: no visit may start between 20:00 and 08:00 site-local time."
)
InPast = api_error(422, "booking.in_past", "The appointment time has already passed.")
InstallTooLate = api_error(
    422,
    "booking.install_too_late",
    "B-INSTALL-24: an install must be scheduled within 24 h of its order's first booking since its last completed "
    "visit (a visit cancelled and booked again does not restart it) unless the customer asked for later "
    "(customer_requested) or resources are unavailable (resource_unavailable).",
)
CustomerNotNotified = api_error(
    422,
    "booking.customer_not_notified",
    "B-INSTALL-24: resource_unavailable needs the customer notified within 24 h of booking (customerNotifiedAt).",
)
LateReasonNotApplicable = api_error(422, "booking.late_reason_not_applicable", "Only an install takes a late reason.")
VisitStillOpen = api_error(409, "booking.visit_open", "This work order already has a visit that is not finished.")
VisitNotChangeable = api_error(
    409, "visit.not_changeable", "The technician is already on site, or the visit is finished or cancelled."
)
Overlap = api_error(
    409,
    "assign.overlap",
    "B-ASSIGN: the technician already holds a visit overlapping this one (including travel time); "
    "give overrideReason to let the overlap stand.",
)
SameTime = api_error(422, "reschedule.same_time", "The new time equals the current agreed time.")
NoteRequired = api_error(422, "reschedule.note_required", "Reason code 'other' needs a note.")
CancelNoteRequired = api_error(422, "cancel.note_required", "B-CANCEL: reason code 'other' needs a note.")
InitiatorMismatch = api_error(
    422, "reschedule.initiator_mismatch",
    "B-RESCHED: this reason is the company's side, so the reschedule is the company's, not the customer's.",
)
OrderForceClosed = api_error(
    409, "work_order.force_closed", "The work order was force-closed: its visits can no longer be moved or reassigned."
)
NotifiedOutOfRange = api_error(
    422, "booking.notified_out_of_range", "customerNotifiedAt lies in the future or before the work order was accepted."
)
ConfirmedOutOfRange = api_error(
    422, "booking.confirmed_out_of_range",
    "B-APPT: confirmation.confirmedAt lies in the future or before the work order was accepted.",
)

# Until the technician arrives the visit can still be moved, handed over or cancelled: a customer who calls while the
# technician is on the way gets a new time, and the trip is off (the visit waits, assigned, for its new time).
LIVE_VISIT_STATES = ("scheduled", "assigned", "en_route")
OVERLAP_WINDOW = timedelta(hours=36)  # B-ASSIGN: every visit this near is checked, and the nearest beyond


# Names the zone database answers to that are no place's zone: the server's own, a template, a placeholder.
_NOT_A_PLACE = ("localtime", "posixrules", "Factory")


_LONGEST_ZONE_SHOWN = 64


def zone_named(name: str) -> ZoneInfo:
    # IANA names are at most a few dozen characters: a longer one is repeated back cut short.
    shown = name if len(name) <= _LONGEST_ZONE_SHOWN else name[:_LONGEST_ZONE_SHOWN] + "..."
    if name in _NOT_A_PLACE or name.startswith(("posix/", "right/")):
        raise UnknownTimeZone(f"'{shown}' is no place's time zone; give an IANA zone such as Asia/Shanghai.")
    try:
        return ZoneInfo(name)
    # A folder of the zone database ("America") or a name too long for a file name fails as a file, not as a zone.
    except (ZoneInfoNotFoundError, ValueError, OSError) as error:
        raise UnknownTimeZone(f"'{shown}' is not a known IANA time zone.") from error


class DispatchService:
    def __init__(self, ctx: AppContext):
        self.ctx = ctx
        self.settings = ctx.settings
        self.trail = TrailWriter(ctx)

    def sla_hours(self, kind: str, locality: str, tier: str) -> rules.SlaHours:
        """B-CONTACT/B-FIRST/B-INSTALL-24/B-REPAIR lengths from the policy in force for this kind of visit."""
        policy = self.ctx.policies.select(kind, locality, tier)
        return rules.SlaHours(
            contact=policy.contact_deadline_h[tier],
            first_response=policy.first_response_h,
            install_schedule=policy.install_schedule_h,
            repair=policy.repair_deadline_h[tier],
            reschedule_notice=policy.reschedule_notice_h,
        )

    async def create_work_order(
        self, data: CreateWorkOrder, caller: Caller, request: OfficeRequest | None
    ) -> Recorded[WorkOrderView]:
        if (data.customer is None) == (data.customer_id is None):
            raise CustomerChoice()
        if (data.site is None) == (data.site_id is None):
            raise SiteChoice()
        if data.kind == "repair" and not shows_text(data.reported_fault or ""):
            raise FaultRequired()
        if data.site is not None:
            zone_named(self._site_zone(data.site))
        now = self.ctx.now()
        accepted_at = data.accepted_at or now
        if accepted_at > now + ACCEPTED_AT_LEEWAY:
            raise AcceptedInFuture(details={"acceptedAt": accepted_at, "now": now, "leewayMinutes": _minutes(ACCEPTED_AT_LEEWAY)})
        # Within the leeway, the dispatcher's clock runs ahead: accepted now. Stored as sent, it put every deadline
        # later and refused the contacts and bookings made "now" as before the acceptance (a probe).
        accepted_at = min(accepted_at, now)
        async with db.write_transaction(self.ctx.engine):
            order_id = await replays.first_result(request, now)
            replay = order_id is not None
            if order_id is None:
                order_id = await self._record_work_order(data, caller, accepted_at)
                await replays.settle(request, order_id)
            committed = await self._work_order_view(order_id)
        return Recorded(await self._settled(committed, self._work_order_view, order_id), replay=replay)

    async def _record_work_order(self, data: CreateWorkOrder, caller: Caller, accepted_at: datetime) -> UUID:
        customer_id, tier = await self._customer_for(data)
        site_id, locality = await self._site_for(data, customer_id)
        deadlines = rules.order_deadlines(data.kind, accepted_at, self.sla_hours(data.kind, locality, tier))
        order_id = await repository.insert_row(
            WorkOrder(
                kind=data.kind,
                customer=customer_id,
                site=site_id,
                accepted_at=accepted_at,
                description=data.description,
                reported_fault=data.reported_fault,
                contact_due_at=deadlines.contact_due_at,
                first_response_due_at=deadlines.first_response_due_at,
                resolve_due_at=deadlines.resolve_due_at,
                created_by=caller.user_id,
            )
        )
        await self.trail.append("work_order.created", order_id, caller, {"kind": data.kind, "tier": tier})
        await state_records(self.trail, order_id, caller)
        return order_id

    async def _customer_for(self, data: CreateWorkOrder) -> tuple[UUID, str]:
        if data.customer is not None:
            new = data.customer
            return await repository.insert_row(Customer(name=new.name, phone=new.phone, tier=new.tier)), new.tier
        customer = await repository.get_customer(data.customer_id)
        if customer is None:
            raise CustomerNotFound()
        return customer["id"], customer["tier"]

    def _site_zone(self, site: NewSite) -> str:
        """The zone a new site names, or the configured one when it names none (an empty name is no zone)."""
        return self.settings.default_time_zone if site.time_zone is None else site.time_zone

    async def _site_for(self, data: CreateWorkOrder, customer_id: UUID) -> tuple[UUID, str]:
        if data.site is not None:
            new = data.site
            site_id = await repository.insert_row(
                Site(
                    customer=customer_id,
                    address=new.address,
                    latitude=new.latitude,
                    longitude=new.longitude,
                    locality=new.locality,
                    time_zone=self._site_zone(new),
                )
            )
            return site_id, new.locality
        site = await repository.get_site(data.site_id)
        if site is None or site["customer"] != customer_id:
            raise SiteNotFound()
        return site["id"], site["locality"]

    async def work_order(self, order_id: UUID):
        await VerdictService(self.ctx).settle()  # A-REAUDIT: the verdicts shown reflect every recorded fact
        return await self._work_order_view(order_id)

    async def work_orders(
        self, status: str | None, unbooked: bool, customer_phone: str | None, limit: int, offset: int
    ) -> tuple[list[WorkOrderView], int]:
        """A page of the work orders, oldest accepted first, with their deadlines and visits, and how many the filters
        find: what waits for a booking is there, not only what is near a deadline."""
        await VerdictService(self.ctx).settle()  # A-REAUDIT: the verdicts shown reflect every recorded fact
        async with db.read_snapshot(self.ctx.engine):  # the page, its count and its visits of one moment
            orders, total = await repository.work_orders(status, unbooked, customer_phone, limit, offset)
            visits = await repository.visits_of_orders([order["id"] for order in orders])
        return [work_order_view(order, visits.get(order["id"], [])) for order in orders], total

    async def _work_order_view(self, order_id: UUID):
        order = await repository.get_work_order(order_id)
        if order is None:
            raise WorkOrderNotFound()
        return work_order_view(order, await repository.visits_of_order(order_id))

    async def log_contact(
        self, order_id: UUID, data: LogContact, caller: Caller, request: OfficeRequest | None
    ) -> Recorded[WorkOrderView]:
        now = self.ctx.now()
        at = data.contacted_at or now
        async with db.write_transaction(self.ctx.engine):
            order, _ = await self._locked_with_its_visits(order_id, self._existing_order)
            # A retry of a recorded contact is answered as the first was, however late it comes (a probe).
            replay = await replays.first_result(request, now) is not None
            if not replay:
                _check_contact_time(at, now)
                at = min(at, now)  # within the leeway the dispatcher's clock runs ahead: contacted now
                if at < order["accepted_at"]:
                    raise ContactBeforeAcceptance(details={"contactedAt": at, "acceptedAt": order["accepted_at"]})
                contact_id = await repository.insert_row(
                    repository.new_contact(order_id, at, data.channel, data.note, caller.user_id)
                )
                await repository.record_first_contact(order_id, at)
                await self.trail.append("work_order.contacted", order_id, caller, {"channel": data.channel, "at": at})
                await state_records(self.trail, order_id, caller)
                await replays.settle(request, contact_id)
                # B-FIRST is the order's: a contact may answer the late first response its visits already carry.
                await _mark_the_orders_visits(order_id, now)
            committed = await self._work_order_view(order_id)
        if not replay:
            self.ctx.audit_wakeup.set()
        return Recorded(await self._settled(committed, self._work_order_view, order_id), replay=replay)

    async def book_visit(self, order_id: UUID, data: BookVisit, caller: Caller):
        now = self.ctx.now()
        async with db.write_transaction(self.ctx.engine):
            order = await self._open_order(order_id, reopen_unresolved_by=caller)
            earlier = await repository.visits_of_order(order_id)
            if any(v["status"] not in (*DONE_ON_SITE, "cancelled") for v in earlier):
                raise VisitStillOpen()
            site = await repository.get_site(order["site"])
            self._check_start(data.agreed_time, site["time_zone"], now, "agreedTime")
            customer = await repository.get_customer(order["customer"])
            confirmed_at = data.confirmation.confirmed_at or now
            _check_customer_told(data, confirmed_at, order["accepted_at"], now)
            # Within the leeway the dispatcher's clock runs ahead: told now, as an order accepted "ahead" is.
            confirmed_at = min(confirmed_at, now)
            notified_at = data.customer_notified_at and min(data.customer_notified_at, now)
            # B-INSTALL-24 counts from the first booking since the order's last completed visit: cancelling and
            # booking again does not restart it; a visit after one completed unresolved does.
            first_booked = round_first_booked(now, earlier)
            sla = self.sla_hours(order["kind"], site["locality"], customer["tier"])
            self._check_install_limit(order, data, first_booked, sla)
            rebooked_repair = order["resolve_due_at"] is not None and bool(earlier)
            credit_before = await _repair_credit(order_id, sla.repair) if rebooked_repair else timedelta(0)
            visit_id = await repository.insert_row(
                Visit(
                    work_order=order_id,
                    agreed_time=data.agreed_time,
                    original_agreed_time=data.agreed_time,
                    expected_duration_min=data.expected_duration_min,
                    confirmed_channel=data.confirmation.channel,
                    confirmed_at=confirmed_at,
                    booked_at=now,
                    booked_by=caller.user_id,
                    late_reason=data.late_reason,
                    customer_notified_at=notified_at,
                    created_at=now,
                    updated_at=now,
                )
            )
            if rebooked_repair:  # B-REPAIR: booked at another time than the last visit's, the appointment moved
                await _shift_repair_deadline(order_id, order["resolve_due_at"], credit_before, sla.repair, now)
            await self.trail.append(
                "visit.booked", visit_id, caller, {"agreedTime": data.agreed_time, "lateReason": data.late_reason}
            )
            await state_records(self.trail, order_id, caller)
            committed = await self._visit_view(visit_id)
        return await self._settled(committed, self._visit_view, visit_id)

    async def _open_order(self, order_id: UUID, reopen_unresolved_by: Caller | None = None) -> dict:
        """Lock the work order for this transaction; it must exist and still be open.

        Booking a visit (reopen_unresolved_by: who books) reopens an order its visit closed `unresolved`: the fault
        still has to be fixed, and B-REPAIR keeps measuring until a close `resolved`. A forced close stays closed.
        """
        order = await repository.lock_work_order(order_id, self.ctx.engine)
        if order is None:
            raise WorkOrderNotFound()
        unresolved = order["outcome"] == "unresolved" and order["forced_close_reason"] is None
        if reopen_unresolved_by is not None and order["status"] == "closed" and unresolved:
            await repository.reopen_work_order(order_id)
            await self.trail.append("work_order.reopened", order_id, reopen_unresolved_by, {"lastOutcome": "unresolved"})
            return {**order, "status": "open"}
        if order["status"] != "open":
            raise OrderNotOpen()
        return order

    def _check_start(self, start: datetime, zone_name: str, now: datetime, field: str) -> None:
        """field: the request's name for `start`, named in a refusal's details."""
        if start <= now:  # before the quiet window: a past time in the night was refused as "pick another time"
            raise InPast(details={field: start, "now": now})
        zone = zone_named(zone_name)
        if rules.in_quiet_hours(start, zone, self.settings.quiet_hours_start, self.settings.quiet_hours_end):
            site_local = start.astimezone(zone)
            # 07:59:59 shown as "07:59" reads as a minute before the window's end, not a second.
            local = site_local.strftime("%H:%M:%S" if site_local.second or site_local.microsecond else "%H:%M")
            raise QuietHours(
                f"B-QUIET: {local} site-local ({zone_name}) is inside the quiet window "
                f"{self.settings.quiet_hours_start:02d}:00-{self.settings.quiet_hours_end:02d}:00; pick another time.",
                details={"siteLocalTime": local, "timeZone": zone_name},
            )

    def _check_install_limit(self, order: dict, data: BookVisit, booked_at: datetime, sla: rules.SlaHours) -> None:
        if order["kind"] != "install":
            if data.late_reason is not None:
                raise LateReasonNotApplicable()
            return
        if not rules.install_too_late(booked_at, data.agreed_time, sla):
            return
        if data.late_reason is None:
            raise InstallTooLate(details={
                "bookedAt": booked_at, "agreedTime": data.agreed_time,
                "hoursAfterBooking": hours(data.agreed_time - booked_at),  # a second late shows
                "limitHours": sla.install_schedule,
            })
        notify_by = booked_at + timedelta(hours=sla.install_schedule)
        if data.late_reason == "resource_unavailable" and (
            data.customer_notified_at is None or data.customer_notified_at > notify_by
        ):
            raise CustomerNotNotified(details={"customerNotifiedAt": data.customer_notified_at, "notifyBy": notify_by})

    async def assign(self, visit_id: UUID, data: AssignVisit, caller: Caller):
        async with db.write_transaction(self.ctx.engine):
            visit = await self._movable_visit(visit_id)
            if not await self._lock_technician(data.technician_id):
                raise TechnicianNotFound()
            if visit["technician"] != data.technician_id:
                if await repository.technician_deactivated(data.technician_id, self.ctx.engine):
                    raise TechnicianInactive()
                await self._hand_over(visit, data, caller)
            committed = await self._visit_view(visit_id)
        return await self._settled(committed, self._visit_view, visit_id)

    async def _hand_over(self, visit: dict, data: AssignVisit, caller: Caller) -> None:
        # Read under the locks: handovers racing each other are then timed in the order they were recorded (a
        # probe found one dated before the handover it followed).
        visit_id, now = visit["id"], self.ctx.now()
        await self._refuse_overlap(visit, data.technician_id, visit["agreed_time"], data.override_reason)
        await repository.insert_row(
            Assignment(
                visit=visit_id,
                technician=data.technician_id,
                previous_technician=visit["technician"],
                handed_over_at=now,
                assigned_by=caller.user_id,
                override_reason=data.override_reason,
            )
        )
        await repository.update_visit(visit_id, {Visit.technician: data.technician_id, Visit.status: "assigned"}, now)
        await self.trail.append(
            "visit.assigned",
            visit_id,
            caller,
            {"technicianId": data.technician_id, "previous": visit["technician"], "override": data.override_reason},
        )
        await state_records(self.trail, visit["work_order"], caller)

    async def _lock_technician(self, technician_id: UUID) -> bool:
        """B-ASSIGN: assignments and moves into a technician's day take turns per technician, so two dispatchers
        cannot double-book one person (two moves into one slot at once both passed the overlap check; a probe).
        False if there is no such technician."""
        query = Technician.select(Technician.id).where(Technician.id == technician_id)
        return await db.locked(query, self.ctx.engine).first() is not None

    async def _changeable_visit(self, visit_id: UUID) -> dict:
        visit = await repository.lock_visit(visit_id, self.ctx.engine)
        if visit is None:
            raise VisitNotFound()
        if visit["status"] not in LIVE_VISIT_STATES:
            raise VisitNotChangeable(f"The visit is {visit['status']}; it can no longer be changed.")
        return visit

    async def _movable_visit(self, visit_id: UUID) -> dict:
        """A visit that may get another time or technician: changeable, and not on a force-closed order (whose visit
        left open for an offline phone's facts must not take up a new slot)."""
        visit = await self._changeable_visit(visit_id)
        if visit["order_status"] == "closed":
            raise OrderForceClosed()
        return visit

    async def _refuse_overlap(self, visit: dict, technician_id: UUID, start: datetime, override: str | None) -> None:
        window = (start - OVERLAP_WINDOW, start + OVERLAP_WINDOW)
        booked = await repository.technician_visits_between(technician_id, *window)
        held = [b for b in booked if b["status"] not in DONE_ON_SITE]  # a visit finished early frees the rest of its slot
        # Farther visits fit whenever the nearest one on each side does (travel obeys the triangle inequality), but
        # the nearest may be farther than the window: a site days of travel away (a probe: Shanghai then Urumqi).
        held += await repository.technician_nearest_held_visits_outside(technician_id, *window)
        candidate = _slot(visit, start)
        conflicts = rules.conflicting_slots(candidate, [_slot(b, b["agreed_time"]) for b in held], self.settings.travel_speed_kmh)
        if conflicts and not override:
            raise Overlap(
                details={"conflicts": [
                    {
                        "visitId": str(c.slot.visit_id), "agreedTime": c.slot.start.isoformat(),
                        "travelMinutes": _minutes(c.travel), "gapMinutes": _minutes(c.gap),
                    }
                    for c in conflicts
                ]}
            )

    async def reschedule(self, visit_id: UUID, data: RescheduleVisit, caller: Caller):
        if data.reason_code == "other" and not shows_text(data.note):
            raise NoteRequired()
        if data.initiator == "customer" and data.reason_code in rules.COMPANY_REASONS:
            raise InitiatorMismatch(details={"initiator": data.initiator, "reasonCode": data.reason_code})
        async with db.write_transaction(self.ctx.engine):
            visit = await self._movable_visit(visit_id)
            now = self.ctx.now()  # under the visit's lock: moves sent at once are recorded in the order they chain
            if data.new_time == visit["agreed_time"]:
                raise SameTime()
            self._check_start(data.new_time, visit["time_zone"], now, "newTime")
            if visit["technician"] is not None:
                await self._lock_technician(visit["technician"])
                await self._refuse_overlap(visit, visit["technician"], data.new_time, data.override_reason)
            old_time = visit["agreed_time"]
            sla = self.sla_hours(visit["kind"], visit["locality"], visit["tier"])
            repair = visit["resolve_due_at"] is not None
            credit_before = await _repair_credit(visit["work_order"], sla.repair) if repair else timedelta(0)
            compliant = rules.reschedule_is_compliant(
                now, old_time, data.reason_code, data.customer_confirmed, timedelta(hours=sla.reschedule_notice)
            )
            await repository.insert_row(
                Reschedule(
                    visit=visit_id,
                    old_time=old_time,
                    new_time=data.new_time,
                    initiator=data.initiator,
                    reason_code=data.reason_code,
                    note=data.note,
                    customer_confirmed=data.customer_confirmed,
                    recorded_by=caller.user_id,
                    recorded_at=now,
                    compliant=compliant,
                    override_reason=data.override_reason,
                )
            )
            changes = {Visit.agreed_time: data.new_time}
            if visit["status"] == "en_route":
                changes[Visit.status] = "assigned"
            # B-RESCHED: a customer's confirmed move is recorded as the customer's shift of the SLA clock (kept for the
            # trail; the deadline itself follows the audit's customer_delay over all the order's moves, below).
            by_customer = data.initiator == "customer" and data.customer_confirmed
            shift = data.new_time - old_time if by_customer else timedelta(0)
            changes[Visit.sla_shift_seconds] = visit["sla_shift_seconds"] + int(shift.total_seconds())
            await repository.update_visit(visit_id, changes, now)
            if repair:
                await _shift_repair_deadline(visit["work_order"], visit["resolve_due_at"], credit_before, sla.repair, now)
            await self.trail.append(
                "visit.rescheduled",
                visit_id,
                caller,
                {"old": old_time, "new": data.new_time, "initiator": data.initiator, "compliant": compliant,
                 "override": data.override_reason},
            )
            await state_records(self.trail, visit["work_order"], caller)
            await outbox.mark_without_new_evidence([visit_id], now)  # B-RESCHED, and the references it moved
            committed = await self._visit_view(visit_id)
        self.ctx.audit_wakeup.set()
        return await self._settled(committed, self._visit_view, visit_id)

    async def cancel(self, visit_id: UUID, data: CancelVisit, caller: Caller):
        if data.reason_code == "other" and not shows_text(data.note):
            raise CancelNoteRequired()
        async with db.write_transaction(self.ctx.engine):
            visit = await self._changeable_visit(visit_id)
            now = self.ctx.now()  # under the visit's lock, like a reschedule's
            await self._cancel(visit_id, data, caller, now)
            await state_records(self.trail, visit["work_order"], caller)
            # The order's other visits too: the first one not cancelled carries the order's own findings.
            await _mark_the_orders_visits(visit["work_order"], now)
            committed = await self._visit_view(visit_id)
        self.ctx.audit_wakeup.set()
        return await self._settled(committed, self._visit_view, visit_id)

    async def _cancel(self, visit_id: UUID, data: CancelVisit, caller: Caller, now: datetime) -> None:
        cancellation = Cancellation(
            visit=visit_id, reason_code=data.reason_code, requested_by=data.requested_by, note=data.note,
            recorded_by=caller.user_id, recorded_at=now,
        )
        await repository.insert_row(cancellation)
        await repository.update_visit(visit_id, {Visit.status: "cancelled"}, now)
        await self.trail.append("visit.cancelled", visit_id, caller, {"reason": data.reason_code})

    async def force_close(self, order_id: UUID, data: ForceClose, caller: Caller):
        now = self.ctx.now()
        async with db.write_transaction(self.ctx.engine):
            _, locked = await self._locked_with_its_visits(order_id, self._open_order)
            await repository.close_work_order(order_id, data.outcome, data.reason, now, forced=True)
            await self.trail.append("work_order.force_closed", order_id, caller, {"outcome": data.outcome, "reason": data.reason})
            # A closed order needs no more visits: those not due yet are cancelled, freeing their slots. One whose
            # time has come may have been done offline, its facts still on the phone: it stays open for them, and
            # one on site is finished and audited as it is.
            closing = CancelVisit("other", "company", note=f"work order force-closed: {data.reason}")
            for visit in locked:
                if visit["status"] in LIVE_VISIT_STATES and visit["agreed_time"] > now:
                    await self._cancel(visit["id"], closing, caller, now)
            await state_records(self.trail, order_id, caller)
            # Every visit of the order: one cancelled before carries the order's own findings (V-CLOSE forced, the
            # deadlines) when no other is left. Audited after the commit (work_order settles): audited here, holding
            # the visits' and the order's rows, the force-close waited for the auditor's turn while the background
            # auditor, holding it, waited for those rows (a deadlock; a probe).
            await outbox.mark_without_new_evidence([visit["id"] for visit in locked], now)
            committed = await self._work_order_view(order_id)
        self.ctx.audit_wakeup.set()
        return await self._settled(committed, self._work_order_view, order_id)

    async def _locked_with_its_visits(
        self, order_id: UUID, lock_order: Callable[[UUID], Awaitable[dict]]
    ) -> tuple[dict, list[repository.Row]]:
        """The order's visits locked before the order (by `lock_order`), as a phone's fact locks its visit and then
        closes the order: the other way round, a completion sent during a force-close, or while a contact marked the
        order's visits due, deadlocked (probes). A visit booked meanwhile is locked after."""
        locked = await self._lock_visits_of(order_id, set())
        order = await lock_order(order_id)
        locked += await self._lock_visits_of(order_id, {visit["id"] for visit in locked})
        return order, locked

    async def _existing_order(self, order_id: UUID) -> dict:
        order = await repository.lock_work_order(order_id, self.ctx.engine)
        if order is None:
            raise WorkOrderNotFound()
        return order

    async def _lock_visits_of(self, order_id: UUID, already: set[UUID]) -> list[repository.Row]:
        """The order's visits not locked yet, each locked, in id order (two such lockers cannot wait on each other)."""
        visits = sorted((v["id"] for v in await repository.visits_of_order(order_id) if v["id"] not in already), key=str)
        rows = [await repository.lock_visit(visit_id, self.ctx.engine) for visit_id in visits]
        return [row for row in rows if row is not None]

    async def visit(self, visit_id: UUID):
        await VerdictService(self.ctx).settle()
        return await self._visit_view(visit_id)

    async def _visit_view(self, visit_id: UUID):
        visit = await repository.get_visit(visit_id)
        if visit is None:
            raise VisitNotFound()
        technician = visit["technician"] and await repository.get_technician(visit["technician"])
        returned = (await review_repository.return_requests([visit_id])).get(visit_id) if (
            visit["review_state"] == "returned") else None
        return visit_view(visit, technician, returned, *await repository.visit_history(visit_id))

    async def _settled(self, committed: View, show: Callable[[UUID], Awaitable[View]], shown_id: UUID) -> View:
        """After the commit, the view again with the verdicts that settling its due audits gives (on SQLite they need
        the write lock the transaction held). If the database cannot do that now, the view as committed: the change
        is recorded, and a 503 saying it was not had the dispatcher retry it, which logged a contact twice or
        refused a reschedule "to the same time" (a probe)."""
        try:
            await VerdictService(self.ctx).settle()
            return await show(shown_id)
        except Exception as error:
            if not db.is_unavailable_error(error):
                raise
            log.warning("answered with %s as committed; settling its verdicts failed: %s", shown_id, error)
            return committed


async def _mark_the_orders_visits(order_id: UUID, now: datetime) -> None:
    """A-REAUDIT every visit of the order: its own findings (B-CONTACT, B-FIRST, B-REPAIR) are on one of them."""
    await outbox.mark_without_new_evidence([v["id"] for v in await repository.visits_of_order(order_id)], now)


async def _repair_credit(order_id: UUID, repair_hours: float) -> timedelta:
    """How far the customer's moves push the order's B-REPAIR deadline, read as the audit reads them."""
    accepted_at, moves, visits = await repository.order_schedule(order_id)
    return customer_delay(
        [RescheduleFacts(str(m["id"]), str(m["visit"]), m["old_time"], m["new_time"], m["initiator"], m["reason_code"],
                         m["customer_confirmed"], m["recorded_at"]) for m in moves],
        rebookings_of((str(v["id"]), v["booked_at"], v["original_agreed_time"], v["agreed_time"]) for v in visits),
        accepted_at + timedelta(hours=repair_hours),
    )


async def _shift_repair_deadline(
    order_id: UUID, due_at: datetime, credit_before: timedelta, repair_hours: float, now: datetime
) -> None:
    """Move the order's B-REPAIR deadline by what the move or booking just recorded changed the customer's credit,
    and have the order's visits audited again: B-REPAIR is judged on its first visit, which may be another."""
    credit_after = await _repair_credit(order_id, repair_hours)
    if credit_after != credit_before:
        await repository.shift_resolve_deadline(order_id, due_at + credit_after - credit_before)
        await _mark_the_orders_visits(order_id, now)


def _check_contact_time(at: datetime, now: datetime) -> None:
    """B-FIRST: a contact is logged as it happens, or within the logging grace after; never ahead of now."""
    if at > now + ACCEPTED_AT_LEEWAY:
        raise ContactInFuture(details={"contactedAt": at, "now": now, "leewayMinutes": _minutes(ACCEPTED_AT_LEEWAY)})
    if at < now - CONTACT_LOGGING_GRACE:
        raise ContactLoggedLate(details={
            "contactedAt": at, "now": now, "minutesAgo": _minutes(now - at),
            "graceMinutes": _minutes(CONTACT_LOGGING_GRACE),
        })


def _check_customer_told(data: BookVisit, confirmed_at: datetime, accepted_at: datetime, now: datetime) -> None:
    """B-APPT and B-INSTALL-24: when the customer was told the time (or that the install is late) is a past event since
    the order was accepted; a time made up later (or earlier) must not satisfy what the standard asks to record."""
    told = [("confirmation.confirmedAt", confirmed_at, ConfirmedOutOfRange)]
    if data.customer_notified_at is not None:
        told.append(("customerNotifiedAt", data.customer_notified_at, NotifiedOutOfRange))
    for field, at, error in told:
        if not accepted_at <= at <= now + ACCEPTED_AT_LEEWAY:
            raise error(
                f"{field} {at.isoformat()} lies outside the work order's acceptance ({accepted_at.isoformat()}) "
                f"and now ({now.isoformat()}).",
                details={field: at, "acceptedAt": accepted_at, "now": now},
            )


def _minutes(span: timedelta) -> float:
    return round(span / timedelta(minutes=1), 1)


def _slot(visit: dict, start: datetime) -> rules.Slot:
    return rules.Slot(
        visit_id=visit["id"],
        start=start,
        duration=timedelta(minutes=visit["expected_duration_min"]),
        latitude=visit["latitude"],
        longitude=visit["longitude"],
    )
