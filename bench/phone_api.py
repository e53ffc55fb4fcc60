"""Check-in throughput on PostgreSQL, as a ratio to a bare Litestar + asyncpg endpoint measured in the same run.

    .venv/bin/python bench/phone_api.py [--concurrency 32] [--seconds 10] [--warmup 3] [--rounds 2]
                                        [--technicians 32] [--days 4] [--profile FILE | --trace]

1. A fresh PostgreSQL database, the real migrations, a dispatcher and technicians (PeopleService), five visits a day
   per technician booked and assigned through DispatchService (untimed).
2. The real service in its own process: `fieldsvc serve --no-demo --workers 1` (uvicorn + uvloop + httptools), with
   its auditor process beside it (`fieldsvc audit work`, the default on PostgreSQL; its CPU is the `auditor` column).
   The floor in another process: a bare Litestar app (below, `serve-bare`), same uvicorn, an asyncpg pool of the
   same size, whose one endpoint decodes the same check-in body and INSERTs the same VisitEvent-shaped row
   (ON CONFLICT (event_id) DO NOTHING RETURNING id) into `bench_visit_event`, a copy of `visit_event` (indexes,
   unique event id, foreign keys) in the same database - and nothing else: no auth, no lock, no trail, no audit.
3. The same closed-loop load on both: `--concurrency` keep-alive connections over loopback, each POSTing
   /v1/mobile/visits/{id}/arrival with a NEW eventId as soon as its last answer came. The fieldsvc side carries a
   real bearer token (logged in beforehand) and X-Device-Clock, and goes through the full path: auth, role guard,
   the visit read, geodesic distance, then one statement (visit row lock and status check, idempotency claim,
   insert, status change, re-audit mark, trail entries); the auditor process re-audits meanwhile. Rounds alternate
   (floor, fieldsvc, floor, fieldsvc, ...) so drift hits both sides alike.

The load generator runs in this process on the same 2 cores as the servers and PostgreSQL: it takes CPU from both
sides alike (it is identical for both), and the CPU columns show who used what. Numbers, not assertions.
"""

from __future__ import annotations

import argparse
import hashlib
import itertools
import random
import sys
from datetime import UTC, datetime
from pathlib import Path
from uuid import UUID, uuid4

import msgspec

sys.path.insert(0, str(Path(__file__).resolve().parent))
sys.dont_write_bytecode = True  # no bench/__pycache__ from importing _common

import _common as common  # noqa: E402
from _common import HOST, LoadResult, Server, log  # noqa: E402

# Timed inside the service with --trace (wall clock per call, waits included).
TRACE = (
    "fieldsvc.auth.service:AuthService.resolve",
    *common.FACT_PATH_TRACE,
    "fieldsvc.verdicts.outbox:mark",
)


TARGET_RATIO = 0.5
POOL_MAX = 10  # what fieldsvc.db.open_database gives the service

BARE_INSERT = """
INSERT INTO bench_visit_event (
    id, event_id, visit, technician, kind, body_digest, payload, result, device_time, device_elapsed_ms,
    clock_offset_ms, corrected_time, time_source, server_received_at, latitude, longitude, accuracy_m, fix_time, mock
) VALUES (
    $1, $2, $3, (SELECT technician FROM visit WHERE id = $3), 'arrival', $4, $5, $6, $7, $8,
    0, $9, 'offset', $9, $10, $11, $12, $13, $14
) ON CONFLICT (event_id) DO NOTHING RETURNING id
"""


# ------------------------------------------------------------------------------------------------ the floor


class BareLocation(msgspec.Struct, rename="camel", forbid_unknown_fields=True):
    latitude: float
    longitude: float
    accuracy_m: float
    fix_time: datetime
    mock: bool


class BareCheckin(msgspec.Struct, rename="camel", forbid_unknown_fields=True, kw_only=True):
    event_id: UUID
    device_time: datetime
    device_elapsed_ms: int | None = None
    location: BareLocation


