"""What a model hot-swap (``kefu train`` publishing, Rasa's ``PUT /model``) does to the Rasa server's memory.

Starts Kefu with one Rasa process on the current model, sends 10 new conversations, then swaps the
same model in three times with 10 more conversations after each, printing RSS/PSS/VSZ each time.

Usage: ``python bench/hot_swap_memory.py``
"""
from __future__ import annotations

import asyncio
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "bench"))


def main() -> None:
    import psutil

    from bot.editor.publish import _connection, _put_model
    from bot.training import ensure_model
    from chat import Progress, kefu_pids, run_phase, scripted_conversations, start_kefu

    model, _ = ensure_model(ROOT, ROOT / "models")
    work = Path(tempfile.mkdtemp(prefix="kefu-swapmem-"))
    stack = start_kefu(model, work / "kefu", 1)
    pid = kefu_pids(stack)["kefu rasa"]
    token = (stack.settings.data_dir / "secrets" / "rasa_token").read_text().strip()
    progress = Progress(4 * 50)

    def report(label: str) -> None:
        memory = psutil.Process(pid).memory_full_info()
        print(f"{label}: RSS {memory.rss / 2**20:.0f} MB, PSS {memory.pss / 2**20:.0f} MB, "
              f"VSZ {memory.vms / 2**20:.0f} MB", flush=True)

    try:
        for swap in range(4):
            if swap:
                started = time.time()
                with _connection(stack.settings.rasa_url, 600) as connection:
                    _put_model(connection, model, token)
                report(f"swap {swap} ({time.time() - started:.0f} s)")
            asyncio.run(run_phase(stack.settings.rasa_url, scripted_conversations(f"swap{swap}", 10), progress,
                                  f"turns after swap {swap}", 120))
            report(f"after swap {swap} and 50 turns" if swap else "started, after 50 turns")
    finally:
        progress.close()
        stack.stop()


if __name__ == "__main__":
    main()
