"""Queries for a technician's own visits; every one is filtered by the calling technician."""

from __future__ import annotations

from datetime import datetime
from typing import Any
from uuid import UUID

from fieldsvc.tables import Visit

MY_VISIT_COLUMNS = (
    Visit.all_columns(),
    Visit.work_order.kind.as_alias("kind"),
    Visit.work_order.description.as_alias("description"),
    Visit.work_order.reported_fault.as_alias("reported_fault"),
    Visit.work_order.customer.name.as_alias("customer_name"),
    Visit.work_order.customer.phone.as_alias("customer_phone"),
    Visit.work_order.customer.tier.as_alias("customer_tier"),
    Visit.work_order.site.address.as_alias("address"),
    Visit.work_order.site.latitude.as_alias("latitude"),
    Visit.work_order.site.longitude.as_alias("longitude"),
    Visit.work_order.site.locality.as_alias("locality"),
    Visit.work_order.site.time_zone.as_alias("time_zone"),
)


async def my_visits_between(technician_id: UUID, start: datetime, end: datetime) -> list[dict[str, Any]]:
    """The technician's visits agreed within [start, end), and, whatever day they were for, those still under way
    from before (a repair begun at 19:30 still on site after midnight; a probe) and those returned to them for
    correction (A-DECIDE): work still to do."""
    that_day = (Visit.agreed_time >= start) & (Visit.agreed_time < end)
    under_way = Visit.status.is_in(["en_route", "on_site"])  # also one begun before the day it was agreed for
    return await (
        Visit.select(*MY_VISIT_COLUMNS)
        .where((Visit.technician == technician_id) & (that_day | under_way | (Visit.status == "returned")))
        .order_by(Visit.agreed_time)
    )


async def my_visit(technician_id: UUID, visit_id: UUID) -> dict[str, Any] | None:
    return await Visit.select(*MY_VISIT_COLUMNS).where((Visit.id == visit_id) & (Visit.technician == technician_id)).first()
