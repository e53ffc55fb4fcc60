"""The auditor in a process of its own beside the HTTP workers: started, restarted and stopped by `fieldsvc serve`."""

from __future__ import annotations

import asyncio
import logging
import os
import signal
import subprocess
import sys
import threading
import time

from fieldsvc import db, runtime
from fieldsvc.config import Settings

log = logging.getLogger("fieldsvc.audit")

RESTART_SECONDS = 1.0  # between a dead auditor process and its replacement
STOP_SECONDS = 10.0  # for the auditor to finish its round's transaction and close its connections
PARENT_CHECK_SECONDS = 1.0
EXIT_ORPHANED = 3  # the parent, and what it reached for, is gone: as an outage
# Phones first: when the machine is busy, the auditor gets what the HTTP workers and the database leave, and catches
# up in bigger rounds (the outbox keeps one row per visit, however many facts arrived meanwhile).
NICENESS = 19
# How the server stops its auditor process. Not SIGTERM or SIGINT: those often reach the whole process group (Ctrl-C,
# `timeout`, systemd), and the auditor must outlive the HTTP workers' last requests, whose facts it audits.
STOP_SIGNAL = signal.SIGUSR1


async def audit_forever(
    settings: Settings, parent_pid: int | None = None, stop_signals: tuple[int, ...] = (signal.SIGTERM, signal.SIGINT)
) -> None:
    """Audit due visits and chain the trail until one of stop_signals, or (given parent_pid) that process is gone."""
    from fieldsvc.context import AppContext
    from fieldsvc.verdicts.worker import PROCESS_POLL_SECONDS, run_auditor

    ctx = AppContext.from_settings(settings)
    db.bind_engine(ctx.engine)
    await db.open_database(ctx.engine)
    try:
        await db.require_migrated()
        auditor = asyncio.create_task(run_auditor(ctx, PROCESS_POLL_SECONDS), name="fieldsvc-auditor")
        for stop_signal in stop_signals:
            asyncio.get_running_loop().add_signal_handler(stop_signal, auditor.cancel)
        orphan_watch = asyncio.create_task(_cancel_when_orphaned(parent_pid, auditor)) if parent_pid else None
        log.info("auditor process %d: auditing", os.getpid())
        try:
            await asyncio.wait([auditor])
        finally:
            if orphan_watch is not None:
                orphan_watch.cancel()
    finally:
        await db.close_database(ctx.engine)
    log.info("auditor process %d: stopped", os.getpid())


async def _cancel_when_orphaned(parent_pid: int, auditor: asyncio.Task[None]) -> None:
    """A server killed outright cannot stop its auditor: the auditor notices it was left behind, and stops."""
    while os.getppid() == parent_pid:
        await asyncio.sleep(PARENT_CHECK_SECONDS)
    log.warning("auditor process %d: the server (pid %d) is gone; stopping", os.getpid(), parent_pid)
    auditor.cancel()


def exit_when_orphaned(parent_pid: int) -> None:
    """For a worker process of a bulk re-audit: a thread that ends the process once its parent is gone (a parent killed
    outright cannot stop it: its workers lingered for good, each holding a connection; a probe). The batch in flight
    is rolled back with the connection: batches are whole or not at all."""

    def watch() -> None:
        while os.getppid() == parent_pid:
            time.sleep(PARENT_CHECK_SECONDS)
        os._exit(EXIT_ORPHANED)

    threading.Thread(target=watch, name="fieldsvc-orphan-watch", daemon=True).start()


def audit_beside(settings: Settings, server_pid: int) -> None:
    """`fieldsvc audit work --server-pid N`: the auditor process of the server N, which started it and stops it."""
    for group_signal in (signal.SIGINT, signal.SIGTERM):
        signal.signal(group_signal, signal.SIG_IGN)
    os.nice(NICENESS)
    runtime.run(audit_forever(settings, server_pid, (STOP_SIGNAL,)))


class AuditorProcess:
    """One auditor process beside the HTTP workers: restarted if it dies, stopped with the server."""

    def __init__(self) -> None:
        self._stopping = threading.Event()
        self._lock = threading.Lock()  # stop() never misses a process being started
        self._process: subprocess.Popen[bytes] | None = None
        self._supervisor = threading.Thread(target=self._supervise, name="fieldsvc-auditor-supervisor", daemon=True)

    def start(self) -> None:
        self._supervisor.start()

    def _supervise(self) -> None:
        # A command line of its own (not multiprocessing's), so that ps, top and operators tell it from the workers.
        command = [sys.executable, "-m", "fieldsvc", "audit", "work", "--server-pid", str(os.getpid())]
        while True:
            with self._lock:
                if self._stopping.is_set():
                    return
                process = self._process = subprocess.Popen(command, stdin=subprocess.DEVNULL)
            code = process.wait()
            if self._stopping.is_set():
                return
            log.error("the auditor process exited (code %s); starting another", code)
            if self._stopping.wait(RESTART_SECONDS):
                return

    def stop(self) -> None:
        """STOP_SIGNAL, then SIGKILL if it has not stopped in STOP_SECONDS; a round cut short is left to the outbox."""
        with self._lock:
            self._stopping.set()
            process = self._process
        if process is None:
            return
        if process.poll() is None:
            process.send_signal(STOP_SIGNAL)
        try:
            process.wait(STOP_SECONDS)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()
