"""HTTP routes of the dispatcher API."""

from __future__ import annotations

from typing import Annotated
from uuid import UUID

from litestar import Controller, Response, get, post
from litestar.openapi.datastructures import ResponseSpec
from litestar.params import FromPath, FromQuery, HeaderParameter, JSONBody, QueryParameter

from fieldsvc.answers import REPLAY_HEADER, answered
from fieldsvc.auth.caller import CallerDep, allow
from fieldsvc.context import Ctx
from fieldsvc.dispatch import boards
from fieldsvc.dispatch.replays import KeyReused, office_request
from fieldsvc.dispatch import service as errors
from fieldsvc.dispatch.schemas import (
    AssignVisit,
    AtRiskEntry,
    BookVisit,
    CancelVisit,
    CreateWorkOrder,
    DayBoard,
    DispatchBoardEntry,
    ForceClose,
    LogContact,
    OrderState,
    RescheduleVisit,
    Tier,
    VisitState,
    VisitView,
    WorkOrderView,
)
from fieldsvc.dispatch.service import DispatchService
from fieldsvc.errors import ApiError, documented
from fieldsvc.wire import (
    TOTAL_COUNT_HEADER, PageLimit, PageOffset, Phone, TodayByDefault, total_count_header, within_calendar,
)



# Guards add up across layers, so each route names its roles itself (auditors read orders and visits).
DISPATCHER = [allow("dispatcher")]
READERS = [allow("dispatcher", "auditor")]

IdempotencyKey = Annotated[
    str | None,
    HeaderParameter(
        name="Idempotency-Key", required=False, min_length=1, max_length=200,
        description="Makes a retry of this request safe: the same key and body again answers what the first made "
                    "(200, Idempotent-Replay) and records nothing; the same key with another body is a 409. Without "
                    "a key every request records anew.",
    ),
]


def recording_responses(*errors: type[ApiError]) -> dict[int, ResponseSpec]:
    """A dispatcher request that records something, with its answer to a retry."""
    replay = ResponseSpec(
        data_container=WorkOrderView,
        description=f"The same request was made before: what it made, with `{REPLAY_HEADER}: true`.",
    )
    return {**documented(*errors, KeyReused), 200: replay}


