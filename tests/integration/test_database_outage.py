"""A PostgreSQL connection dropped mid-transaction (a restart, an admin's kill) costs the pool nothing."""

from __future__ import annotations

import asyncio

import pytest

from fieldsvc import db
from fieldsvc.tables import Visit


async def test_a_transaction_whose_connection_is_killed_gives_its_pool_slot_back(app):
    engine = app.state.ctx.engine
    if db.is_sqlite(engine):
        pytest.skip("an embedded SQLite database has no connections to lose")
    for _ in range(3):  # more than one lost slot would hide behind a pool with spare connections
        with pytest.raises(Exception):
            async with db.write_transaction(engine):
                await Visit.raw("SELECT pg_terminate_backend(pg_backend_pid())")

    async with db.write_transaction(engine):  # this task's next transaction does not nest into the dead one
        assert await Visit.count() >= 0
    held = await asyncio.wait_for(asyncio.gather(*(engine.pool.acquire() for _ in range(db.POOL_SIZE))), timeout=10)
    for connection in held:
        await engine.pool.release(connection)
