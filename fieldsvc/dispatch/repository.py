"""Queries for customers, sites, work orders, visits and their dispatch history."""

from __future__ import annotations

import re
from datetime import datetime
from typing import Any
from uuid import UUID

from piccolo.columns.combination import Combinable, WhereRaw

from fieldsvc import db
from fieldsvc.audit.facts import DONE_ON_SITE
from fieldsvc.tables import (
    AppUser,
    Assignment,
    Cancellation,
    ContactLog,
    Customer,
    OfficeRequest,
    Reschedule,
    Site,
    Technician,
    Visit,
    WorkOrder,
)

Row = dict[str, Any]

VISIT_COLUMNS = (
    Visit.all_columns(),
    Visit.work_order.kind.as_alias("kind"),
    Visit.work_order.status.as_alias("order_status"),
    Visit.work_order.site.latitude.as_alias("latitude"),
    Visit.work_order.site.longitude.as_alias("longitude"),
    Visit.work_order.site.time_zone.as_alias("time_zone"),
    Visit.work_order.site.locality.as_alias("locality"),
    Visit.work_order.customer.tier.as_alias("tier"),
    Visit.work_order.resolve_due_at.as_alias("resolve_due_at"),
)


BOARD_COLUMNS = (  # a visit as a board shows it
    *VISIT_COLUMNS,
    Visit.work_order.customer.name.as_alias("customer_name"),
    Visit.work_order.customer.phone.as_alias("customer_phone"),
    Visit.work_order.customer.tier.as_alias("customer_tier"),
    Visit.work_order.site.address.as_alias("address"),
)

_CLAIM_OFFICE_REQUEST = (
    "INSERT INTO office_request (request_key, body_digest, subject, created_at) VALUES ({}, {}, NULL, {}) "
    "ON CONFLICT (request_key) DO NOTHING RETURNING request_key"
)


async def claim_office_request(key: str, body_digest: str, now: datetime) -> Row | None:
    """None when the key is new and now claimed; else the earlier request's row (after a concurrent twin commits)."""
    if await OfficeRequest.raw(_CLAIM_OFFICE_REQUEST, key, body_digest, now):
        return None
    return await OfficeRequest.select().where(OfficeRequest.request_key == key).first()


async def name_office_request_subject(key: str, subject: UUID) -> None:
    await OfficeRequest.update({OfficeRequest.subject: subject}).where(OfficeRequest.request_key == key)


async def insert_row(row) -> UUID:  # noqa: ANN001 - any table row with a UUID key
    await row.save()
    return row.id


async def get_customer(customer_id: UUID) -> Row | None:
    return await Customer.select().where(Customer.id == customer_id).first()


async def get_site(site_id: UUID) -> Row | None:
    return await Site.select().where(Site.id == site_id).first()


def _orders_with_customer_and_site():  # noqa: ANN202 - a Piccolo select to narrow
    return WorkOrder.select(
        WorkOrder.all_columns(),
        *(getattr(WorkOrder.customer, c).as_alias(f"customer_{c}") for c in ("name", "phone", "tier")),
        *(
            getattr(WorkOrder.site, c).as_alias(f"site_{c}")
            for c in ("address", "latitude", "longitude", "locality", "time_zone")
        ),
    )


async def get_work_order(order_id: UUID) -> Row | None:
    return await _orders_with_customer_and_site().where(WorkOrder.id == order_id).first()


# No visit booked that is not cancelled: the order still waits for its appointment (B-CONTACT, B-FIRST).
_UNBOOKED = WhereRaw(
    "NOT EXISTS (SELECT 1 FROM visit WHERE visit.work_order = work_order.id AND visit.status <> 'cancelled')"
)


_PHONE_SEPARATORS = re.compile(r"[ -]")
_OF_CUSTOMER_PHONED = (
    "work_order.customer IN (SELECT id FROM customer WHERE REPLACE(REPLACE(phone, ' ', ''), '-', '') = {})"
)


