"""Creating, deactivating and activating users (and their technician records), and listing technicians."""

from __future__ import annotations

from uuid import UUID

import anyio.to_thread

from fieldsvc import db
from fieldsvc.auth.caller import Caller
from fieldsvc.auth.passwords import hash_password
from fieldsvc.auth.repository import revoke_user_tokens
from fieldsvc.context import AppContext
from fieldsvc.errors import api_error
from fieldsvc.people import repository
from fieldsvc.people.schemas import CreateUser, TechnicianView, UserActivity, UserView
from fieldsvc.trail.service import TrailWriter

LOGINS_LOCK_KEY = 0x10C1  # makes PostgreSQL's creators of logins take turns
UsernameTaken = api_error(
    409, "user.username_taken", "That username is already in use, as a username or a technician's staff number."
)
StaffNumberTaken = api_error(
    409, "technician.staff_number_taken",
    "That staff number is already in use, as a technician's staff number or a username (either one logs in).",
)
ProfileMismatch = api_error(
    422, "user.technician_profile", "A technician user needs a technician profile; other roles must not have one."
)
UserNotFound = api_error(404, "user.not_found", "No such user.")
OwnAccount = api_error(
    409, "user.own_account", "An admin cannot deactivate their own account; ask another admin, so one is always left."
)
CallerInactive = api_error(403, "auth.account_inactive", "Your account has been deactivated.")


class PeopleService:
    def __init__(self, ctx: AppContext):
        self.ctx = ctx

    async def create_user(self, data: CreateUser, caller: Caller | None) -> UserView:
        """`caller` None: the service's own setup (demo data, tests' people)."""
        if (data.role == "technician") != (data.technician is not None):
            raise ProfileMismatch()
        password_hash = await anyio.to_thread.run_sync(hash_password, data.password)
        async with db.write_transaction(self.ctx.engine):
            # A username and a staff number are one space of logins, kept in two tables: no unique index spans both.
            await self._take_turn_as(caller)
            if await repository.login_taken(data.username):
                raise UsernameTaken()
            technician = None
            if data.technician is not None:
                if await repository.login_taken(data.technician.staff_number):
                    raise StaffNumberTaken()
                profile = data.technician
                technician_id = await repository.insert_technician(
                    profile.staff_number, profile.name, profile.phone, profile.team
                )
                technician = TechnicianView(
                    id=technician_id, staff_number=profile.staff_number, name=profile.name,
                    phone=profile.phone, team=profile.team, active=True,
                )
            user_id = await repository.insert_user(
                data.username, password_hash, data.role, data.display_name, technician and technician.id
            )
        return UserView(
            id=user_id, username=data.username, role=data.role, display_name=data.display_name, technician=technician,
            active=True,
        )

    async def set_active(self, user_id: UUID, data: UserActivity, caller: Caller) -> UserView:
        """Deactivate an account (someone who left, a lost phone's login) or activate it again. Deactivating ends its
        sessions, so its phone or browser is refused at once; a technician's visits stay theirs until reassigned,
        and a deactivated technician can no longer be assigned."""
        if user_id == caller.user_id and not data.active:
            raise OwnAccount()
        async with db.write_transaction(self.ctx.engine):
            await self._take_turn_as(caller)
            user = await repository.get_user(user_id)
            if user is None:
                raise UserNotFound()
            if user["active"] != data.active:  # the same request again changes nothing and records nothing
                await repository.set_active(user_id, data.active)
                if not data.active:
                    await revoke_user_tokens(user_id, self.ctx.now())
                await TrailWriter(self.ctx).append("user.active", user_id, caller, {"active": data.active})
        if not data.active:
            self.ctx.sessions.forget_user(user_id)
        return user_view({**user, "active": data.active})

    async def _take_turn_as(self, caller: Caller | None) -> None:
        """Changes of accounts take turns, each by an admin still active when its turn comes: two admins deactivating
        each other at once locked every admin out, and one deactivated meanwhile could have made another (probes)."""
        await db.serialise_appends(self.ctx.engine, LOGINS_LOCK_KEY)
        if caller is not None and not await repository.is_active(caller.user_id):
            raise CallerInactive()

    async def users(self, role: str | None, active: bool | None, limit: int, offset: int) -> tuple[list[UserView], int]:
        async with db.read_snapshot(self.ctx.engine):  # the page and its count of one moment
            rows, total = await repository.users(role, active, limit, offset)
        return [user_view(row) for row in rows], total

    async def list_technicians(self, team: str | None) -> list[TechnicianView]:
        return [technician_view(row) for row in await repository.list_technicians(team)]


def technician_view(row: dict) -> TechnicianView:
    return TechnicianView(
        id=row["id"], staff_number=row["staff_number"], name=row["name"], phone=row["phone"], team=row["team"],
        active=row["active"],
    )


def user_view(row: dict) -> UserView:
    technician = row["technician.id"] and technician_view({
        **{name: row[f"technician.{name}"] for name in ("id", "staff_number", "name", "phone", "team")},
        "active": row["active"],
    })
    return UserView(
        id=row["id"], username=row["username"], role=row["role"], display_name=row["display_name"],
        technician=technician, active=row["active"],
    )
