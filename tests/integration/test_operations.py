"""What an operator relies on: the first run's demo data, health checks and a request id on every response."""

from __future__ import annotations

import json
import os
import signal
import sqlite3
import subprocess
import sys
import time
from contextlib import AsyncExitStack
from datetime import timedelta
from pathlib import Path
from uuid import UUID

import asyncpg
import pytest

from fieldsvc import db
from fieldsvc.errors import RETRY_AFTER_SECONDS
from fieldsvc.verdicts import outbox
from tests.conftest import new_postgres_database, quiet
from tests.integration.mobile_builders import visit_id  # noqa: F401 - fixture


async def test_readiness_reports_database_and_blob_store(client):
    response = await client.get("/health/ready")
    assert response.status_code == 200
    assert {key: response.json()[key] for key in ("status", "database", "blobStore")} == {
        "status": "ok", "database": True, "blobStore": True,
    }


async def test_readiness_reports_the_auditors_backlog_and_how_long_its_oldest_visit_has_waited(
    app, client, clock, visit_id
):
    async with db.write_transaction(app.state.ctx.engine):
        await outbox.mark(UUID(visit_id), located=False, at=clock.now - timedelta(minutes=3))
        # Leased as by an auditor that is slow to finish, so the app's own auditor leaves it waiting.
        claimed = await outbox.claim(10, clock.now, clock.now + timedelta(hours=1))
    try:
        report = (await client.get("/health/ready")).json()
    finally:
        await outbox.release(claimed, audited=False)

    assert (report["auditBacklog"], report["oldestWaitingSeconds"]) == (1, 180.0)
    assert report["trailPending"] >= 0


async def test_readiness_is_503_saying_auditing_is_off_under_a_key_that_did_not_seal_the_trails_head(
    client, app, visit_id, monkeypatch
):
    """A server started with another key than the trail's took facts it could never chain as the service's."""
    await quiet(app)  # the booking's entries are chained, the head sealed with the server's key

    with monkeypatch.context() as another_key:
        another_key.setattr(app.state.ctx, "secret_key", lambda: b"the key of a server started elsewhere")
        refused = await client.get("/health/ready")
    ready = await client.get("/health/ready")

    assert (refused.status_code, refused.json()["status"], refused.json()["auditing"]) == (503, "unavailable", False)
    assert refused.headers["Retry-After"] == str(RETRY_AFTER_SECONDS) and refused.json()["database"] is True
    assert (ready.status_code, ready.json()["auditing"]) == (200, True)


async def test_liveness_needs_no_token(client):
    assert (await client.get("/health/live")).status_code == 200


async def test_liveness_answers_a_load_balancers_head_probe_without_a_body(client):
    response = await client.head("/health/live")
    assert (response.status_code, response.content) == (200, b"")


async def test_liveness_does_not_claim_the_dependencies_answer(client):
    report = (await client.get("/health/live")).json()
    assert (report["status"], report["database"], report["blobStore"]) == ("ok", None, None)


async def test_request_id_is_echoed_when_sane(client):
    response = await client.get("/health/live", headers={"X-Request-Id": "phone-42.retry-1"})
    assert response.headers["x-request-id"] == "phone-42.retry-1"


async def test_request_id_is_generated_when_absent_or_unsafe(client):
    response = await client.get("/health/live", headers={"X-Request-Id": "evil\r\nheader"})
    assert len(response.headers["x-request-id"]) == 32


async def test_unknown_route_is_a_404_with_code(client):
    response = await client.get("/v1/does-not-exist")
    assert response.status_code == 404
    assert response.json()["code"] == "not_found"


async def test_a_path_whose_id_is_no_uuid_is_a_404_saying_ids_are_uuids(client, as_dispatcher):
    response = await client.get("/v1/visits/12345", headers=as_dispatcher)

    assert (response.status_code, response.json()["code"]) == (404, "not_found")
    assert "UUID" in response.json()["message"]


async def test_request_id_is_on_error_answers_made_outside_the_route(client):
    unauthenticated = await client.get("/v1/auth/me", headers={"X-Request-Id": "r-401"})
    missing = await client.get("/v1/nope", headers={"X-Request-Id": "r-404"})
    assert (unauthenticated.status_code, unauthenticated.headers["x-request-id"]) == (401, "r-401")
    assert (missing.status_code, missing.headers["x-request-id"]) == (404, "r-404")


