"""The soak's faults (PostgreSQL stopped, the S3 endpoint stopped, a worker killed) and its view of the machine."""

from __future__ import annotations

import asyncio
import os
import signal
import subprocess
import sys
import time
from collections import Counter
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING
from urllib.parse import urlsplit

sys.path.insert(0, str(Path(__file__).resolve().parent))
sys.dont_write_bytecode = True  # no bench/__pycache__ from importing _common

import _common as common  # noqa: E402
from _common import HOST, HttpClient  # noqa: E402

if TYPE_CHECKING:
    from _soak_phones import Call, Journal

# An upload is killed "mid-upload" once its request has been with the server this long: past the body's arrival,
# into decoding, storing or recording (a 640x480 photo takes the server 50-70 ms; finding the worker, ~10 ms more).
MID_UPLOAD_SECONDS = 0.01
REPLACEMENT_WAIT_SECONDS = 60.0
ANSWERS = {"start": "started", "stop": "stopped"}  # what the S3 endpoint's process says when it has done it


@dataclass
class Fault:
    name: str
    started: float  # seconds since the load began (the journal's clock)
    restored: float | None = None  # the dependency is back (or the replacement worker process started)
    detail: str = ""
    affects: tuple[str, ...] = ()  # the endpoints that need the dependency (empty: all of them)
    victim: Call | None = None  # the request in flight on the killed worker


# ------------------------------------------------------------------------------------------- the S3 endpoint


class S3Endpoint:
    """moto in a process of its own, so that its CPU is its own (not the load generator's GIL).

    Stopping closes the listening socket (connections are refused) but keeps the process, and moto's buckets and
    objects live in the process: the endpoint comes back on the same port with every object, like an S3 service
    after a network outage. Checked by hand: a client's pooled connection is refused after stop(), and an object
    put before the stop is there after start()."""

    def __init__(self) -> None:
        self.port = common.free_port()
        self.log_path = common.log_file("moto")
        with self.log_path.open("ab") as log:
            self.process = subprocess.Popen(
                [sys.executable, str(Path(__file__).resolve()), "serve-s3", str(self.port)],
                cwd=common.REPO,
                stdin=subprocess.PIPE,
                stdout=subprocess.PIPE,
                stderr=log,
                text=True,
            )

    @property
    def url(self) -> str:
        return f"http://{HOST}:{self.port}"

    @property
    def pid(self) -> int:
        return self.process.pid

    async def command(self, word: str) -> None:
        """'stop' or 'start'; returns once the child has done it."""
        self.process.stdin.write(word + "\n")
        self.process.stdin.flush()
        await self._expect(ANSWERS[word])

    async def wait_ready(self) -> None:
        await self._expect(ANSWERS["start"])

    async def _expect(self, answer: str) -> None:
        said = (await asyncio.to_thread(self.process.stdout.readline)).strip()
        if said != answer:
            raise RuntimeError(f"moto process said {said!r}, not {answer!r}; its log: {self.log_path}")

    def close(self) -> None:
        if self.process.poll() is None:
            self.process.stdin.close()  # the child stops its server and exits at end of input
            try:
                self.process.wait(10)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait(5)
        if "Traceback" in self.log_path.read_text(errors="replace"):
            common.log(f"moto logged errors: kept its log at {self.log_path}")
        else:
            self.log_path.unlink(missing_ok=True)


def create_bucket(endpoint: S3Endpoint, bucket: str) -> None:
    s3_client(endpoint).create_bucket(Bucket=bucket)


def list_keys(endpoint: S3Endpoint, bucket: str) -> set[str]:
    keys: set[str] = set()
    for page in s3_client(endpoint).get_paginator("list_objects_v2").paginate(Bucket=bucket):
        keys.update(entry["Key"] for entry in page.get("Contents", []))
    return keys


