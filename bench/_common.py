"""Shared helpers of the phone benchmarks: a scratch database, seeded people and visits, the real service as a
separate process, a minimal keep-alive HTTP client for load, and CPU accounting of everyone on the machine.

Not a benchmark itself. `python bench/_common.py profile-serve OUT -- <fieldsvc args>` is how the benchmarks run
the service under cProfile (their --profile flag): the same `fieldsvc` command line, wrapped.
"""

from __future__ import annotations

import asyncio
import contextlib
import cProfile
import os
import random
import shutil
import signal
import socket
import statistics
import subprocess
import sys
import tempfile
import time
import uuid
from collections import Counter
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, time as clock_time, timedelta
from pathlib import Path
from typing import AsyncIterator, Awaitable, Callable, Iterable, Sequence
from urllib.parse import urlsplit, urlunsplit
from zoneinfo import ZoneInfo

REPO = Path(__file__).resolve().parent.parent
if str(REPO) not in sys.path:  # run as `python bench/x.py`: the package lives one level up
    sys.path.insert(0, str(REPO))

ADMIN_URL = os.environ.get("FIELDSVC_BENCH_POSTGRES_URL", "postgresql://postgres@127.0.0.1:5432/test")
HOST = "127.0.0.1"
PASSWORD = "bench-password-42"
SECRET_KEY = "bench-secret-key"
SHANGHAI = ZoneInfo("Asia/Shanghai")
SITE = (31.2304, 121.4737)  # Pudong; every seeded site lies within a few km of it
# A technician's working day, site-local: five visits, an hour each, with room to travel between them.
SLOTS = (clock_time(9, 0), clock_time(11, 0), clock_time(13, 30), clock_time(15, 30), clock_time(17, 30))
CLK_TCK = os.sysconf("SC_CLK_TCK")

# The one door every phone fact goes through, timed inside the service with --trace (wall clock, waits included).
FACT_PATH_TRACE = (
    "fieldsvc.mobile.service:MobileService.record_fact",
    "fieldsvc.mobile.repository:lock_own_visit",
    "fieldsvc.mobile.repository:stored_event",
    "fieldsvc.mobile.repository:claim_event",
    "fieldsvc.verdicts.service:VerdictService.reaudit",
    "fieldsvc.trail.service:TrailWriter.append_many",
    "fieldsvc.verdicts.service:VerdictService.audit_due",
)


def log(message: str) -> None:
    print(message, file=sys.stderr, flush=True)


def fast_loop() -> None:
    """The load generator runs on uvloop, like the servers, so it takes as little of the shared 2 cores as it can."""
    try:
        import uvloop

        asyncio.set_event_loop_policy(uvloop.EventLoopPolicy())
    except ImportError:  # pragma: no cover - uvicorn[standard] brings it
        pass


# --------------------------------------------------------------------------------------------------- database


