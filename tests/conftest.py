"""Shared fixtures: the real app on SQLite and on PostgreSQL (real migrations), HTTP clients, users."""

from __future__ import annotations

import asyncio
import os
from contextlib import asynccontextmanager
import uuid
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import AsyncIterator, Iterator
from urllib.parse import urlsplit, urlunsplit

import asyncpg
import httpx
import pytest

from fieldsvc import db
from fieldsvc.app import create_app
from fieldsvc.config import Settings
from fieldsvc.people.schemas import CreateUser, TechnicianProfile
from fieldsvc.people.service import PeopleService
from fieldsvc.tables import ALL_TABLES, AppUser, Technician, TrailHead
from fieldsvc.trail.chain import GENESIS_HASH
from fieldsvc.trail.service import TrailWriter
from fieldsvc.verdicts.service import VerdictService

POSTGRES_ADMIN_URL = os.environ.get("FIELDSVC_TEST_POSTGRES_URL", "postgresql://postgres@127.0.0.1:5432/test")
PASSWORD = "correct-horse-42"
KEPT_BETWEEN_TESTS = (AppUser, Technician)  # people are made once per engine; everything else per test


@pytest.fixture(scope="session", params=["sqlite", "postgres"])
async def database_url(request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory) -> AsyncIterator[str]:
    if request.param == "sqlite":
        yield f"sqlite:///{tmp_path_factory.mktemp('sqlite') / 'fieldsvc.sqlite'}"
        return
    async with new_postgres_database("fieldsvc_test") as url:
        yield url


@asynccontextmanager
async def new_postgres_database(prefix: str) -> AsyncIterator[str]:
    """An empty database of its own on the test server, dropped afterwards (under CI=true the server must answer)."""
    try:
        admin = await asyncpg.connect(POSTGRES_ADMIN_URL, timeout=5)
    except (OSError, asyncpg.PostgresError) as error:
        reason = f"PostgreSQL unreachable at {POSTGRES_ADMIN_URL}: {error}"
        if os.environ.get("CI") == "true":
            pytest.fail(reason + " (under CI=true the PostgreSQL half must run)")
        pytest.skip(reason)
    name = f"{prefix}_{uuid.uuid4().hex[:12]}"
    await admin.execute(f'CREATE DATABASE "{name}"')
    try:
        yield urlunsplit(urlsplit(POSTGRES_ADMIN_URL)._replace(path=f"/{name}"))
    finally:
        await admin.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
        await admin.close()


@pytest.fixture(scope="session")
async def app(database_url: str, tmp_path_factory: pytest.TempPathFactory):
    settings = Settings(
        data_dir=tmp_path_factory.mktemp("data"),
        database_url=database_url,
        secret_key="test-secret-key-of-the-suite",
        deadline_sweep_minutes=10**6,  # tests sweep when they mean to, at the clock they set, never in between
        trail_check_seconds=10**6,  # and check the trail's head when they mean to (tests change it behind its back)
    )
    application = create_app(settings)
    await db.migrate(application.state.ctx.engine)
    async with running(application):
        yield application


@asynccontextmanager
async def running(application) -> AsyncIterator[None]:  # noqa: ANN001
    """Run the app's lifespan in a task of its own: anyio scopes must be left by the task that entered them."""
    started, stop = asyncio.Event(), asyncio.Event()

    async def hold_lifespan() -> None:
        async with application.lifespan():
            started.set()
            await stop.wait()

    task = asyncio.create_task(hold_lifespan())
    await asyncio.wait([task, asyncio.create_task(started.wait())], return_when=asyncio.FIRST_COMPLETED)
    if task.done():
        task.result()
    try:
        yield
    finally:
        stop.set()
        await task


@dataclass(frozen=True)
class People:
    """One user of each role, plus a second technician for scoping tests."""

    admin: str
    dispatcher: str
    auditor: str
    tech: str
    other_tech: str


