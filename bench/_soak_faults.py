"""The soak's faults (its private PostgreSQL cluster stopped, the S3 endpoint stopped, a worker killed), that cluster,
and the soak's view of the machine."""

from __future__ import annotations

import asyncio
import os
import shutil
import signal
import subprocess
import sys
import tempfile
import time
from collections import Counter
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, ClassVar

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
PG_BIN = Path(os.environ.get("FIELDSVC_SOAK_PG_BIN", "/usr/lib/postgresql/15/bin"))  # initdb, pg_ctl, postgres


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


class PrivateCluster:
    """The soak's own PostgreSQL cluster: `initdb` into a temporary directory, started with `pg_ctl`, stopped and
    deleted at the end. Nothing else on the machine uses it, so stopping it for the fault disturbs nobody (the
    machine's shared cluster on 5432 is never touched).

    Trust authentication for `postgres`, listening on 127.0.0.1 on a free port, its unix socket in the directory.
    Durability is real (fsync, synchronous commit, full-page writes: the soak checks that nothing acknowledged is
    lost across a fast-mode stop); memory and connections are sized for a small box. When run as root, initdb,
    pg_ctl and the server run as the `postgres` OS user (`runuser`), and the directory is theirs."""

    SETTINGS: ClassVar[dict[str, str]] = {
        "listen_addresses": "'127.0.0.1'",
        "max_connections": "50",  # 2 workers x a pool of 10, the checker, `fieldsvc audit rerun` and its workers
        "superuser_reserved_connections": "3",
        "shared_buffers": "128MB",
        "work_mem": "4MB",
        "maintenance_work_mem": "64MB",
        "max_wal_size": "512MB",
        "fsync": "on",
        "synchronous_commit": "on",
        "full_page_writes": "on",
        "max_worker_processes": "4",
        "max_parallel_workers": "2",
        "max_parallel_workers_per_gather": "0",
        "timezone": "'UTC'",
        "log_timezone": "'UTC'",
        "log_line_prefix": "'%m [%p] '",
        "log_min_messages": "warning",
    }

    def __init__(self) -> None:
        self.root = Path(tempfile.mkdtemp(prefix="fieldsvc-soak-pg-"))
        self.data = self.root / "data"
        self.log_path = self.root / "postgres.log"
        self.port = common.free_port()
        self.as_postgres = os.geteuid() == 0
        self.version = ""  # `postgres -V`, once created
        if self.as_postgres:
            shutil.chown(self.root, "postgres", "postgres")

    def url(self, database: str = "postgres") -> str:
        return f"postgresql://postgres@{HOST}:{self.port}/{database}"

    def _command(self, program: str, *args: str) -> list[str]:
        command = [str(PG_BIN / program), *args]
        return ["runuser", "-u", "postgres", "--", *command] if self.as_postgres else command

    def _pg_ctl(self, *args: str) -> list[str]:
        return self._command("pg_ctl", "-D", str(self.data), *args)

    def _run(self, command: list[str], timeout: float = 120.0) -> subprocess.CompletedProcess:
        # Its own session: a Ctrl-C must reach this script (which then stops the cluster), not pg_ctl half-way.
        return subprocess.run(
            command, cwd=self.root, capture_output=True, text=True, timeout=timeout, start_new_session=True, check=False
        )

    def create(self) -> None:
        """initdb, the settings, start: returns once the server accepts connections."""
        done = self._run(
            self._command(
                "initdb", "-D", str(self.data), "-U", "postgres", "--auth=trust", "--encoding=UTF8",
                "--locale=C.UTF-8", "--no-instructions",
            )
        )  # fmt: skip
        if done.returncode != 0:
            raise RuntimeError(f"initdb failed: {done.stdout}{done.stderr}")
        self.version = self._run(self._command("postgres", "-V")).stdout.strip()
        settings = {**self.SETTINGS, "port": str(self.port), "unix_socket_directories": f"'{self.root}'"}
        with (self.data / "postgresql.conf").open("a") as conf:
            conf.write("\n# bench/soak.py\n" + "".join(f"{name} = {value}\n" for name, value in settings.items()))
        self.start()

    def start(self) -> None:
        done = self._run(self._pg_ctl("start", "-w", "-t", "60", "-l", str(self.log_path)))
        if done.returncode != 0:
            raise RuntimeError(f"pg_ctl start failed: {done.stdout}{done.stderr}\n{self.log_tail()}")

    def stop(self, mode: str = "fast") -> None:
        done = self._run(self._pg_ctl("stop", "-m", mode, "-w", "-t", "60"))
        if done.returncode != 0:
            raise RuntimeError(f"pg_ctl stop -m {mode} failed: {done.stdout}{done.stderr}")

    def running(self) -> bool:
        return self.data.is_dir() and self._run(self._pg_ctl("status"), timeout=30).returncode == 0

    def postmaster_pid(self) -> int | None:
        try:
            return int((self.data / "postmaster.pid").read_text().split()[0])
        except (OSError, IndexError, ValueError):
            return None

    def pids(self) -> list[int]:
        """The postmaster and every process it started (backends, checkpointer, WAL writer...): all of them ours."""
        pid = self.postmaster_pid()
        return process_tree(pid) if pid and Path(f"/proc/{pid}").exists() else []

    def log_tail(self, lines: int = 20) -> str:
        try:
            return "\n".join(self.log_path.read_text(errors="replace").splitlines()[-lines:])
        except OSError:
            return ""

    def destroy(self, keep_log: bool = False) -> None:
        """Stop the server (fast mode, else immediate) and delete the directory; the server's log is copied out
        first when asked (a run that found problems). Never raises: it runs on the way out of every run."""
        for mode in ("fast", "immediate"):
            try:
                if not self.running():
                    break
                self.stop(mode)
            except (OSError, RuntimeError, subprocess.TimeoutExpired) as error:
                common.log(f"private PostgreSQL cluster: {error}")
        if self.postmaster_pid() and self.running():
            common.log(f"the private PostgreSQL cluster in {self.data} still runs: deleting its directory anyway")
        if keep_log and self.log_path.exists():
            kept = common.log_file("postgres")
            shutil.copyfile(self.log_path, kept)
            common.log(f"kept the private PostgreSQL cluster's log at {kept}")
        shutil.rmtree(self.root, ignore_errors=True)
        if self.root.exists():
            common.log(f"could not delete the private PostgreSQL cluster's directory {self.root}")


