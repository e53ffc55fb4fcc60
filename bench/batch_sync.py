"""Offline batch sync: one POST /v1/mobile/sync of 500 facts for one visit, time per fact, and its replay.

    .venv/bin/python bench/batch_sync.py [--facts 500] [--trials 3] [--profile FILE | --trace]

1. A fresh PostgreSQL database, the real migrations, technicians and their assigned visits (five a day, so each fact
   re-audits the technician's neighbouring visits as in real life), the real service in its own process.
2. Floor, in this process with raw asyncpg on one connection: the same number of VisitEvent-shaped rows, each
   INSERT ... ON CONFLICT (event_id) DO NOTHING in its own transaction (the service commits each fact on its own,
   by design), into `bench_visit_event`, a copy of `visit_event`; and for the replay, one SELECT by event_id each.
3. The batch: one request with --facts JSON facts of mixed kinds for one visit (steps, notes, test results,
   questions, arrival/leave/return/checkout check-ins), recorded hours after the fact by the phone's clocks.
   Then the same request again: every fact a duplicate, answered from its stored first answer.
   --trials times, each on another technician's visit, with the floor measured right before each; medians at the
   end. A 100-fact warm-up batch (another technician) comes first and is printed too.

The client, the service and PostgreSQL share the machine's 2 cores. Numbers, not assertions.
"""

from __future__ import annotations

import argparse
import asyncio
import hashlib
import random
import sys
import time
from collections import Counter
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any
from uuid import uuid4

import msgspec

sys.path.insert(0, str(Path(__file__).resolve().parent))
sys.dont_write_bytecode = True  # no bench/__pycache__ from importing _common

import _common as common  # noqa: E402
from _common import HOST, HttpClient, log  # noqa: E402

# Timed inside the service with --trace (wall clock per call, waits included).
TRACE = (
    "fieldsvc.mobile.service:MobileService._sync_one",
    *common.FACT_PATH_TRACE,
    "fieldsvc.verdicts.service:affected_visits",
    "fieldsvc.verdicts.service:load_visits",
    "fieldsvc.verdicts.service:audit_visit",
)


FLOOR_INSERT = """
INSERT INTO bench_visit_event (
    id, event_id, visit, technician, kind, body_digest, payload, result, device_time, device_elapsed_ms,
    clock_offset_ms, corrected_time, time_source, server_received_at, latitude, longitude, accuracy_m, fix_time, mock
) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, 0, $9, 'elapsed', $11, $12, $13, $14, $15, $16)
ON CONFLICT (event_id) DO NOTHING RETURNING id
"""
WARMUP_FACTS = 100


def facts_for(visit: common.SeededVisit, count: int, rng: random.Random, sent_at: datetime, sent_elapsed: int):
    """A day's facts as a phone queues them offline: on the way, arrival, steps, notes, tests, questions, a break
    (leave + return), checkout; every fact with its wall time and monotonic time, minutes apart, hours ago."""
    kinds = ["on_my_way", "arrival"]
    middle = count - 3
    pool = (
        ["step"] * 30 + ["note"] * 25 + ["test_result"] * 15 + ["question"] * 10 + ["break"] * 10 + ["arrival"] * 10
    )
    while len(kinds) < 2 + middle:
        kind = rng.choice(pool)
        if kind == "break":
            if len(kinds) + 2 > 2 + middle:
                continue
            kinds += ["leave", "return"]
        else:
            kinds.append(kind)
    kinds.append("checkout")
    facts = []
    for index, kind in enumerate(kinds):
        ago = timedelta(seconds=(len(kinds) - index) * 30 + 2 * 3600)  # the phone was offline for two hours after
        device_time = sent_at - ago
        body: dict[str, Any] = {
            "eventId": str(uuid4()),
            "deviceTime": device_time.isoformat(),
            "deviceElapsedMs": sent_elapsed - int(ago.total_seconds() * 1000),
        }
        if kind in ("arrival", "return", "checkout"):
            body["location"] = {
                "latitude": visit.latitude + rng.uniform(-0.0002, 0.0002),
                "longitude": visit.longitude + rng.uniform(-0.0002, 0.0002),
                "accuracyM": round(rng.uniform(4, 20), 1),
                "fixTime": device_time.isoformat(),
                "mock": False,
            }
        elif kind == "step":
            step = rng.choice(("V-ID", "V-MAT", "V-CONSENT", "V-SHOES"))
            body["step"] = step
            if step == "V-CONSENT":
                body["consentScope"] = rng.choice(("bedroom_or_study", "move_items", "use_facilities"))
        elif kind == "note":
            body.update(topic="general", text=f"Router moved to the hallway shelf, cable run {rng.randrange(3, 30)} m.")
        elif kind == "test_result":
            body.update(
                downloadMbps=round(rng.uniform(200, 950), 1), uploadMbps=round(rng.uniform(20, 100), 1),
                latencyMs=round(rng.uniform(3, 30), 1), customerAccepted=True,
            )  # fmt: skip
        elif kind == "question":
            body["question"] = "Can the optical modem be moved to the study without a new drop cable?"
        elif kind == "leave":
            body.update(willReturn=True, reason="Fetching a longer patch cable from the van")
        elif kind == "on_my_way":
            body["etaMinutes"] = 25
        facts.append({"type": "step" if kind == "step" else kind, "visitId": visit.id, "body": body})
    return facts