class BareAnswer(msgspec.Struct, rename="camel"):
    event_id: UUID
    visit_id: UUID
    kind: str
    received_at: datetime


def bare_app(dsn: str):  # noqa: ANN201
    """The floor: one Litestar endpoint that decodes a check-in and inserts its row with asyncpg. Nothing more."""
    from contextlib import asynccontextmanager

    import asyncpg
    from litestar import Litestar, get, post

    state: dict[str, asyncpg.Pool] = {}

    @asynccontextmanager
    async def lifespan(app: Litestar):  # noqa: ANN202
        state["pool"] = await asyncpg.create_pool(dsn, min_size=2, max_size=POOL_MAX)
        try:
            yield
        finally:
            await state["pool"].close()

    @post("/v1/mobile/visits/{visit_id:uuid}/arrival", status_code=201)
    async def arrival(visit_id: UUID, data: BareCheckin) -> BareAnswer:
        now = datetime.now(UTC)
        answer = BareAnswer(event_id=data.event_id, visit_id=visit_id, kind="arrival", received_at=now)
        payload = msgspec.json.encode(data).decode()
        fix = data.location
        await state["pool"].fetchval(
            BARE_INSERT,
            uuid4(), data.event_id, visit_id, hashlib.sha256(payload.encode()).hexdigest(), payload,
            msgspec.json.encode(answer).decode(), data.device_time, data.device_elapsed_ms, now,
            fix.latitude, fix.longitude, fix.accuracy_m, fix.fix_time, fix.mock,
        )  # fmt: skip
        return answer

    @get("/health")
    async def health() -> dict[str, str]:
        return {"status": "ok"}

    return Litestar([arrival, health], lifespan=[lifespan], logging_config=None, debug=False)


def serve_bare(port: int, dsn: str) -> int:
    import uvicorn

    # Same server stack as `fieldsvc serve` (uvicorn picks uvloop and httptools); no access log, no logging.
    uvicorn.run(bare_app(dsn), host=HOST, port=port, log_level="warning", access_log=False)
    return 0


def start_bare(dsn: str) -> Server:
    import subprocess

    port = common.free_port()
    log_path = common.log_file("bare")
    with log_path.open("ab") as out:
        process = subprocess.Popen(
            [sys.executable, str(Path(__file__).resolve()), "serve-bare", "--port", str(port), "--dsn", dsn],
            cwd=common.REPO,
            stdin=subprocess.DEVNULL,
            stdout=out,
            stderr=subprocess.STDOUT,
        )
    return Server("bare", port, process, log_path)


async def count_rows(dsn: str) -> tuple[int, int]:
    import asyncpg

    connection = await asyncpg.connect(dsn)
    try:
        real = await connection.fetchval("SELECT count(*) FROM visit_event WHERE kind = 'arrival'")
        bare = await connection.fetchval("SELECT count(*) FROM bench_visit_event")
        return real, bare
    finally:
        await connection.close()


# ---------------------------------------------------------------------------------------------------- load


def checkin_requests(visits: list[common.SeededVisit], tokens: dict[str, str], rng: random.Random):  # noqa: ANN201
    """Connection i is technician i's phone: it checks in at that technician's visits in turn, one request at a
    time, like a phone does. Each request is a new check-in (new eventId) a few metres from the site, sent now."""
    by_technician: dict[str, list[tuple[str, str, float, float]]] = {}
    for visit in visits:
        by_technician.setdefault(visit.username, []).append(
            (
                f"/v1/mobile/visits/{visit.id}/arrival",
                f"Bearer {tokens[visit.username]}",
                visit.latitude + rng.uniform(-0.0002, 0.0002),
                visit.longitude + rng.uniform(-0.0002, 0.0002),
            )
        )
    phones = [itertools.cycle(own) for own in by_technician.values()]
    encode = msgspec.json.encode

    def make(phone: int) -> common.Request:
        path, bearer, latitude, longitude = next(phones[phone])
        now = datetime.now(UTC).isoformat()
        body = encode(
            {
                "eventId": str(uuid4()),
                "deviceTime": now,
                "location": {"latitude": latitude, "longitude": longitude, "accuracyM": 8.0, "fixTime": now, "mock": False},
            }
        )
        headers = (("Authorization", bearer), ("X-Device-Clock", now), ("Content-Type", "application/json"))
        return "POST", path, headers, body

    return make


