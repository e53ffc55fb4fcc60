"""Wire contract of login, logout and the caller's identity."""

from __future__ import annotations

from typing import Annotated
from uuid import UUID

import msgspec

from fieldsvc.wire import Incoming, Instant, Wire


class LoginRequest(Incoming):
    login: Annotated[str, msgspec.Meta(min_length=1, max_length=64, description="username or staff number")]
    password: Annotated[str, msgspec.Meta(min_length=1, max_length=256)]


class Identity(Wire):
    user_id: UUID
    username: str
    role: str
    technician_id: UUID | None


class LoginResponse(Wire):
    token: str
    expires_at: Instant
    identity: Identity
