"""Queries for users, tokens and the login throttle."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from piccolo.query.functions.string import Lower
from piccolo.querystring import QueryString

from fieldsvc import db
from fieldsvc.tables import AppUser, AuthToken, LoginThrottle


async def find_user_by_login(login: str) -> dict[str, Any] | None:
    """A login is a username or a technician's staff number, in any case (a phone's keyboard capitalises the first
    letter). Logins are told apart regardless of case since they were; one spelled exactly comes first."""
    columns = (AppUser.id, AppUser.username, AppUser.role, AppUser.password_hash, AppUser.technician.id)
    active = AppUser.active == True  # noqa: E712
    exactly = (AppUser.username == login) | (AppUser.technician.staff_number == login)
    # Parenthesised: joined to `active` by AND, a bare OR let a deactivated account in by its username (a probe).
    in_any_case = QueryString(
        "({} OR {})", Lower(AppUser.username) == login.lower(), Lower(AppUser.technician.staff_number) == login.lower()
    )
    return (
        await AppUser.select(*columns).where(exactly & active).first()
        or await AppUser.select(*columns).where(in_any_case).where(active).first()
    )


async def lock_active_user(user_id: Any, engine) -> bool:  # noqa: ANN001
    """Whether the account is active, its row locked until the transaction ends."""
    row = await db.locked(AppUser.select(AppUser.active).where(AppUser.id == user_id), engine).first()
    return bool(row and row["active"])


async def insert_token(token_hash: str, user_id: Any, expires_at: datetime) -> None:
    await AuthToken.insert(AuthToken(token_hash=token_hash, user=user_id, expires_at=expires_at))


# Written out, not built by Piccolo: every authenticated request runs it, and building the join costs more than it.
FIND_TOKEN_SQL = """
SELECT auth_token.expires_at, auth_token.revoked_at, app_user.id AS user_id, app_user.username, app_user.role,
    app_user.active, app_user.technician AS technician_id
FROM auth_token JOIN app_user ON app_user.id = auth_token."user"
WHERE auth_token.token_hash = {}
"""


async def find_token(token_hash: str) -> dict[str, Any] | None:
    rows = await AuthToken.raw(FIND_TOKEN_SQL, token_hash)
    return rows[0] if rows else None


async def revoke_token(token_hash: str, at: datetime) -> None:
    await AuthToken.update({AuthToken.revoked_at: at}).where(
        (AuthToken.token_hash == token_hash) & AuthToken.revoked_at.is_null()
    )


async def revoke_user_tokens(user_id: Any, at: datetime) -> None:
    await AuthToken.update({AuthToken.revoked_at: at}).where(
        (AuthToken.user == user_id) & AuthToken.revoked_at.is_null()
    )


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
    """Forgive the login's counted attempts. The row stays: deleted, an attempt counted at the same moment would find
    no row to lock."""
    await LoginThrottle.update({LoginThrottle.failures: 0, LoginThrottle.locked_until: None}).where(
        LoginThrottle.login_key == login_key
    )
