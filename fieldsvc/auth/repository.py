"""Queries for users, tokens and the login throttle."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from fieldsvc import db
from fieldsvc.tables import AppUser, AuthToken, LoginThrottle


async def find_user_by_login(login: str) -> dict[str, Any] | None:
    """A login is a username or a technician's staff number."""
    return (
        await AppUser.select(AppUser.id, AppUser.username, AppUser.role, AppUser.password_hash, AppUser.technician.id)
        .where(((AppUser.username == login) | (AppUser.technician.staff_number == login)) & (AppUser.active == True))  # noqa: E712
        .first()
    )


async def insert_token(token_hash: str, user_id: Any, expires_at: datetime) -> None:
    await AuthToken.insert(AuthToken(token_hash=token_hash, user=user_id, expires_at=expires_at))


async def find_token(token_hash: str) -> dict[str, Any] | None:
    return (
        await AuthToken.select(
            AuthToken.expires_at,
            AuthToken.revoked_at,
            AuthToken.user.id.as_alias("user_id"),
            AuthToken.user.username.as_alias("username"),
            AuthToken.user.role.as_alias("role"),
            AuthToken.user.active.as_alias("active"),
            AuthToken.user.technician.id.as_alias("technician_id"),
        )
        .where(AuthToken.token_hash == token_hash)
        .first()
    )


async def revoke_token(token_hash: str, at: datetime) -> None:
    await AuthToken.update({AuthToken.revoked_at: at}).where(
        (AuthToken.token_hash == token_hash) & AuthToken.revoked_at.is_null()
    )


async def throttle_state(login_key: str) -> dict[str, Any] | None:
    return await LoginThrottle.select().where(LoginThrottle.login_key == login_key).first()


async def lock_throttle_row(login_key: str, now: datetime, engine) -> dict[str, Any]:  # noqa: ANN001
    """Create-or-lock the throttle row; the caller holds a write transaction."""
    await LoginThrottle.insert(LoginThrottle(login_key=login_key, failures=0, first_failure_at=now)).on_conflict(
        target=LoginThrottle.login_key, action="DO NOTHING"
    )
    return await db.locked(LoginThrottle.select().where(LoginThrottle.login_key == login_key), engine).first()


async def save_throttle(login_key: str, failures: int, first_failure_at: datetime, locked_until: datetime | None) -> None:
    await LoginThrottle.update(
        {
            LoginThrottle.failures: failures,
            LoginThrottle.first_failure_at: first_failure_at,
            LoginThrottle.locked_until: locked_until,
        }
    ).where(LoginThrottle.login_key == login_key)


async def clear_throttle(login_key: str) -> None:
    await LoginThrottle.delete().where(LoginThrottle.login_key == login_key)
