"""Soak under faults: technicians' days against `fieldsvc serve --workers 2` on PostgreSQL + S3, then a fact audit.

PostgreSQL is the soak's own cluster (initdb into a temporary directory, a free port on 127.0.0.1, stopped and
deleted at the end, also on Ctrl-C or an error): its "PostgreSQL down" fault stops and starts that cluster only, and
the machine's shared cluster (127.0.0.1:5432, other people's tests and benchmarks) is never touched.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import random
import re
import signal
import subprocess
import sys
import time
from collections import Counter, defaultdict
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
sys.dont_write_bytecode = True  # no bench/__pycache__ from importing _common

import _common as common  # noqa: E402
import _soak_faults as faults  # noqa: E402
from _common import log  # noqa: E402
from _soak_phones import (  # noqa: E402
    Attempt, Behaviour, Call, Journal, Pacer, Phone, play_day, requests_per_visit, visit_media,
)

BUCKET = "fieldsvc-soak"
# Faults at these fractions of the planned load, so each has traffic before, during and after it.
PG_AT, S3_AT, KILL_AT = 0.2, 0.45, 0.7
# 5xx, connection errors and timeouts this long after a dependency came back still belong to its fault: retries
# wait out Retry-After (5 s) and the pool reconnects.
FAULT_TAIL_SECONDS = 12.0
EXIT_GRACE_SECONDS = 5.0  # after the supervisor exits, for its last children to follow
# Outboxes the service drains after it has answered (re-audits, trail entries to chain), when the schema has them.
QUEUES = ("audit_due", "trail_pending")
STORED_KIND = {
    "on-my-way": "on_my_way", "arrival": "arrival", "steps": "step", "notes": "note", "questions": "question",
    "test-result": "test_result", "photos": "photo", "signature": "signature", "service-card": "service_card",
    "checkout": "checkout", "complete": "completion",
}  # fmt: skip
RESULTS = Path(__file__).resolve().parent / "RESULTS.md"


# ----------------------------------------------------------------------------------------------------- run


@dataclass
class Run:
    journal: Journal
    faults: list[faults.Fault]
    health: faults.HealthWatch
    cpu: dict[str, float]
    planned_seconds: float
    visits: int
    cluster: faults.PrivateCluster

    def windows(self) -> list[tuple[float, float]]:
        """Each fault's window on the journal's clock: from its start until FAULT_TAIL_SECONDS after it was over."""
        return [
            (fault.started, (fault.started if fault.restored is None else fault.restored) + FAULT_TAIL_SECONDS)
            for fault in self.faults
        ]


async def soak(  # noqa: ANN001
    args, seeded, media, tokens, server: common.Server, s3: faults.S3Endpoint, cluster: faults.PrivateCluster
) -> Run:
    journal = Journal()
    pacer = Pacer(args.rate)
    how = Behaviour(args.replay_share, args.race_share, args.timeout, args.give_up)
    rng = random.Random(args.seed)
    days: dict[str, list[common.SeededVisit]] = defaultdict(list)
    for visit in seeded.visits:
        days[visit.username].append(visit)
    phones = {name: Phone(server.port, tokens[name], random.Random(rng.random()), journal, pacer, how) for name in days}
    planned = len(seeded.visits) * requests_per_visit(args.replay_share) / args.rate
    log(f"load: {len(phones)} phones, {len(seeded.visits)} visits, {args.rate:g} req/s, about {planned:.0f} s planned")
    health = faults.HealthWatch(server.port, journal)
    ledger = faults.CpuLedger(server.pid, cluster, s3.pid)
    stop = asyncio.Event()
    async with asyncio.TaskGroup() as group:
        group.create_task(health.run(stop))
        group.create_task(ledger.run(stop))
        group.create_task(progress(journal, stop))
        group.create_task(watch_server(server, stop))
        load = group.create_task(play_days(phones, days, media))
        injected = group.create_task(inject(args, planned, load, server, s3, cluster, journal))
        await load
        journal.ended = journal.now()
        log(f"load done after {journal.ended:.0f} s")
        done = await injected
        stop.set()
    return Run(journal, done, health, ledger.shares(), planned, len(seeded.visits), cluster)


async def play_days(phones: dict[str, Phone], days: dict[str, list[common.SeededVisit]], media) -> None:  # noqa: ANN001
    await asyncio.gather(*(play_day(phones[name], own, media) for name, own in days.items()))


async def inject(  # noqa: ANN001
    args, planned: float, load: asyncio.Task, server, s3, cluster, journal: Journal
) -> list[faults.Fault]:
    """The faults in turn, each at its share of the planned load, skipped if the load has already finished."""
    plan = []
    if args.pg_fault:
        plan.append((PG_AT, lambda: faults.postgres_outage(cluster, args.pg_down, journal)))
    if args.s3_fault:
        plan.append((S3_AT, lambda: faults.s3_outage(s3, args.s3_down, journal)))
    if args.kill_fault:
        wait = planned * (1 - KILL_AT) / 2
        plan.append((KILL_AT, lambda: faults.kill_worker_mid_upload(server.pid, server.port, journal, wait)))
    done = []
    for share, start in plan:
        await asyncio.sleep(max(0.0, share * planned - journal.now()))
        if load.done():
            log(f"fault at {share:.0%} of the plan skipped: the load had finished")
            continue
        fault = await start()
        log(f"{fault.started:6.1f} s  {fault.name}: {fault.detail}")
        done.append(fault)
    return done


async def watch_server(server: common.Server, stop: asyncio.Event) -> None:
    """A service that exits by itself ends the run: phones would only retry into a closed port until they give up."""
    while not stop.is_set():
        if server.process.poll() is not None:
            raise RuntimeError(f"fieldsvc exited with {server.process.returncode} during the load:\n{server.tail()}")
        try:
            await asyncio.wait_for(stop.wait(), 1.0)
        except TimeoutError:
            pass


async def progress(journal: Journal, stop: asyncio.Event) -> None:
    while not stop.is_set():
        try:
            await asyncio.wait_for(stop.wait(), 10)
        except TimeoutError:
            attempts = journal.attempts()
            answered = sum(1 for call in journal.calls if call.final is not None)
            unavailable = sum(1 for _, a in attempts if a.status == 503)
            failed = sum(1 for _, a in attempts if a.failure)
            log(
                f"{journal.now():6.1f} s  requests {len(journal.calls)} (answered {answered}), attempts"
                f" {len(attempts)}, 503 {unavailable}, no answer {failed}"
            )


# -------------------------------------------------------------------------------------------------- checks


@dataclass
class Checks:
    stored: int = 0
    duplicates: list[tuple[str, int]] = field(default_factory=list)  # eventIds with more than one visit_event row
    lost: list[str] = field(default_factory=list)  # answered 2xx, not stored
    misplaced: list[str] = field(default_factory=list)  # stored under another kind or visit than it was sent for
    unacknowledged_stored: int = 0  # sent, stored, but no 2xx ever reached the phone (it gave up or got a 4xx)
    unknown_rows: int = 0  # visit_event rows whose eventId no phone sent
    answers_differ: list[str] = field(default_factory=list)  # 2xx answers of one eventId unlike the stored answer
    created_twice: list[str] = field(default_factory=list)  # eventIds answered 201 more than once
    replays_unmarked: int = 0  # 200 answers without Idempotent-Replay: true
    # Stored facts whose 201 never reached the phone (it learnt of the fact from a replay): the answer was lost in
    # transit (the connection broke, the phone timed out), or the request failed with a 5xx after the fact committed.
    stored_answer_lost: int = 0
    stored_answered_5xx: list[str] = field(default_factory=list)
    uploads: int = 0
    photo_rows_wrong: list[str] = field(default_factory=list)  # acknowledged uploads without exactly one photo row
    referenced_keys: int = 0
    missing_keys: list[str] = field(default_factory=list)
    trail_wrong: list[str] = field(default_factory=list)  # stored facts without exactly one fact.* trail entry
    trail_verify: str = ""
    completed: int = 0  # completions answered 2xx
    not_completed: list[str] = field(default_factory=list)  # ... whose visit is not 'completed'
    verdict_pending: int = 0  # completed visits still without a final verdict after settling
    settle_seconds: float = 0.0
    queues_left: dict[str, int] = field(default_factory=dict)  # rows left in each outbox the schema has
    stale_verdicts: list[str] = field(default_factory=list)  # visits whose verdict a full re-audit changed
    rerun: str = ""
    orphan_keys: list[str] = field(default_factory=list)
    cleanup: str = ""
    shutdown: str = ""  # how `fieldsvc serve` took its SIGINT at the end
    shutdown_left: list[int] = field(default_factory=list)  # its processes still running after it (then killed)
    shutdown_killed: bool = False  # the supervisor did not exit within Server.stop's wait and was killed

    def failures(self) -> list[str]:
        counts = {
            "duplicate facts": len(self.duplicates), "lost facts": len(self.lost),
            "misplaced facts": len(self.misplaced),
            "rows nobody sent": self.unknown_rows, "replays answered differently": len(self.answers_differ),
            "eventIds created twice": len(self.created_twice), "unmarked replays": self.replays_unmarked,
            "wrong photo rows": len(self.photo_rows_wrong),
            "blobs missing from S3": len(self.missing_keys), "wrong trail entries": len(self.trail_wrong),
            "broken trail": "intact" not in self.trail_verify, "completions not completed": len(self.not_completed),
            "verdicts pending": self.verdict_pending, "rows left in the outboxes": sum(self.queues_left.values()),
            "stale verdicts": len(self.stale_verdicts),
            "service not stopped by SIGINT": self.shutdown_killed,
            "service processes left running after it stopped": len(self.shutdown_left),
        }  # fmt: skip
        return [f"{int(n)} {what}" for what, n in counts.items() if n]


def log_failures(run: Run, lines: list[LogLine]) -> list[str]:
    """The service logging errors with no fault to explain them (or after it should have recovered from one)."""
    outside = sum(1 for line in lines if line.level in ERROR_LEVELS and not in_window(run, line))
    return [f"{outside} service error lines outside the fault windows"] if outside else []


def answer_failures(journal: Journal, health: faults.HealthWatch) -> list[str]:
    """What the phones and the health probe were answered against the contract: only 503 (with Retry-After) may
    say 'try again', a phone following the API never needs to give up, and every request this script sends is valid
    (no 4xx)."""
    attempts = journal.attempts()
    found = Counter(f"{a.status} {a.code}" for _, a in attempts if a.status and a.status >= 500 and a.status != 503)
    found["503 without Retry-After"] = sum(1 for _, a in attempts if a.status == 503 and not a.retry_after)
    for answer, n in health.answers().items():
        if answer not in ("200", "503", "no answer"):  # a dependency down is a 503 with Retry-After, never a 500
            found[f"/health/ready {answer}"] = n
    found["final 4xx"] = sum(1 for call in journal.calls if call.final and call.final >= 400)
    found["requests given up"] = sum(1 for call in journal.calls if call.final is None)
    return [f"{n} x {what}" for what, n in found.items() if n]


async def check(journal: Journal, dsn: str, s3: faults.S3Endpoint, env: dict[str, str], settle: float) -> Checks:
    """After the load and every retry: the database and the bucket against the phones' own record of answers."""
    import asyncpg

    checks = Checks()
    acknowledged = journal.acknowledged()
    completed_visits = {calls[0].visit_id for calls in acknowledged.values() if calls[0].endpoint == "complete"}
    checks.completed = len(completed_visits)
    connection = await asyncpg.connect(dsn)
    try:
        checks.settle_seconds, checks.verdict_pending, checks.queues_left = await settled(connection, settle)
        rows = await connection.fetch("SELECT event_id::text, kind, visit::text, result::text FROM visit_event")
        counts = Counter(row["event_id"] for row in rows)
        stored = {row["event_id"]: row for row in rows}
        checks.stored = len(rows)
        checks.duplicates = [(event_id, n) for event_id, n in counts.items() if n > 1]
        sent = journal.sent_event_ids()
        checks.unknown_rows = sum(1 for event_id in stored if event_id not in sent)
        checks.unacknowledged_stored = sum(1 for e in stored if e in sent and e not in acknowledged)
        attempts_of = defaultdict(list)
        for call, attempt in journal.attempts():
            attempts_of[call.event_id].append(attempt)
        for event_id, calls in acknowledged.items():
            row = stored.get(event_id)
            if row is None:
                checks.lost.append(event_id)
                continue
            call = calls[0]
            if (row["kind"], row["visit"]) != (STORED_KIND[call.endpoint], call.visit_id):
                checks.misplaced.append(f"{event_id}: sent as {call.endpoint}, stored as {row['kind']}")
            first = json.loads(row["result"])
            if any(other.answer != first for other in calls):
                checks.answers_differ.append(event_id)
            if sum(1 for other in calls if other.final == 201) > 1:
                checks.created_twice.append(event_id)
            checks.replays_unmarked += sum(1 for other in calls if other.final == 200 and not other.replay_header)
            tries = attempts_of[event_id]
            if not any(a.status == 201 for a in tries):
                if any(a.failure for a in tries):
                    checks.stored_answer_lost += 1
                elif any(a.status and a.status >= 500 for a in tries):
                    failed = ", ".join(_outcome(a) for a in tries if a.status and a.status >= 500)
                    checks.stored_answered_5xx.append(f"{event_id} ({call.endpoint}: {failed}, then 200)")
        uploads = {e for e, calls in acknowledged.items() if calls[0].endpoint in ("photos", "signature")}
        checks.uploads = len(uploads)
        photo_rows = Counter(
            row["event_id"]
            for row in await connection.fetch(
                "SELECT e.event_id::text FROM photo p JOIN visit_event e ON e.id = p.event"
            )
        )
        checks.photo_rows_wrong = [f"{e}: {photo_rows[e]} rows" for e in uploads if photo_rows[e] != 1]
        referenced = {
            key
            for row in await connection.fetch("SELECT original_key, thumbnail_key, display_key FROM photo")
            for key in row.values()
        }
        trail = Counter(
            row["event_id"]
            for row in await connection.fetch(
                "SELECT payload::json -> 'data' ->> 'eventId' AS event_id FROM trail_entry WHERE kind LIKE 'fact.%'"
            )
        )
        checks.trail_wrong = [f"{e}: {trail[e]} entries" for e in stored if trail[e] != 1]
        visits = {
            row["id"]: row["status"] for row in await connection.fetch("SELECT id::text, status FROM visit")
        }
        checks.not_completed = [f"{v}: {visits.get(v)}" for v in completed_visits if visits.get(v) != "completed"]
        # Re-audits that a fault made the service skip leave verdicts behind their facts: a full re-audit finds them.
        before = await verdict_digests(connection)
        checks.rerun = await fieldsvc_command(env, "audit", "rerun")
        after = await verdict_digests(connection)
        checks.stale_verdicts = sorted(visit for visit in after if before.get(visit) != after[visit])
    finally:
        await connection.close()
    keys = await asyncio.to_thread(faults.list_keys, s3, BUCKET)
    checks.referenced_keys = len(referenced)
    checks.missing_keys = sorted(referenced - keys)
    checks.orphan_keys = sorted(keys - referenced)
    checks.trail_verify = await fieldsvc_command(env, "trail", "verify")  # after the re-audit: its entries too
    # Grace 0: the load is over, no upload is in flight, so every unreferenced blob is an orphan now.
    checks.cleanup = await fieldsvc_command(env, "blobs", "cleanup", "--grace-minutes", "0")
    return checks


