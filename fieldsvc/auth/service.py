"""Login, logout and token resolution, with a database-backed throttle on failed logins."""

from __future__ import annotations

import asyncio
import hashlib
import logging
import secrets
import time
from datetime import datetime, timedelta

import anyio.to_thread

from fieldsvc import db
from fieldsvc.auth import repository
from fieldsvc.auth.caller import Caller
from fieldsvc.auth.passwords import verify_password
from fieldsvc.context import AppContext
from fieldsvc.errors import NotAuthenticated, TokenExpired, TokenRevoked, api_error

log = logging.getLogger("fieldsvc.auth")

BadCredentials = api_error(401, "auth.bad_credentials", "Wrong login or password.")
Throttled = api_error(429, "auth.throttled", "Too many failed logins; wait before trying again.")
# How long an attempt waits for the attempts being checked before it (each a password hash, tens of ms) to answer.
IN_FLIGHT_WAIT_SECONDS = 10.0
IN_FLIGHT_POLL_SECONDS = 0.05


def token_digest(token: str) -> str:
    """Tokens are stored only as digests, so a database dump does not hand out sessions."""
    return hashlib.sha256(token.encode()).hexdigest()


class AuthService:
    def __init__(self, ctx: AppContext):
        self.ctx = ctx
        self.settings = ctx.settings

    async def login(self, login: str, password: str) -> tuple[str, datetime, Caller]:
        now = self.ctx.now()
        user = await repository.find_user_by_login(login.strip())
        # One count per account, however it is named (username or staff number: otherwise twice the guesses).
        login_key = f"user:{user['id']}" if user else login.strip().lower()
        await self._count_attempt(login_key, now)
        ok = await anyio.to_thread.run_sync(verify_password, password, user and user["password_hash"])
        if not (ok and user):
            if await self._lock_out_when_exhausted(login_key, now):
                # Who is being guessed at, for the operator; a login name no account has may be a password typed
                # in the wrong field, and stays out of the log.
                named = f"account {user['username']} ({user['id']})" if user else "a login name no account has"
                log.warning("login locked for %d min after %d wrong passwords: %s",
                            self.settings.login_lockout_minutes, self.settings.login_max_failures, named)
            raise BadCredentials()
        await repository.clear_throttle(login_key)
        token = secrets.token_urlsafe(32)
        expires_at = now + timedelta(minutes=self.settings.token_ttl_minutes)
        async with db.write_transaction(self.ctx.engine):
            # Under the account's lock, which its deactivation takes too: a login whose password was being checked
            # while the account was deactivated got a session that came back when it was activated again (a probe).
            if not await repository.lock_active_user(user["id"], self.ctx.engine):
                raise BadCredentials()
            await repository.insert_token(token_digest(token), user["id"], expires_at)
        caller = Caller(user["id"], user["username"], user["role"], user["technician.id"])
        return token, expires_at, caller

    async def logout(self, token: str) -> None:
        digest = token_digest(token)
        await repository.revoke_token(digest, self.ctx.now())
        self.ctx.sessions.forget(digest)

    async def resolve(self, token: str) -> Caller:
        digest = token_digest(token)
        session = self.ctx.sessions.recall(digest)
        if session is None:
            lookup = self.ctx.sessions.lookup_started()
            row = await repository.find_token(digest)
            if row is None or not row["active"]:
                raise NotAuthenticated("This token is not valid; log in again.")
            if row["revoked_at"] is not None:
                raise TokenRevoked()
            caller = Caller(row["user_id"], row["username"], row["role"], row["technician_id"])
            self.ctx.sessions.remember(digest, caller, row["expires_at"], lookup)
            expires_at = row["expires_at"]
        else:
            caller, expires_at = session.caller, session.expires_at
        if expires_at <= self.ctx.now():
            raise TokenExpired()
        return caller

    async def _count_attempt(self, login_key: str, now: datetime) -> None:
        """Count the attempt as a failure before the password is checked, and forgive it when the password is right:
        counted after the check, guesses sent at once were all checked before the first one counted (a probe sent 40).
        With as many attempts still being checked as failures allowed, the next waits for their answers, briefly: a
        right password forgives them (ten right logins at once were refused as failures; a probe)."""
        window = timedelta(minutes=self.settings.login_lockout_minutes)
        give_up = time.monotonic() + IN_FLIGHT_WAIT_SECONDS
        while True:
            async with db.write_transaction(self.ctx.engine):
                state = await repository.lock_throttle_row(login_key, now, self.ctx.engine)
                if state["locked_until"] is not None and state["locked_until"] > now:
                    wait = int((state["locked_until"] - now).total_seconds()) + 1
                    raise Throttled(
                        f"Too many failed logins; try again in {wait} seconds.", headers={"Retry-After": str(wait)}
                    )
                fresh_window = state["failures"] == 0 or state["first_failure_at"] + window <= now
                if fresh_window or state["failures"] < self.settings.login_max_failures:
                    failures = 1 if fresh_window else state["failures"] + 1
                    first_failure_at = now if fresh_window else state["first_failure_at"]
                    await repository.save_throttle(login_key, failures, first_failure_at, None)
                    return
            if time.monotonic() >= give_up:
                raise Throttled(
                    "Too many logins to this account at once; try again in a second.", headers={"Retry-After": "1"}
                )
            await asyncio.sleep(IN_FLIGHT_POLL_SECONDS)

    async def _lock_out_when_exhausted(self, login_key: str, now: datetime) -> bool:
        """A wrong password that brings the failures to the limit locks the login for the window: True if it did."""
        window = timedelta(minutes=self.settings.login_lockout_minutes)
        async with db.write_transaction(self.ctx.engine):
            state = await repository.lock_throttle_row(login_key, now, self.ctx.engine)
            if state["failures"] >= self.settings.login_max_failures and state["locked_until"] is None:
                await repository.save_throttle(login_key, state["failures"], state["first_failure_at"], now + window)
                return True
        return False