async def create_database(cluster: PrivateCluster, name: str) -> str:
    """A database in the private cluster; its URL. (Dropped with the cluster.)"""
    import asyncpg

    admin = await asyncpg.connect(cluster.url(), timeout=10)
    try:
        await admin.execute(f'CREATE DATABASE "{name}"')
    finally:
        await admin.close()
    return cluster.url(name)


async def postgres_outage(cluster: PrivateCluster, seconds: float, journal: Journal) -> Fault:
    """Stop the private cluster (`pg_ctl stop -m fast`: sessions are disconnected, open transactions rolled back),
    wait, start it again (`pg_ctl start`). Whatever interrupts this ends the run, which stops and deletes the
    cluster on its way out: there is nobody else to start it again for."""
    fault = Fault(f"PostgreSQL stopped (the soak's own cluster on port {cluster.port}, fast mode)", journal.now())
    await asyncio.to_thread(cluster.stop, "fast")
    down = journal.now()
    await asyncio.sleep(seconds)
    await asyncio.to_thread(cluster.start)
    fault.restored = journal.now()
    fault.detail = (
        f"`pg_ctl stop -m fast` took {down - fault.started:.1f} s; down {fault.restored - down:.1f} s until"
        " `pg_ctl start -w` returned"
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


def alive(pid: int) -> bool:
    """Running (a zombie waiting for its parent's wait() counts as gone)."""
    try:
        return Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0] != "Z"
    except (OSError, IndexError):
        return False


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
    (the replacement worker, PostgreSQL after its restart) counts from zero. PostgreSQL is the soak's private
    cluster, whole: its postmaster and every process under it (no other database's backends share it)."""

    def __init__(self, server_pid: int, cluster: PrivateCluster, moto_pid: int):
        self.server_pid, self.cluster, self.moto_pid = server_pid, cluster, moto_pid
        self.used: Counter = Counter()
        self.last: dict[tuple[str, int], float] = {}
        self.seconds = 0.0

    def _readings(self) -> dict[tuple[str, int], float]:
        readings = {("fieldsvc", pid): common._process_cpu(pid) for pid in process_tree(self.server_pid)}
        readings |= {("moto", pid): common._process_cpu(pid) for pid in process_tree(self.moto_pid)}
        readings |= {("postgres", pid): common._process_cpu(pid) for pid in self.cluster.pids()}
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
