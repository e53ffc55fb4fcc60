"""A-TRAIL: a work order's dispatch records, digested part by part, stated on the trail after each change, verified."""

from __future__ import annotations

import hashlib
import json
from collections import defaultdict
from collections.abc import Callable
from typing import Any
from uuid import UUID

from fieldsvc import db
from fieldsvc.auth.caller import Caller
from fieldsvc.context import AppContext
from fieldsvc.tables import Assignment, Cancellation, ContactLog, Reschedule, Visit, WorkOrder
from fieldsvc.trail.chain import canonical_json
from fieldsvc.trail.derived import as_stored
from fieldsvc.trail.records import RecordMismatch, trail_statements
from fieldsvc.trail.service import TrailWriter

RECORDS_KIND = "work_order.records"
ORDERS_PER_BATCH = 500

# Every column the audit, the deadlines or the technician's day read, per part; the table a differing part names.
_ORDER_COLUMNS = (
    WorkOrder.kind, WorkOrder.customer, WorkOrder.site, WorkOrder.accepted_at, WorkOrder.status,
    WorkOrder.contact_due_at, WorkOrder.first_response_due_at, WorkOrder.resolve_due_at, WorkOrder.first_contact_at,
    WorkOrder.closed_at, WorkOrder.outcome, WorkOrder.outcome_reason, WorkOrder.forced_close_reason,
)
_CUSTOMER_COLUMNS = (WorkOrder.customer.tier,)
_SITE_COLUMNS = (
    WorkOrder.site.latitude, WorkOrder.site.longitude, WorkOrder.site.locality, WorkOrder.site.time_zone,
    WorkOrder.site.address,
)
_VISIT_COLUMNS = (
    Visit.id, Visit.technician, Visit.agreed_time, Visit.original_agreed_time, Visit.sla_shift_seconds,
    Visit.expected_duration_min, Visit.confirmed_channel, Visit.confirmed_at, Visit.booked_at, Visit.late_reason,
    Visit.customer_notified_at,
)
_RESCHEDULE_COLUMNS = (
    Reschedule.id, Reschedule.visit, Reschedule.old_time, Reschedule.new_time, Reschedule.initiator,
    Reschedule.reason_code, Reschedule.note, Reschedule.customer_confirmed, Reschedule.recorded_at,
    Reschedule.compliant, Reschedule.override_reason,
)
_ASSIGNMENT_COLUMNS = (
    Assignment.id, Assignment.visit, Assignment.technician, Assignment.previous_technician, Assignment.handed_over_at,
    Assignment.override_reason,
)
_CANCELLATION_COLUMNS = (
    Cancellation.id, Cancellation.visit, Cancellation.reason_code, Cancellation.requested_by, Cancellation.note,
    Cancellation.recorded_at,
)
_CONTACT_COLUMNS = (ContactLog.id, ContactLog.contacted_at, ContactLog.channel, ContactLog.note)
PARTS = {
    "order": ("work_order", "order's deadlines, status or outcome"), "customer": ("customer", "customer's tier"),
    "site": ("site", "site's place or locality"), "visits": ("visit", "visits' bookings or technicians"),
    "reschedules": ("reschedule", "moves"), "assignments": ("assignment", "handovers"),
    "contacts": ("contact_log", "contacts"), "cancellations": ("cancellation", "cancellations"),
}


async def order_records(order_ids: list[UUID]) -> dict[str, dict[str, str]]:
    """Each order's parts as digests, by order id: a fixed number of queries whatever the batch size."""
    parts: dict[str, dict[str, list[dict[str, Any]]]] = defaultdict(lambda: defaultdict(list))
    for row in await WorkOrder.select(WorkOrder.id, *_ORDER_COLUMNS, *_CUSTOMER_COLUMNS, *_SITE_COLUMNS).where(
        WorkOrder.id.is_in(order_ids)
    ):
        order = parts[str(row.pop("id"))]
        order["customer"].append({"tier": row.pop("customer.tier")})
        order["site"].append({name: row.pop(name) for name in list(row) if name.startswith("site.")})
        order["order"].append(row)
    visits = Visit.select(*_VISIT_COLUMNS, Visit.work_order, Visit.status).where(Visit.work_order.is_in(order_ids))
    for row in await visits.order_by(Visit.id):
        # Only a cancellation changes what a visit is to dispatch and audit; the phone moves the rest of its status.
        row["cancelled"] = row.pop("status") == "cancelled"
        parts[str(row.pop("work_order"))]["visits"].append(row)
    for part, table, columns in (
        ("reschedules", Reschedule, _RESCHEDULE_COLUMNS), ("assignments", Assignment, _ASSIGNMENT_COLUMNS),
        ("cancellations", Cancellation, _CANCELLATION_COLUMNS),
    ):
        rows = table.select(*columns, table.visit.work_order.as_alias("order_id")).where(
            table.visit.work_order.is_in(order_ids)
        )
        for row in await rows.order_by(table.id):
            if part == "reschedules" and row["override_reason"] is None:
                del row["override_reason"]  # added later: digested when set, so the statements made before stay true
            parts[str(row.pop("order_id"))][part].append(row)
    contacts = ContactLog.select(*_CONTACT_COLUMNS, ContactLog.work_order).where(ContactLog.work_order.is_in(order_ids))
    for row in await contacts.order_by(ContactLog.id):
        parts[str(row.pop("work_order"))]["contacts"].append(row)
    return {order_id: {part: _digest(order[part]) for part in PARTS} for order_id, order in parts.items()}