async def test_access_log_records_the_status_actually_sent(client, caplog):
    with caplog.at_level("INFO", logger="fieldsvc.access"):
        await client.get("/v1/auth/me", headers={"X-Request-Id": "r-log"})
    [line] = [r for r in caplog.records if r.name == "fieldsvc.access"]
    assert (line.request_id, line.fields["status"]) == ("r-log", 401)


async def test_access_log_names_the_caller_and_the_error_code_of_a_refusal(client, caplog, people, as_tech):
    with caplog.at_level("INFO", logger="fieldsvc.access"):
        await client.get("/v1/review/queue", headers=as_tech)
    [line] = [r for r in caplog.records if r.name == "fieldsvc.access"]
    assert (line.fields["status"], line.fields["role"], line.fields["code"]) == (403, "technician", "auth.forbidden")
    assert line.fields["user"]


async def test_access_log_leaves_out_the_token_of_a_signed_photo_link(client, caplog):
    with caplog.at_level("INFO", logger="fieldsvc.access"):
        await client.get("/v1/blobs/secret-signed-token-123")
    [line] = [r for r in caplog.records if r.name == "fieldsvc.access"]
    assert "secret-signed-token-123" not in line.getMessage()
    assert "/v1/blobs/<token>" in line.getMessage()


async def test_a_database_outage_during_authentication_is_503_and_logged_with_the_request_id(
    client, caplog, monkeypatch
):
    async def database_down(_digest: str) -> None:
        raise ConnectionRefusedError("connection refused")

    monkeypatch.setattr("fieldsvc.auth.repository.find_token", database_down)
    with caplog.at_level("WARNING", logger="fieldsvc.errors"):
        response = await client.get("/v1/auth/me", headers={"X-Request-Id": "r-503", "Authorization": "Bearer t"})

    assert (response.status_code, response.json()["code"]) == (503, "service.unavailable")
    assert response.headers["retry-after"] == str(RETRY_AFTER_SECONDS)
    [line] = [r for r in caplog.records if r.name == "fieldsvc.errors"]
    assert line.request_id == "r-503"


async def test_a_request_the_database_aborted_in_a_deadlock_is_503_saying_to_retry_not_that_it_is_unreachable(
    client, monkeypatch
):
    async def deadlocked(_digest: str) -> None:
        raise asyncpg.DeadlockDetectedError("deadlock detected")

    monkeypatch.setattr("fieldsvc.auth.repository.find_token", deadlocked)
    response = await client.get("/v1/auth/me", headers={"Authorization": "Bearer t"})

    assert (response.status_code, response.json()["code"]) == (503, "service.unavailable")
    assert "nothing was recorded" in response.json()["message"] and "unreachable" not in response.json()["message"]


def test_a_first_run_migrates_loads_the_demo_and_its_trail_and_blobs_verify(tmp_path: Path):
    """What `./dev serve` does on the embedded default before it serves, each as its command; then the checks (after
    sealing the trail by hand, which leaves an intact one intact)."""
    env = {**os.environ, "FIELDSVC_DATA_DIR": str(tmp_path), "FIELDSVC_DATABASE_URL": ""}
    for command in (["migrate"], ["demo"], ["trail", "seal"], ["trail", "verify"], ["blobs", "verify"]):
        done = subprocess.run([sys.executable, "-m", "fieldsvc", *command], env=env, capture_output=True, text=True)
        assert done.returncode == 0, done.stderr
    with sqlite3.connect(tmp_path / "fieldsvc.sqlite") as database:
        assert database.execute("SELECT count(*) FROM visit WHERE status = 'assigned'").fetchone() == (3,)
        assert database.execute("SELECT count(*) FROM app_user").fetchone() == (5,)


def test_a_trail_verify_where_the_services_key_is_not_refuses_and_makes_no_key(tmp_path: Path):
    """Run from another directory, verify made itself a key, chained the queued entries as forged under it and sealed
    the head with it: the trail was broken for good (a probe)."""
    served, elsewhere = tmp_path / "served", tmp_path / "elsewhere"
    database = f"sqlite:///{served / 'fieldsvc.sqlite'}"
    env = {**os.environ, "FIELDSVC_DATA_DIR": str(served), "FIELDSVC_DATABASE_URL": database}
    env.pop("FIELDSVC_SECRET_KEY", None)
    for command in (["migrate"], ["demo"]):
        assert subprocess.run([sys.executable, "-m", "fieldsvc", *command], env=env).returncode == 0

    lost = subprocess.run([sys.executable, "-m", "fieldsvc", "trail", "verify"], env={**env, "FIELDSVC_DATA_DIR": str(
        elsewhere)}, capture_output=True, text=True)

    assert lost.returncode == 2 and "no secret key" in lost.stderr
    assert not (elsewhere / "secret_key").exists()
    verified = subprocess.run([sys.executable, "-m", "fieldsvc", "trail", "verify"], env=env, capture_output=True,
                              text=True)
    assert verified.returncode == 0, verified.stdout + verified.stderr


