"""Creating users (and their technician records) and listing technicians."""

from __future__ import annotations

import anyio.to_thread

from fieldsvc import db
from fieldsvc.auth.passwords import hash_password
from fieldsvc.context import AppContext
from fieldsvc.errors import api_error
from fieldsvc.people import repository
from fieldsvc.people.schemas import CreateUser, TechnicianView, UserView

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


class PeopleService:
    def __init__(self, ctx: AppContext):
        self.ctx = ctx

    async def create_user(self, data: CreateUser) -> UserView:
        if (data.role == "technician") != (data.technician is not None):
            raise ProfileMismatch()
        password_hash = await anyio.to_thread.run_sync(hash_password, data.password)
        async with db.write_transaction(self.ctx.engine):
            # A username and a staff number are one space of logins, kept in two tables: no unique index spans both.
            await db.serialise_appends(self.ctx.engine, LOGINS_LOCK_KEY)
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
                    phone=profile.phone, team=profile.team,
                )
            user_id = await repository.insert_user(
                data.username, password_hash, data.role, data.display_name, technician and technician.id
            )
        return UserView(id=user_id, username=data.username, role=data.role, display_name=data.display_name, technician=technician)

    async def list_technicians(self, team: str | None) -> list[TechnicianView]:
        return [technician_view(row) for row in await repository.list_technicians(team)]


def technician_view(row: dict) -> TechnicianView:
    return TechnicianView(
        id=row["id"], staff_number=row["staff_number"], name=row["name"], phone=row["phone"], team=row["team"]
    )
