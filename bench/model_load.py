"""How long loading the served model takes: Rasa's own ``RasaModel.load`` against Kefu's
(``bot/fast_model_load.py``), each in fresh processes, taking turns, on the same model file.

    python bench/model_load.py --rounds 3

Each round starts two Python processes, one per load; a process imports Rasa, then times
``Agent.load`` (wall and CPU) and one parse, and prints the intent so both can be compared.
"""
from __future__ import annotations

import argparse
import json
import statistics
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

CHILD = r"""
import asyncio, json, sys, time
from rasa.core.agent import Agent
if sys.argv[2] == "kefu":
    from bot import fast_model_load
    fast_model_load.install()
wall, cpu = time.perf_counter(), time.process_time()
agent = Agent.load(sys.argv[1])
loaded = {"wall": time.perf_counter() - wall, "cpu": time.process_time() - cpu}
parsed = asyncio.run(agent.parse_message("喂你好 我家宽带又断了"))
print("RESULT " + json.dumps({**loaded, "intent": parsed["intent"]["name"],
                             "confidence": round(parsed["intent"]["confidence"], 6)}))
"""


def measure(model: Path, which: str) -> dict:
    output = subprocess.run([sys.executable, "-c", CHILD, str(model), which], cwd=ROOT, capture_output=True,
                            text=True, check=True).stdout
    return json.loads(next(line for line in output.splitlines() if line.startswith("RESULT "))[7:])


def main() -> None:
    from bot.settings import get_settings
    from bot.training import ensure_model

    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=3)
    args = parser.parse_args()
    settings = get_settings()
    model, _ = ensure_model(settings.root, settings.models_dir)
    runs = {"rasa": [], "kefu": []}
    for _ in range(args.rounds):
        for which in runs:
            runs[which].append(measure(model, which))
    print(f"model {model.name}, {args.rounds} round(s), medians")
    print(f"{'load':<6} {'wall s':>8} {'cpu s':>8}  parse")
    for which, results in runs.items():
        answers = {(r['intent'], r['confidence']) for r in results}
        print(f"{which:<6} {statistics.median(r['wall'] for r in results):>8.1f} "
              f"{statistics.median(r['cpu'] for r in results):>8.1f}  {sorted(answers)}")
    ratio = statistics.median(r["wall"] for r in runs["kefu"]) / statistics.median(r["wall"] for r in runs["rasa"])
    print(f"kefu / rasa wall: {ratio:.2f}")


if __name__ == "__main__":
    main()
