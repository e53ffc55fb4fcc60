"""Making another request's commit land at an exact point of a request under test."""

from __future__ import annotations

import asyncio
import contextvars
from collections.abc import Awaitable, Callable
from typing import Any

import pytest

from fieldsvc.tables import Visit


def committing_before_the_next_count(monkeypatch: pytest.MonkeyPatch, commit: Callable[[], Awaitable[Any]]) -> None:
    """The next Visit.count query first waits for `commit` to finish, as another request would meanwhile: between a
    list's page and its count."""
    count = Visit.count
    pending = [commit]

    class CountAfterACommit:
        def __init__(self, query: Any):
            self.query = query

        def where(self, *conditions: Any) -> CountAfterACommit:
            self.query = self.query.where(*conditions)
            return self

        def __await__(self):  # noqa: ANN204
            return self._run().__await__()

        async def _run(self) -> int:
            if pending:
                # In a fresh context, as another request: it must not join the transaction of the one under test.
                await asyncio.get_running_loop().create_task(_awaited(pending.pop()), context=contextvars.Context())
            return await self.query

    monkeypatch.setattr(Visit, "count", classmethod(lambda cls, *args, **kwargs: CountAfterACommit(count(*args, **kwargs))))


async def _awaited(commit: Callable[[], Awaitable[Any]]) -> Any:
    return await commit()
