"""A bulk re-audit's worker process ends quietly, even when the database it was closing is gone."""

from __future__ import annotations

import asyncio
from types import SimpleNamespace

from fieldsvc.verdicts import service


def test_a_worker_whose_database_is_gone_stops_without_a_traceback(monkeypatch) -> None:  # noqa: ANN001
    async def connection_refused() -> None:
        raise ConnectionRefusedError("the database is down")

    loop = asyncio.new_event_loop()
    engine = SimpleNamespace(close_connection_pool=connection_refused)
    monkeypatch.setattr(service, "_worker", {"loop": loop, "service": SimpleNamespace(ctx=SimpleNamespace(engine=engine))})

    service._stop_worker()  # multiprocessing's finalizer printed what this raised

    assert loop.is_closed() and service._worker == {}
