"""HTTP routes: admins list, create, deactivate and activate users; dispatchers and auditors list technicians."""

from __future__ import annotations

from typing import Annotated
from uuid import UUID

from litestar.params import FromPath, FromQuery, JSONBody, QueryParameter
from litestar import Controller, Response, get, patch, post

from fieldsvc.auth.caller import CallerDep, allow
from fieldsvc.context import Ctx
from fieldsvc.errors import documented
from fieldsvc.people.schemas import CreateUser, Role, TechnicianView, UserActivity, UserView
from fieldsvc.people.service import (
    CallerInactive, OwnAccount, PeopleService, ProfileMismatch, StaffNumberTaken, UsernameTaken, UserNotFound,
)
from fieldsvc.wire import TOTAL_COUNT_HEADER, PageLimit, PageOffset, total_count_header


class PeopleController(Controller):
    path = "/v1"
    tags = ["people"]

    @post(
        "/admin/users", guards=[allow("admin")],
        responses=documented(UsernameTaken, StaffNumberTaken, ProfileMismatch, CallerInactive),
    )
    async def create_user(self, data: JSONBody[CreateUser], ctx: Ctx, caller: CallerDep) -> UserView:
        """Create a user; a technician user also gets a technician record (staff number, team)."""
        return await PeopleService(ctx).create_user(data, caller)

    @get("/admin/users", guards=[allow("admin")], responses=documented(), response_headers=total_count_header("users"))
    async def list_users(
        self,
        ctx: Ctx,
        role: FromQuery[Role | None] = None,
        active: Annotated[bool | None, QueryParameter(required=False, description="only active (or deactivated) ones")] = None,
        limit: PageLimit = 100,
        offset: PageOffset = 0,
    ) -> Response[list[UserView]]:
        """The accounts by username, with their roles, technician profiles and whether they may log in; the
        X-Total-Count header says how many the filters find in all."""
        users, total = await PeopleService(ctx).users(role, active, limit, offset)
        return Response(users, headers={TOTAL_COUNT_HEADER: str(total)})

    @patch(
        "/admin/users/{user_id:uuid}", guards=[allow("admin")],
        responses=documented(UserNotFound, OwnAccount, CallerInactive),
    )
    async def set_user_active(
        self, user_id: FromPath[UUID], data: JSONBody[UserActivity], ctx: Ctx, caller: CallerDep
    ) -> UserView:
        """Deactivate (`{"active": false}`) or activate an account. Deactivating revokes its sessions; a deactivated
        technician cannot be assigned. The same request again changes nothing."""
        return await PeopleService(ctx).set_active(user_id, data, caller)

    @get("/technicians", guards=[allow("dispatcher", "auditor")], responses=documented())
    async def list_technicians(self, ctx: Ctx, team: FromQuery[str | None] = None) -> list[TechnicianView]:
        """All technicians, optionally of one team, ordered by team and name."""
        return await PeopleService(ctx).list_technicians(team)
