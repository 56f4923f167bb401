"""Sanic's worker processes for the Rasa and action servers, kept alive and closed while starting.

Kefu's replacement for Sanic 21's ``serve_multiple`` (installed by :func:`install` in
``bot.security.rasa_server`` and ``bot.security.action_server``), for two faults an operator met:

- **No traffic before the model is loaded.** Sanic binds *and listens on* the shared socket in the
  main process before forking; each worker loads the model (2-3 minutes on a busy machine) before it
  accepts. Meanwhile the kernel completes connections into the backlog and a proxy's request hangs
  until its read timeout (nginx: 60 s, then 504). Here the main process only *binds* (reserving the
  port); a worker's ``create_server`` calls ``listen`` after its ``before_server_start`` listeners,
  i.e. after Rasa's model is loaded. Until the first worker is ready a connection is refused at once,
  which nginx's ``proxy_next_upstream error`` moves to another machine, POSTs included (a refused
  connection never reached Kefu, so a chat turn is never run twice).
- **A dead worker is replaced.** Sanic joins its workers and never starts another, so an instance
  silently ran on 1 of 2 workers. Here a worker that exits while the server is not stopping is
  started again after a back-off (1 s, doubling to 60 s while it keeps dying within a minute of its
  start). If every worker is gone, the socket is re-created unlistened so nobody waits in a backlog
  nobody accepts from.
"""
from __future__ import annotations

import asyncio
import logging
import multiprocessing
import os
import signal
import socket
import time
from dataclasses import dataclass
from ipaddress import ip_address

logger = logging.getLogger(__name__)

BACKOFF_FIRST_S = 1.0
BACKOFF_MAX_S = 60.0
STEADY_AFTER_S = 60.0  # a worker that lived this long starts the back-off again from the first step
POLL_S = 0.5
# How long the stopping workers get together before the supervisor kills them: Sanic's own drain of
# open requests (GRACEFUL_SHUTDOWN_TIMEOUT, 15 s) is cut short only by this, and kefu run kills the
# whole group 15 s after its SIGTERM (bot/stack.py): shorter, so the log names the stuck worker first.
SHUTDOWN_WAIT_S = 12.0


def bind_unlistened(host: str, port: int) -> socket.socket:
    """A TCP socket bound to ``host:port`` but not listening: connections are refused until a worker listens."""
    try:
        family = socket.AF_INET6 if ip_address(host).version == 6 else socket.AF_INET
    except ValueError:
        family = socket.AF_INET
    sock = socket.socket(family)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    sock.bind((host, port))
    sock.set_inheritable(True)
    return sock


def backoff_seconds(quick_deaths: int) -> float:
    """Wait before the next start of a worker that died ``quick_deaths`` times in a row soon after starting."""
    return min(BACKOFF_MAX_S, BACKOFF_FIRST_S * (2 ** max(0, quick_deaths - 1)))


@dataclass
class Slot:
    """One worker place: the process in it, when it started, and when to start a replacement."""

    process: multiprocessing.Process | None = None
    started: float = 0.0
    quick_deaths: int = 0
    restart_at: float | None = None
    died_with: int | None = None  # exit code of the process it replaces