def s3_client(endpoint: S3Endpoint):  # noqa: ANN201
    import boto3
    from botocore.config import Config

    from tests.moto_server import ACCESS_KEY_ID, REGION, SECRET_ACCESS_KEY

    return boto3.session.Session().client(
        "s3", endpoint_url=endpoint.url, region_name=REGION, aws_access_key_id=ACCESS_KEY_ID,
        aws_secret_access_key=SECRET_ACCESS_KEY, config=Config(s3={"addressing_style": "path"}),
    )  # fmt: skip


async def s3_outage(endpoint: S3Endpoint, seconds: float, journal: Journal) -> Fault:
    fault = Fault("S3 endpoint stopped", journal.now(), affects=("photos", "signature"))
    try:
        await endpoint.command("stop")
        await asyncio.sleep(seconds)
    finally:
        await endpoint.command("start")
        fault.restored = journal.now()
    down = fault.restored - fault.started
    fault.detail = f"moto's listener closed for {down:.1f} s, then reopened on port {endpoint.port}"
    return fault


def serve_s3(port: int) -> int:
    """`python bench/_soak_faults.py serve-s3 PORT`: the S3 endpoint's own process, moto's ThreadedMotoServer (through
    tests/moto_server.py) on 127.0.0.1:PORT, stopped and started again on the same port when told so on stdin."""
    from tests.moto_server import MotoS3Server

    signal.signal(signal.SIGINT, signal.SIG_IGN)  # a Ctrl-C is the soak's to handle: it stops this process last
    server = MotoS3Server(port)
    server.start()
    print("started", flush=True)
    for line in sys.stdin:  # the soak's commands; end of input (the soak is gone) ends this process
        word = line.strip()
        if word == "start":
            server.start()
        elif word == "stop":
            server.stop()
        else:
            continue
        print(ANSWERS[word], flush=True)
    server.stop()
    return 0


# ------------------------------------------------------------------------------------------------ PostgreSQL


@dataclass(frozen=True)
class Cluster:
    version: str
    name: str

    def command(self, action: str) -> list[str]:
        return ["pg_ctlcluster", "--skip-systemctl-redirect", self.version, self.name, action]

    def running(self) -> bool:
        return subprocess.run(self.command("status"), capture_output=True).returncode == 0


def local_cluster(database_url: str) -> Cluster | None:
    """The cluster on this machine that serves the benchmark's PostgreSQL URL, if any (pg_lsclusters)."""
    parts = urlsplit(database_url)
    if parts.hostname not in ("127.0.0.1", "localhost", "::1"):
        return None
    try:
        listing = subprocess.run(["pg_lsclusters", "--no-header"], capture_output=True, text=True, check=True).stdout
    except (OSError, subprocess.CalledProcessError):
        return None
    for line in listing.splitlines():
        version, name, port, *_ = line.split()
        if int(port) == (parts.port or 5432):
            return Cluster(version, name)
    return None


def ensure_postgres_running(cluster: Cluster) -> bool:
    """Start the cluster until its status says it runs (a start racing a stop that was interrupted can fail once)."""
    for _ in range(60):
        if cluster.running():
            return True
        subprocess.run(cluster.command("start"), capture_output=True, timeout=120, start_new_session=True)
        if cluster.running():
            return True
        time.sleep(0.5)
    return False


async def postgres_outage(cluster: Cluster, seconds: float, journal: Journal) -> Fault:
    """Stop the cluster (fast mode: sessions are disconnected, open transactions rolled back), wait, start it."""
    fault = Fault(f"PostgreSQL stopped ({cluster.version}/{cluster.name}, fast mode)", journal.now())
    try:
        # Its own session: a Ctrl-C must reach this script (which then restarts the cluster), not pg_ctl half-way.
        stop = await asyncio.create_subprocess_exec(
            *cluster.command("stop"), stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, start_new_session=True
        )
        _, error = await stop.communicate()
        if stop.returncode != 0:
            raise RuntimeError(f"pg_ctlcluster stop failed: {error.decode(errors='replace')}")
        down = journal.now()
        await asyncio.sleep(seconds)
    except BaseException:
        ensure_postgres_running(cluster)  # on the loop, blocking: whatever interrupted us, the cluster comes back
        raise
    if not await asyncio.to_thread(ensure_postgres_running, cluster):
        raise RuntimeError("PostgreSQL did not start again: start it by hand (pg_ctlcluster ... start)")
    fault.restored = journal.now()
    fault.detail = (
        f"stop took {down - fault.started:.1f} s; down {fault.restored - down:.1f} s until `start` returned"
    )
    return fault