async def verdict_digests(connection) -> dict[str, str]:  # noqa: ANN001
    rows = await connection.fetch("SELECT visit::text, facts_digest FROM audit_result")
    return {row["visit"]: row["facts_digest"] for row in rows}


async def settled(connection, limit: float) -> tuple[float, int, dict[str, int]]:  # noqa: ANN001
    """Wait (up to `limit` s) until every completed visit has a final verdict and the outboxes the schema has are
    empty: re-audits and trail chaining may run after the fact's answer. Returns the wait, and what was left."""
    queues = [name for name in QUEUES if await connection.fetchval("SELECT to_regclass($1) IS NOT NULL", name)]
    started = time.monotonic()
    while True:
        pending = await connection.fetchval(
            "SELECT count(*) FROM visit WHERE status = 'completed' AND verdict = 'pending'"
        )
        left = {name: await connection.fetchval(f"SELECT count(*) FROM {name}") for name in queues}
        waited = time.monotonic() - started
        if (pending == 0 and not any(left.values())) or waited > limit:
            return waited, pending, left
        await asyncio.sleep(0.5)


async def fieldsvc_command(env: dict[str, str], *args: str) -> str:
    """A `fieldsvc` operations command against the soak's database and bucket; its output."""
    process = await asyncio.create_subprocess_exec(
        sys.executable, "-m", "fieldsvc", *args, cwd=common.REPO, env=env,
        stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE,
    )  # fmt: skip
    out, err = await process.communicate()
    text = out.decode(errors="replace").strip()
    if process.returncode != 0:
        text += f" (exit {process.returncode}: {err.decode(errors='replace').strip()[-500:]})"
    return text


