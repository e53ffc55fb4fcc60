"""HTTP routes of the follow-up API (V-ASK), for the office."""

from __future__ import annotations

from typing import Annotated
from uuid import UUID

from litestar import Controller, get, post
from litestar.params import FromPath, JSONBody, QueryParameter

from fieldsvc.auth.caller import CallerDep, allow
from fieldsvc.context import Ctx
from fieldsvc.errors import documented
from fieldsvc.followups.schemas import FollowUpState, FollowUpView, ResolveFollowUp
from fieldsvc.followups.service import AlreadyResolved, FollowUpNotFound, FollowUpService, ResolutionRequired


class FollowUpController(Controller):
    path = "/v1/follow-ups"
    tags = ["follow-ups"]

    @get("/", guards=[allow("dispatcher", "auditor")], responses=documented())
    async def follow_ups(
        self,
        ctx: Ctx,
        which: Annotated[FollowUpState, QueryParameter(name="state", required=False)] = "open",
        limit: Annotated[int, QueryParameter(ge=1, le=500)] = 100,
        offset: Annotated[int, QueryParameter(ge=0, le=1_000_000)] = 0,
    ) -> list[FollowUpView]:
        """Customers' questions recorded on site (V-ASK), oldest due first: open (the default), overdue, resolved
        or all."""
        return await FollowUpService(ctx).list(which, limit, offset)

    @post(
        "/{follow_up_id:uuid}/resolve",
        guards=[allow("dispatcher")],
        status_code=200,
        responses=documented(FollowUpNotFound, AlreadyResolved, ResolutionRequired),
    )
    async def resolve(
        self, follow_up_id: FromPath[UUID], data: JSONBody[ResolveFollowUp], ctx: Ctx, caller: CallerDep
    ) -> FollowUpView:
        """V-ASK: record that the customer's question was followed up, and what they were told (once)."""
        return await FollowUpService(ctx).resolve(follow_up_id, data, caller)
