"""Worker restarts are a metric (SRE tester, finding 10): ``sanic.worker.died`` / ``replaced`` were
only log lines, so a crash-looping worker could not be alerted on (deploy/kefu-alerts.yml)."""
from __future__ import annotations

import os
import subprocess
import sys

from bot.embedded_redis import free_port
from tests.conftest import PROJECT_ROOT

SUPERVISOR = """
import os, signal, sys, threading, time
import sanic.server.runners as runners
runners.serve = lambda **kwargs: os._exit(3)  # every worker dies at once, as a crash-looping one
from bot import sanic_workers
from bot.observability.metrics import WORKER_RESTARTS, exposition

def stop_once_replaced():
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline and WORKER_RESTARTS.labels("3")._value.get() < 1:
        time.sleep(0.05)
    os.kill(os.getpid(), signal.SIGTERM)

threading.Thread(target=stop_once_replaced, daemon=True).start()
sanic_workers.serve_supervised({"host": "127.0.0.1", "port": int(sys.argv[1])}, 1)
print(exposition()[0].decode())
"""


def test_a_replaced_worker_is_counted_with_how_it_ended(tmp_path):
    env = dict(os.environ, PYTHONPATH=str(PROJECT_ROOT))
    env.pop("PROMETHEUS_MULTIPROC_DIR", None)
    done = subprocess.run([sys.executable, "-c", SUPERVISOR, str(free_port())], cwd=PROJECT_ROOT, env=env,
                          capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stderr
    assert 'kefu_worker_restarts_total{exit="3"}' in done.stdout, done.stdout[-2000:]