# -------------------------------------------------------------------------------------------------- report


def report(  # noqa: ANN001
    args, run: Run, checks: Checks, server_log: list[LogLine], started_at: datetime, setup_seconds: float
) -> str:
    journal = run.journal
    calls, attempts = journal.calls, journal.attempts()
    load_seconds = journal.ended or journal.now()
    replays = [c for c in calls if c.role == "replay"]
    racing = [c for c in calls if c.role == "racing replay"]
    facts = [c for c in calls if c.event_id]
    answered = [c for c in calls if c.final is not None and 200 <= c.final < 300]
    refused = Counter(
        f"{c.final} {(c.answer or {}).get('code')} ({c.endpoint})" for c in calls if c.final and c.final >= 400
    )
    originals = len(facts) - len(replays) - len(racing)
    gave_up = [c for c in calls if c.final is None]
    unavailable = [a for _, a in attempts if a.status == 503]
    by_code = Counter(a.code for a in unavailable)
    with_header = sum(1 for a in unavailable if a.retry_after)
    other_5xx = Counter(f"{a.status} {a.code}" for _, a in attempts if a.status and a.status >= 500 and a.status != 503)
    failures = Counter(a.failure for _, a in attempts if a.failure)
    problems = checks.failures() + answer_failures(journal, run.health) + log_failures(run, server_log)
    lines = [
        "# Soak under faults (`bench/soak.py`)",
        "",
        f"Run {started_at:%Y-%m-%d %H:%M} UTC, fieldsvc {code_version()}:",
        "",
        "```",
        command_line(),
        "```",
        "",
        f"**Problems: {'; '.join(problems)}.**" if problems else "**No problems**: every check below held, every"
        " 5xx was a 503 with Retry-After, every request got its 2xx.",
        "",
        f"Machine: {common.machine_note()}. **Co-located on these cores**: the load generator (this script, one"
        f" process), fieldsvc (uvicorn's supervisor and {args.workers} workers), PostgreSQL and moto (its own process),"
        " plus whatever else ran on the machine (`other` below).",
        "",
        (
            f"PostgreSQL: the soak's own cluster ({cluster_note(run.cluster)}), made with `initdb` in a temporary"
            " directory for this run, stopped and deleted after it; the PostgreSQL fault stops and starts only this"
            " cluster (`pg_ctl stop -m fast`, `pg_ctl start`). The machine's shared cluster on 5432 is not used."
        ),
        "",
        "## Load",
        "",
        "| | |",
        "|---|---|",
        f"| phones | {args.technicians} technicians, {args.days} day(s)"
        f" of 5 visits each ({run.visits} visits), every visit played in full |",
        f"| offered rate | {args.rate:g} first sends/s (replays included; retries follow their own backoff);"
        f" planned {run.planned_seconds:.0f} s |",
        f"| requests | {len(calls)} ({len(facts)} facts incl. replays, {len(calls) - len(facts)} summary reads);"
        f" {len(attempts)} attempts with retries |",
        f"| replays (same eventId and body) | {len(replays) + len(racing)}"
        f" = {(len(replays) + len(racing)) / max(1, originals):.1%} of {originals} facts: {len(replays)} after the"
        f" first answer, {len(racing)} racing their original |",
        f"| load window | {load_seconds:.1f} s: {len(answered) / load_seconds:.1f} answered requests/s,"
        f" {len(attempts) / load_seconds:.1f} attempts/s (setup before it: {setup_seconds:.0f} s) |",
        f"| answers | {len(answered)} 2xx, {sum(refused.values())} final 4xx, {len(gave_up)} gave up"
        f" (no 2xx/4xx within {args.give_up:g} s) |",
        f"| 503 | {len(unavailable)} ({with_header} with Retry-After)"
        + "".join(f", {n} {code}" for code, n in by_code.most_common()) + " |",
        "| other 5xx | " + (", ".join(f"{n} x {what}" for what, n in other_5xx.most_common()) or "none") + " |",
        "| no answer | " + (", ".join(f"{n} {what}s" for what, n in failures.most_common()) or "none")
        + f" (client timeout {args.timeout:g} s) |",
        "| `/health/ready` every 0.5 s | "
        + ", ".join(f"{n} x {answer}" for answer, n in sorted(run.health.answers().items())) + " |",
    ]
    if refused:
        lines.append("| final 4xx | " + ", ".join(f"{n} x {what}" for what, n in refused.most_common()) + " |")
    lines += ["", "## Faults", ""]
    lines += fault_table(run, attempts)
    lines += ["", "## Checks (database and bucket after the load and every retry)", ""]
    lines += check_table(checks)
    lines += ["", "## Latency per endpoint", ""]
    lines += endpoint_table(calls, load_seconds)
    lines += [
        "",
        "## CPU over the load window (share of one core; the machine has"
        f" {os.cpu_count()} cores = {os.cpu_count() * 100}%)",
        "",
        ", ".join(f"{party} {share * 100:.0f}%" for party, share in run.cpu.items())
        + ". `loadgen` is this script (phones, checks of answers, health probe); `fieldsvc` the supervisor and its"
        " workers (the killed one up to its death, its replacement from its birth); `postgres` the soak's private"
        " cluster, all its processes (postmaster, backends, checkpointer, WAL writer...), across its restart.",
        "",
        "## Server log",
        "",
    ]
    lines += log_summary(run, server_log)
    return "\n".join(lines) + "\n"