def row(label: str, result: LoadResult) -> str:
    per_request = {
        name: result.cpu.get(name, 0) * result.seconds / max(result.requests, 1) * 1000
        for name in ("server", "auditor", "postgres")
    }
    return (
        f"{label:<22} {result.rps:>8.0f} {result.ms(50):>8.1f} {result.ms(99):>8.1f} {result.errors:>6d}"
        f"   {per_request['server']:>6.2f} {per_request['auditor']:>7.2f} {per_request['postgres']:>6.2f}"
        f"   {common.cpu_note(result.cpu)}"
    )


async def main(args: argparse.Namespace) -> int:
    rng = random.Random(11)
    with common.temp_dir("fieldsvc-bench-") as data_dir:
        async with common.scratch_database("fieldsvc_bench_phone") as dsn:
            log(f"seeding {args.technicians} technicians x {args.days} days x 5 visits ...")
            seeded = await common.seed(common.settings_for(dsn, data_dir), args.technicians, args.days, rng=rng)
            await common.create_scratch_table(dsn)
            bare = start_bare(dsn)
            try:
                async with common.running_fieldsvc(
                    dsn, data_dir, profile=args.profile, trace=TRACE if args.trace else ()
                ) as real:
                    await bare.wait_ready("/health")
                    tokens = {name: await common.login(real.port, name) for name in seeded.technicians}
                    return await measure(args, seeded, tokens, real, bare, dsn, rng)
            finally:
                bare.stop()


