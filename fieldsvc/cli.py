"""The fieldsvc command line: serve, migrate, demo data, the first admin, the OpenAPI spec and the checks."""

from __future__ import annotations

import argparse
import asyncio
import logging
import logging.config
import os
import signal
import socket
import sys
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from datetime import date, datetime, time, timedelta
from pathlib import Path
from typing import TYPE_CHECKING
from zoneinfo import ZoneInfo

from fieldsvc import db, runtime
from fieldsvc.config import Settings, SettingsError
from fieldsvc.observability import logging_config

if TYPE_CHECKING:
    from fieldsvc.context import AppContext

log = logging.getLogger("fieldsvc")


# Agreed dates a bulk re-audit may name: any a visit could have, and whose midnight exists in every time zone.
_EARLIEST_DATE, _LATEST_DATE = date(1900, 1, 1), date(9998, 12, 31)


def agreed_date(text: str) -> date:
    try:
        day = date.fromisoformat(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r} is not a date such as 2026-12-01") from None
    if not _EARLIEST_DATE <= day <= _LATEST_DATE:
        raise argparse.ArgumentTypeError(f"{text} is outside {_EARLIEST_DATE} to {_LATEST_DATE}")
    return day


# Exit codes beside 0 (done) and 1 (found something wrong: a broken trail, photos that differ): 2 a command that
# cannot run as configured or asked, 3 a database or blob store that cannot be reached (try again later).
EXIT_UNUSABLE, EXIT_UNAVAILABLE = 2, 3
EXIT_TERMINATED = 128 + signal.SIGTERM  # as a shell reports a process its SIGTERM ended
# Blobs younger than this may belong to an upload still committing: its blobs are stored before its photo row.
MIN_GRACE_MINUTES = 10


def _whole_number(text: str, what: str) -> int:
    try:
        return int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r} is not {what}") from None


def grace_minutes(text: str) -> int:
    minutes = _whole_number(text, "a whole number of minutes")
    if minutes < MIN_GRACE_MINUTES:
        raise argparse.ArgumentTypeError(
            f"{minutes} is less than {MIN_GRACE_MINUTES}: a photo being stored now would lose its blobs"
        )
    return minutes


def port_number(text: str) -> int:
    port = _whole_number(text, "a port number")
    if not 1 <= port <= 65535:
        raise argparse.ArgumentTypeError(f"{port} is not a port number (1 to 65535)")
    return port