def fault_table(run: Run, attempts: list[tuple[Call, Attempt]]) -> list[str]:
    rows = [
        "| fault | at | detail | 503 (with Retry-After) | other 5xx | no answer | /health/ready not 200 | ready again"
        " | first 2xx of an affected request after |",
        "|---|---|---|---|---|---|---|---|---|",
    ]
    windows = run.windows()
    for fault, (_, end) in zip(run.faults, windows):
        restored = fault.restored if fault.restored is not None else fault.started
        inside = [(c, a) for c, a in attempts if fault.started <= a.started + a.seconds <= end]
        unavailable = [a for _, a in inside if a.status == 503]
        with_header = sum(1 for a in unavailable if a.retry_after)
        other = sum(1 for _, a in inside if a.status and a.status >= 500 and a.status != 503)
        silent = sum(1 for _, a in inside if a.failure)
        ready = run.health.first_ready_after(restored)
        recovered = min(
            (
                a.started + a.seconds
                for c, a in inside
                if a.status and 200 <= a.status < 300 and a.started + a.seconds >= restored
                and (not fault.affects or c.endpoint in fault.affects)
            ),
            default=None,
        )
        detail = fault.detail
        if fault.victim is not None:
            detail += "; that request's attempts: " + ", ".join(_outcome(a) for a in fault.victim.attempts)
        rows.append(
            f"| {fault.name} | {fault.started:.1f} s | {detail} | {len(unavailable)} ({with_header})"
            f" | {other} | {silent} | {run.health.unready_between(fault.started, end)}"
            f" | {_after(ready, restored)} | {_after(recovered, restored)} |"
        )
    outside = [(c, a) for c, a in attempts if not any(s <= a.started + a.seconds <= e for s, e in windows)]
    troubles = [(c, a) for c, a in outside if a.failure or a.status >= 500]
    rows.append(
        "| (outside the fault windows) | | "
        + "; ".join(f"{c.endpoint} at {a.started:.1f} s: {_outcome(a)}" for c, a in troubles[:5])
        + f" | {sum(1 for _, a in outside if a.status == 503)}"
        f" | {sum(1 for _, a in outside if a.status and a.status >= 500 and a.status != 503)}"
        f" | {sum(1 for _, a in outside if a.failure)} | | | |"
    )
    rows += [
        "",
        f"A fault's window runs from its start until {FAULT_TAIL_SECONDS:g} s after the dependency came back (retries"
        " wait out Retry-After). 'no answer': connection refused or reset, or the client's timeout. 'ready again' and"
        " 'first 2xx': seconds after the dependency came back (the replacement worker's start, for the kill);"
        " affected requests are the uploads for S3, all requests otherwise.",
    ]
    return rows


