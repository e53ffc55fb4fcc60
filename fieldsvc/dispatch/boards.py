"""Read models for dispatchers: the board of a day, a technician's day and the list of orders at risk of an SLA breach."""

from __future__ import annotations

from datetime import date, datetime, time, timedelta
from uuid import UUID

import msgspec

from fieldsvc import db
from fieldsvc.context import AppContext
from fieldsvc.dispatch import repository
from fieldsvc.dispatch.schemas import AtRiskEntry, BoardEntry, DayBoard, DispatchBoardEntry
from fieldsvc.dispatch.service import TechnicianNotFound, zone_named
from fieldsvc.dispatch.views import technician_ref
from fieldsvc.verdicts.service import VerdictService


def local_day_bounds(day: date | None, zone_name: str, now: datetime) -> tuple[datetime, datetime]:
    """Midnight to midnight of a local date in the zone; no date is today there."""
    zone = zone_named(zone_name)
    start = datetime.combine(day or now.astimezone(zone).date(), time(0), tzinfo=zone)
    return start, datetime.combine(start.date() + timedelta(days=1), time(0), tzinfo=zone)


async def technician_day(ctx: AppContext, technician_id: UUID, day: date | None, zone_name: str | None) -> DayBoard:
    technician = await repository.get_technician(technician_id)
    if technician is None:
        raise TechnicianNotFound()
    await VerdictService(ctx).settle()  # A-REAUDIT: the verdicts shown reflect every recorded fact
    zone_name = await day_zone(ctx, technician_id, zone_name)
    now = ctx.now()
    start, end = local_day_bounds(day, zone_name, now)
    # A visit under way from before the day (a repair on site past midnight; a probe) is still on the board of a day
    # that has begun, and today's shows one under way now that was agreed for a later day (begun early; a probe); a
    # day to come shows neither, as they may well not last into it (a probe saw one on every future board).
    if now < start:
        visits = []
    else:
        visits = await repository.technician_visits_under_way(technician_id, start, end if now < end else None)
    visits += await repository.technician_visits_between(technician_id, start, end)
    return DayBoard(
        technician=technician_ref(technician),
        date=start.date().isoformat(),
        time_zone=zone_name,
        visits=[board_entry(v) for v in visits],
    )


async def day_zone(ctx: AppContext, technician_id: UUID, asked: str | None) -> str:
    """The zone a technician's day is told in: the one asked for, else that of the site of their visit nearest to now
    (a technician works where their sites are), else the configured default."""
    if asked is not None:
        return asked
    return await repository.nearest_visit_zone(technician_id, ctx.now()) or ctx.settings.default_time_zone


async def day_board(
    ctx: AppContext, day: date | None, zone_name: str | None, status: str | None, unassigned: bool, limit: int,
    offset: int,
) -> tuple[list[DispatchBoardEntry], int]:
    """Every visit agreed on a local date (`zone_name`, else the configured zone), whoever holds it, in time order; a
    page of them and how many there are."""
    start, end = local_day_bounds(day, zone_name or ctx.settings.default_time_zone, ctx.now())  # an unknown zone: 422
    await VerdictService(ctx).settle()  # A-REAUDIT: the verdicts shown reflect every recorded fact
    async with db.read_snapshot(ctx.engine):  # the page and its count of one moment
        rows, total = await repository.visits_between(start, end, status, unassigned, limit, offset)
    return [
        DispatchBoardEntry(
            **msgspec.structs.asdict(board_entry(row)),
            technician=row["technician"] and technician_ref(
                {"id": row["technician"], **{key: row[f"technician_{key}"] for key in ("staff_number", "name", "team")}}
            ),
            review_state=row["review_state"],
        )
        for row in rows
    ], total


def board_entry(visit: dict) -> BoardEntry:
    return BoardEntry(
        visit_id=visit["id"],
        work_order_id=visit["work_order"],
        kind=visit["kind"],
        status=visit["status"],
        verdict=visit["verdict"],
        agreed_time=visit["agreed_time"],
        site_time_zone=visit["time_zone"],
        site_local_date=site_local(visit["agreed_time"], visit["time_zone"], "%Y-%m-%d"),
        site_local_time=site_local(visit["agreed_time"], visit["time_zone"], "%H:%M"),
        expected_duration_min=visit["expected_duration_min"],
        customer_name=visit["customer_name"],
        customer_phone=visit["customer_phone"],
        customer_tier=visit["customer_tier"],
        address=visit["address"],
        latitude=visit["latitude"],
        longitude=visit["longitude"],
    )


def site_local(at: datetime, zone_name: str, layout: str) -> str:
    """An instant as the customer's clock and calendar show it: what they were promised."""
    return at.astimezone(zone_named(zone_name)).strftime(layout)


def running_clocks(order: dict) -> list[tuple[str, datetime]]:
    """The SLA clocks of an open order that are not yet satisfied, by rule id."""
    clocks = []
    if not order["booked"]:
        clocks.append(("B-CONTACT", order["contact_due_at"]))
    if order["first_response_due_at"] is not None and not order["booked"] and order["first_contact_at"] is None:
        clocks.append(("B-FIRST", order["first_response_due_at"]))
    if order["resolve_due_at"] is not None:
        clocks.append(("B-REPAIR", order["resolve_due_at"]))
    return clocks


def at_risk_entries(orders: list[dict], now: datetime, horizon: timedelta, tier: str | None) -> list[AtRiskEntry]:
    entries = [
        at_risk_entry(order, rule_id, due_at, now)
        for order in orders
        if tier is None or order["tier"] == tier
        for rule_id, due_at in running_clocks(order)
        if due_at <= now + horizon
    ]
    return sorted(entries, key=lambda e: (e.due_at, e.rule_id, str(e.work_order_id)))


def at_risk_entry(order: dict, rule_id: str, due_at: datetime, now: datetime) -> AtRiskEntry:
    visit = order["live_visit"] or {}
    return AtRiskEntry(
        work_order_id=order["id"],
        kind=order["kind"],
        tier=order["tier"],
        rule_id=rule_id,
        due_at=due_at,
        site_local_due_time=site_local(due_at, order["time_zone"], "%Y-%m-%d %H:%M"),
        state="breached" if due_at < now else "due_soon",  # at the deadline itself it can still be met, as the audit says
        minutes_left=int((due_at - now).total_seconds() // 60),
        customer_name=order["customer_name"],
        customer_phone=order["customer_phone"],
        address=order["address"],
        site_time_zone=order["time_zone"],
        visit_id=visit.get("id"),
        visit_agreed_time=visit.get("agreed_time"),
        technician_name=visit.get("technician_name"),
        visit_after_due=bool(visit) and visit["agreed_time"] >= due_at,
    )


async def at_risk(ctx: AppContext, horizon_minutes: int | None, tier: str | None) -> list[AtRiskEntry]:
    horizon = timedelta(minutes=ctx.settings.at_risk_horizon_minutes if horizon_minutes is None else horizon_minutes)
    return at_risk_entries(await repository.open_orders_with_booking_state(), ctx.now(), horizon, tier)