def worker_count(text: str) -> int:
    """--workers: 0 started a supervisor with nothing to serve."""
    workers = _whole_number(text, "a whole number")
    if workers < 1:
        raise argparse.ArgumentTypeError(f"{workers} workers would serve nothing: give 1 or more")
    return workers


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="fieldsvc", description=__doc__)
    commands = parser.add_subparsers(dest="command", required=True)
    serve = commands.add_parser("serve", help="apply migrations, load demo data into an empty database, serve HTTP")
    serve.add_argument("--host", help="address to listen on (default FIELDSVC_HOST, 127.0.0.1)")
    serve.add_argument("--port", type=port_number, help="port to listen on (default FIELDSVC_PORT, 8000)")
    serve.add_argument("--workers", type=worker_count, default=1, help="HTTP worker processes (default 1)")
    serve.add_argument("--no-demo", action="store_true", help="do not load demo data into an empty database")
    commands.add_parser("migrate", help="apply pending migrations")
    commands.add_parser("demo", help="load demo data if the database is empty")
    admin = commands.add_parser(
        "create-admin",
        help="create an admin account, such as the first one of a service started without demo data; its password "
        "is read from standard input (asked twice at a terminal)",
    )
    admin.add_argument("username")
    admin.add_argument("--display-name", help="the name shown for the account (default: the username)")
    spec = commands.add_parser("spec", help="write mobile_api_spec/openapi.json from the app")
    spec.add_argument("--check", action="store_true", help="exit 1 if the committed spec differs")
    trail = commands.add_parser("trail", help="the tamper-evident audit trail (A-TRAIL)")
    trail.add_argument("action", choices=["verify", "seal"], help="verify: check the chain and the records against it "
                       "(read only); seal: seal the head and queued entries with this service's key")
    blobs = commands.add_parser(
        "blobs", help="cleanup: remove stored blobs that no photo refers to; verify: check each photo's stored blobs"
    )
    blobs.add_argument("action", choices=["cleanup", "verify"])
    blobs.add_argument(
        "--grace-minutes", type=grace_minutes, default=60,
        help=f"spare blobs younger than this, at least {MIN_GRACE_MINUTES} (uploads in flight)",
    )
    blobs.add_argument("--dry-run", action="store_true", help="count orphans, delete nothing")
    blobs.add_argument(
        "--force", action="store_true",
        help="cleanup: delete orphans even when they outnumber the blobs the database refers to",
    )
    audit = commands.add_parser(
        "audit",
        help="rerun: re-audit visits in bulk (A-REAUDIT; safe to interrupt and re-run); "
        "work: audit due visits until stopped (for FIELDSVC_AUDITOR=external)",
    )
    audit.add_argument("action", choices=["rerun", "work"])
    audit.add_argument("--server-pid", type=int, help="work: as the auditor process `fieldsvc serve` started")
    audit.add_argument("--from", dest="start", type=agreed_date, help="first agreed date (default zone)")
    audit.add_argument("--to", dest="end", type=agreed_date, help="last agreed date, inclusive")
    args = parser.parse_args(argv)
    if args.command == "audit" and args.start and args.end and args.start > args.end:
        audit.error(f"--from {args.start} is after --to {args.end}: no visit lies between them")

    try:
        settings = Settings.from_env()
    except SettingsError as unusable:
        print(f"fieldsvc {args.command}: configuration: {unusable}", file=sys.stderr)
        return EXIT_UNUSABLE
    logging.config.dictConfig(logging_config(settings.log_level))
    try:
        return run_command(args, settings)
    except db.NotMigrated as not_migrated:
        print(f"fieldsvc {args.command}: {not_migrated}", file=sys.stderr)
        return EXIT_UNUSABLE
    except Exception as error:
        if not _unavailable(error):
            raise
        # One line, also in the auditor process's JSON log: a traceback every restart buried the cause (a probe).
        log.error("fieldsvc %s: cannot reach %s: %s", args.command, _unavailable(error), str(error) or "no answer")
        return EXIT_UNAVAILABLE


def _unavailable(error: BaseException) -> str | None:
    """What a command could not reach, if that is why it failed: the database or the blob store. A local file it
    cannot write, or a deadlock, is no outage: it ends in a traceback, as a defect does."""
    from fieldsvc.storage import StorageUnavailable

    if isinstance(error, StorageUnavailable):
        return "the blob store"
    reached_nothing = isinstance(error, (ConnectionError, TimeoutError, socket.gaierror))
    if reached_nothing or (db.is_unavailable_error(error) and not isinstance(error, OSError)
                           and not db.is_contention_error(error)):
        return f"the database ({type(error).__name__})"
    return None


def run_command(args: argparse.Namespace, settings: Settings) -> int:
    if args.command == "spec":
        return write_spec(settings, args.check)
    if args.command == "serve":
        asyncio.run(prepare(settings, demo=not args.no_demo))
        return serve_http(settings, args.host, args.port, args.workers)
    if args.command == "trail" and args.action == "seal":
        return asyncio.run(seal_trail(settings))
    if args.command == "trail":
        return asyncio.run(verify(settings))
    if args.command == "blobs" and args.action == "verify":
        return asyncio.run(verify_blobs(settings))
    if args.command == "blobs":
        return asyncio.run(cleanup_blobs(settings, timedelta(minutes=args.grace_minutes), args.dry_run, args.force))
    if args.command == "create-admin":
        return asyncio.run(create_admin(settings, args.username, args.display_name or args.username))
    if args.command == "audit" and args.action == "work":
        from fieldsvc.verdicts.process import audit_beside, audit_forever

        if args.server_pid is not None:
            audit_beside(settings, args.server_pid)
        else:
            runtime.run(audit_forever(settings))
        return 0
    if args.command == "audit":
        try:
            return runtime.run(rerun_audit(settings, args.start, args.end))
        except KeyboardInterrupt:
            print("\ninterrupted: the batches finished are kept; run it again to re-audit the rest", file=sys.stderr)
            return 130
        except asyncio.CancelledError:  # SIGTERM
            print("\nterminated: the batches finished are kept; run it again to re-audit the rest", file=sys.stderr)
            return EXIT_TERMINATED
    asyncio.run(prepare(settings, demo=args.command == "demo"))
    return 0


