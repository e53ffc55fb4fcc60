"""A short-lived, per-process memory of resolved bearer tokens, so most requests skip the token lookup."""

from __future__ import annotations

import time
from dataclasses import dataclass
from datetime import datetime
from typing import Callable
from uuid import UUID

from fieldsvc.auth.caller import Caller

MAX_REMEMBERED = 10_000


@dataclass(frozen=True, slots=True)
class Session:
    caller: Caller
    expires_at: datetime  # the token's own expiry, checked on every use
    remembered_until: float  # monotonic seconds


class SessionMemory:
    """Token digest -> caller for a few seconds.

    A logout evicts at once in the process that served it; other worker processes keep answering a revoked token
    for at most `seconds` (FIELDSVC_TOKEN_MEMORY_SECONDS, 0 turns the memory off).
    """

    def __init__(self, seconds: float, monotonic: Callable[[], float] = time.monotonic):
        self.seconds = seconds
        self.monotonic = monotonic
        self._sessions: dict[str, Session] = {}
        self._logouts = 0  # forget() calls so far: a lookup that overlapped one is not remembered

    def recall(self, digest: str) -> Session | None:
        session = self._sessions.get(digest)
        if session is not None and session.remembered_until <= self.monotonic():
            del self._sessions[digest]
            return None
        return session

    def lookup_started(self) -> int:
        """Call before reading a token from the database, and pass what it returns to remember()."""
        return self._logouts

    def remember(self, digest: str, caller: Caller, expires_at: datetime, lookup: int) -> None:
        # A logout that committed after the lookup read its row would otherwise be undone here for `seconds`.
        if self.seconds <= 0 or lookup != self._logouts:
            return
        if len(self._sessions) >= MAX_REMEMBERED:  # oldest first: dicts keep insertion order
            del self._sessions[next(iter(self._sessions))]
        self._sessions[digest] = Session(caller, expires_at, self.monotonic() + self.seconds)

    def forget(self, digest: str) -> None:
        self._logouts += 1
        self._sessions.pop(digest, None)

    def forget_user(self, user_id: UUID) -> None:
        """Every remembered token of an account, once it is deactivated."""
        self._logouts += 1
        for digest in [digest for digest, session in self._sessions.items() if session.caller.user_id == user_id]:
            del self._sessions[digest]
