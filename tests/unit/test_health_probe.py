"""/health/ready's dependency probes answer in their time, whatever a stuck dependency does."""

from __future__ import annotations

import asyncio
import time

from fieldsvc import health


async def test_a_ping_that_takes_its_time_to_give_up_does_not_hold_the_readiness_answer(monkeypatch) -> None:
    monkeypatch.setattr(health, "READY_PROBE_SECONDS", 0.05)

    async def stuck_on_a_silent_server() -> bool:
        try:
            await asyncio.sleep(60)
        except asyncio.CancelledError:
            await asyncio.sleep(1)  # closing its connection waits for the silent server too
            raise
        return True

    started = time.monotonic()
    answered = await health._answers(stuck_on_a_silent_server())

    assert (answered, time.monotonic() - started < 0.5) == (False, True)


async def test_a_ping_that_answers_in_time_gives_its_answer() -> None:
    async def answers() -> bool:
        return True

    assert await health._answers(answers()) is True