def _outcome(attempt: Attempt) -> str:
    return attempt.failure or f"{attempt.status}" + (f" {attempt.code}" if attempt.code else "")


def _after(at: float | None, restored: float) -> str:
    return "never" if at is None else f"{max(0.0, at - restored):.1f} s"


def check_table(checks: Checks) -> list[str]:
    def listed(items: list, limit: int = 3) -> str:
        return "0" if not items else f"**{len(items)}**: " + "; ".join(str(i) for i in items[:limit])

    outbox = "".join(f"; rows left in {name}: {n}" for name, n in checks.queues_left.items())
    rows = [
        ("visit_event rows", checks.stored),
        ("duplicate facts (eventIds with more than one row; the unique index should prevent it)",
         listed(checks.duplicates)),
        ("lost facts (answered 2xx, not stored)", listed(checks.lost)),
        ("stored under another kind or visit", listed(checks.misplaced)),
        ("rows no phone sent", checks.unknown_rows),
        ("stored although no 2xx reached the phone (gave up, or a 4xx)", checks.unacknowledged_stored),
        ("2xx answers unlike the stored answer (replays must repeat the first answer)", listed(checks.answers_differ)),
        ("eventIds answered 201 twice", listed(checks.created_twice)),
        ("200 answers without `Idempotent-Replay: true`", checks.replays_unmarked),
        ("stored, but the 201 was lost in transit (the phone got the replay on a retry)", checks.stored_answer_lost),
        ("stored, but answered 5xx, then 200 to a retry (it failed after the fact's commit; not counted as a"
         " problem: the phone retries and gets the replay)", listed(checks.stored_answered_5xx)),
        ("acknowledged uploads without exactly one photo row",
         f"{listed(checks.photo_rows_wrong)} of {checks.uploads}"),
        ("blob keys referenced by photo rows missing from S3",
         f"{listed(checks.missing_keys)} of {checks.referenced_keys}"),
        ("stored facts without exactly one `fact.*` trail entry", listed(checks.trail_wrong)),
        ("`fieldsvc trail verify` (after the re-audit below)", checks.trail_verify),
        ("acknowledged completions whose visit is not completed",
         f"{listed(checks.not_completed)} of {checks.completed}"),
        ("completed visits without a final verdict after settling",
         f"{checks.verdict_pending} (waited {checks.settle_seconds:.1f} s{outbox})"),
        ("verdicts a full `fieldsvc audit rerun` changed (re-audits skipped under faults)",
         f"{listed(checks.stale_verdicts)} ({checks.rerun})"),
        ("unreferenced blobs before cleanup", listed(checks.orphan_keys)),
        ("`fieldsvc blobs cleanup --grace-minutes 0`", checks.cleanup),
        ("`fieldsvc serve` stopped with SIGINT after the checks (a worker stuck in its shutdown shows here)",
         checks.shutdown),
    ]  # fmt: skip
    return ["| check | result |", "|---|---|", *(f"| {name} | {result} |" for name, result in rows)]