def test_migrating_logs_json_lines_only(tmp_path: Path):
    env = {**os.environ, "FIELDSVC_DATA_DIR": str(tmp_path), "FIELDSVC_DATABASE_URL": ""}
    done = subprocess.run([sys.executable, "-m", "fieldsvc", "migrate"], env=env, capture_output=True, text=True)
    lines = (done.stdout + done.stderr).splitlines()
    assert done.returncode == 0 and lines
    assert any("migrations: " in json.loads(line)["msg"] for line in lines)  # each line parses, or this raises


@pytest.mark.parametrize("engine", ["sqlite", "postgres"])
@pytest.mark.parametrize("command", [["trail", "verify"], ["trail", "seal"], ["blobs", "verify"], ["audit", "rerun"],
                                     ["audit", "work"]], ids="-".join)
async def test_a_command_on_a_database_the_migrations_have_not_reached_refuses_saying_to_migrate(
    tmp_path: Path, engine: str, command: list[str]
):
    """Run after an upgrade and before `fieldsvc migrate`, trail verify ended in a traceback about a missing column
    (a probe); serve and migrate apply the migrations themselves."""
    async with AsyncExitStack() as stack:
        if engine == "sqlite":
            sqlite3.connect(tmp_path / "fieldsvc.sqlite").close()  # a database, made before this version's migrations
            database = f"sqlite:///{tmp_path / 'fieldsvc.sqlite'}"
        else:
            database = await stack.enter_async_context(new_postgres_database("fieldsvc_unmigrated"))
        done = _fieldsvc(tmp_path, database, command)

    assert done.returncode == 2, done.stdout + done.stderr
    assert "run `fieldsvc migrate`" in done.stderr and "Traceback" not in done.stderr


def test_the_app_started_by_an_asgi_server_on_a_database_not_migrated_refuses_to_start_saying_to_migrate(
    tmp_path: Path
):
    """Run by uvicorn directly, not `fieldsvc serve`, it answered every request with a 500 (a probe)."""
    env = {**os.environ, "FIELDSVC_DATA_DIR": str(tmp_path), "FIELDSVC_DATABASE_URL": ""}
    done = subprocess.run([sys.executable, "-m", "uvicorn", "--factory", "fieldsvc.app:create_app", "--port", "0"],
                          env=env, capture_output=True, text=True, timeout=60)

    assert done.returncode != 0 and "Application startup failed" in done.stderr
    assert "run `fieldsvc migrate`" in done.stderr and not (tmp_path / "fieldsvc.sqlite").exists()  # made none


def test_the_first_admin_of_a_service_without_demo_data_is_created_from_the_command_line(tmp_path: Path):
    """Migrated and served with --no-demo, as the README says for production, the service had no account at all and
    no way to make one: creating users needs an admin (a probe)."""
    from fieldsvc.auth.passwords import verify_password

    env = {**os.environ, "FIELDSVC_DATA_DIR": str(tmp_path), "FIELDSVC_DATABASE_URL": ""}
    assert subprocess.run([sys.executable, "-m", "fieldsvc", "migrate"], env=env, capture_output=True).returncode == 0

    done = subprocess.run([sys.executable, "-m", "fieldsvc", "create-admin", "boss", "--display-name", "The Boss"],
                          env=env, input="a long passphrase\n", capture_output=True, text=True)

    assert done.returncode == 0, done.stderr
    with sqlite3.connect(tmp_path / "fieldsvc.sqlite") as database:
        [(role, name, password_hash)] = database.execute(
            "SELECT role, display_name, password_hash FROM app_user WHERE username = 'boss'"
        ).fetchall()
    assert (role, name) == ("admin", "The Boss") and verify_password("a long passphrase", password_hash)


