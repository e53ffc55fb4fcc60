"""The per-process memory of resolved tokens: bounded in time and size, and forgotten on logout."""

from __future__ import annotations

from datetime import UTC, datetime
from uuid import uuid4

from fieldsvc.auth.caller import Caller
from fieldsvc.auth.sessions import MAX_REMEMBERED, SessionMemory

EXPIRES = datetime(2030, 1, 1, tzinfo=UTC)


class Ticker:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


def caller() -> Caller:
    return Caller(uuid4(), "tech", "technician", uuid4())


def test_a_remembered_token_is_recalled_with_its_caller_and_expiry():
    memory, who = SessionMemory(5, Ticker()), caller()
    memory.remember("digest", who, EXPIRES, memory.lookup_started())
    session = memory.recall("digest")
    assert session is not None and session.caller == who and session.expires_at == EXPIRES


def test_a_token_is_looked_up_again_after_the_memory_seconds():
    ticker = Ticker()
    memory = SessionMemory(5, ticker)
    memory.remember("digest", caller(), EXPIRES, memory.lookup_started())
    ticker.now += 4.9
    assert memory.recall("digest") is not None
    ticker.now += 0.1
    assert memory.recall("digest") is None


def test_a_forgotten_token_is_not_recalled():
    memory = SessionMemory(5, Ticker())
    memory.remember("digest", caller(), EXPIRES, memory.lookup_started())
    memory.forget("digest")
    assert memory.recall("digest") is None


def test_zero_seconds_remembers_nothing():
    memory = SessionMemory(0, Ticker())
    memory.remember("digest", caller(), EXPIRES, memory.lookup_started())
    assert memory.recall("digest") is None


def test_the_memory_drops_its_oldest_token_when_full():
    memory = SessionMemory(5, Ticker())
    for index in range(MAX_REMEMBERED + 1):
        memory.remember(f"digest-{index}", caller(), EXPIRES, memory.lookup_started())
    assert memory.recall("digest-0") is None
    assert memory.recall("digest-1") is not None
    assert memory.recall(f"digest-{MAX_REMEMBERED}") is not None


def test_a_lookup_that_overlapped_a_logout_is_not_remembered():
    memory = SessionMemory(5, Ticker())
    lookup = memory.lookup_started()  # the row is read while still active ...
    memory.forget("digest")  # ... the logout commits and forgets ...
    memory.remember("digest", caller(), EXPIRES, lookup)  # ... and the stale row must not come back
    assert memory.recall("digest") is None