def endpoint_table(calls: list[Call], load_seconds: float) -> list[str]:
    rows = [
        "| endpoint | requests | replays | attempts | 2xx | 2xx/s | p50 ms | p99 ms | max ms | until answered p99 ms |",
        "|---|---|---|---|---|---|---|---|---|---|",
    ]
    by_endpoint: dict[str, list[Call]] = defaultdict(list)
    for call in calls:
        by_endpoint[call.endpoint].append(call)
    for endpoint, group in sorted(by_endpoint.items(), key=lambda item: -len(item[1])):
        ok = [a.seconds for c in group for a in c.attempts if a.status and 200 <= a.status < 300]
        whole = [c.seconds for c in group if c.final and 200 <= c.final < 300]
        rows.append(
            f"| {endpoint} | {len(group)} | {sum(1 for c in group if 'replay' in c.role)}"
            f" | {sum(len(c.attempts) for c in group)} | {len(ok)} | {len(ok) / load_seconds:.2f}"
            f" | {common.percentile(ok, 50) * 1000:.0f} | {common.percentile(ok, 99) * 1000:.0f}"
            f" | {max(ok, default=float('nan')) * 1000:.0f} | {common.percentile(whole, 99) * 1000:.0f} |"
        )
    rows += [
        "",
        "p50/p99/max: each 2xx attempt, request sent to answer read. 'until answered': from a request's first attempt"
        " to its 2xx, retries and waits (Retry-After) included.",
    ]
    return rows


WORKER_NOTES = re.compile(r"Started server process|Child process .* died")
UUIDS = re.compile(r"[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}")
# Numbers, hex with a digit (hashes), and two-hex-digit key prefixes (".../original/ab/...").
NUMBERS = re.compile(r"\b(?=[0-9a-f]*[0-9])[0-9a-f]+\b|(?<=/)[0-9a-f]{2}(?=/)")


ERROR_LEVELS = ("ERROR", "CRITICAL", "TRACEBACK")


@dataclass(frozen=True)
class LogLine:
    level: str  # the line's level; TRACEBACK for a raw traceback outside the JSON log (a crash)
    shape: str  # the message with ids and numbers blanked, to count alike lines together
    sample: str  # the message and the last line of its exception
    at: float | None  # epoch seconds (the log has whole seconds); None for raw lines


def server_log_lines(text: str) -> list[LogLine]:
    """The service's warnings and errors, and uvicorn's notes on workers dying and starting."""
    found = []
    for line in text.splitlines():
        try:
            entry = json.loads(line)
        except ValueError:  # not the service's JSON: Piccolo's migration chatter, or a crash's raw traceback
            if "Traceback" in line:
                found.append(LogLine("TRACEBACK", line.strip()[:160], line.strip()[:200], None))
            continue
        message = entry.get("msg", "")
        if entry.get("level") not in ("WARNING", *ERROR_LEVELS) and not WORKER_NOTES.search(message):
            continue
        last = (entry.get("exc") or "").strip().splitlines()[-1:] or [""]
        at = datetime.strptime(entry["ts"], "%Y-%m-%dT%H:%M:%S%z").timestamp()
        shape = NUMBERS.sub("N", UUIDS.sub("ID", message))[:160]
        found.append(LogLine(entry.get("level"), shape, f"{message[:200]} {last[0][:200]}".strip(), at))
    return found


