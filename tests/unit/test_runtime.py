"""fieldsvc's own processes (the auditor, bulk workers, `audit rerun`) run their event loop on uvloop."""

import asyncio

import uvloop

from fieldsvc import runtime


def test_run_runs_the_coroutine_on_uvloop_and_returns_its_result():
    async def loop_type() -> type:
        return type(asyncio.get_running_loop())

    assert runtime.run(loop_type()) is uvloop.Loop


def test_new_event_loop_is_uvloop():
    loop = runtime.new_event_loop()
    try:
        assert isinstance(loop, uvloop.Loop)
    finally:
        loop.close()