@pytest.mark.parametrize(("arguments", "password", "saying"), [
    (["boss"], "short\n", "password: Expected `str` of length >= 8 (the password is read from standard input)"),
    (["no spaces"], "a long passphrase\n", "username: Expected `str` matching"),
    (["boss", "--display-name", "  "], "a long passphrase\n", "displayName: Expected text that is not blank\n"),
], ids=["short_password", "bad_username", "blank_display_name"])
def test_an_admin_the_command_line_cannot_create_is_refused_saying_why_and_nothing_is_created(
    tmp_path: Path, arguments: list[str], password: str, saying: str
):
    env = {**os.environ, "FIELDSVC_DATA_DIR": str(tmp_path), "FIELDSVC_DATABASE_URL": ""}
    assert subprocess.run([sys.executable, "-m", "fieldsvc", "migrate"], env=env, capture_output=True).returncode == 0

    done = subprocess.run([sys.executable, "-m", "fieldsvc", "create-admin", *arguments], env=env, input=password,
                          capture_output=True, text=True)

    assert done.returncode == 2 and saying in done.stderr, done.stderr
    with sqlite3.connect(tmp_path / "fieldsvc.sqlite") as database:
        assert database.execute("SELECT count(*) FROM app_user").fetchone() == (0,)


@pytest.mark.parametrize("command", [["blobs", "verify"], ["audit", "rerun"], ["create-admin", "boss"]], ids="-".join)
def test_a_command_pointed_at_a_data_directory_without_a_database_says_so_and_makes_none(
    tmp_path: Path, command: list[str]
):
    """A mistyped FIELDSVC_DATA_DIR got an empty database made there, and advice to migrate it (a probe)."""
    mistyped = tmp_path / "dta"
    env = {**os.environ, "FIELDSVC_DATA_DIR": str(mistyped), "FIELDSVC_DATABASE_URL": "",
           "FIELDSVC_SECRET_KEY": "the service's key"}
    done = subprocess.run([sys.executable, "-m", "fieldsvc", *command], env=env, input="a long passphrase\n",
                          capture_output=True, text=True, timeout=60)

    assert done.returncode == 2 and "there is no database at" in done.stderr, done.stderr
    assert not (mistyped / "fieldsvc.sqlite").exists()


def test_serving_with_no_workers_is_refused_before_anything_starts(tmp_path: Path):
    env = {**os.environ, "FIELDSVC_DATA_DIR": str(tmp_path), "FIELDSVC_DATABASE_URL": ""}
    done = subprocess.run([sys.executable, "-m", "fieldsvc", "serve", "--workers", "0"], env=env, capture_output=True,
                          text=True, timeout=60)

    assert done.returncode == 2 and "give 1 or more" in done.stderr
    assert not (tmp_path / "fieldsvc.sqlite").exists()


def _fieldsvc(data_dir: Path, database: str, command: list[str]) -> subprocess.CompletedProcess:
    """`fieldsvc <command>` run as an operator would, on this database with the service's key."""
    env = {**os.environ, "FIELDSVC_DATA_DIR": str(data_dir), "FIELDSVC_DATABASE_URL": database,
           "FIELDSVC_SECRET_KEY": "the service's key"}
    return subprocess.run([sys.executable, "-m", "fieldsvc", *command], env=env, capture_output=True, text=True,
                          timeout=60)


@pytest.mark.parametrize("command", [["migrate"], ["trail", "verify"], ["audit", "rerun"]], ids="-".join)
def test_a_command_whose_database_does_not_exist_says_so_in_one_line_and_exits_3(tmp_path: Path, command: list[str]):
    """A cron job tells an outage (3) from a broken trail (1); a traceback per restart buried the cause (a probe)."""
    done = _fieldsvc(tmp_path, "postgresql://postgres@127.0.0.1:5432/fieldsvc_no_such_database", command)

    assert done.returncode == 3, done.stdout + done.stderr
    assert "cannot reach the database" in done.stderr and "Traceback" not in done.stderr


async def test_hosts_migrating_and_loading_the_demo_at_once_on_postgresql_take_turns(tmp_path: Path):
    async with new_postgres_database("fieldsvc_migrating") as database:
        env = {**os.environ, "FIELDSVC_DATA_DIR": str(tmp_path), "FIELDSVC_DATABASE_URL": database,
               "FIELDSVC_SECRET_KEY": "the service's key"}
        hosts = [
            subprocess.Popen([sys.executable, "-m", "fieldsvc", "demo"], env=env, stdout=subprocess.PIPE,
                             stderr=subprocess.PIPE, text=True)
            for _ in range(3)
        ]
        outcomes = [(host.wait(timeout=120), host.stderr.read()) for host in hosts]
        connection = await asyncpg.connect(database)
        users = await connection.fetchval("SELECT count(*) FROM app_user")
        await connection.close()

    assert [code for code, _ in outcomes] == [0, 0, 0], [said[-500:] for _, said in outcomes]
    assert users == 5  # the demo loaded once


