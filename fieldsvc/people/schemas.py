"""Wire contract for creating and listing users and technicians."""

from __future__ import annotations

from typing import Annotated, Literal
from uuid import UUID

import msgspec

from fieldsvc.wire import Incoming, Name, Phone, Wire

Role = Literal["technician", "dispatcher", "auditor", "admin"]
Username = Annotated[str, msgspec.Meta(min_length=3, max_length=64, pattern=r"^[A-Za-z0-9._-]+$")]
Password = Annotated[str, msgspec.Meta(min_length=8, max_length=256)]
StaffNumber = Annotated[str, msgspec.Meta(min_length=1, max_length=32, pattern=r"^[A-Za-z0-9-]+$")]


class TechnicianProfile(Incoming):
    staff_number: StaffNumber
    name: Name
    phone: Phone
    team: Name


class CreateUser(Incoming):
    username: Username
    password: Password
    role: Role
    display_name: Name
    technician: TechnicianProfile | None = None


class UserActivity(Incoming):
    active: bool


class TechnicianView(Wire):
    id: UUID
    staff_number: str
    name: str
    phone: str
    team: str
    active: bool  # false once the technician's account is deactivated: no longer assignable


class UserView(Wire):
    id: UUID
    username: str
    role: str
    display_name: str
    technician: TechnicianView | None
    active: bool