async def sync(port: int, token: str, facts: list[dict], sent_at: datetime, sent_elapsed: int):  # noqa: ANN201
    client = HttpClient(HOST, port)
    try:
        body = msgspec.json.encode({"facts": facts})
        headers = (
            ("Authorization", f"Bearer {token}"),
            ("X-Device-Clock", sent_at.isoformat()),
            ("X-Device-Elapsed-Ms", str(sent_elapsed)),
            ("Content-Type", "application/json"),
        )
        started = time.perf_counter()
        reply = await asyncio.wait_for(client.request("POST", "/v1/mobile/sync", headers, body), timeout=600)
        elapsed = time.perf_counter() - started
    finally:
        await client.close()
    if reply.status != 200:
        raise RuntimeError(f"sync answered {reply.status}: {reply.body[:500]!r}")
    receipts = reply.json()["receipts"]
    return elapsed, Counter(r["status"] for r in receipts), [r for r in receipts if r["status"] == "rejected"], len(body)


async def floor(dsn: str, visit: common.SeededVisit, facts: list[dict]) -> tuple[float, float]:
    """Raw asyncpg, one connection: each fact's row inserted in its own transaction; then each read back by id."""
    import asyncpg

    connection = await asyncpg.connect(dsn)
    try:
        technician = await connection.fetchval("SELECT technician FROM visit WHERE id = $1", visit.id)
        rows = []
        now = datetime.now(UTC)
        for fact in facts:
            body = fact["body"]
            payload = msgspec.json.encode(body).decode()
            location = body.get("location") or {}
            device_time = datetime.fromisoformat(body["deviceTime"])
            rows.append(
                (
                    uuid4(), body["eventId"], visit.id, technician, fact["type"],
                    hashlib.sha256(payload.encode()).hexdigest(), payload, '{"kind": "%s"}' % fact["type"],
                    device_time, body["deviceElapsedMs"], now, location.get("latitude"), location.get("longitude"),
                    location.get("accuracyM"), device_time if location else None, location.get("mock"),
                )
            )  # fmt: skip
        statement = await connection.prepare(FLOOR_INSERT)
        started = time.perf_counter()
        for values in rows:
            async with connection.transaction():
                await statement.fetchval(*values)
        insert_seconds = time.perf_counter() - started
        select = await connection.prepare("SELECT * FROM bench_visit_event WHERE event_id = $1")
        started = time.perf_counter()
        for values in rows:
            await select.fetchrow(values[1])
        return insert_seconds, time.perf_counter() - started
    finally:
        await connection.close()


def per_fact_ms(seconds: float, count: int) -> float:
    return seconds / count * 1000