def test_blobs_cleanup_with_a_database_that_refers_to_none_of_the_stored_blobs_refuses_and_deletes_nothing(
    tmp_path: Path,
):
    """An empty database pointed at a store full of evidence (a probe): exit 2, saying why; every blob stays."""
    env = {**os.environ, "FIELDSVC_DATA_DIR": str(tmp_path), "FIELDSVC_DATABASE_URL": ""}
    assert subprocess.run([sys.executable, "-m", "fieldsvc", "migrate"], env=env, capture_output=True).returncode == 0
    evidence = tmp_path / "blobs" / "original" / "ab" / ("ab" + "0" * 62)
    evidence.parent.mkdir(parents=True)
    evidence.write_bytes(b"another database's photo")
    os.utime(evidence, (time.time() - 7200, time.time() - 7200))

    done = subprocess.run([sys.executable, "-m", "fieldsvc", "blobs", "cleanup"], env=env, capture_output=True,
                          text=True)

    assert done.returncode == 2 and "may belong to another database" in done.stderr, done.stdout + done.stderr
    assert evidence.exists()


STALLED_RERUN = """
import asyncio, sys
from fieldsvc.cli import main
from fieldsvc.verdicts.service import VerdictService

async def stalled(self, visit_ids, progress):
    print("re-auditing", flush=True)
    await asyncio.sleep(60)

VerdictService.reaudit_all = stalled
sys.exit(main(["audit", "rerun"]))
"""


def test_audit_rerun_stopped_by_sigterm_stops_as_interrupted_saying_so(tmp_path: Path):
    """SIGTERM (kill, a supervisor) ended the command's process alone, its workers left running (a probe): it now
    cancels the run like Ctrl-C, whose batches in flight roll back and whose workers finish theirs and exit."""
    env = {**os.environ, "FIELDSVC_DATA_DIR": str(tmp_path), "FIELDSVC_DATABASE_URL": ""}
    assert subprocess.run([sys.executable, "-m", "fieldsvc", "migrate"], env=env, capture_output=True).returncode == 0
    run = subprocess.Popen([sys.executable, "-c", STALLED_RERUN], env=env, stdout=subprocess.PIPE,
                           stderr=subprocess.PIPE, text=True)
    try:
        assert run.stdout.readline() == "re-auditing\n"
        run.send_signal(signal.SIGTERM)
        _, said = run.communicate(timeout=20)
    finally:
        run.kill()

    assert (run.returncode, "terminated: the batches finished are kept" in said) == (128 + signal.SIGTERM, True), said


ORPHANED_WORKER = """
import multiprocessing, os, time
from fieldsvc.verdicts.process import exit_when_orphaned

def worker(parent_pid):
    exit_when_orphaned(parent_pid)
    print("watching", flush=True)
    time.sleep(60)

if __name__ == "__main__":
    child = multiprocessing.get_context("spawn").Process(target=worker, args=(os.getpid(),))
    child.start()
    print(child.pid, flush=True)
    time.sleep(60)
"""


def test_a_bulk_audit_worker_whose_parent_was_killed_outright_exits(tmp_path: Path):
    script = tmp_path / "orphaned_worker.py"
    script.write_text(ORPHANED_WORKER)
    parent = subprocess.Popen([sys.executable, str(script)], stdout=subprocess.PIPE, text=True)
    try:
        said = {parent.stdout.readline().strip(), parent.stdout.readline().strip()}  # its pid; "watching"
        said.discard("watching")
        worker = int(said.pop())
        assert running(worker)
        parent.kill()  # SIGKILL: it cannot stop its worker
        parent.wait(timeout=10)
        deadline = time.monotonic() + 10
        while running(worker) and time.monotonic() < deadline:
            time.sleep(0.2)
        assert not running(worker)
    finally:
        parent.kill()


def running(pid: int) -> bool:
    """Alive and not a zombie (a container's init may not reap the orphan once it exits)."""
    try:
        with open(f"/proc/{pid}/status") as status:
            return not any(line.startswith("State:") and "Z" in line.split()[1] for line in status)
    except FileNotFoundError:
        return False