async def work_orders(
    status: str | None, unbooked: bool, customer_phone: str | None, limit: int, offset: int
) -> tuple[list[Row], int]:
    """A page of the work orders, oldest accepted first, with their customers and sites, and how many there are."""
    condition: Combinable = WorkOrder.id.is_not_null()
    if status is not None:
        condition &= WorkOrder.status == status
    if unbooked:
        condition &= _UNBOOKED
    if customer_phone is not None:  # however it was written: with spaces or dashes, or without
        condition &= WhereRaw(_OF_CUSTOMER_PHONED, _PHONE_SEPARATORS.sub("", customer_phone))
    rows = await (
        _orders_with_customer_and_site().where(condition).order_by(WorkOrder.accepted_at).order_by(WorkOrder.id)
        .limit(limit).offset(offset)
    )
    return rows, await WorkOrder.count().where(condition)


async def visits_of_orders(order_ids: list[UUID]) -> dict[UUID, list[Row]]:
    """Each order's visits in time order (orders without any are left out)."""
    visits: dict[UUID, list[Row]] = {}
    if order_ids:
        for visit in await Visit.select().where(Visit.work_order.is_in(order_ids)).order_by(Visit.agreed_time):
            visits.setdefault(visit["work_order"], []).append(visit)
    return visits


async def lock_work_order(order_id: UUID, engine) -> Row | None:  # noqa: ANN001
    return await db.locked(WorkOrder.select().where(WorkOrder.id == order_id), engine).first()


async def later_visit_booked(order_id: UUID, booked_at: datetime) -> bool:
    """Whether the work order has a visit booked after `booked_at` and not cancelled: the order is that visit's now.
    Callers hold the order's lock, as a booking does: unlocked, a visit booked at the same moment went unseen (probes)."""
    return await Visit.exists().where(
        (Visit.work_order == order_id) & (Visit.booked_at > booked_at) & (Visit.status != "cancelled")
    )


async def visits_of_order(order_id: UUID) -> list[Row]:
    return (await visits_of_orders([order_id])).get(order_id, [])


async def record_first_contact(order_id: UUID, at: datetime) -> None:
    """B-FIRST: the earliest contact logged, whichever order they were logged in (within the logging grace a later
    entry may name an earlier call; a probe)."""
    await WorkOrder.update({WorkOrder.first_contact_at: at}).where(
        (WorkOrder.id == order_id) & (WorkOrder.first_contact_at.is_null() | (WorkOrder.first_contact_at > at))
    )


# A visit returned for more evidence and completed again (A-DECIDE) with the same outcome keeps the order's first
# close, against which B-REPAIR measures the resolution; an unresolved close later resolved moves it to the later one.
# A forced close is the office's: a visit completed afterwards changes nothing of the order (and never unflags it).
# (The right-hand sides read the row as it was before this UPDATE, on both engines.)
_CLOSE_ORDER = """
UPDATE work_order SET status = 'closed', outcome = {}, outcome_reason = {}, forced_close_reason = {},
    closed_at = CASE WHEN closed_at IS NOT NULL AND outcome = {} THEN closed_at ELSE {} END
WHERE id = {} AND forced_close_reason IS NULL
"""


async def close_work_order(order_id: UUID, outcome: str, reason: str, at: datetime, forced: bool) -> None:
    """V-CLOSE: `reason` explains an unresolved outcome, or for a forced close why it was forced."""
    await WorkOrder.raw(
        _CLOSE_ORDER, outcome, None if forced else reason or None, reason if forced else None, outcome, at, order_id
    )


async def reopen_work_order(order_id: UUID) -> None:
    """Open again, with no outcome: B-REPAIR measures the resolution from the next close (the trail keeps this one)."""
    await WorkOrder.update(
        {WorkOrder.status: "open", WorkOrder.outcome: None, WorkOrder.outcome_reason: None, WorkOrder.closed_at: None}
    ).where(WorkOrder.id == order_id)


async def get_visit(visit_id: UUID) -> Row | None:
    return await Visit.select(*VISIT_COLUMNS).where(Visit.id == visit_id).first()


