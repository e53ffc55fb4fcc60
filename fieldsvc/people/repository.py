"""Queries for users and technicians."""

from __future__ import annotations

from typing import Any
from uuid import UUID

from piccolo.columns.combination import Combinable
from piccolo.query.functions.string import Lower

from fieldsvc.tables import AppUser, Technician


async def insert_technician(staff_number: str, name: str, phone: str, team: str) -> UUID:
    row = Technician(staff_number=staff_number, name=name, phone=phone, team=team)
    await row.save()
    return row.id


async def insert_user(username: str, password_hash: str, role: str, display_name: str, technician_id: UUID | None) -> UUID:
    row = AppUser(
        username=username, password_hash=password_hash, role=role, display_name=display_name, technician=technician_id
    )
    await row.save()
    return row.id


async def login_taken(login: str) -> bool:
    """Usernames and staff numbers are one space of logins, in any case: either one names at most one account."""
    return await AppUser.exists().where(Lower(AppUser.username) == login.lower()) or await Technician.exists().where(
        Lower(Technician.staff_number) == login.lower()
    )


async def list_technicians(team: str | None) -> list[dict[str, Any]]:
    """Each technician with `active`: whether their account may still log in and take visits."""
    query = Technician.select().order_by(Technician.team).order_by(Technician.name)
    if team:
        query = query.where(Technician.team == team)
    technicians = await query
    if not technicians:
        return []
    inactive = {
        row["technician"] for row in await AppUser.select(AppUser.technician).where(
            AppUser.technician.is_in([t["id"] for t in technicians]) & (AppUser.active == False)  # noqa: E712
        )
    }
    return [{**technician, "active": technician["id"] not in inactive} for technician in technicians]


_USER_COLUMNS = (
    AppUser.id, AppUser.username, AppUser.role, AppUser.display_name, AppUser.active,
    *(getattr(AppUser.technician, name) for name in ("id", "staff_number", "name", "phone", "team")),
)


async def get_user(user_id: UUID) -> dict[str, Any] | None:
    return await AppUser.select(*_USER_COLUMNS).where(AppUser.id == user_id).first()


async def users(role: str | None, active: bool | None, limit: int, offset: int) -> tuple[list[dict[str, Any]], int]:
    """A page of the accounts by username, and how many the filters find."""
    condition: Combinable = AppUser.id.is_not_null()
    if role is not None:
        condition &= AppUser.role == role
    if active is not None:
        condition &= AppUser.active == active
    rows = await AppUser.select(*_USER_COLUMNS).where(condition).order_by(AppUser.username).limit(limit).offset(offset)
    return rows, await AppUser.count().where(condition)


async def is_active(user_id: UUID) -> bool:
    return await AppUser.exists().where((AppUser.id == user_id) & (AppUser.active == True))  # noqa: E712


async def set_active(user_id: UUID, active: bool) -> None:
    await AppUser.update({AppUser.active: active}).where(AppUser.id == user_id)
