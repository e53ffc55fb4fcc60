"""Which database errors mean "unavailable" (503 with Retry-After, a clear exit) rather than a defect (500)."""

from __future__ import annotations

import sqlite3

import asyncpg
import pytest

from fieldsvc import db


@pytest.mark.parametrize("error", [
    asyncpg.InvalidCatalogNameError('database "fieldsvc" does not exist'),
    asyncpg.InvalidAuthorizationSpecificationError('role "fieldsvc" is not permitted to log in'),
    asyncpg.InvalidPasswordError('password authentication failed for user "fieldsvc"'),
    asyncpg.CannotConnectNowError("the database system is starting up"),
    ConnectionRefusedError(111, "Connect call failed"),
    sqlite3.OperationalError("unable to open database file"),
    sqlite3.OperationalError("attempt to write a readonly database"),
], ids=lambda error: type(error).__name__)
def test_a_database_gone_or_refusing_the_service_is_unavailable(error: BaseException) -> None:
    assert db.is_unavailable_error(error)


@pytest.mark.parametrize("error", [
    asyncpg.UndefinedColumnError('column "x" does not exist'),
    sqlite3.OperationalError("no such column: x"),
    ValueError("a bug"),
], ids=lambda error: type(error).__name__)
def test_a_query_the_database_cannot_run_is_not_an_outage(error: BaseException) -> None:
    assert not db.is_unavailable_error(error)
