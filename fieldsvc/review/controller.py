"""HTTP routes of the auditor API."""

from __future__ import annotations

from datetime import date, datetime, time, timedelta
from typing import Annotated, Literal
from uuid import UUID

from litestar import Controller, Request, get, post
from litestar.params import FromPath, FromQuery, JSONBody, QueryParameter
from litestar.response import Response

from fieldsvc.audit.findings import STANDARD_RULE_IDS
from fieldsvc.auth.caller import CallerDep, allow
from fieldsvc.context import Ctx
from fieldsvc.dispatch.schemas import Kind, Tier
from fieldsvc.errors import ValidationFailed, documented
from fieldsvc.dispatch.service import UnknownTimeZone, VisitNotFound, zone_named
from fieldsvc.evidence.controller import BLOB_ROUTE
from fieldsvc.mobile.photos import StorageDown
from fieldsvc.review.evidence import visit_evidence
from fieldsvc.review.schemas import DecideVisit, DecisionView, QueueEntry, VisitEvidence
from fieldsvc.wire import TOTAL_COUNT_HEADER, PageLimit, PageOffset, total_count_header, within_calendar
from fieldsvc.review.service import (
    CancelledNotReturnable,
    NotPending,
    ReasonRequired,
    RequestNotForDecision,
    RequestRequired,
    ReviewService,
    ReviewVisitNotFound,
    Superseded,
    VerdictChanged,
)


Severity = Annotated[str | None, QueryParameter(pattern="^(violation|warning|info)$", required=False)]
# Awaiting a decision; returned to the technician for correction; or decided (an auditor looks back at what was
# confirmed or dismissed, and why).
QueueState = Literal["awaiting", "returned", "confirmed", "dismissed"]
RuleId = Annotated[
    str | None,
    QueryParameter(
        name="rule", pattern="^[A-Z]-[A-Z0-9-]{2,16}$", required=False,
        description="A STANDARD rule id: the visits with a violation of it (with severity, a finding of that severity)",
    ),
]


class ReviewController(Controller):
    path = "/v1/review"
    tags = ["review"]
    guards = [allow("auditor")]

    @get(
        "/queue",
        responses=documented(UnknownTimeZone),
        response_headers=total_count_header("flagged visits"),
    )
    async def queue(
        self,
        ctx: Ctx,
        queue_state: Annotated[QueueState, QueryParameter(name="state", required=False)] = "awaiting",
        rule: RuleId = None,
        severity: Severity = None,
        technician_id: Annotated[UUID | None, QueryParameter(name="technicianId", required=False)] = None,
        team: Annotated[str | None, QueryParameter(min_length=1, max_length=64, required=False)] = None,
        kind: FromQuery[Kind | None] = None,
        tier: FromQuery[Tier | None] = None,
        date_from: Annotated[date | None, QueryParameter(name="dateFrom", required=False)] = None,
        date_to: Annotated[date | None, QueryParameter(name="dateTo", required=False)] = None,
        tz: Annotated[str | None, QueryParameter(required=False, description="zone of dateFrom/dateTo")] = None,
        limit: PageLimit = 100,
        offset: PageOffset = 0,
    ) -> Response[list[QueueEntry]]:
        """A-QUEUE: flagged visits awaiting a decision (or with `state=returned`, those returned to their technician
        for correction; with `confirmed` or `dismissed`, those so decided), oldest first; dateFrom and dateTo are days (inclusive) in `tz`, by default the configured
        zone; each entry also gives its site's zone and local time. The X-Total-Count header says how many the
        filters find in all."""
        zone = zone_named(ctx.settings.default_time_zone if tz is None else tz)
        if rule is not None and rule not in STANDARD_RULE_IDS:
            raise ValidationFailed(details=[
                {"field": "rule", "message": f"{rule!r} is not a rule id of the standard", "source": "query"}
            ])
        if date_from is not None and date_to is not None and date_from > date_to:
            raise ValidationFailed(details=[
                {"field": "dateFrom", "message": f"{date_from} is after dateTo {date_to}", "source": "query"}
            ])
        filters = {
            "state": queue_state,
            "rule_id": rule,
            "severity": severity,
            "technician_id": technician_id,
            "team": team,
            "kind": kind,
            "tier": tier,
            "date_from": date_from and datetime.combine(within_calendar(date_from, "dateFrom"), time(0), tzinfo=zone),
            "date_to": date_to and datetime.combine(within_calendar(date_to, "dateTo") + timedelta(days=1), time(0), tzinfo=zone),
        }
        entries, total = await ReviewService(ctx).queue(filters, limit, offset)
        return Response(entries, headers={TOTAL_COUNT_HEADER: str(total)})

    @get("/visits/{visit_id:uuid}", responses=documented(VisitNotFound, StorageDown))
    async def evidence(self, request: Request, visit_id: FromPath[UUID], ctx: Ctx) -> VisitEvidence:
        """The evidence view: timeline (raw and corrected times, distances), photos with expiring links,
        signature, service card, the verdict's findings and past decisions."""
        return await visit_evidence(ctx, visit_id, lambda token: request.url_for(BLOB_ROUTE, token=token))

    @post(
        "/visits/{visit_id:uuid}/decisions",
        responses=documented(
            ReviewVisitNotFound, NotPending, ReasonRequired, RequestRequired, RequestNotForDecision, Superseded,
            CancelledNotReturnable, VerdictChanged,
        ),
    )
    async def decide(
        self, visit_id: FromPath[UUID], data: JSONBody[DecideVisit], ctx: Ctx, caller: CallerDep
    ) -> DecisionView:
        """A-DECIDE: confirm the violation, dismiss it with a reason, or return the visit for correction."""
        return await ReviewService(ctx).decide(visit_id, data, caller)