def in_window(run: Run, line: LogLine) -> bool:
    """Whether a log line falls in a fault's window (a second either side: the log's clock has whole seconds)."""
    if line.at is None:
        return False
    at = line.at - run.journal.wall_started
    return any(start - 1 <= at <= end + 1 for start, end in run.windows())


def log_summary(run: Run, lines: list[LogLine]) -> list[str]:
    """Warnings and errors of the service by message shape, with how many fell outside the fault windows."""
    seen: Counter = Counter()
    outside: Counter = Counter()
    samples: dict[str, str] = {}
    for line in lines:
        key = f"{line.level}: {line.shape}"
        seen[key] += 1
        outside[key] += 0 if in_window(run, line) else 1
        samples.setdefault(key, line.sample)
    if not seen:
        return ["No warnings or errors logged."]
    rows = [
        "| lines | outside the fault windows | level: message (ids and numbers blanked) | first one |",
        "|---|---|---|---|",
    ]
    rows += [
        f"| {n} | {outside[key]} | {key} | {samples[key]} |".replace("\n", " ") for key, n in seen.most_common(25)
    ]
    return rows


def code_version() -> str:
    def git(*args: str) -> str:
        try:
            return subprocess.run(["git", "-C", str(common.REPO), *args], capture_output=True, text=True).stdout.strip()
        except OSError:
            return ""

    commit = git("rev-parse", "--short", "HEAD")
    if not commit:
        return "(not a git checkout)"
    dirty = git("status", "--porcelain", "--", "fieldsvc", "migrations")
    return f"commit {commit}" + (" with uncommitted changes in fieldsvc/ or migrations/" if dirty else "")


def command_line() -> str:
    """This command line, with the `flock` wrapper around it if there is one (the machine's benchmark lock)."""
    command = " ".join([".venv/bin/python", "bench/soak.py", *sys.argv[1:]])
    try:
        parent = Path(f"/proc/{os.getppid()}/cmdline").read_bytes().split(b"\0")
    except OSError:
        return command
    if parent and Path(parent[0].decode(errors="replace")).name == "flock" and len(parent) > 1:
        lock = next((arg.decode(errors="replace") for arg in parent[1:] if arg and not arg.startswith(b"-")), "")
        return f"flock {lock} {command}" if lock else command
    return command


def cluster_note(cluster: faults.PrivateCluster) -> str:
    settings = ", ".join(
        f"{name} {cluster.SETTINGS[name].strip(chr(39))}"
        for name in ("fsync", "synchronous_commit", "max_connections", "shared_buffers")
    )
    return f"{cluster.version}, 127.0.0.1:{cluster.port}, trust auth, {settings}"


# ---------------------------------------------------------------------------------------------------- main


def stop_service(server: common.Server) -> tuple[str, list[int], bool]:
    """Stop fieldsvc as an operator would (SIGINT to uvicorn's supervisor, Server.stop) and see that everything
    went: the supervisor exits by itself, and so does every worker. A worker whose shutdown hangs (closing a pool
    that waits for a connection never given back) outlives a supervisor killed after Server.stop's wait; what is
    left is killed here (these are the soak's own processes) and reported."""
    tree = faults.process_tree(server.pid)
    started = time.monotonic()
    server.stop()
    seconds = time.monotonic() - started
    killed = server.process.returncode == -signal.SIGKILL
    # multiprocessing's resource tracker (a child of the supervisor) exits once the last process holding its pipe
    # has: a moment after the supervisor, so give the tree a few seconds before counting what is left.
    give_up = time.monotonic() + EXIT_GRACE_SECONDS
    while (left := [pid for pid in tree if faults.alive(pid)]) and time.monotonic() < give_up:
        time.sleep(0.05)
    for pid in left:
        try:
            os.kill(pid, signal.SIGKILL)
        except ProcessLookupError:
            pass
    note = (
        f"supervisor NOT exited after {seconds:.0f} s: killed" if killed
        else f"supervisor exited {server.process.returncode} after {seconds:.1f} s"
    )  # fmt: skip
    note += f"; {len(tree)} processes" + (f", **{len(left)} still running** (killed): {left}" if left else ", all gone")
    if killed or left:
        log(f"fieldsvc did not shut down cleanly: {note}")
    return note, left, killed


def s3_env(s3: faults.S3Endpoint) -> dict[str, str]:
    from tests.moto_server import ACCESS_KEY_ID, REGION, SECRET_ACCESS_KEY

    return {
        "FIELDSVC_BLOB_BACKEND": "s3",
        "FIELDSVC_S3_BUCKET": BUCKET,
        "FIELDSVC_S3_REGION": REGION,
        "FIELDSVC_S3_ENDPOINT_URL": s3.url,
        "FIELDSVC_S3_ACCESS_KEY_ID": ACCESS_KEY_ID,
        "FIELDSVC_S3_SECRET_ACCESS_KEY": SECRET_ACCESS_KEY,
    }


