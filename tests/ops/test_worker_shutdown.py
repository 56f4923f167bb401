"""A worker that does not stop must not hold the server's shutdown forever (bot/sanic_workers.py):
the supervisor joined its workers without a timeout, so one stuck worker (a hung listener, a C call
that never returns) kept ``kefu stop``/systemd waiting until something killed the whole group, and
nothing said which worker it was."""
from __future__ import annotations

import os
import signal
import subprocess
import sys

from bot.embedded_redis import free_port
from tests.conftest import PROJECT_ROOT

SUPERVISOR = """
import os, signal, sys, threading, time
import sanic.server.runners as runners

def stuck_worker(**kwargs):
    signal.signal(signal.SIGTERM, signal.SIG_IGN)  # deaf to the supervisor's stop, as a hung worker is
    open(sys.argv[2], "a").write(f"{os.getpid()}\\n")
    while True:
        time.sleep(1)

runners.serve = stuck_worker
from bot import sanic_workers
sanic_workers.SHUTDOWN_WAIT_S = 1.0  # the test's patience, not the server's

def stop_once_started():
    while not os.path.exists(sys.argv[2]) or not open(sys.argv[2]).read().strip():
        time.sleep(0.05)
    os.kill(os.getpid(), signal.SIGTERM)

threading.Thread(target=stop_once_started, daemon=True).start()
sanic_workers.serve_supervised({"host": "127.0.0.1", "port": int(sys.argv[1])}, 1)
print("supervisor done")
"""


def alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    return True


def supervise(script: str, started) -> tuple[subprocess.Popen, str, str]:
    """Run ``script`` (a supervisor whose workers write their pids to ``started``) to its end; a hang is
    a failure after 90 s, not the suite's. Every worker still running afterwards is killed."""
    env = dict(os.environ, PYTHONPATH=str(PROJECT_ROOT))
    env.pop("PROMETHEUS_MULTIPROC_DIR", None)
    process = subprocess.Popen([sys.executable, "-c", script, str(free_port()), str(started)], cwd=PROJECT_ROOT,
                               env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        out, err = process.communicate(timeout=90)  # a hang here is the defect
    except subprocess.TimeoutExpired:
        out, err = "", "the supervisor was still waiting for its worker after 90 s"
    finally:
        if process.poll() is None:
            process.kill()
        for pid in started.read_text().split() if started.exists() else ():
            if alive(int(pid)):
                os.kill(int(pid), signal.SIGKILL)  # the pipes close with the last process holding them
        process.communicate()
    return process, out, err


def test_a_worker_that_ignores_the_stop_is_ended_and_named_in_the_log(tmp_path):
    started = tmp_path / "worker.pid"
    process, out, err = supervise(SUPERVISOR, started)
    worker = int(started.read_text().split()[0])
    assert process.returncode == 0 and "supervisor done" in out, err[-2000:]
    assert not alive(worker), "the stuck worker outlived its server"
    assert f"sanic.worker.stuck_at_shutdown pid={worker}" in err, err[-2000:]


LOADING = """
import logging, os, signal, sys, threading, time
import sanic.server.runners as runners

def loading_worker(**kwargs):  # still loading its model: Sanic has not installed its signal handlers yet
    open(sys.argv[2], "a").write(f"{os.getpid()}\\n")
    while True:
        time.sleep(0.05)

runners.serve = loading_worker
from bot import sanic_workers
logging.basicConfig(level=logging.INFO)

def stop_once_started():
    while not os.path.exists(sys.argv[2]) or len(open(sys.argv[2]).read().split()) < 2:
        time.sleep(0.05)
    os.kill(os.getpid(), signal.SIGTERM)

threading.Thread(target=stop_once_started, daemon=True).start()
sanic_workers.serve_supervised({"host": "127.0.0.1", "port": int(sys.argv[1])}, 2)
print("supervisor done")
"""


def test_workers_stopped_while_loading_their_model_end_quietly(tmp_path):
    """Found while fixing the test above: a forked worker kept the supervisor's SIGTERM handler until Sanic
    installed its own, i.e. for the minutes of its model load. Stopped then (``kefu stop`` during a start,
    a restart), the first worker signalled itself again and again (about a thousand "Received signal
    SIGTERM" lines, then a RecursionError traceback) and the second died of an AssertionError traceback."""
    started = tmp_path / "workers.pid"
    process, out, err = supervise(LOADING, started)
    assert process.returncode == 0 and "supervisor done" in out, err[-2000:]
    assert err.count("Received signal SIGTERM") == 1, err[-3000:]  # the supervisor's own, once
    assert "Traceback" not in err and "stuck_at_shutdown" not in err, err[-3000:]