async def prepare(settings: Settings, demo: bool) -> None:
    from fieldsvc.context import AppContext

    ctx = AppContext.from_settings(settings)
    async with db.setting_up_alone(ctx.engine):
        await db.migrate(ctx.engine)
        if demo:
            await _load_demo_if_empty(ctx)
    if not await ctx.blobs.ping():
        # The service starts all the same (every fact but photos is taken), but an operator reads why from its start.
        log.warning("the blob store (%s) cannot be reached or written: photos are answered 503 until it can",
                    _blob_store_named(settings))


def _blob_store_named(settings: Settings) -> str:
    if settings.blob_backend == "local":
        return f"directory {settings.blob_dir}"
    return f"S3 bucket {settings.s3_bucket!r} at {settings.s3_endpoint_url or 'AWS'}"


async def _load_demo_if_empty(ctx: AppContext) -> None:
    from fieldsvc.demo import database_is_empty, load_demo

    await db.open_database(ctx.engine)
    try:
        if await database_is_empty():
            await load_demo(ctx)
            log.info("demo data loaded: users admin, dispatcher, auditor, tech.wang, tech.zhao")
        else:
            log.info("demo data not loaded: the database already has data")
    finally:
        await db.close_database(ctx.engine)


def serve_http(settings: Settings, host: str | None, port: int | None, workers: int) -> int:
    """uvicorn's workers, and beside them the auditor process when the settings place it there."""
    from fieldsvc.verdicts.process import AuditorProcess

    auditor = AuditorProcess() if settings.auditor_place == "process" else None
    if auditor is not None:
        # The factory re-reads FIELDSVC_* in each worker process, so every worker gets the same settings: this one too.
        os.environ["FIELDSVC_AUDITOR"] = "external"
        # uvicorn shuts down gracefully on SIGTERM and then raises it again with the handler found before it: by
        # default that ends the process at once, and the auditor would be left to notice it was orphaned.
        signal.signal(signal.SIGTERM, _exit_quietly)
        auditor.start()
    try:
        _run_uvicorn(settings, host, port, workers)
    finally:
        if auditor is not None:
            auditor.stop()
    return 0


def _exit_quietly(signum: int, frame: object) -> None:
    raise SystemExit(0)


def _run_uvicorn(settings: Settings, host: str | None, port: int | None, workers: int) -> None:
    import uvicorn

    uvicorn.run(
        "fieldsvc.app:create_app",
        factory=True,
        host=host or settings.host,
        port=port or settings.port,
        workers=workers,
        log_level=settings.log_level.lower(),
        log_config=logging_config(settings.log_level),
        access_log=False,  # fieldsvc.access logs every answer, with its request id
    )


def write_spec(settings: Settings, check: bool) -> int:
    from fieldsvc.app import create_app
    from fieldsvc.spec import SPEC_PATH, render_openapi

    rendered = render_openapi(create_app(settings))
    if check:
        current = SPEC_PATH.read_text() if SPEC_PATH.exists() else ""
        if current != rendered:
            print(f"{SPEC_PATH} is out of date: run `fieldsvc spec`", file=sys.stderr)
            return 1
        return 0
    SPEC_PATH.write_text(rendered)
    print(f"wrote {SPEC_PATH}")
    return 0