@pytest.fixture(scope="session")
async def people(app) -> People:
    service = PeopleService(app.state.ctx)

    async def make(username: str, role: str, staff: str | None = None, team: str = "north") -> str:
        profile = TechnicianProfile(staff_number=staff, name=username.title(), phone="13800000000", team=team) if staff else None
        await service.create_user(
            CreateUser(username=username, password=PASSWORD, role=role, display_name=username.title(), technician=profile),
            None,
        )
        return username

    return People(
        admin=await make("admin1", "admin"),
        dispatcher=await make("disp1", "dispatcher"),
        auditor=await make("audit1", "auditor"),
        tech=await make("tech1", "technician", "T1001"),
        other_tech=await make("tech2", "technician", "T1002", team="south"),
    )


@pytest.fixture
async def client(app, people, clock) -> AsyncIterator[httpx.AsyncClient]:
    async with httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://fieldsvc.test") as http:
        yield http
    await reset(app)


async def reset(app) -> None:  # noqa: ANN001
    """Remove what a test stored, once it is quiet: the background auditor then only runs one-table transactions,
    which a TRUNCATE waits for without a deadlock."""
    await quiet(app)
    await wipe(app.state.ctx.engine)


async def quiet(app) -> None:  # noqa: ANN001
    """Audit what is due and chain the queued trail entries: nothing is appended to the trail until the next fact."""
    await VerdictService(app.state.ctx).settle()
    await TrailWriter(app.state.ctx).chain_all_pending()


async def wipe(engine, attempts: int = 5) -> None:  # noqa: ANN001
    """Empty every table but the people's, and start the trail's head again at the genesis, as migrations do."""
    await _empty(engine, attempts)
    await TrailHead.insert(TrailHead(entry_hash=GENESIS_HASH))


async def _empty(engine, attempts: int) -> None:  # noqa: ANN001
    doomed = [table for table in reversed(ALL_TABLES) if table not in KEPT_BETWEEN_TESTS]
    if db.is_sqlite(engine):
        for table in doomed:
            await table.delete(force=True)
        return
    names = ", ".join(table._meta.tablename for table in doomed)
    for attempt in range(1, attempts + 1):
        try:
            await engine.run_ddl(f"TRUNCATE {names} CASCADE")
            return
        except asyncpg.DeadlockDetectedError:
            # A belt to reset()'s braces: TRUNCATE takes its table locks one by one, and a transaction that holds one of
            # them while waiting for another deadlocks with it; PostgreSQL aborts one of the two, this one tries again.
            if attempt == attempts:
                raise
            await asyncio.sleep(0.05 * attempt)


async def login(client: httpx.AsyncClient, username: str, password: str = PASSWORD) -> dict[str, str]:
    """Log in and return the Authorization header for that user."""
    response = await client.post("/v1/auth/login", json={"login": username, "password": password})
    assert response.status_code == 200, response.text
    return {"Authorization": f"Bearer {response.json()['token']}"}


@pytest.fixture
async def as_dispatcher(client, people) -> dict[str, str]:
    return await login(client, people.dispatcher)


@pytest.fixture
async def as_tech(client, people) -> dict[str, str]:
    return await login(client, people.tech)


@pytest.fixture
async def as_other_tech(client, people) -> dict[str, str]:
    return await login(client, people.other_tech)


@pytest.fixture
async def as_auditor(client, people) -> dict[str, str]:
    return await login(client, people.auditor)


@pytest.fixture
async def as_admin(client, people) -> dict[str, str]:
    return await login(client, people.admin)


class FrozenClock:
    """The service's clock, set by a test; advance() moves it forward."""

    def __init__(self, now: datetime):
        self.now = now

    def __call__(self) -> datetime:
        return self.now

    def advance(self, **delta: float) -> datetime:
        self.now += timedelta(**delta)
        return self.now


@pytest.fixture
def clock(app) -> Iterator[FrozenClock]:
    """Freeze the app's clock at 2030-03-04 09:00 Asia/Shanghai (01:00 UTC) unless the test moves it."""
    frozen = FrozenClock(datetime(2030, 3, 4, 1, 0, tzinfo=UTC))
    ctx = app.state.ctx
    original, ctx.clock = ctx.clock, frozen
    yield frozen
    ctx.clock = original