# --------------------------------------------------------------------------------------------- the workers


def children(pid: int) -> list[int]:
    found = []
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            try:
                if int((entry / "stat").read_text().rsplit(")", 1)[1].split()[1]) == pid:
                    found.append(int(entry.name))
            except (OSError, IndexError, ValueError):
                continue
    return found


def process_tree(pid: int) -> list[int]:
    tree, frontier = [pid], [pid]
    while frontier:
        frontier = [child for parent in frontier for child in children(parent)]
        tree += frontier
    return tree


def worker_pids(server_pid: int) -> list[int]:
    """uvicorn's worker processes: the supervisor's children started by multiprocessing's spawn (not its tracker)."""
    workers = []
    for pid in children(server_pid):
        try:
            if b"spawn_main" in Path(f"/proc/{pid}/cmdline").read_bytes():
                workers.append(pid)
        except OSError:
            continue
    return sorted(workers)


def connection_owner(server_port: int, client_port: int, pids: list[int]) -> int | None:
    """Which of these processes holds the server end of the loopback connection from client_port (/proc/net/tcp
    gives the socket's inode, /proc/PID/fd who has it open)."""
    inode = None
    for table in ("/proc/net/tcp", "/proc/net/tcp6"):
        for line in Path(table).read_text().splitlines()[1:]:
            fields = line.split()
            local, remote = int(fields[1].rsplit(":", 1)[1], 16), int(fields[2].rsplit(":", 1)[1], 16)
            if local == server_port and remote == client_port:
                inode = fields[9]
    if inode is None:
        return None
    target = f"socket:[{inode}]"
    for pid in pids:
        try:
            descriptors = os.listdir(f"/proc/{pid}/fd")
        except OSError:
            continue
        for fd in descriptors:
            try:
                if os.readlink(f"/proc/{pid}/fd/{fd}") == target:
                    return pid
            except OSError:
                continue
    return None


async def kill_worker_mid_upload(server_pid: int, server_port: int, journal: Journal, wait: float) -> Fault:
    """SIGKILL the worker that is serving a photo or signature upload right now (found by its connection); if no
    upload is caught within `wait` seconds, the first worker. Then wait for uvicorn's supervisor to replace it."""
    before = worker_pids(server_pid)
    if not before:
        raise RuntimeError(f"no uvicorn worker under pid {server_pid} to kill")
    deadline = time.monotonic() + wait
    victim, caught, what = None, None, "no upload was in flight: killed a worker that may have been idle"
    while victim is None and time.monotonic() < deadline:
        for client_port, call in list(journal.uploads_in_flight.items()):
            age = journal.now() - call.attempts[-1].started
            if age >= MID_UPLOAD_SECONDS:
                victim = connection_owner(server_port, client_port, before)
                if victim is not None:
                    found = journal.now() - call.attempts[-1].started
                    caught = call
                    what = (
                        f"it was serving {call.endpoint} upload {call.event_id} ({call.role}, {found * 1000:.0f} ms in)"
                    )
                    break
        else:
            await asyncio.sleep(0.005)
    victim = victim or before[0]
    os.kill(victim, signal.SIGKILL)
    fault = Fault(
        "worker killed (SIGKILL)", journal.now(), detail=f"worker pid {victim} of {before}: {what}", victim=caught
    )
    give_up = time.monotonic() + REPLACEMENT_WAIT_SECONDS
    while time.monotonic() < give_up:
        now = worker_pids(server_pid)
        if victim not in now and len(now) == len(before):
            fault.restored = journal.now()
            fault.detail += (
                f"; uvicorn's supervisor started pid {sorted(set(now) - set(before))} in its place"
                f" {fault.restored - fault.started:.1f} s later"
            )
            return fault
        await asyncio.sleep(0.05)
    fault.detail += f"; NOT replaced after {REPLACEMENT_WAIT_SECONDS:.0f} s (workers now {worker_pids(server_pid)})"
    return fault