@contextlib.asynccontextmanager
async def scratch_database(prefix: str) -> AsyncIterator[str]:
    """A fresh PostgreSQL database for one run, dropped afterwards whatever happens (like tests/conftest.py)."""
    name = f"{prefix}_{uuid.uuid4().hex[:10]}"
    await _admin(f'CREATE DATABASE "{name}"')
    log(f"created database {name}")
    try:
        yield urlunsplit(urlsplit(ADMIN_URL)._replace(path=f"/{name}"))
    finally:
        await _admin(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
        log(f"dropped database {name}")


async def _admin(statement: str) -> None:
    """One statement on a connection of its own: the soak restarts PostgreSQL, so nothing is held across a run."""
    import asyncpg

    admin = await asyncpg.connect(ADMIN_URL, timeout=10)
    try:
        await admin.execute(statement)
    finally:
        await admin.close()


async def create_scratch_table(dsn: str) -> None:
    """The floor's table: a copy of visit_event (same indexes, unique event id, foreign keys)."""
    import asyncpg

    connection = await asyncpg.connect(dsn)
    try:
        await connection.execute(
            """
            CREATE TABLE bench_visit_event (LIKE visit_event INCLUDING ALL);
            ALTER TABLE bench_visit_event
                ADD FOREIGN KEY (visit) REFERENCES visit (id),
                ADD FOREIGN KEY (technician) REFERENCES technician (id);
            """
        )
    finally:
        await connection.close()


def settings_for(database_url: str, data_dir: Path):  # noqa: ANN201
    from fieldsvc.config import Settings

    return Settings(data_dir=data_dir, database_url=database_url, secret_key=SECRET_KEY, log_level="INFO")


def service_env(database_url: str, data_dir: Path, log_level: str = "INFO") -> dict[str, str]:
    return {
        **os.environ,
        "FIELDSVC_DATABASE_URL": database_url,
        "FIELDSVC_DATA_DIR": str(data_dir),
        "FIELDSVC_SECRET_KEY": SECRET_KEY,
        "FIELDSVC_LOG_LEVEL": log_level,
    }


@dataclass(frozen=True)
class SeededVisit:
    id: str
    username: str  # the technician it is assigned to
    latitude: float
    longitude: float


@dataclass
class Seeded:
    dispatcher: str
    technicians: list[str]
    visits: list[SeededVisit]


async def seed(settings, technicians: int, days: int, *, rng: random.Random | None = None) -> Seeded:  # noqa: ANN001
    """Migrate, then create a dispatcher and technicians (PeopleService) and book and assign their visits through
    DispatchService: five visits a day per technician from tomorrow on, every business rule checked on the way."""
    from fieldsvc import db
    from fieldsvc.auth.caller import Caller
    from fieldsvc.context import AppContext
    from fieldsvc.dispatch.service import DispatchService
    from fieldsvc.people.schemas import CreateUser, TechnicianProfile
    from fieldsvc.people.service import PeopleService

    rng = rng or random.Random(7)
    ctx = AppContext.from_settings(settings)
    with contextlib.redirect_stdout(sys.stderr):  # Piccolo prints its migration progress
        await db.migrate(ctx.engine)
    await db.open_database(ctx.engine)
    try:
        people = PeopleService(ctx)
        boss = await people.create_user(
            CreateUser(username="bench.dispatcher", password=PASSWORD, role="dispatcher", display_name="Dispatcher"), None
        )
        caller = Caller(boss.id, boss.username, boss.role, None)
        techs = []
        for n in range(technicians):
            profile = TechnicianProfile(staff_number=f"B{n:04d}", name=f"Tech {n}", phone=f"1380000{n:04d}", team="bench")
            user = await people.create_user(
                CreateUser(
                    username=f"bench.tech{n}", password=PASSWORD, role="technician", display_name=f"Tech {n}",
                    technician=profile,
                ),
                None,
            )
            techs.append(user)
        dispatch = DispatchService(ctx)
        first_day = (datetime.now(UTC).astimezone(SHANGHAI) + timedelta(days=1)).date()
        visits: list[SeededVisit] = []
        for day in range(days):
            for user in techs:
                for slot in SLOTS:
                    visits.append(await _book(dispatch, caller, user, first_day + timedelta(days=day), slot, rng))
        return Seeded(dispatcher=boss.username, technicians=[t.username for t in techs], visits=visits)
    finally:
        await db.close_database(ctx.engine)


async def _book(dispatch, caller, user, day: date, slot: clock_time, rng: random.Random) -> SeededVisit:  # noqa: ANN001
    from fieldsvc.dispatch.schemas import AssignVisit, BookVisit, Confirmation, CreateWorkOrder, NewCustomer, NewSite

    kind = rng.choice(("install", "repair"))
    latitude = SITE[0] + rng.uniform(-0.03, 0.03)  # within ~3 km: travel fits the gaps between slots
    longitude = SITE[1] + rng.uniform(-0.03, 0.03)
    recorded = await dispatch.create_work_order(
        CreateWorkOrder(
            kind=kind,
            description=f"Bench {kind}: 500 Mbps fibre",
            customer=NewCustomer(name="Bench Customer", phone="13900000000", tier=rng.choice(("standard", "gold"))),
            site=NewSite(address="88 Century Ave, Pudong", latitude=latitude, longitude=longitude, locality="urban"),
            reported_fault="No signal on the optical modem" if kind == "repair" else None,
        ),
        caller,
        request=None,
    )
    order = recorded.result
    agreed = datetime.combine(day, slot, tzinfo=SHANGHAI)
    visit = await dispatch.book_visit(
        order.id,
        BookVisit(
            agreed_time=agreed,
            expected_duration_min=60,
            confirmation=Confirmation(channel="phone", confirmed_at=datetime.now(UTC)),
            late_reason="customer_requested" if kind == "install" else None,
        ),
        caller,
    )
    await dispatch.assign(visit.id, AssignVisit(technician_id=user.technician.id), caller)
    return SeededVisit(id=str(visit.id), username=user.username, latitude=latitude, longitude=longitude)


# ------------------------------------------------------------------------------------------------- processes


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind((HOST, 0))
        return probe.getsockname()[1]


@dataclass
class Server:
    """A server in its own process: its stderr goes to a file (a full pipe would stall it)."""

    name: str
    port: int
    process: subprocess.Popen
    log_path: Path
    profile_path: Path | None = None
    trace_path: Path | None = None
    windows: dict[str, list[tuple[float, float]]] = field(default_factory=dict)  # named phases, for the trace

    @contextlib.contextmanager
    def phase(self, label: str) -> Iterable[None]:
        """Mark a phase of the benchmark (epoch seconds; a label may come back), so that --trace reports it alone."""
        started = time.time()
        try:
            yield
        finally:
            self.windows.setdefault(label, []).append((started, time.time()))

    @property
    def pid(self) -> int:
        return self.process.pid

    async def wait_ready(self, path: str, timeout: float = 60.0) -> None:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                raise RuntimeError(f"{self.name} exited with {self.process.returncode}:\n{self.tail()}")
            with contextlib.suppress(OSError, asyncio.IncompleteReadError):
                client = HttpClient(HOST, self.port)
                await client.open()
                try:
                    if (await client.request("GET", path)).status == 200:
                        return
                finally:
                    await client.close()
            await asyncio.sleep(0.1)
        raise RuntimeError(f"{self.name} not ready after {timeout} s:\n{self.tail()}")

    def stop(self, timeout: float = 20.0) -> None:
        """SIGINT first (uvicorn shuts down gracefully, the lifespan closes the pool, cProfile writes), then kill.

        The server's log is kept (and named) only if it logged an error; otherwise it is deleted."""
        if self.process.poll() is None:
            self.process.send_signal(signal.SIGINT)
            try:
                self.process.wait(timeout)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait(5)
        try:
            text = self.log_path.read_text(errors="replace")
        except OSError:
            return
        if '"level": "ERROR"' in text or "Traceback" in text:
            log(f"{self.name} logged errors: kept its log at {self.log_path}")
        else:
            self.log_path.unlink(missing_ok=True)

    def tail(self, lines: int = 30) -> str:
        try:
            return "\n".join(self.log_path.read_text(errors="replace").splitlines()[-lines:])
        except OSError:
            return ""


def log_file(name: str) -> Path:
    """Server logs live outside the run's data dir, so that one with errors can outlive the run."""
    folder = Path(tempfile.gettempdir()) / "fieldsvc-bench-logs"
    folder.mkdir(exist_ok=True)
    return folder / f"{name}-{datetime.now().strftime('%Y%m%d-%H%M%S')}-{uuid.uuid4().hex[:6]}.log"


def start_fieldsvc(
    database_url: str,
    data_dir: Path,
    *,
    port: int | None = None,
    profile: Path | None = None,
    trace: Sequence[str] = (),
    log_level: str = "INFO",
    workers: int = 1,
    extra_env: dict[str, str] | None = None,
) -> Server:
    """The real service: `fieldsvc serve --no-demo --workers 1` (uvicorn, uvloop, httptools, the app factory).

    With `profile`, the same command line under cProfile; with `trace`, with wall-clock timers around the named
    functions (see `trace-serve` below). `extra_env` adds FIELDSVC_* settings (e.g. the S3 blob store)."""
    port = port or free_port()
    args = ["serve", "--no-demo", "--workers", str(workers), "--host", HOST, "--port", str(port)]
    trace_path = data_dir / f"trace-{port}.json"
    if profile is not None:
        command = [sys.executable, str(Path(__file__)), "profile-serve", str(profile), "--", *args]
    elif trace:
        command = [sys.executable, str(Path(__file__)), "trace-serve", str(trace_path), ",".join(trace), "--", *args]
    else:
        command = [sys.executable, "-m", "fieldsvc", *args]
    log_path = log_file("fieldsvc")
    with log_path.open("ab") as out:
        process = subprocess.Popen(
            command,
            cwd=REPO,
            env={**service_env(database_url, data_dir, log_level), **(extra_env or {})},
            stdin=subprocess.DEVNULL,
            stdout=out,
            stderr=subprocess.STDOUT,
        )
    return Server("fieldsvc", port, process, log_path, profile, trace_path if trace else None)


@contextlib.asynccontextmanager
async def running_fieldsvc(
    database_url: str,
    data_dir: Path,
    *,
    profile: Path | None = None,
    trace: Sequence[str] = (),
    log_level: str = "INFO",
) -> AsyncIterator[Server]:
    server = start_fieldsvc(database_url, data_dir, profile=profile, trace=trace, log_level=log_level)
    try:
        await server.wait_ready("/health/ready")
        how = " under cProfile" if profile else " with timers" if trace else ""
        log(f"fieldsvc up on {HOST}:{server.port} (pid {server.pid}){how}")
        yield server
    finally:
        server.stop()
        if profile is not None:
            print_profile(profile)
        if server.trace_path is not None:
            print_trace(server.trace_path, server.windows or None)


def print_profile(path: Path, top: int = 35) -> None:
    import pstats

    if not path.exists():
        log(f"no profile written at {path}")
        return
    print(f"\n--- server profile (event-loop thread only; worker threads are not seen by cProfile): {path}")
    stats = pstats.Stats(str(path))
    stats.sort_stats("tottime").print_stats(top)
    stats.sort_stats("cumulative").print_stats(top)


def print_trace(path: Path, windows: dict[str, list[tuple[float, float]]] | None = None) -> None:
    """The timers of a traced service: per call, for each named window of wall-clock time (epoch seconds)."""
    import json

    if not path.exists():
        log(f"no trace written at {path}")
        return
    timings = json.loads(path.read_text())
    for label, spans in (windows or {"whole run": [(0.0, float("inf"))]}).items():
        print(f"\n--- inside fieldsvc, {label}: wall clock per call (waits for locks, pool, threads, database included)")
        print(f"{'function':<60} {'calls':>6} {'mean ms':>8} {'p50 ms':>8} {'p99 ms':>8} {'total s':>8}")
        for name, calls in timings.items():
            durations = [duration for begun, duration in calls if any(a <= begun <= b for a, b in spans)]
            if durations:
                print(
                    f"{name:<60} {len(durations):>6} {statistics.fmean(durations) * 1000:>8.2f}"
                    f" {percentile(durations, 50) * 1000:>8.2f} {percentile(durations, 99) * 1000:>8.2f}"
                    f" {sum(durations):>8.2f}"
                )


@contextlib.contextmanager
def temp_dir(prefix: str) -> Iterable[Path]:
    path = Path(tempfile.mkdtemp(prefix=prefix))
    try:
        yield path
    finally:
        shutil.rmtree(path, ignore_errors=True)


# ------------------------------------------------------------------------------------------------ HTTP client


@dataclass
class Reply:
    status: int
    headers: dict[str, str]
    body: bytes

    def json(self):  # noqa: ANN201
        import msgspec

        return msgspec.json.decode(self.body)


IDLE_RECONNECT_SECONDS = 4.0  # below uvicorn's default keep-alive timeout (5 s)


class HttpClient:
    """One keep-alive HTTP/1.1 connection: the least client work per request, so the same for every server."""

    def __init__(self, host: str, port: int):
        self.host, self.port = host, port
        self.reader: asyncio.StreamReader | None = None
        self.writer: asyncio.StreamWriter | None = None
        self.host_header = f"Host: {host}:{port}\r\n"
        self.last_used = 0.0

    async def open(self) -> None:
        self.reader, self.writer = await asyncio.open_connection(self.host, self.port)
        self.writer.get_extra_info("socket").setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        self.last_used = time.monotonic()

    async def close(self) -> None:
        if self.writer is not None:
            self.writer.close()
            with contextlib.suppress(Exception):
                await self.writer.wait_closed()
            self.reader = self.writer = None

    async def request(
        self, method: str, path: str, headers: Sequence[tuple[str, str]] = (), body: bytes = b""
    ) -> Reply:
        if self.writer is not None and time.monotonic() - self.last_used > IDLE_RECONNECT_SECONDS:
            await self.close()  # uvicorn drops keep-alive connections idle for 5 s: do not send into a closing one
        if self.writer is None:
            await self.open()
        head = f"{method} {path} HTTP/1.1\r\n{self.host_header}Content-Length: {len(body)}\r\n"
        head += "".join(f"{name}: {value}\r\n" for name, value in headers) + "\r\n"
        if len(body) < 65536:
            self.writer.write(head.encode("latin-1") + body)
        else:
            self.writer.write(head.encode("latin-1"))
            self.writer.write(body)
        await self.writer.drain()
        raw = await self.reader.readuntil(b"\r\n\r\n")
        lines = raw.decode("latin-1").split("\r\n")
        status = int(lines[0].split(" ", 2)[1])
        reply_headers = {}
        for line in lines[1:]:
            if line:
                name, _, value = line.partition(":")
                reply_headers[name.strip().lower()] = value.strip()
        if reply_headers.get("transfer-encoding", "").lower() == "chunked":
            content = await self._chunked()
        else:
            content = await self.reader.readexactly(int(reply_headers.get("content-length", "0")))
        self.last_used = time.monotonic()
        if reply_headers.get("connection", "").lower() == "close":
            await self.close()
        return Reply(status, reply_headers, content)

    async def _chunked(self) -> bytes:
        parts = []
        while True:
            size = int((await self.reader.readuntil(b"\r\n")).split(b";")[0], 16)
            if size == 0:
                await self.reader.readuntil(b"\r\n")
                return b"".join(parts)
            parts.append(await self.reader.readexactly(size))
            await self.reader.readexactly(2)


async def login(port: int, username: str, password: str = PASSWORD) -> str:
    import msgspec

    client = HttpClient(HOST, port)
    try:
        body = msgspec.json.encode({"login": username, "password": password})
        reply = await client.request("POST", "/v1/auth/login", [("Content-Type", "application/json")], body)
        if reply.status != 200:
            raise RuntimeError(f"login {username}: {reply.status} {reply.body[:300]!r}")
        return reply.json()["token"]
    finally:
        await client.close()


# ------------------------------------------------------------------------------------------------------- load

Request = tuple[str, str, Sequence[tuple[str, str]], bytes]


@dataclass
class LoadResult:
    requests: int
    seconds: float
    latencies: list[float]  # seconds
    statuses: Counter
    sample_errors: list[str] = field(default_factory=list)
    cpu: dict[str, float] = field(default_factory=dict)  # share of one core each party used during the window

    @property
    def rps(self) -> float:
        return self.requests / self.seconds if self.seconds else 0.0

    def ms(self, q: float) -> float:
        return percentile(self.latencies, q) * 1000

    @property
    def errors(self) -> int:
        return sum(n for status, n in self.statuses.items() if not 200 <= status < 300)


def percentile(values: Sequence[float], q: float) -> float:
    """Nearest-rank percentile (q in 0..100)."""
    if not values:
        return float("nan")
    ordered = sorted(values)
    rank = max(0, min(len(ordered) - 1, int(round(q / 100 * len(ordered) + 0.5)) - 1))
    return ordered[rank]


def median(values: Sequence[float]) -> float:
    return statistics.median(values) if values else float("nan")


async def drive(
    port: int,
    make_request: Callable[[int], Request],
    *,
    concurrency: int,
    seconds: float,
    server_pid: int | None = None,
    database: str | None = None,
) -> LoadResult:
    """Closed-loop load: `concurrency` connections, each sending its next request (make_request(connection index))
    as soon as the last one answered, until `seconds` have passed (requests in flight then are finished, counted)."""
    latencies: list[float] = []
    statuses: Counter = Counter()
    errors: list[str] = []
    clients = [HttpClient(HOST, port) for _ in range(concurrency)]
    await asyncio.gather(*(client.open() for client in clients))
    meter = CpuMeter(server_pid, database)
    started = time.perf_counter()
    deadline = started + seconds

    async def worker(index: int, client: HttpClient) -> None:
        perf = time.perf_counter
        while perf() < deadline:
            method, path, headers, body = make_request(index)
            sent = perf()
            reply = await client.request(method, path, headers, body)
            latencies.append(perf() - sent)
            statuses[reply.status] += 1
            if not 200 <= reply.status < 300 and len(errors) < 5:
                errors.append(f"{reply.status} {path}: {reply.body[:300]!r}")

    try:
        await asyncio.gather(*(worker(index, client) for index, client in enumerate(clients)))
    finally:
        elapsed = time.perf_counter() - started
        cpu = meter.read()
        await asyncio.gather(*(client.close() for client in clients))
    return LoadResult(len(latencies), elapsed, latencies, statuses, errors, cpu)


class CpuMeter:
    """CPU time over a window, as a share of one core (a 2-core machine has 200 %): the server process, PostgreSQL
    (the backends of this run's database plus the shared WAL writer, checkpointer and the like), this process (the
    load generator), and `other`: whatever else the machine ran meanwhile (other people's jobs disturb the figures)."""

    def __init__(self, server_pid: int | None, database: str | None = None):
        self.server_pid, self.database = server_pid, database
        self.start = self._sample()
        self.wall = time.perf_counter()

    def _sample(self) -> dict[str, object]:
        return {
            "loadgen": time.process_time(),
            "server": _process_cpu(self.server_pid) if self.server_pid else 0.0,
            "auditor": sum(_process_cpu(pid) for pid in _descendants(self.server_pid)) if self.server_pid else 0.0,
            "postgres": _postgres_cpu(self.database),
            "machine": _machine_busy(),
        }

    def read(self) -> dict[str, float]:
        end, wall = self._sample(), time.perf_counter() - self.wall
        start = self.start
        postgres = sum(cpu - start["postgres"].get(pid, 0.0) for pid, cpu in end["postgres"].items())
        shares = {
            "server": (end["server"] - start["server"]) / wall,
            "auditor": max(0.0, end["auditor"] - start["auditor"]) / wall,
            "postgres": postgres / wall,
            "loadgen": (end["loadgen"] - start["loadgen"]) / wall,
        }
        machine = (end["machine"] - start["machine"]) / wall
        shares["other"] = max(0.0, machine - sum(shares.values()))
        if not self.server_pid:
            del shares["server"]
        if not shares.get("auditor"):
            shares.pop("auditor", None)
        return shares


_POSTGRES_AUX = ("checkpointer", "background writer", "walwriter", "autovacuum launcher", "logical replication")


def _process_cpu(pid: int) -> float:
    try:
        fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    except OSError:
        return 0.0
    return (int(fields[11]) + int(fields[12])) / CLK_TCK  # utime, stime


def _descendants(pid: int) -> list[int]:
    """A server's child processes and theirs: `fieldsvc serve` on PostgreSQL runs its auditor in one."""
    found, waiting = [], [pid]
    while waiting:
        parent = waiting.pop()
        for task in Path(f"/proc/{parent}/task").glob("*"):
            try:
                children = [int(child) for child in (task / "children").read_text().split()]
            except OSError:
                continue
            found += children
            waiting += children
    return found


def _postgres_cpu(database: str | None) -> dict[int, float]:
    """CPU seconds by pid of the PostgreSQL processes that work for this run (its database's backends, autovacuum
    workers included, and the cluster's WAL writer, checkpointer...); backends of other databases are not ours."""
    found = {}
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            if (entry / "comm").read_text().strip() != "postgres":
                continue
            title = (entry / "cmdline").read_bytes().replace(b"\0", b" ").decode(errors="replace")
        except OSError:
            continue
        if (database and database in title) or any(aux in title for aux in _POSTGRES_AUX):
            found[int(entry.name)] = _process_cpu(int(entry.name))
    return found


def _machine_busy() -> float:
    with open("/proc/stat") as stat:
        fields = [int(x) for x in stat.readline().split()[1:]]
    idle = fields[3] + fields[4]  # idle + iowait
    return (sum(fields[:8]) - idle) / CLK_TCK


class SessionSampler:
    """What this run's database sessions are doing, sampled every `interval` s over a window: the mean number of
    sessions running, waiting for a lock (by lock type), or idle in a transaction (waiting for the application)."""

    QUERY = """
        SELECT CASE
                 WHEN state = 'active' AND wait_event_type = 'Lock' THEN 'waiting: lock ' || wait_event
                 WHEN state = 'active' AND wait_event_type IN ('IO', 'LWLock', 'IPC') THEN 'waiting: ' || wait_event
                 WHEN state = 'active' THEN 'running'
                 ELSE state
               END AS what, count(*)
        FROM pg_stat_activity
        WHERE datname = $1 AND pid <> pg_backend_pid() AND backend_type = 'client backend'
        GROUP BY 1
    """

    def __init__(self, database_url: str, interval: float = 0.1):
        self.url, self.interval = database_url, interval
        self.totals: Counter = Counter()
        self.samples = 0

    async def __aenter__(self) -> SessionSampler:
        import asyncpg

        self.connection = await asyncpg.connect(self.url)
        self.task = asyncio.create_task(self._sample())
        return self

    async def __aexit__(self, *exc: object) -> None:
        self.task.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await self.task
        await self.connection.close()

    async def _sample(self) -> None:
        database = database_name(self.url)
        while True:
            for what, count in await self.connection.fetch(self.QUERY, database):
                self.totals[what] += count
            self.samples += 1
            await asyncio.sleep(self.interval)

    def note(self) -> str:
        if not self.samples:
            return "no samples"
        # 'idle' sessions are pool connections with nothing to do (the other server's pool among them): left out.
        means = sorted(((n / self.samples, what) for what, n in self.totals.items() if what != "idle"), reverse=True)
        return ", ".join(f"{what} {mean:.1f}" for mean, what in means if mean >= 0.05)


async def wait_for_quiet(max_wait: float = 30.0, busy_limit: float = 0.25) -> str:
    """Other people's jobs share this machine: before a measured window (our servers idle), wait until the machine
    as a whole uses less than `busy_limit` of one core over half a second, for at most `max_wait` seconds."""
    started = time.perf_counter()
    busy = 0.0
    while True:
        before, mark = _machine_busy(), time.perf_counter()
        await asyncio.sleep(0.5)
        busy = (_machine_busy() - before) / (time.perf_counter() - mark)
        waited = time.perf_counter() - started
        if busy < busy_limit:
            return f"machine quiet ({busy * 100:.0f}% busy)" + (f" after waiting {waited:.0f} s" if waited > 1 else "")
        if waited > max_wait:
            return f"machine NOT quiet: {busy * 100:.0f}% of a core busy with other work after {waited:.0f} s"


CPU_PARTIES = ("server", "auditor", "postgres", "loadgen", "other")


def cpu_note(cpu: dict[str, float]) -> str:
    return ", ".join(f"{name} {cpu[name] * 100:.0f}%" for name in CPU_PARTIES if name in cpu)


def database_name(url: str) -> str:
    return urlsplit(url).path.lstrip("/")


def machine_note() -> str:
    load1, _, _ = os.getloadavg()
    return f"{os.cpu_count()} cores, load average {load1:.2f} at start, {sys.version.split()[0]}"


def run(main: Callable[[], Awaitable[int]]) -> int:
    fast_loop()
    try:
        return asyncio.run(main())
    except KeyboardInterrupt:
        return 130


# ------------------------------------------------------------------------------------------ profile-serve entry


def _profile_serve(argv: list[str]) -> int:
    """`profile-serve OUT -- <fieldsvc args>`: the fieldsvc command line under cProfile, stats written to OUT."""
    out, rest = argv[0], argv[argv.index("--") + 1 :]
    from fieldsvc import cli

    profiler = cProfile.Profile()
    try:
        return profiler.runcall(cli.main, rest)
    finally:
        profiler.dump_stats(out)


def _trace_serve(argv: list[str]) -> int:
    """`trace-serve OUT module:Qual.name,... -- <fieldsvc args>`: wall-clock timers around the named functions
    (async or not; methods patched on their class, functions in the module that calls them), written to OUT as JSON.
    Instrumentation lives here, in the benchmark; the service's code is not changed."""
    import functools
    import importlib
    import inspect
    import json

    out, targets, rest = argv[0], argv[1].split(","), argv[argv.index("--") + 1 :]
    timings: dict[str, list[tuple[float, float]]] = {}  # (epoch start, seconds) per call
    for target in targets:
        module_name, _, qualname = target.partition(":")
        *path, name = qualname.split(".")
        try:
            owner = importlib.import_module(module_name)
            for part in path:
                owner = getattr(owner, part)
            original = inspect.getattr_static(owner, name)
        except (ImportError, AttributeError) as error:  # the code moved on: time the rest
            print(f"trace-serve: not timing {target}: {error}", file=sys.stderr)
            continue
        if isinstance(original, (staticmethod, classmethod)):
            raise SystemExit(f"cannot time {target}: static and class methods are not supported")
        durations = timings.setdefault(target, [])

        def timed(function, durations=durations):  # noqa: ANN001, ANN202
            if inspect.iscoroutinefunction(function):

                @functools.wraps(function)
                async def wrapper(*args, **kwargs):  # noqa: ANN002, ANN003, ANN202
                    begun, started = time.time(), time.perf_counter()
                    try:
                        return await function(*args, **kwargs)
                    finally:
                        durations.append((begun, time.perf_counter() - started))

            else:

                @functools.wraps(function)
                def wrapper(*args, **kwargs):  # noqa: ANN002, ANN003, ANN202
                    begun, started = time.time(), time.perf_counter()
                    try:
                        return function(*args, **kwargs)
                    finally:
                        durations.append((begun, time.perf_counter() - started))

            return wrapper

        setattr(owner, name, timed(original))
    from fieldsvc import cli

    try:
        return cli.main(rest)
    finally:
        Path(out).write_text(json.dumps(timings))


if __name__ == "__main__":
    if len(sys.argv) > 2 and sys.argv[1] == "profile-serve":
        sys.exit(_profile_serve(sys.argv[2:]))
    if len(sys.argv) > 3 and sys.argv[1] == "trace-serve":
        sys.exit(_trace_serve(sys.argv[2:]))
    print(__doc__)
    sys.exit(2)
