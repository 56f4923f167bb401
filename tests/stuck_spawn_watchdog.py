"""Ends a test process's child that is stuck between vfork and exec, after saying where it was stuck.

Python 3.10 starts subprocesses with vfork: the parent's thread waits in the kernel, holding the GIL, until the
child has called exec. Twice a CI run stalled at its end, in a test starting Playwright's driver: the child never
reached exec (one thread, asleep in futex_wait), so the worker waited for ever; no thread of the worker could run,
so pytest-timeout's signal and thread methods could not end it (bench/RESULTS.md, forty-seventh and forty-eighth
passes). Only another process can: this one. It watches one pid. When a thread of it has waited in vfork for
``grace`` seconds while a child still runs the parent's program, it prints the child's kernel and native stacks to
stderr (the evidence for the cause, which is not known yet) and kills the child. The parent's spawn then returns a
dead process, and the test fails instead of the run stalling.

Run as ``python -m tests.stuck_spawn_watchdog PID [GRACE_SECONDS [GDB_SECONDS]]``; it exits when PID does.
"""
from __future__ import annotations

import os
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path

POLL_S = 2.0


def _read(path: Path) -> str:
    try:
        return path.read_text(errors="replace")
    except OSError:
        return ""


def waiting_in_vfork(pid: int) -> bool:
    """Whether a thread of ``pid`` is in the kernel waiting for a vfork child to exec or exit."""
    for task in Path(f"/proc/{pid}/task").glob("*"):
        # The stack names the syscall where it can be read (root); the wait's function name is the fallback.
        if "vfork" in _read(task / "stack") or _read(task / "wchan").strip() == "kernel_clone":
            return True
    return False


def children_not_yet_exec(pid: int) -> list[int]:
    """``pid``'s children still running its program (the same command line: they have not called exec)."""
    own = _read(Path(f"/proc/{pid}/cmdline"))
    children = []
    for task in Path(f"/proc/{pid}/task").glob("*"):
        children += [int(child) for child in _read(task / "children").split()]
    return [child for child in children if own and _read(Path(f"/proc/{child}/cmdline")) == own]


def where_stuck(child: int, gdb_s: float = 60.0) -> str:
    """The child's kernel stack and, where gdb is installed, its native one (at most ``gdb_s`` seconds of gdb)."""
    lines = [f"wchan: {_read(Path(f'/proc/{child}/wchan'))}", "kernel stack:", _read(Path(f"/proc/{child}/stack"))]
    if shutil.which("gdb") and gdb_s > 0:
        # Its own session, ended as a whole on time: anything gdb starts must not keep its pipe open after it.
        gdb = subprocess.Popen(["gdb", "-p", str(child), "-batch", "-ex", "bt 40"], stdout=subprocess.PIPE,
                               stderr=subprocess.DEVNULL, stdin=subprocess.DEVNULL, text=True, start_new_session=True)
        try:
            lines.append(gdb.communicate(timeout=gdb_s)[0])
        except subprocess.TimeoutExpired:
            os.killpg(gdb.pid, signal.SIGKILL)
            try:
                gdb.wait(timeout=5)
            except subprocess.TimeoutExpired:
                # Stuck in the kernel beside the held child, it does not die until that child does: left behind.
                # CI runs 117-119: the watchdog printed nothing and ended nothing, waiting here, it seems.
                lines.append("gdb did not die when killed")
            lines.append(f"gdb did not answer in {gdb_s:.0f} s")
    return "\n".join(lines)


def watch(pid: int, grace_s: float = 60.0, gdb_s: float = 60.0) -> None:
    stuck_since: dict[int, float] = {}
    while os.path.exists(f"/proc/{pid}"):
        now = time.monotonic()
        suspects = set(children_not_yet_exec(pid)) if waiting_in_vfork(pid) else set()
        stuck_since = {child: stuck_since.get(child, now) for child in suspects}
        for child, since in stuck_since.items():
            if now - since >= grace_s:
                # Said before the stacks are read: what reads them (gdb) may hang, and the finding must show.
                print(f"\n[stuck_spawn_watchdog] process {pid}'s child {child} has not reached exec in "
                      f"{now - since:.0f} s; ending it.", file=sys.stderr, flush=True)
                print(where_stuck(child, gdb_s), file=sys.stderr, flush=True)
                try:
                    os.kill(child, signal.SIGKILL)
                except ProcessLookupError:
                    pass
        time.sleep(POLL_S)


def start_for_this_process(grace_s: float = 60.0) -> subprocess.Popen | None:
    """A watchdog for the calling process (Linux only), started before it loads anything that starts threads."""
    if not Path("/proc/self/task").is_dir():
        return None
    return subprocess.Popen([sys.executable, "-m", "tests.stuck_spawn_watchdog", str(os.getpid()), str(grace_s)],
                            cwd=Path(__file__).resolve().parent.parent, stdin=subprocess.DEVNULL)


if __name__ == "__main__":
    watch(int(sys.argv[1]), *(float(arg) for arg in sys.argv[2:4]))