# ------------------------------------------------------------------------------------------ watching it all


class HealthWatch:
    """GET /health/ready every half second on its own connection: when the service says it can serve."""

    INTERVAL = 0.5

    def __init__(self, port: int, journal: Journal):
        self.port, self.journal = port, journal
        # (seconds since the load began, status or None when unanswered, whether a 503 carried Retry-After)
        self.samples: list[tuple[float, int | None, bool]] = []

    async def run(self, stop: asyncio.Event) -> None:
        client = HttpClient(HOST, self.port)
        try:
            while not stop.is_set():
                at = self.journal.now()
                try:
                    reply = await asyncio.wait_for(client.request("GET", "/health/ready"), 5)
                    status, retry_after = reply.status, "retry-after" in reply.headers
                except (OSError, EOFError):  # TimeoutError included
                    await client.close()
                    status, retry_after = None, False
                self.samples.append((at, status, retry_after))
                await asyncio.sleep(self.INTERVAL)
        finally:
            await client.close()

    def first_ready_after(self, at: float) -> float | None:
        return next((t for t, status, _ in self.samples if t >= at and status == 200), None)

    def unready_between(self, start: float, end: float) -> int:
        return sum(1 for t, status, _ in self.samples if start <= t <= end and status != 200)

    def answers(self) -> Counter:
        def answer(status: int | None, retry_after: bool) -> str:
            if status is None:
                return "no answer"  # its connection was on the killed worker, or the service was down
            return f"{status}" + (" without Retry-After" if status == 503 and not retry_after else "")

        return Counter(answer(status, retry_after) for _, status, retry_after in self.samples)


class CpuLedger:
    """CPU seconds of each party over the load, sampled every second per process: a process that dies (the killed
    worker, PostgreSQL's processes when it stops) keeps what it used up to its last sample; one born meanwhile
    (the replacement worker, PostgreSQL after its restart) counts from zero."""

    def __init__(self, server_pid: int, database: str, moto_pid: int):
        self.server_pid, self.database, self.moto_pid = server_pid, database, moto_pid
        self.used: Counter = Counter()
        self.last: dict[tuple[str, int], float] = {}
        self.seconds = 0.0

    def _readings(self) -> dict[tuple[str, int], float]:
        readings = {("fieldsvc", pid): common._process_cpu(pid) for pid in process_tree(self.server_pid)}
        readings |= {("moto", pid): common._process_cpu(pid) for pid in process_tree(self.moto_pid)}
        readings |= {("postgres", pid): cpu for pid, cpu in common._postgres_cpu(self.database).items()}
        readings[("loadgen", os.getpid())] = time.process_time()
        readings[("machine", 0)] = common._machine_busy()
        return readings

    async def run(self, stop: asyncio.Event) -> None:
        self.last = self._readings()
        started = time.monotonic()
        while True:
            try:
                await asyncio.wait_for(stop.wait(), 1.0)
            except TimeoutError:
                pass
            readings = self._readings()
            for key, cpu in readings.items():
                self.used[key[0]] += max(0.0, cpu - self.last.get(key, 0.0))
            self.last.update(readings)
            self.seconds = time.monotonic() - started
            if stop.is_set():
                return

    def shares(self) -> dict[str, float]:
        """Share of one core each party used (the machine has os.cpu_count() cores, so up to that many x 100 %)."""
        if not self.seconds:
            return {}
        shares = {party: self.used[party] / self.seconds for party in ("loadgen", "fieldsvc", "postgres", "moto")}
        shares["other"] = max(0.0, self.used["machine"] / self.seconds - sum(shares.values()))
        return shares


if __name__ == "__main__":
    if len(sys.argv) == 3 and sys.argv[1] == "serve-s3":
        sys.exit(serve_s3(int(sys.argv[2])))
    print(serve_s3.__doc__)
    sys.exit(2)
