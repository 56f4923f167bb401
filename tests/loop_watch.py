"""A real-time test's event loop, watched: a stall of a second or more is logged with where its thread was.

Found by CI: tests/ivr/test_unvouched_places.py failed now and then, only in the whole suite, with every
Redis command of the server it serves in process timing out at the same instant, 7.6 s after the first
was sent (the client gives up after 2 s). A loop that cannot run times out whatever it waits for. The
stack logged here, in the failed test's captured log, says what held it (or, with no stall logged, that
the wait was elsewhere: Redis itself, the network). The longest stall of each test also goes on its report
(``user_properties``), and the run's summary lists them, so a run that passed says how close it came.
"""
from __future__ import annotations

import asyncio
import contextlib
import logging
import resource
import sys
import threading
import time
import traceback

logger = logging.getLogger("tests.loop_watch")

STALL_S = 1.0  # logged from here, then each time the stall doubles
PROBE_S = 0.1


class LoopWatch:
    def __init__(self, loop: asyncio.AbstractEventLoop, name: str):
        self.loop, self.name = loop, name
        self.thread_id = threading.get_ident()  # the test's call runs the loop in this thread
        self.seen_at = 0.0  # when the loop last ran a probe (0: not running yet)
        self.faults_then = 0  # the process's major page faults then
        self.stop = threading.Event()
        self.watcher = threading.Thread(target=self._watch, name=f"loop-watch {name}", daemon=True)
        self.longest: tuple[float, str] | None = None  # seconds, and where the loop's thread was then

    def _ran(self) -> None:
        self.seen_at = time.monotonic()
        self.faults_then = major_faults()

    def _watch(self) -> None:
        logged_at_s, where = 0.0, ""
        while not self.stop.wait(PROBE_S):
            try:
                self.loop.call_soon_threadsafe(self._ran)
            except RuntimeError:  # the loop closed
                return
            if not self.seen_at:
                continue
            stalled_s = time.monotonic() - self.seen_at - PROBE_S
            if stalled_s < STALL_S:
                logged_at_s = 0.0
                continue
            if stalled_s >= max(STALL_S, 2 * logged_at_s):
                logged_at_s = stalled_s
                frame = sys._current_frames().get(self.thread_id)
                # Pages read back from disk (code or files the kernel had dropped) stall whatever touches them.
                machine = f"{major_faults() - self.faults_then} major page faults since; {pressure()}"
                logger.warning("event loop of %s stalled %.1f s so far (%s); its thread is at:\n%s", self.name,
                               stalled_s, machine,
                               "".join(traceback.format_stack(frame)[-20:]) if frame else "(thread gone)\n")
                where = " < ".join(f"{f.filename.rsplit('/', 2)[-1]}:{f.lineno} {f.name}"
                                   for f in reversed(traceback.extract_stack(frame)[-3:] if frame else []))
                where += f" ({machine})"
            if self.longest is None or stalled_s > self.longest[0]:
                self.longest = (stalled_s, where)


def major_faults() -> int:
    return resource.getrusage(resource.RUSAGE_SELF).ru_majflt


def pressure() -> str:
    """The machine's stall figures (Linux PSI, share of the last 10 s some task waited), where it has them."""
    said = []
    for kind in ("cpu", "memory", "io"):
        try:
            with open(f"/proc/pressure/{kind}") as figures:
                said.append(f"{kind} {figures.readline().split()[1].removeprefix('avg10=')}%")
        except (OSError, IndexError):
            pass
    return "pressure " + ", ".join(said) if said else "no pressure figures"


@contextlib.contextmanager
def watching(item):
    """Watch ``item``'s loop while its call runs: async tests marked ``realtime`` only."""
    loop = getattr(item, "funcargs", {}).get("event_loop")
    if loop is None or not item.get_closest_marker("realtime"):
        yield
        return
    watch = LoopWatch(loop, item.name)
    watch.watcher.start()
    try:
        yield
    finally:
        watch.stop.set()
        watch.watcher.join()
        if watch.longest:
            item.user_properties.append((STALL_PROPERTY, "%.1f s at %s" % watch.longest))


STALL_PROPERTY = "event_loop_stall"


def summary(terminalreporter) -> None:
    """The run's stalls, one line per test (the controller's reports carry the workers' properties)."""
    stalls = [(report.nodeid, value) for reports in terminalreporter.stats.values() for report in reports
              if getattr(report, "when", "") == "call" for name, value in getattr(report, "user_properties", ())
              if name == STALL_PROPERTY]
    if stalls:
        terminalreporter.section("event-loop stalls of 1 s or more in real-time tests (tests/loop_watch.py)")
        for nodeid, value in stalls:
            terminalreporter.write_line(f"{nodeid}: {value}")
