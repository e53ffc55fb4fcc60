"""HTTP routes: admins create users; dispatchers and auditors list technicians."""

from __future__ import annotations

from litestar.params import FromQuery, JSONBody
from litestar import Controller, get, post

from fieldsvc.auth.caller import allow
from fieldsvc.context import Ctx
from fieldsvc.errors import documented
from fieldsvc.people.schemas import CreateUser, TechnicianView, UserView
from fieldsvc.people.service import PeopleService, ProfileMismatch, StaffNumberTaken, UsernameTaken


class PeopleController(Controller):
    path = "/v1"
    tags = ["people"]

    @post("/admin/users", guards=[allow("admin")], responses=documented(UsernameTaken, StaffNumberTaken, ProfileMismatch))
    async def create_user(self, data: JSONBody[CreateUser], ctx: Ctx) -> UserView:
        """Create a user; a technician user also gets a technician record (staff number, team)."""
        return await PeopleService(ctx).create_user(data)

    @get("/technicians", guards=[allow("dispatcher", "auditor")], responses=documented())
    async def list_technicians(self, ctx: Ctx, team: FromQuery[str | None] = None) -> list[TechnicianView]:
        """All technicians, optionally of one team, ordered by team and name."""
        return await PeopleService(ctx).list_technicians(team)