async def main(args: argparse.Namespace) -> int:
    started_at, clock = datetime.now(UTC), time.monotonic()
    # A SIGTERM ends the run like Ctrl-C does: through every finally below (servers stopped, the cluster deleted).
    asyncio.get_running_loop().add_signal_handler(signal.SIGTERM, asyncio.current_task().cancel)
    cluster = faults.PrivateCluster()
    status = None
    try:
        cluster.create()  # blocking on purpose: nothing else runs yet, and a Ctrl-C waits for initdb to finish
        log(f"private PostgreSQL cluster up on {common.HOST}:{cluster.port}: {cluster.version}, data in {cluster.data}")
        status = await run_and_check(args, started_at, clock, cluster)
        return status
    finally:
        cluster.destroy(keep_log=status != 0)
        if not cluster.root.exists():
            log(f"private PostgreSQL cluster stopped and {cluster.root} deleted")


async def run_and_check(  # noqa: ANN001
    args, started_at: datetime, clock: float, cluster: faults.PrivateCluster
) -> int:
    rng = random.Random(args.seed)
    with common.temp_dir("fieldsvc-soak-") as data_dir:
        dsn = await faults.create_database(cluster, "fieldsvc_soak")
        log(f"seeding {args.technicians} technicians x {args.days} day(s) x 5 visits ...")
        seeded = await common.seed(common.settings_for(dsn, data_dir), args.technicians, args.days, rng=rng)
        media = {visit.id: visit_media(visit, rng) for visit in seeded.visits}
        s3 = faults.S3Endpoint()
        try:
            await s3.wait_ready()
            await asyncio.to_thread(faults.create_bucket, s3, BUCKET)
            env = s3_env(s3)
            server = common.start_fieldsvc(dsn, data_dir, workers=args.workers, extra_env=env)
            try:
                await server.wait_ready("/health/ready")
                log(f"fieldsvc up on port {server.port} (supervisor pid {server.pid}, workers"
                    f" {faults.worker_pids(server.pid)}), S3 (moto) on port {s3.port}")
                tokens = {name: await common.login(server.port, name) for name in seeded.technicians}
                setup_seconds = time.monotonic() - clock
                run = await soak(args, seeded, media, tokens, server, s3, cluster)
                log("checking the database and the bucket ...")
                command_env = {**common.service_env(dsn, data_dir), **env}
                checks = await check(run.journal, dsn, s3, command_env, args.settle)
                server_log = server_log_lines(server.log_path.read_text(errors="replace"))
            finally:
                stopped = stop_service(server)
            checks.shutdown, checks.shutdown_left, checks.shutdown_killed = stopped
        finally:
            s3.close()
    text = report(args, run, checks, server_log, started_at, setup_seconds)
    print(text)
    if args.results:
        args.results.write_text(text)
        log(f"wrote {args.results}")
    problems = checks.failures() + answer_failures(run.journal, run.health) + log_failures(run, server_log)
    log(f"total {time.monotonic() - clock:.0f} s; problems: {'; '.join(problems) or 'none'}")
    return 1 if problems else 0


def parse(argv: list[str]) -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        description="Phones playing whole technician days against fieldsvc (uvicorn workers, PostgreSQL, S3 on moto)"
        " at a fixed rate, with replays and retries, while PostgreSQL is stopped, the S3 endpoint is stopped and a"
        " worker is killed mid-upload; then every fact is checked in the database, the bucket and the trail."
        " See bench/README.md.",
    )
    parser.add_argument("--workers", type=int, default=2, help="uvicorn worker processes of `fieldsvc serve`")
    parser.add_argument("--technicians", type=int, default=24, help="phones, each playing its technician's days")
    parser.add_argument("--days", type=int, default=1, help="days of 5 visits each technician plays")
    parser.add_argument("--rate", type=float, default=24.0, help="first sends per second, all phones together")
    parser.add_argument("--replay-share", type=float, default=0.10, help="facts sent again with the same eventId")
    parser.add_argument("--race-share", type=float, default=0.3, help="of the replays, those sent with the original")
    parser.add_argument("--timeout", type=float, default=15.0, help="seconds a phone waits for an answer")
    parser.add_argument("--give-up", type=float, default=120.0, help="seconds after which a phone stops retrying")
    parser.add_argument("--pg-fault", action=argparse.BooleanOptionalAction, default=True, help="stop PostgreSQL")
    parser.add_argument("--pg-down", type=float, default=3.0, help="seconds PostgreSQL stays stopped")
    parser.add_argument("--s3-fault", action=argparse.BooleanOptionalAction, default=True, help="stop the S3 endpoint")
    parser.add_argument("--s3-down", type=float, default=5.0, help="seconds the S3 endpoint stays stopped")
    parser.add_argument(
        "--kill-fault", action=argparse.BooleanOptionalAction, default=True, help="SIGKILL a worker mid-upload"
    )
    parser.add_argument("--settle", type=float, default=60.0, help="seconds to wait for verdicts after the load")
    parser.add_argument("--seed", type=int, default=5)
    parser.add_argument(
        "--results", type=lambda text: Path(text) if text else None, default=RESULTS,
        help="the markdown report to write ('' for none)",
    )  # fmt: skip
    return parser.parse_args(argv)


if __name__ == "__main__":
    try:
        sys.exit(common.run(lambda: main(parse(sys.argv[1:]))))
    except asyncio.CancelledError:  # SIGTERM, after every finally has run
        sys.exit(143)