async def measure(args, seeded, tokens, real: Server, bare: Server, dsn: str, rng: random.Random) -> int:  # noqa: ANN001
    sides = {
        "bare": (bare, checkin_requests(seeded.visits, tokens, rng)),
        "fieldsvc": (real, checkin_requests(seeded.visits, tokens, rng)),
    }
    results: dict[str, list[LoadResult]] = {"bare": [], "fieldsvc": []}
    accepted = {"bare": 0, "fieldsvc": 0}  # 2xx answers, warm-ups included: each must be one new row
    print("Check-in throughput on PostgreSQL: fieldsvc full path vs bare Litestar + asyncpg insert (same run)")
    print(f"machine: {common.machine_note()}; load generator, both servers and PostgreSQL share these cores")
    print(
        f"load: closed loop, {args.concurrency} keep-alive connections, {args.warmup:g} s warm-up + {args.seconds:g} s"
        f" measured per round, {args.rounds} rounds alternating; connection i = technician i's phone, checking in"
        f" at its own visits in turn ({len(seeded.visits)} visits), each request a new eventId"
    )
    if args.profile:
        print("NOTE: fieldsvc runs under cProfile: its figures are slowed down and not the benchmark's.")
    if args.trace:
        print("NOTE: fieldsvc runs with timers around its main steps (--trace); they are printed at the end.")
    print()
    print(f"{'round':<22} {'req/s':>8} {'p50 ms':>8} {'p99 ms':>8} {'errors':>6}   {'CPU ms/request':>21}   CPU share")
    print(f"{'':<22} {'':>8} {'':>8} {'':>8} {'':>6}   {'server':>6} {'auditor':>7} {'pg':>6}")
    for round_no in range(1, args.rounds + 1):
        for name in ("bare", "fieldsvc"):
            server, make = sides[name]
            quiet = await common.wait_for_quiet()
            if not quiet.startswith("machine quiet (") or "waiting" in quiet:
                print(f"{'':<22} {quiet}")
            warm = await common.drive(server.port, make, concurrency=args.concurrency, seconds=args.warmup)
            async with common.SessionSampler(dsn) as sessions:
                with server.phase("the measured windows"):
                    result = await common.drive(
                        server.port, make, concurrency=args.concurrency, seconds=args.seconds, server_pid=server.pid,
                        database=common.database_name(dsn),
                    )
            results[name].append(result)
            accepted[name] += sum(n for status, n in (warm.statuses + result.statuses).items() if 200 <= status < 300)
            print(row(f"{round_no}: {name}", result), flush=True)
            print(f"{'':<22} db sessions (mean): {sessions.note()}")
            for sample in result.sample_errors:
                print(f"    error sample: {sample}")

    def total(name: str) -> LoadResult:
        parts = results[name]
        merged = LoadResult(
            sum(p.requests for p in parts), sum(p.seconds for p in parts), [x for p in parts for x in p.latencies],
            sum((p.statuses for p in parts), start=common.Counter()),
        )
        names = {name for part in parts for name in part.cpu}
        merged.cpu = {k: sum(p.cpu.get(k, 0.0) * p.seconds for p in parts) / merged.seconds for k in names}
        return merged

    real_total, bare_total = total("fieldsvc"), total("bare")
    print(row("all: bare", bare_total))
    print(row("all: fieldsvc", real_total))
    ratio = real_total.rps / bare_total.rps
    per_round = [r.rps / b.rps for r, b in zip(results["fieldsvc"], results["bare"])]
    real_rows, bare_rows = await count_rows(dsn)
    print()
    print(f"fieldsvc check-in: {real_total.rps:.0f} req/s, p50 {real_total.ms(50):.1f} ms, p99 {real_total.ms(99):.1f} ms")
    print(f"bare floor:        {bare_total.rps:.0f} req/s, p50 {bare_total.ms(50):.1f} ms, p99 {bare_total.ms(99):.1f} ms")
    verdict = "MET" if ratio >= TARGET_RATIO else "MISSED"
    rounds = ", ".join(f"{r:.3f}" for r in per_round)
    print(f"ratio fieldsvc / bare = {ratio:.3f}  (per round: {rounds}; target >= {TARGET_RATIO}) {verdict}")
    rows_ok = (real_rows, bare_rows) == (accepted["fieldsvc"], accepted["bare"])
    print(
        f"rows: visit_event arrivals {real_rows}, bench_visit_event {bare_rows}; 2xx answers (warm-ups included)"
        f" {accepted['fieldsvc']} and {accepted['bare']}: {'one row per answer' if rows_ok else 'MISMATCH'}"
    )
    failed = real_total.errors + bare_total.errors
    if failed:
        print(f"WARNING: {failed} non-2xx answers: {dict(real_total.statuses)} / {dict(bare_total.statuses)}")
    return 1 if failed else 0


def parse(argv: list[str]) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--concurrency", type=int, default=32, help="phones (connections) at once, one per technician")
    parser.add_argument("--seconds", type=float, default=10.0, help="measured seconds per side per round")
    parser.add_argument("--warmup", type=float, default=3.0, help="unmeasured seconds before each measured window")
    parser.add_argument("--rounds", type=int, default=2)
    parser.add_argument("--technicians", type=int, help="default: --concurrency")
    parser.add_argument("--days", type=int, default=4, help="days of visits (5 a day) per technician")
    parser.add_argument("--profile", type=Path, help="run fieldsvc under cProfile, write the stats here, print top")
    parser.add_argument("--trace", action="store_true", help="time the main steps inside fieldsvc (wall clock), print")
    args = parser.parse_args(argv)
    args.technicians = args.technicians or args.concurrency
    if args.technicians < args.concurrency:
        parser.error("every connection is one technician's phone: --technicians must be >= --concurrency")
    return args


if __name__ == "__main__":
    if len(sys.argv) > 1 and sys.argv[1] == "serve-bare":
        bare_args = argparse.ArgumentParser()
        bare_args.add_argument("--port", type=int, required=True)
        bare_args.add_argument("--dsn", required=True)
        options = bare_args.parse_args(sys.argv[2:])
        sys.exit(serve_bare(options.port, options.dsn))
    sys.exit(common.run(lambda: main(parse(sys.argv[1:]))))
