"""How long `kefu validate`'s checks take on a copy of the shipped files, against an earlier commit's code.

    python bench/validate.py --against da28aa3 --rounds 2

Each round runs one process per checkout (this one, and a temporary git worktree of ``--against``), taking
turns; a process validates six fresh copies of the editors' files one after the other. The first includes
the imports and cold caches; the others are what each of `tests/editor/test_validate.py`'s copies costs.
"""
from __future__ import annotations

import argparse
import json
import statistics
import subprocess
import sys
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]

CHILD = r"""
import json, os, sys, tempfile, time
from pathlib import Path
from tests.editor.conftest import copy_editor_files
from bot import settings
from bot.editor.validate import validate
tmp, times = Path(tempfile.mkdtemp()), []
for i in range(6):
    os.environ["KEFU_ROOT"] = str(copy_editor_files(tmp / f"p{i}"))
    os.environ["KEFU_DATA_DIR"] = str(tmp / "var")
    settings.get_settings.cache_clear()
    start = time.perf_counter()
    problems = validate(settings.get_settings(), with_rasa=False)
    times.append(time.perf_counter() - start)
print(json.dumps({"times": times, "problems": sorted(p.format(Path(os.environ["KEFU_ROOT"])) for p in problems)}))
"""


def run(checkout: Path) -> dict:
    # Both checkouts check the menus against the same speech model (the suite's, beside this checkout): a test
    # checkout elsewhere would not find it and would skip that check.
    env = {"PYTHONPATH": str(checkout), "PATH": "/usr/bin:/bin", "TF_CPP_MIN_LOG_LEVEL": "3",
           "VOSK_MODEL_PATH": str(ROOT.parent / "shared" / "models" / "vosk-model-kefu-test-zh")}
    done = subprocess.run([sys.executable, "-c", CHILD], cwd=checkout, capture_output=True, text=True, env=env)
    if done.returncode:
        sys.exit(f"{checkout}: {done.stderr[-2000:]}")
    return json.loads(done.stdout.strip().splitlines()[-1])


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--against", required=True, help="the commit to compare with (its code, this tree's Python)")
    parser.add_argument("--rounds", type=int, default=2)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        before = Path(tmp) / "before"
        subprocess.run(["git", "worktree", "add", "-q", "--detach", str(before), args.against], cwd=ROOT, check=True)
        try:
            rows = {"before": [], "after": []}
            for _ in range(args.rounds):
                rows["before"].append(run(before))
                rows["after"].append(run(ROOT))
        finally:
            subprocess.run(["git", "worktree", "remove", "--force", str(before)], cwd=ROOT, check=True)
    first = {k: statistics.median(r["times"][0] for r in v) for k, v in rows.items()}
    rest = {k: statistics.median(t for r in v for t in r["times"][1:]) for k, v in rows.items()}
    print(f"| validation of a fresh copy | {args.against} | this tree | ratio |\n|---|---|---|---|")
    print(f"| first (imports, cold caches) | {first['before']:.2f} s | {first['after']:.2f} s | "
          f"{first['after'] / first['before']:.2f} |")
    print(f"| each further one (median) | {rest['before']:.2f} s | {rest['after']:.2f} s | "
          f"{rest['after'] / rest['before']:.2f} |")
    same = rows["before"][0]["problems"] == rows["after"][0]["problems"]
    print(f"| problems reported | {len(rows['before'][0]['problems'])} | {len(rows['after'][0]['problems'])} | "
          f"{'the same' if same else 'DIFFERENT'} |")


if __name__ == "__main__":
    main()