async def main(args: argparse.Namespace) -> int:
    rng = random.Random(17)
    with common.temp_dir("fieldsvc-bench-") as data_dir:
        async with common.scratch_database("fieldsvc_bench_sync") as dsn:
            log("seeding ...")
            # One technician per trial (and one for the warm-up): each fact re-audits the technician's visits of the
            # day around it, so a trial must not inherit another trial's 500 facts on a neighbouring visit.
            seeded = await common.seed(common.settings_for(dsn, data_dir), args.trials + 1, 2, rng=rng)
            await common.create_scratch_table(dsn)
            first_visit = {}
            for visit in seeded.visits:
                first_visit.setdefault(visit.username, visit)
            warm_tech, *trial_techs = seeded.technicians
            sent_at, sent_elapsed = datetime.now(UTC), 86_400_000
            warm_batch = facts_for(first_visit[warm_tech], WARMUP_FACTS, rng, sent_at, sent_elapsed)
            batches = [facts_for(first_visit[tech], args.facts, rng, sent_at, sent_elapsed) for tech in trial_techs]
            mix = Counter(f["type"] for f in batches[0])

            print(f"Batch sync of {args.facts} facts for one visit, on PostgreSQL (same run)")
            print(f"machine: {common.machine_note()}; client, service and PostgreSQL share these cores")
            print(f"mix: {', '.join(f'{k} {n}' for k, n in mix.most_common())}")
            print(
                f"{args.trials} trials, each a different technician's visit; the floor measured right before each"
            )
            if args.profile:
                print("NOTE: fieldsvc runs under cProfile: its figures are slowed down and not the benchmark's.")
            if args.trace:
                print("NOTE: fieldsvc runs with timers around its main steps (--trace); they are printed at the end.")
            print()
            sync_ms, replay_ms, sync_ratio, replay_ratio = [], [], [], []
            async with common.running_fieldsvc(
                dsn, data_dir, profile=args.profile, trace=TRACE if args.trace else ()
            ) as server:
                tokens = {tech: await common.login(server.port, tech) for tech in seeded.technicians}
                seconds, statuses, rejected, size = await sync(
                    server.port, tokens[warm_tech], warm_batch, sent_at, sent_elapsed
                )
                print(
                    f"warm-up  sync {WARMUP_FACTS} facts (first request)        {seconds:6.2f} s"
                    f" {per_fact_ms(seconds, WARMUP_FACTS):7.2f} ms/fact   [{dict(statuses)}]"
                )
                for trial, (tech, batch) in enumerate(zip(trial_techs, batches), start=1):
                    quiet = await common.wait_for_quiet()
                    floor_insert, floor_select = await floor(dsn, first_visit[tech], batch)
                    floor_insert_ms = per_fact_ms(floor_insert, len(batch))
                    floor_select_ms = per_fact_ms(floor_select, len(batch))
                    print(f"trial {trial}: {quiet}")
                    print(
                        f"  floor  raw asyncpg INSERT, own transaction each {floor_insert:6.2f} s"
                        f" {floor_insert_ms:7.2f} ms/fact"
                    )
                    print(
                        f"  floor  raw asyncpg SELECT by event id           {floor_select:6.2f} s"
                        f" {floor_select_ms:7.2f} ms/fact"
                    )
                    for label, floor_ms, times, ratios in (
                        (f"sync   {len(batch)} facts, one visit            ", floor_insert_ms, sync_ms, sync_ratio),
                        (f"replay {len(batch)} facts (all duplicates)      ", floor_select_ms, replay_ms, replay_ratio),
                    ):
                        meter = common.CpuMeter(server.pid, common.database_name(dsn))
                        with server.phase(f"{label.split()[0]}, all trials"):
                            seconds, statuses, rejected, size = await sync(
                                server.port, tokens[tech], batch, sent_at, sent_elapsed
                            )
                        cpu = meter.read()
                        per_fact = per_fact_ms(seconds, len(batch))
                        times.append(per_fact)
                        ratios.append(per_fact / floor_ms)
                        print(
                            f"  {label}{seconds:6.2f} s {per_fact:7.2f} ms/fact   x{per_fact / floor_ms:.1f} floor"
                            f"   [{dict(statuses)}; body {size / 1024:.0f} KiB; CPU {common.cpu_note(cpu)}]"
                        )
                        for receipt in rejected[:5]:
                            print(f"    rejected #{receipt['index']}: {receipt['code']}: {receipt['message']}")
            print()
            print(
                f"summary: sync of {args.facts} facts: median {common.median(sync_ms):.2f} ms/fact"
                f" ({common.median(sync_ms) * args.facts / 1000:.2f} s per batch), x{common.median(sync_ratio):.1f}"
                f" the one-transaction-per-row insert floor; replay: median {common.median(replay_ms):.2f} ms/fact,"
                f" x{common.median(replay_ratio):.1f} the select-by-id floor"
            )
    return 0


def parse(argv: list[str]) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--facts", type=int, default=500, help="facts in the batch (the API takes at most 500)")
    parser.add_argument("--trials", type=int, default=3, help="batches, each on another technician's visit")
    parser.add_argument("--profile", type=Path, help="run fieldsvc under cProfile, write the stats here, print top")
    parser.add_argument("--trace", action="store_true", help="time the main steps inside fieldsvc (wall clock), print")
    return parser.parse_args(argv)


if __name__ == "__main__":
    sys.exit(common.run(lambda: main(parse(sys.argv[1:]))))