class ProgressBar:
    """A one-line progress bar on stderr for long jobs; written to a file, a line at each tenth of the way."""

    def __init__(self, total: int, label: str):
        self.total, self.label = total, label
        self.on_terminal, self.tenths_shown = sys.stderr.isatty(), -1

    def __call__(self, done: int) -> None:
        width = 30
        filled = width * done // max(self.total, 1)
        bar = f"{self.label} [{'#' * filled}{'.' * (width - filled)}] {done}/{self.total}"
        if self.on_terminal:
            print(f"\r{bar}", end="", file=sys.stderr)
            if done >= self.total:
                print(file=sys.stderr)
        elif (tenths := 10 * done // max(self.total, 1)) > self.tenths_shown:
            self.tenths_shown = tenths
            print(bar, file=sys.stderr)


class Counter:
    """A count on stderr for long jobs of no known total, redrawn on a terminal; written to a file (a log), a line
    every EVERY items: one line per item made a cleanup's log one line of megabytes (a probe)."""

    EVERY = 1000

    def __init__(self, saying: str):
        self.saying, self.on_terminal = saying, sys.stderr.isatty()

    def __call__(self, done: int) -> None:
        if self.on_terminal:
            print(f"\r{self.saying.format(done)}", end="", file=sys.stderr)
        elif done % self.EVERY == 0:
            print(self.saying.format(done), file=sys.stderr)


@asynccontextmanager
async def migrated_database(settings: Settings) -> AsyncIterator[AppContext]:
    """The service's context with its database open, for a command that needs every migration applied; its blob
    store is the configured one as it is (a bucket missing is an error, not made)."""
    from fieldsvc.context import AppContext

    ctx = AppContext.from_settings(settings, create_bucket=False)
    db.require_database_file(ctx.engine)
    db.bind_engine(ctx.engine)
    await db.open_database(ctx.engine)
    try:
        await db.require_migrated()
        yield ctx
    finally:
        await db.close_database(ctx.engine)


def _read_password() -> str:
    """From standard input (a script's pipe), or asked twice at a terminal: a typo there would lock the admin out."""
    if not sys.stdin.isatty():
        return sys.stdin.readline().rstrip("\r\n")
    from getpass import getpass

    password = getpass("password: ")
    if getpass("the same password again: ") != password:
        raise SystemExit("fieldsvc create-admin: the passwords differ; nothing was created")
    return password


async def create_admin(settings: Settings, username: str, display_name: str) -> int:
    import msgspec

    from fieldsvc.errors import ApiError, readable_refusal
    from fieldsvc.people.schemas import CreateUser
    from fieldsvc.people.service import PeopleService

    async with migrated_database(settings) as ctx:  # before the password is asked: no database, no typing for nothing
        try:
            account = msgspec.convert(
                {"username": username, "password": _read_password(), "role": "admin", "displayName": display_name},
                CreateUser,
            )
        except msgspec.ValidationError as invalid:
            field, why = readable_refusal(invalid)
            read_from = " (the password is read from standard input)" if field == "password" else ""
            print(f"fieldsvc create-admin: {field}: {why}{read_from}", file=sys.stderr)
            return EXIT_UNUSABLE
        try:
            created = await PeopleService(ctx).create_user(account, None)
        except ApiError as refused:
            print(f"fieldsvc create-admin: {refused.detail}", file=sys.stderr)
            return EXIT_UNUSABLE
    log.info("admin account %s created from the command line", created.username)
    print(f"admin {created.username} created: log in with POST /v1/auth/login")
    return 0


async def rerun_audit(settings: Settings, start: date | None, end: date | None) -> int:
    from fieldsvc.verdicts.service import VerdictService, visit_ids_between

    # SIGTERM (kill, `timeout`, a supervisor) stops the run as Ctrl-C does: the batches in flight roll back, the worker
    # processes finish theirs and exit. By default it ended this process alone, its workers left running (a probe).
    asyncio.get_running_loop().add_signal_handler(signal.SIGTERM, asyncio.current_task().cancel)
    zone = ZoneInfo(settings.default_time_zone)
    async with migrated_database(settings) as ctx:
        visit_ids = await visit_ids_between(
            start and datetime.combine(start, time(0), tzinfo=zone),
            end and datetime.combine(end + timedelta(days=1), time(0), tzinfo=zone),
        )
        done = await VerdictService(ctx).reaudit_all(visit_ids, ProgressBar(len(visit_ids), "re-auditing"))
    print(f"re-audited {done} visits")
    return 0


async def cleanup_blobs(settings: Settings, grace: timedelta, dry_run: bool, force: bool) -> int:
    from fieldsvc.evidence.cleanup import CleanupRefused, remove_orphans

    try:
        async with migrated_database(settings) as ctx:
            report = await remove_orphans(ctx.blobs, ctx.now(), grace, dry_run, Counter("scanned {} blobs"), force)
    except CleanupRefused as refused:
        print(f"\nfieldsvc blobs cleanup: refused: {refused}", file=sys.stderr)
        return EXIT_UNUSABLE
    print(file=sys.stderr)
    foreign = f", {report.foreign} not the service's (left alone)" if report.foreign else ""
    print(f"scanned {report.scanned} blobs{foreign}: {report.orphans} orphaned, {report.removed} removed")
    return 0


async def verify_blobs(settings: Settings) -> int:
    from fieldsvc.evidence.integrity import blob_mismatches
    from fieldsvc.storage import StorageUnavailable

    try:
        async with migrated_database(settings) as ctx:
            checked, found = await blob_mismatches(ctx.blobs, Counter("checked the blobs of {} photos"))
    except StorageUnavailable as unavailable:
        print(f"\nthe blob store cannot be reached ({unavailable}): not all photos were checked", file=sys.stderr)
        return EXIT_UNAVAILABLE
    print(file=sys.stderr)
    for mismatch in found:
        print(f"PHOTO DIFFERS: photo {mismatch.photo_id} ({mismatch.purpose}) of visit {mismatch.visit_id}: "
              f"{mismatch.reason}")
    if found:
        print(f"{len(found)} of {checked} photos differ from what the service stored")
        return 1
    print(f"blobs intact: the originals of {checked} photos are the files received, and their previews show them")
    return 0


def _without_the_key(settings: Settings) -> bool:
    """The trail's seals are made with the service's key: a command run where it is not must not make another."""
    if settings.secret_key or (Path(settings.data_dir) / "secret_key").exists():
        return False
    print(f"no secret key: set FIELDSVC_SECRET_KEY, or FIELDSVC_DATA_DIR to the service's data directory "
          f"({settings.data_dir} has no secret_key)", file=sys.stderr)
    return True


async def seal_trail(settings: Settings) -> int:
    from fieldsvc.trail.service import TrailWriter

    if _without_the_key(settings):
        return 2
    async with migrated_database(settings) as ctx:
        head_sealed, queued = await TrailWriter(ctx).seal()
    log.warning("trail seal by hand: head %s, %d queued entries sealed", "sealed" if head_sealed else "refused", queued)
    print(f"sealed the head and {queued} queued entries" if head_sealed else "nothing sealed: the head does not name "
          "the last entry; run `fieldsvc trail verify`")
    return 0 if head_sealed else 1


async def verify(settings: Settings) -> int:
    from fieldsvc.trail.dispatch_records import first_order_mismatch
    from fieldsvc.trail.matches import first_match_mismatch
    from fieldsvc.trail.records import first_record_mismatch
    from fieldsvc.trail.service import chain_head, verify_trail
    from fieldsvc.verdicts.freshness import first_stale_verdict

    if _without_the_key(settings):
        return 2
    # Read only: queued entries are read where they wait (chaining them here under a wrong key broke a trail; a probe).
    async with migrated_database(settings) as ctx:
        checked, broken = await verify_trail(ctx, Counter("checked {} entries"))
        print(file=sys.stderr)
        head = await chain_head()
        # The records are checked after a broken link too: one alarm must not hide every later edit (a probe).
        visits, mismatch = await first_record_mismatch(ctx, Counter("checked the records of {} visits"))
        orders, mismatch = (0, mismatch) if mismatch else await first_order_mismatch(
            ctx, Counter("checked the dispatch records of {} work orders")
        )
        matches, mismatch = (0, mismatch) if mismatch else await first_match_mismatch(ctx)
        audited, mismatch = (0, mismatch) if mismatch else await first_stale_verdict(
            ctx, Counter("re-audited {} visits (their verdicts)")
        )
    print(file=sys.stderr)
    if broken is not None:
        before = "" if broken.whole_chain else f" ({checked} entries before it are intact)"
        print(f"BROKEN at entry seq={broken.seq}: {broken.reason}{before}")
    if mismatch is not None:
        print(f"RECORD DIFFERS from the trail: {mismatch.table} {mismatch.row_id}: {mismatch.reason}")
    if broken is not None or mismatch is not None:
        return 1
    print(f"trail intact: {checked} entries verified; head {head} (a copy kept elsewhere catches even a rewrite by "
          f"someone holding the service's key); the records of {visits} visits, {orders} work orders and {matches} "
          f"photo matches match it; the verdicts of {audited} visits are the ones their facts give, or are due for "
          "re-audit")
    return 0