def serve_supervised(server_settings: dict, workers: int) -> None:
    """Run ``workers`` Sanic workers on one socket until SIGTERM/SIGINT, replacing those that die."""
    from sanic.server.events import trigger_events
    from sanic.server.runners import serve

    server_settings["reuse_port"] = True
    server_settings["run_multiple"] = True
    main_start = server_settings.pop("main_start", None)
    main_stop = server_settings.pop("main_stop", None)
    loop = asyncio.new_event_loop()
    asyncio.set_event_loop(loop)
    trigger_events(main_start, loop)

    host, port = server_settings["host"], server_settings["port"]
    if server_settings.get("sock") is None and not server_settings.get("unix"):
        server_settings["sock"] = bind_unlistened(host, port)
        server_settings["host"] = server_settings["port"] = None
    context = multiprocessing.get_context("fork")
    slots = [Slot() for _ in range(workers)]
    stopping = False

    def start(slot: Slot) -> None:
        slot.process = context.Process(target=serve_worker, args=(serve,), kwargs=server_settings, daemon=True)
        slot.process.start()
        slot.started = time.monotonic()
        slot.restart_at = None

    def stop(signum, _frame) -> None:
        nonlocal stopping
        logger.info("Received signal %s. Shutting down.", signal.Signals(signum).name)
        stopping = True
        for slot in slots:
            if slot.process is not None and slot.process.is_alive():
                os.kill(slot.process.pid, signal.SIGTERM)

    signal.signal(signal.SIGINT, stop)
    signal.signal(signal.SIGTERM, stop)
    for slot in slots:
        start(slot)
    while not stopping:
        now = time.monotonic()
        for slot in slots:
            if slot.restart_at is None and not slot.process.is_alive():
                lived = now - slot.started
                slot.quick_deaths = 0 if lived >= STEADY_AFTER_S else slot.quick_deaths + 1
                delay = backoff_seconds(slot.quick_deaths)
                slot.restart_at = now + delay
                slot.died_with = slot.process.exitcode
                logger.warning("sanic.worker.died pid=%s exitcode=%s lived_s=%.0f restart_in_s=%.0f",
                               slot.process.pid, slot.process.exitcode, lived, delay)
        if port is not None and all(s.restart_at is not None for s in slots) and not stopping:
            reopen(server_settings, host, port)  # no worker left: refuse connections, do not queue them
        for slot in slots:
            if slot.restart_at is not None and slot.restart_at <= now and not stopping:
                start(slot)
                logger.info("sanic.worker.replaced pid=%s", slot.process.pid)
                count_restart(slot.died_with)
        time.sleep(POLL_S)
    end_workers([slot.process for slot in slots if slot.process is not None])
    trigger_events(main_stop, loop)
    sock = server_settings.get("sock")
    if sock is not None:
        sock.close()
    loop.close()


def serve_worker(serve, **server_settings) -> None:
    """A forked worker: without the supervisor's signal handlers, which the fork copied. Until Sanic installs
    its own (once the model is loaded, minutes), a SIGTERM ran the supervisor's ``stop`` in the worker: the
    first worker signalled itself a thousand times (log lines, then a RecursionError), the others died of an
    AssertionError. Now SIGTERM ends a worker that is still loading, and Ctrl-C is the supervisor's, as
    Sanic has it in its workers."""
    signal.signal(signal.SIGTERM, signal.SIG_DFL)
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    serve(**server_settings)


def end_workers(processes: list) -> None:
    """Wait for the stopping workers, ``SHUTDOWN_WAIT_S`` at most together; kill and name those still running.

    A worker deaf to SIGTERM (a hung listener, a C call that never returns) made the supervisor wait
    for ever, and the operator saw a server that would not stop and no reason."""
    deadline = time.monotonic() + SHUTDOWN_WAIT_S
    for process in processes:
        process.join(max(0.0, deadline - time.monotonic()))
    for process in processes:
        if process.is_alive():
            logger.error("sanic.worker.stuck_at_shutdown pid=%s waited_s=%.0f action=SIGKILL", process.pid,
                         SHUTDOWN_WAIT_S)
            process.kill()
            process.join()


def count_restart(exitcode: int | None) -> None:
    """A crash-looping worker could only be seen in the logs (SRE tester, finding 10): count it for alerts.
    Labelled by how it ended (``SIGKILL``, ``SIGBUS``, ``1``), a handful of values."""
    from bot.observability.metrics import WORKER_RESTARTS

    if exitcode is not None and exitcode < 0:
        try:
            ended = signal.Signals(-exitcode).name
        except ValueError:
            ended = f"signal {-exitcode}"
    else:
        ended = str(exitcode)
    WORKER_RESTARTS.labels(ended).inc()


def reopen(server_settings: dict, host: str, port: int) -> None:
    """Replace a listening socket no process accepts from by a bound, unlistened one."""
    old = server_settings.get("sock")
    if old is None or not _listening(old):
        return
    old.close()
    server_settings["sock"] = bind_unlistened(host, port)


def _listening(sock: socket.socket) -> bool:
    try:
        return bool(sock.getsockopt(socket.SOL_SOCKET, socket.SO_ACCEPTCONN))
    except OSError:
        return False


def install() -> None:
    """Make ``Sanic.run(workers>1)`` in this process use :func:`serve_supervised`."""
    import sanic.app

    sanic.app.serve_multiple = serve_supervised
