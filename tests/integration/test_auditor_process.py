"""A-REAUDIT under `fieldsvc serve` on PostgreSQL: the auditor runs in a process of its own beside the HTTP worker,
is replaced if it dies, and stops with the server; phones' requests never wait behind an audit round."""

from __future__ import annotations

import asyncio
import os
import signal
import socket
import subprocess
import sys
import time
import uuid
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import AsyncIterator, Iterator
from zoneinfo import ZoneInfo

import asyncpg
import httpx
import pytest

from fieldsvc.config import Settings
from fieldsvc.demo import DEMO_PASSWORD
from tests.conftest import new_postgres_database

REPO = Path(__file__).resolve().parents[2]
WAIT_SECONDS = 30.0


@pytest.fixture(scope="module")
async def database() -> AsyncIterator[str]:
    async with new_postgres_database("fieldsvc_serve") as url:
        yield url


class Served:
    """`python -m fieldsvc serve` (with its demo data) on a free port."""

    def __init__(self, database_url: str, data_dir: Path):
        with socket.socket() as probe:
            probe.bind(("127.0.0.1", 0))
            self.port = probe.getsockname()[1]
        self.log = data_dir / f"serve-{self.port}.log"
        env = {**os.environ, "FIELDSVC_DATABASE_URL": database_url, "FIELDSVC_DATA_DIR": str(data_dir)}
        # The module's servers share its database, so they share a key, as a deployment's servers do (each data
        # directory would make its own, and the trail refuses to chain under a head sealed with another).
        env["FIELDSVC_SECRET_KEY"] = "the key of this module's servers"
        env.pop("FIELDSVC_AUDITOR", None)  # the default: on PostgreSQL, a process of its own
        with self.log.open("wb") as out:
            self.process = subprocess.Popen(
                [sys.executable, "-m", "fieldsvc", "serve", "--port", str(self.port)],
                cwd=REPO, env=env, stdout=out, stderr=subprocess.STDOUT,
            )  # fmt: skip
        self.url = f"http://127.0.0.1:{self.port}"

    def wait_ready(self) -> None:
        give_up = time.monotonic() + WAIT_SECONDS
        while time.monotonic() < give_up:
            assert self.process.poll() is None, self.log.read_text()
            try:
                if httpx.get(f"{self.url}/health/ready", timeout=2).status_code == 200:
                    return
            except httpx.TransportError:
                pass
            time.sleep(0.1)
        raise AssertionError(f"not ready:\n{self.log.read_text()}")

    def auditors(self) -> list[int]:
        """The server's children running `fieldsvc audit work --server-pid <the server>`."""
        command = b"\0".join([b"audit", b"work", b"--server-pid", str(self.process.pid).encode()])
        return [pid for pid in _children(self.process.pid) if command in _cmdline(pid) and _alive(pid)]

    def stop(self) -> None:
        if self.process.poll() is None:
            self.process.send_signal(signal.SIGTERM)
            try:
                self.process.wait(20)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait()


def _children(pid: int) -> list[int]:
    found = []
    for task in Path(f"/proc/{pid}/task").glob("*"):
        try:
            found += [int(child) for child in (task / "children").read_text().split()]
        except OSError:
            continue
    return found


def _cmdline(pid: int) -> bytes:
    try:
        return Path(f"/proc/{pid}/cmdline").read_bytes()
    except OSError:
        return b""


def _alive(pid: int) -> bool:
    try:
        state = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
    except OSError:
        return False
    return state != "Z"


def eventually(condition, timeout: float = WAIT_SECONDS):  # noqa: ANN001, ANN201
    give_up = time.monotonic() + timeout
    while time.monotonic() < give_up:
        value = condition()
        if value:
            return value
        time.sleep(0.1)
    return condition()


@pytest.fixture
def served(database: str, tmp_path: Path) -> Iterator[Served]:
    server = Served(database, tmp_path)
    try:
        server.wait_ready()
        yield server
    finally:
        server.stop()


def checked_in(server: Served) -> str:
    """tech.wang checks in at one of the demo visits; its id."""
    login = {"login": "tech.wang", "password": DEMO_PASSWORD}
    token = httpx.post(f"{server.url}/v1/auth/login", json=login).json()["token"]
    now = datetime.now(UTC).isoformat()
    headers = {"Authorization": f"Bearer {token}", "X-Device-Clock": now}
    demo_day = (datetime.now(ZoneInfo(Settings().default_time_zone)) + timedelta(days=1)).date()
    visit = httpx.get(f"{server.url}/v1/mobile/visits", params={"date": str(demo_day)}, headers=headers).json()[0]
    location = {"latitude": visit["site"]["latitude"], "longitude": visit["site"]["longitude"], "accuracyM": 8.0,
                "fixTime": now, "mock": False}  # fmt: skip
    body = {"eventId": str(uuid.uuid4()), "deviceTime": now, "location": location}
    answer = httpx.post(f"{server.url}/v1/mobile/visits/{visit['id']}/arrival", json=body, headers=headers)
    assert answer.status_code == 201, answer.text
    return visit["id"]


async def audited(database: str, visit_id: str) -> bool:
    """The visit has a verdict and no re-audit pending (the fact's 201 came after its pending re-audit committed),
    read straight from the database: no reader of the service settles it first."""
    connection = await asyncpg.connect(database)
    try:
        give_up = time.monotonic() + WAIT_SECONDS
        while time.monotonic() < give_up:
            if await connection.fetchval(
                "SELECT EXISTS (SELECT 1 FROM audit_result WHERE visit = $1::uuid)"
                " AND NOT EXISTS (SELECT 1 FROM audit_due WHERE visit = $1::uuid)",
                visit_id,
            ):
                return True
            await asyncio.sleep(0.1)
        return False
    finally:
        await connection.close()


async def test_serve_on_postgres_audits_facts_in_an_auditor_process_beside_the_http_worker(served, database):
    assert len(eventually(served.auditors)) == 1
    visit_id = await asyncio.to_thread(checked_in, served)
    assert await audited(database, visit_id)


async def test_a_killed_auditor_process_is_replaced_and_the_next_fact_is_audited(served, database):
    (first,) = eventually(served.auditors)
    os.kill(first, signal.SIGKILL)
    replacement = eventually(lambda: [pid for pid in served.auditors() if pid != first])
    assert len(replacement) == 1
    visit_id = await asyncio.to_thread(checked_in, served)
    assert await audited(database, visit_id)


def test_the_auditor_process_stops_with_the_server(served):
    (auditor,) = eventually(served.auditors)
    served.process.send_signal(signal.SIGTERM)
    assert served.process.wait(20) == 0
    assert eventually(lambda: not _alive(auditor), timeout=5)
    assert "is gone" not in served.log.read_text()  # stopped by the server, not left to notice it was orphaned


def test_an_auditor_process_whose_server_was_killed_outright_stops_by_itself(served):
    (auditor,) = eventually(served.auditors)
    served.process.kill()
    served.process.wait()
    assert eventually(lambda: not _alive(auditor), timeout=10)