def _digest(rows: list[dict[str, Any]]) -> str:
    spelled = canonical_json([{name: as_stored(value) for name, value in row.items()} for row in rows])
    return hashlib.sha256(spelled.encode()).hexdigest()


async def state_records(trail: TrailWriter, order_id: UUID, actor: Caller | None) -> None:
    """Queue the statement of the order's records as they stand after the caller's change, read under the order's
    lock (taken here, held until the caller's transaction ends): changes of one order are stated in the order they
    commit, so the last statement is of the records as they are."""
    await db.locked(WorkOrder.select(WorkOrder.id).where(WorkOrder.id == order_id), trail.ctx.engine)
    parts = (await order_records([order_id]))[str(order_id)]
    await trail.append(RECORDS_KIND, order_id, actor, {"parts": parts})


async def first_order_mismatch(
    ctx: AppContext, progress: Callable[[int], None] = lambda checked: None,
) -> tuple[int, RecordMismatch | None]:
    """Order by order: the dispatch records digest to what the trail last stated of them. An order whose creation the
    trail never recorded is named; one created before the trail stated records is checked from its first statement
    on. Returns how many orders were checked and the first mismatch."""
    checked, after = 0, None
    while True:
        query = WorkOrder.select(WorkOrder.id).order_by(WorkOrder.id).limit(ORDERS_PER_BATCH)
        async with db.read_snapshot(WorkOrder._meta.db):  # a change committed meanwhile: seen with its statement
            ids = [row["id"] for row in await (query if after is None else query.where(WorkOrder.id > after))]
            read = (await order_records(ids), *await _what_the_trail_states(ctx, ids)) if ids else None
        if read is None:
            return checked, await _first_gone(ctx)
        mismatch = _first_mismatch_in(ids, *read)
        if mismatch is not None:
            return checked + ids.index(UUID(mismatch.row_id)), mismatch
        checked += len(ids)
        after = ids[-1]
        progress(checked)


def _first_mismatch_in(
    order_ids: list[UUID], current: dict[str, dict[str, str]], created: set[str], stated: dict[str, dict[str, str]]
) -> RecordMismatch | None:
    for order_id in map(str, order_ids):
        if order_id not in created:
            return RecordMismatch("work_order", order_id, "a work order whose creation the trail never recorded")
        said = stated.get(order_id)
        for part, digest in current[order_id].items() if said is not None else ():
            if said.get(part) != digest:
                table, what = PARTS[part]
                return RecordMismatch("work_order", order_id, f"its {what} ({table}) differ from what the trail last "
                                                              "stated of them")
    return None


async def _first_gone(ctx: AppContext) -> RecordMismatch | None:
    """Every work order and visit whose making the trail recorded is still there (an order deleted with its visits
    took a reused photo's original, and a technician's earlier fix, out of the audit; a probe)."""
    async with db.read_snapshot(WorkOrder._meta.db):
        made = await trail_statements(ctx, kinds=["work_order.created", "visit.booked"])
        present = {str(row["id"]) for table in (WorkOrder, Visit) for row in await table.select(table.id)}
    for entry in made:
        if entry["subject_id"] not in present:
            table = "work_order" if entry["kind"] == "work_order.created" else "visit"
            return RecordMismatch(table, entry["subject_id"], f"a {table.replace('_', ' ')} the trail recorded is gone")
    return None


async def _what_the_trail_states(
    ctx: AppContext, order_ids: list[UUID]
) -> tuple[set[str], dict[str, dict[str, str]]]:
    """The orders whose creation the trail recorded, and each order's last statement of its records."""
    created, stated = set(), {}
    for entry in await trail_statements(ctx, order_ids, ["work_order.created", RECORDS_KIND]):
        if entry["kind"] == RECORDS_KIND:
            stated[entry["subject_id"]] = json.loads(entry["payload"])["data"]["parts"]
        else:
            created.add(entry["subject_id"])
    return created, stated
