"""How long `kefu train`'s hot swap takes with several Rasa workers, and how many model loads it costs.

Each worker holds its own model and a swap (PUT /model) reaches whichever worker accepts the
connection. The baseline sends the swap on a fresh connection until a run of fresh connections all
report the new model: a swap that lands on a worker already swapped loads the model there again.
`bot.editor.publish.hot_swap` asks each connection's worker first and swaps only where needed.
Both run against the same server, alternating, swapping between two models.

Usage: ``python bench/hot_swap_workers.py MODEL_A MODEL_B [--workers 2] [--rounds 3]``
(two trained models, e.g. the served one and one trained after an edit).
"""
from __future__ import annotations

import argparse
import statistics
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "bench"))

from bot.editor import publish  # noqa: E402


def baseline_swap(url: str, model: Path, token: str, workers: int) -> None:
    """The swap before this change: PUT on a fresh connection, then count fresh confirmations."""
    confirmations = 6 * workers
    for _ in range(8 * workers):
        with publish._connection(url, 600) as connection:
            publish._put_model(connection, model, token)
        if all(Path(publish.running_model(url, token) or "").name == model.name for _ in range(confirmations)):
            return
    raise publish.PublishError("the server did not switch to the new model")


def counted(put):
    def counting(*args, **kwargs):
        counting.loads += 1
        return put(*args, **kwargs)
    counting.loads = 0
    return counting


def main() -> None:
    from chat import start_kefu

    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("models", nargs=2, type=Path)
    parser.add_argument("--workers", type=int, default=2)
    parser.add_argument("--rounds", type=int, default=3)
    args = parser.parse_args()
    stack = start_kefu(args.models[0], Path(tempfile.mkdtemp(prefix="kefu-swap-")) / "kefu", args.workers)
    token = (stack.settings.data_dir / "secrets" / "rasa_token").read_text().strip()
    url = stack.settings.rasa_url
    ways = {"baseline (swap on any connection)": baseline_swap,
            "hot_swap (ask the worker first)": lambda u, m, t, w: publish.hot_swap(u, m, token=t, workers=w)}
    results: dict[str, list[tuple[float, int]]] = {name: [] for name in ways}
    target = 1
    try:
        for _ in range(args.rounds):
            for name, swap in ways.items():
                publish._put_model = put = counted(PUT)
                started = time.perf_counter()
                swap(url, args.models[target], token, args.workers)
                results[name].append((time.perf_counter() - started, put.loads))
                print(f"{name}: {results[name][-1][0]:.1f} s, {put.loads} load(s)", flush=True)
                target = 1 - target
    finally:
        publish._put_model = PUT
        stack.stop()
    base = statistics.mean(seconds for seconds, _ in results[next(iter(ways))])
    print(f"\n{args.workers} workers, {args.rounds} swaps each\n")
    print("| swap | seconds per swap (each) | mean | loads per swap (each) | vs baseline |")
    print("|---|---|---|---|---|")
    for name, runs in results.items():
        mean = statistics.mean(seconds for seconds, _ in runs)
        print(f"| {name} | {' / '.join(f'{s:.0f}' for s, _ in runs)} | {mean:.0f} s | "
              f"{' / '.join(str(n) for _, n in runs)} | {mean / base:.2f} |")


PUT = publish._put_model

if __name__ == "__main__":
    main()