class DispatchController(Controller):
    path = "/v1"
    tags = ["dispatch"]

    @post(
        "/work-orders",
        guards=DISPATCHER,
        responses=recording_responses(
            errors.CustomerChoice, errors.SiteChoice, errors.FaultRequired, errors.UnknownTimeZone,
            errors.CustomerNotFound, errors.SiteNotFound, errors.AcceptedInFuture,
        ),
    )
    async def create_work_order(
        self, data: JSONBody[CreateWorkOrder], ctx: Ctx, caller: CallerDep, idempotency_key: IdempotencyKey = None
    ) -> Response[WorkOrderView]:
        """B-ORDER: record a work order with its customer and site; B-CONTACT/B-FIRST/B-REPAIR deadlines are set."""
        request = office_request(caller, "work_order.create", "", data, idempotency_key)
        return answered(await DispatchService(ctx).create_work_order(data, caller, request))

    @get("/work-orders", guards=READERS, responses=documented(), response_headers=total_count_header("work orders"))
    async def work_orders(
        self,
        ctx: Ctx,
        order_status: Annotated[OrderState | None, QueryParameter(name="status", required=False)] = None,
        unbooked: Annotated[bool, QueryParameter(description="only orders without a visit booked (but cancelled)")] = False,
        customer_phone: Annotated[Phone | None, QueryParameter(name="customerPhone", required=False)] = None,
        limit: PageLimit = 100,
        offset: PageOffset = 0,
    ) -> Response[list[WorkOrderView]]:
        """The work orders, oldest accepted first, with their deadlines and visits: all of them, those still `open`,
        those that wait for a booking (`unbooked=true`), or a customer's (`customerPhone`, however it is spaced).
        The X-Total-Count header says how many the filters find in all."""
        orders, total = await DispatchService(ctx).work_orders(order_status, unbooked, customer_phone, limit, offset)
        return Response(orders, headers={TOTAL_COUNT_HEADER: str(total)})

    @get("/work-orders/{order_id:uuid}", guards=READERS, responses=documented(errors.WorkOrderNotFound))
    async def get_work_order(self, order_id: FromPath[UUID], ctx: Ctx) -> WorkOrderView:
        """One work order with its deadlines and visits."""
        return await DispatchService(ctx).work_order(order_id)

    @post(
        "/work-orders/{order_id:uuid}/contacts",
        guards=DISPATCHER,
        responses=recording_responses(
            errors.WorkOrderNotFound, errors.ContactInFuture, errors.ContactLoggedLate, errors.ContactBeforeAcceptance
        ),
    )
    async def log_contact(
        self, order_id: FromPath[UUID], data: JSONBody[LogContact], ctx: Ctx, caller: CallerDep,
        idempotency_key: IdempotencyKey = None,
    ) -> Response[WorkOrderView]:
        """B-CONTACT / B-FIRST: record that the customer was contacted."""
        request = office_request(caller, "work_order.contact", str(order_id), data, idempotency_key)
        return answered(await DispatchService(ctx).log_contact(order_id, data, caller, request))

    @post(
        "/work-orders/{order_id:uuid}/force-close",
        guards=DISPATCHER,
        status_code=200,
        responses=documented(errors.WorkOrderNotFound, errors.OrderNotOpen),
    )
    async def force_close(self, order_id: FromPath[UUID], data: JSONBody[ForceClose], ctx: Ctx, caller: CallerDep) -> WorkOrderView:
        """V-CLOSE: close a work order whose visit is incomplete, with a reason; the visit is flagged for audit."""
        return await DispatchService(ctx).force_close(order_id, data, caller)

    @post(
        "/work-orders/{order_id:uuid}/visits",
        guards=DISPATCHER,
        responses=documented(
            errors.WorkOrderNotFound, errors.OrderNotOpen, errors.VisitStillOpen, errors.QuietHours, errors.InPast,
            errors.InstallTooLate, errors.CustomerNotNotified, errors.NotifiedOutOfRange, errors.ConfirmedOutOfRange,
            errors.LateReasonNotApplicable, errors.UnknownTimeZone,
        ),
    )
    async def book_visit(self, order_id: FromPath[UUID], data: JSONBody[BookVisit], ctx: Ctx, caller: CallerDep) -> VisitView:
        """B-APPT: book the appointment (a point in time), refusing B-QUIET times and enforcing B-INSTALL-24.

        An order its visit closed `unresolved` reopens for the next visit (B-REPAIR measures until it is resolved).
        """
        return await DispatchService(ctx).book_visit(order_id, data, caller)

    @get("/visits/{visit_id:uuid}", guards=READERS, responses=documented(errors.VisitNotFound))
    async def get_visit(self, visit_id: FromPath[UUID], ctx: Ctx) -> VisitView:
        """A visit with its assignment, reschedule and cancellation history."""
        return await DispatchService(ctx).visit(visit_id)

    @post(
        "/visits/{visit_id:uuid}/assignment",
        guards=DISPATCHER,
        status_code=200,
        responses=documented(
            errors.VisitNotFound, errors.TechnicianNotFound, errors.TechnicianInactive, errors.VisitNotChangeable,
            errors.OrderForceClosed, errors.Overlap,
        ),
    )
    async def assign(self, visit_id: FromPath[UUID], data: JSONBody[AssignVisit], ctx: Ctx, caller: CallerDep) -> VisitView:
        """B-ASSIGN: hand the visit to a technician; overlapping visits (with travel time) need an override reason, and a
        technician whose account is deactivated cannot take it."""
        return await DispatchService(ctx).assign(visit_id, data, caller)

    @post(
        "/visits/{visit_id:uuid}/reschedule",
        guards=DISPATCHER,
        status_code=200,
        responses=documented(
            errors.VisitNotFound, errors.VisitNotChangeable, errors.OrderForceClosed, errors.QuietHours, errors.InPast,
            errors.SameTime, errors.NoteRequired, errors.InitiatorMismatch, errors.Overlap,
        ),
    )
    async def reschedule(self, visit_id: FromPath[UUID], data: JSONBody[RescheduleVisit], ctx: Ctx, caller: CallerDep) -> VisitView:
        """B-RESCHED: move the agreed time; compliance (1 h notice, reason, customer confirmation) is stored."""
        return await DispatchService(ctx).reschedule(visit_id, data, caller)

    @post(
        "/visits/{visit_id:uuid}/cancel",
        guards=DISPATCHER,
        status_code=200,
        responses=documented(errors.VisitNotFound, errors.VisitNotChangeable, errors.CancelNoteRequired),
    )
    async def cancel(self, visit_id: FromPath[UUID], data: JSONBody[CancelVisit], ctx: Ctx, caller: CallerDep) -> VisitView:
        """B-CANCEL: cancel a visit with a reason code and who asked."""
        return await DispatchService(ctx).cancel(visit_id, data, caller)

    @get(
        "/visits",
        guards=DISPATCHER,
        responses=documented(errors.UnknownTimeZone),
        response_headers=total_count_header("visits"),
    )
    async def day_board(
        self,
        ctx: Ctx,
        date: TodayByDefault = None,
        tz: Annotated[str | None, QueryParameter(required=False, description="zone of the date")] = None,
        visit_status: Annotated[VisitState | None, QueryParameter(name="status", required=False)] = None,
        unassigned: Annotated[bool, QueryParameter(description="only visits no technician holds yet")] = False,
        limit: PageLimit = 100,
        offset: PageOffset = 0,
    ) -> Response[list[DispatchBoardEntry]]:
        """The board of a day: every visit agreed on one local date (today if none is given; zone: `tz`, default the
        configured zone), whoever holds it, in time order, with its technician (null: not assigned yet), verdict and
        review state. The X-Total-Count header says how many the filters find in all."""
        entries, total = await boards.day_board(
            ctx, date and within_calendar(date, "date"), tz, visit_status, unassigned, limit, offset
        )
        return Response(entries, headers={TOTAL_COUNT_HEADER: str(total)})

    @get(
        "/technicians/{technician_id:uuid}/day",
        guards=DISPATCHER,
        responses=documented(errors.TechnicianNotFound, errors.UnknownTimeZone),
    )
    async def technician_day(
        self, technician_id: FromPath[UUID], ctx: Ctx, date: TodayByDefault = None, tz: FromQuery[str | None] = None
    ) -> DayBoard:
        """A technician's visits on one local date, in time order (today if none is given; zone: `tz`, default that of
        the site of the technician's visit nearest to now, else the configured zone)."""
        return await boards.technician_day(ctx, technician_id, date and within_calendar(date, "date"), tz)

    @get("/at-risk", guards=DISPATCHER, responses=documented())
    async def at_risk(
        self,
        ctx: Ctx,
        horizon_minutes: Annotated[int | None, QueryParameter(name="horizonMinutes", ge=0, le=10080, required=False)] = None,
        tier: FromQuery[Tier | None] = None,
    ) -> list[AtRiskEntry]:
        """Open orders, and repairs closed unresolved, whose B-CONTACT, B-FIRST or B-REPAIR deadline is breached or falls
        within the horizon."""
        return await boards.at_risk(ctx, horizon_minutes, tier)
