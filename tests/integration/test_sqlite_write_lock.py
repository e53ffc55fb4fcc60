"""Transactions: a writer cancelled while it waits for the SQLite write lock does not keep it; one engine per process."""

from __future__ import annotations

import asyncio
from contextlib import contextmanager
from typing import Iterator

import pytest
from piccolo.engine.base import Engine

from fieldsvc import db


async def test_a_writer_cancelled_while_waiting_for_the_write_lock_leaves_it_free(tmp_path):
    engine = db.engine_for_url(f"sqlite:///{tmp_path / 'lock.sqlite'}")
    await db.open_database(engine)
    with bound_to(engine):
        await cancel_a_waiting_writer(engine)


@contextmanager
def bound_to(engine: Engine) -> Iterator[None]:
    previous = db.bound_engine()
    db.bind_engine(engine)
    try:
        yield
    finally:
        if previous is not None:
            db.bind_engine(previous)


async def cancel_a_waiting_writer(engine: Engine) -> None:
    await engine.run_ddl("CREATE TABLE fact (n INTEGER)")
    holding, release = asyncio.Event(), asyncio.Event()

    async def hold_the_lock() -> None:
        async with db.write_transaction(engine):
            await engine.run_ddl("INSERT INTO fact VALUES (1)")
            holding.set()
            await release.wait()

    kept_errors: list[BaseException] = []

    async def wait_for_the_lock() -> None:
        try:
            async with db.write_transaction(engine):
                await engine.run_ddl("INSERT INTO fact VALUES (2)")
        except asyncio.CancelledError as cancelled:
            kept_errors.append(cancelled)  # as a log record or an error report would: its frames stay alive
            raise

    holder = asyncio.create_task(hold_the_lock())
    await holding.wait()
    waiter = asyncio.create_task(wait_for_the_lock())
    await asyncio.sleep(0.2)  # now inside BEGIN IMMEDIATE, in its connection's thread
    waiter.cancel()
    await asyncio.gather(waiter, return_exceptions=True)
    release.set()
    await holder
    await asyncio.sleep(0.5)  # the cancelled BEGIN's busy handler retries within 100 ms, and gets the lock

    async def write_again() -> None:
        async with db.write_transaction(engine):
            await engine.run_ddl("INSERT INTO fact VALUES (3)")

    await asyncio.wait_for(write_again(), timeout=5)  # the busy timeout is 30 s: a kept lock would fail this
    rows = await engine.run_ddl("SELECT n FROM fact ORDER BY n")
    assert ([row["n"] for row in rows], len(kept_errors)) == ([1, 3], 1)


async def test_a_transaction_on_an_engine_the_tables_are_not_bound_to_is_refused(app):
    stranger = db.engine_for_url(f"sqlite:///{app.state.ctx.settings.data_dir}/stranger.sqlite")
    with pytest.raises(RuntimeError, match="bound to another engine"):
        async with db.write_transaction(stranger):
            pass