async def lock_visit(visit_id: UUID, engine) -> Row | None:  # noqa: ANN001
    await db.locked(Visit.select(Visit.id).where(Visit.id == visit_id), engine)
    return await get_visit(visit_id)


async def update_visit(visit_id: UUID, values: dict, at: datetime) -> None:
    await Visit.update({**values, Visit.updated_at: at}).where(Visit.id == visit_id)


async def order_schedule(order_id: UUID) -> tuple[datetime, list[Row], list[Row]]:
    """When the order was accepted, the moves of its visits and their booking and agreed times (B-REPAIR's customer
    delay)."""
    order = await WorkOrder.select(WorkOrder.accepted_at).where(WorkOrder.id == order_id).first()
    moves = await Reschedule.select(
        Reschedule.id, Reschedule.visit, Reschedule.old_time, Reschedule.new_time, Reschedule.initiator,
        Reschedule.reason_code, Reschedule.customer_confirmed, Reschedule.recorded_at,
    ).where(Reschedule.visit.work_order == order_id)
    visits = await Visit.select(Visit.id, Visit.booked_at, Visit.original_agreed_time, Visit.agreed_time).where(
        Visit.work_order == order_id
    )
    return order["accepted_at"], moves, visits


async def shift_resolve_deadline(order_id: UUID, resolve_due_at: datetime) -> None:
    await WorkOrder.update({WorkOrder.resolve_due_at: resolve_due_at}).where(WorkOrder.id == order_id)


async def technician_visits_between(technician_id: UUID, start: datetime, end: datetime) -> list[Row]:
    """The technician's live visits (not cancelled) starting in [start, end), with their sites."""
    return await _technician_visits(
        technician_id, (Visit.status != "cancelled") & (Visit.agreed_time >= start) & (Visit.agreed_time < end)
    )


async def technician_nearest_held_visits_outside(technician_id: UUID, start: datetime, end: datetime) -> list[Row]:
    """The technician's live, unfinished visits nearest before `start` and at or after `end` (none, one or two)."""
    held = (Visit.technician == technician_id) & Visit.status.not_in(["cancelled", *DONE_ON_SITE])
    before = await Visit.select(Visit.id).where(held & (Visit.agreed_time < start)).order_by(
        Visit.agreed_time, ascending=False
    ).first()
    after = await Visit.select(Visit.id).where(held & (Visit.agreed_time >= end)).order_by(Visit.agreed_time).first()
    ids = [row["id"] for row in (before, after) if row is not None]
    return await _technician_visits(technician_id, Visit.id.is_in(ids)) if ids else []


async def technician_visits_under_way(
    technician_id: UUID, agreed_before: datetime, or_from: datetime | None
) -> list[Row]:
    """The technician's visits still under way (on the way, on site) agreed before `agreed_before` or, if given, at
    or after `or_from`."""
    agreed = Visit.agreed_time < agreed_before
    if or_from is not None:
        agreed |= Visit.agreed_time >= or_from
    return await _technician_visits(technician_id, Visit.status.is_in(["en_route", "on_site"]) & agreed)


async def visits_between(
    start: datetime, end: datetime, status: str | None, unassigned: bool, limit: int, offset: int
) -> tuple[list[Row], int]:
    """A page of the visits agreed in [start, end), in time order, with their customers, sites and technicians, and
    how many there are in all."""
    condition = (Visit.agreed_time >= start) & (Visit.agreed_time < end)
    if status is not None:
        condition &= Visit.status == status
    if unassigned:
        condition &= Visit.technician.is_null()
    rows = await (
        Visit.select(
            *BOARD_COLUMNS,
            Visit.technician.staff_number.as_alias("technician_staff_number"),
            Visit.technician.name.as_alias("technician_name"),
            Visit.technician.team.as_alias("technician_team"),
        )
        .where(condition)
        .order_by(Visit.agreed_time)
        .order_by(Visit.id)
        .limit(limit)
        .offset(offset)
    )
    return rows, await Visit.count().where(condition)


async def _technician_visits(technician_id: UUID, condition: Combinable) -> list[Row]:
    return await (
        Visit.select(*BOARD_COLUMNS)
        .where((Visit.technician == technician_id) & condition)
        .order_by(Visit.agreed_time)
    )


async def nearest_visit_zone(technician_id: UUID, at: datetime) -> str | None:
    """The time zone of the site of the technician's live visit agreed nearest to `at` (the next one, else the last):
    a visit cancelled is no longer where they work (a probe)."""
    zone = Visit.work_order.site.time_zone.as_alias("time_zone")
    mine = (Visit.technician == technician_id) & (Visit.status != "cancelled")
    upcoming = await Visit.select(zone).where(mine & (Visit.agreed_time >= at)).order_by(Visit.agreed_time).first()
    if upcoming is not None:
        return upcoming["time_zone"]
    past = await Visit.select(zone).where(mine).order_by(Visit.agreed_time, ascending=False).first()
    return None if past is None else past["time_zone"]


async def technician_deactivated(technician_id: UUID, engine) -> bool:  # noqa: ANN001
    """Read under the account's lock, which its deactivation takes: an assignment made while the account was being
    deactivated is then one of the visits they had before, or refused."""
    account = await db.locked(AppUser.select(AppUser.active).where(AppUser.technician == technician_id), engine).first()
    return account is not None and not account["active"]


async def get_technician(technician_id: UUID) -> Row | None:
    return await Technician.select().where(Technician.id == technician_id).first()


async def visit_history(visit_id: UUID) -> tuple[list[Row], list[Row], Row | None]:
    assignments = await Assignment.select().where(Assignment.visit == visit_id).order_by(Assignment.handed_over_at)
    reschedules = await Reschedule.select().where(Reschedule.visit == visit_id).order_by(Reschedule.recorded_at)
    cancellation = await Cancellation.select().where(Cancellation.visit == visit_id).first()
    return assignments, reschedules, cancellation


async def open_orders_with_booking_state() -> list[Row]:
    """Open work orders, and repairs a visit closed unresolved (B-REPAIR measures until one is resolved; a forced close
    ends it), with their customer and site, whether any visit is booked, the SLA clocks still running, and their live
    visit (the latest not finished or cancelled) with its technician, if any."""
    orders = await WorkOrder.select(
        WorkOrder.id,
        WorkOrder.kind,
        WorkOrder.contact_due_at,
        WorkOrder.first_response_due_at,
        WorkOrder.resolve_due_at,
        WorkOrder.first_contact_at,
        WorkOrder.customer.tier.as_alias("tier"),
        WorkOrder.customer.name.as_alias("customer_name"),
        WorkOrder.customer.phone.as_alias("customer_phone"),
        WorkOrder.site.address.as_alias("address"),
        WorkOrder.site.time_zone.as_alias("time_zone"),
    ).where(
        (WorkOrder.status == "open")
        | (
            (WorkOrder.kind == "repair") & (WorkOrder.outcome == "unresolved")
            & WorkOrder.forced_close_reason.is_null() & (WorkOrder.status == "closed")
        )
    )
    if not orders:
        return []
    visits = await Visit.select(
        Visit.id, Visit.work_order, Visit.status, Visit.agreed_time, Visit.technician.name.as_alias("technician_name")
    ).where(Visit.work_order.is_in([o["id"] for o in orders])).order_by(Visit.agreed_time)
    booked = {visit["work_order"] for visit in visits}
    live = {visit["work_order"]: visit for visit in visits if visit["status"] not in (*DONE_ON_SITE, "cancelled")}
    return [{**order, "booked": order["id"] in booked, "live_visit": live.get(order["id"])} for order in orders]


def new_contact(order_id: UUID, at: datetime, channel: str, note: str, by: UUID) -> ContactLog:
    return ContactLog(work_order=order_id, contacted_at=at, channel=channel, note=note, recorded_by=by)
