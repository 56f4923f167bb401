"""Chat benchmark: Kefu's full stack against plain single-process ``rasa run``, in the same run.

Both serve the same trained model on 127.0.0.1. Plain Rasa gets no action server and keeps its
trackers in memory (the baseline a new user compares against); Kefu runs as ``kefu run`` does:
Redis tracker and lock stores, the action server, every channel, ``KEFU_WORKERS`` processes.

For every concurrency level N, N conversations run at once, each sending one realistic multi-turn
script over the REST channel (a fault that self-help does not fix ending in a booked visit, a bill
query with identification, a handoff), and every measurement alternates the two systems
(Rasa, Kefu, Rasa, Kefu, …) so a noisy neighbour hurts both alike. The ``long`` scenario first
brings N conversations to ``--long-turns`` turns (not timed), then times their next turns: the
cost of a turn late in a conversation.

Prints turns/s, p50/p95/p99 latency, errors (HTTP status ≠ 200 or no answer within 30 s), the RSS
of every process of both systems, and Kefu's ratio to Rasa. Bounded: each timed phase stops
sending new turns after ``--phase-seconds``.

Usage: ``python bench/chat.py [--levels 10,50,100] [--rounds 2] [--workers 2]``
"""
from __future__ import annotations

import argparse
import asyncio
import itertools
import os
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

# Realistic conversations (the words of tests/test_conversations.yml and the handoff tests).
SCRIPTS: dict[str, list[str]] = {
    "fault_ticket": ["你好", "光猫LOS灯一直亮红灯", "没解决", "13800000001", "帮我预约师傅上门修一下"],
    "bill": ["帮我查一下话费", "我的号码是13800000002", "你们有什么宽带套餐", "谢谢你", "拜拜"],
    "handoff": ["我家电视没信号了", "没解决", "转人工", "好的", "谢谢你"],
}
# Turns that bring a conversation to its 50th turn without parking it in the human queue.
LONG_FILLER = SCRIPTS["fault_ticket"] + SCRIPTS["bill"]
REQUEST_TIMEOUT = 30.0


def percentile(values: list[float], q: float) -> float:
    if not values:
        return float("nan")
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(round(q * (len(ordered) - 1))))]


@dataclass
class PhaseResult:
    latencies: list[float] = field(default_factory=list)
    errors: int = 0
    seconds: float = 0.0
    cpu_seconds: float = 0.0  # CPU time the system's processes used during the phase

    @property
    def cpu_ms_per_turn(self) -> float:
        return 1000 * self.cpu_seconds / len(self.latencies) if self.latencies else float("nan")

    @property
    def turns_per_second(self) -> float:
        return len(self.latencies) / self.seconds if self.seconds else 0.0

    def merge(self, other: "PhaseResult") -> None:
        self.latencies += other.latencies
        self.errors += other.errors
        self.seconds += other.seconds
        self.cpu_seconds += other.cpu_seconds


class Progress:
    """One tqdm bar over all turns the benchmark will send."""

    def __init__(self, total: int):
        from tqdm import tqdm

        self.bar = tqdm(total=total, unit="turn", file=sys.stderr, dynamic_ncols=True)

    def step(self, label: str) -> None:
        self.bar.set_description(label, refresh=False)
        self.bar.update(1)

    def close(self) -> None:
        self.bar.close()


async def send_turn(session, url: str, sender: str, text: str) -> bool:
    import aiohttp

    try:
        async with session.post(url, json={"sender": sender, "message": text},
                                timeout=aiohttp.ClientTimeout(total=REQUEST_TIMEOUT)) as response:
            await response.read()
            return response.status == 200
    except (aiohttp.ClientError, asyncio.TimeoutError):
        return False


async def run_phase(base_url: str, conversations: list[tuple[str, list[str]]], progress: Progress, label: str,
                    deadline_seconds: float, timed: bool = True, pids: list[int] = ()) -> PhaseResult:
    """Every conversation sends its turns one after another; all conversations at once."""
    import aiohttp

    cpu_before = sum(process_tree_cpu(pid) for pid in pids)

    url = f"{base_url}/webhooks/rest/webhook"
    result = PhaseResult()
    stop_at = time.monotonic() + deadline_seconds
    connector = aiohttp.TCPConnector(limit=0)
    async with aiohttp.ClientSession(connector=connector) as session:
        async def converse(sender: str, turns: list[str]) -> None:
            for text in turns:
                if time.monotonic() > stop_at:
                    return
                started = time.perf_counter()
                ok = await send_turn(session, url, sender, text)
                if ok:
                    result.latencies.append(time.perf_counter() - started)
                else:
                    result.errors += 1
                progress.step(label)

        started = time.perf_counter()
        await asyncio.gather(*(converse(sender, turns) for sender, turns in conversations))
        result.seconds = time.perf_counter() - started
    result.cpu_seconds = sum(process_tree_cpu(pid) for pid in pids) - cpu_before
    return result if timed else PhaseResult()


def process_tree_cpu(pid: int) -> float:
    """User + system CPU seconds of a process and all its children so far."""
    import psutil

    try:
        root = psutil.Process(pid)
        family = [root] + root.children(recursive=True)
    except psutil.NoSuchProcess:
        return 0.0
    total = 0.0
    for process in family:
        try:
            times = process.cpu_times()
        except psutil.NoSuchProcess:
            continue
        total += times.user + times.system
    return total


def process_tree_rss(pids: dict[str, int]) -> dict[str, tuple[float, float]]:
    """(RSS, PSS) in MB of each named process and each of its children (Sanic workers, forks).

    Forked workers share the parent's pages until they write them: RSS counts shared pages in
    every process, PSS splits them, so the PSS column adds up to what the machine really holds.
    """
    import psutil

    sizes: dict[str, float] = {}
    for name, pid in pids.items():
        try:
            root = psutil.Process(pid)
            family = [root] + root.children(recursive=True)
        except psutil.NoSuchProcess:
            continue
        for index, process in enumerate(family):
            try:
                memory = process.memory_full_info()
            except psutil.NoSuchProcess:
                continue
            key = name if index == 0 else f"{name} child {index}"
            sizes[key] = (memory.rss / 2**20, getattr(memory, "pss", float("nan")) / 2**20)
    return sizes


class PlainRasa:
    """``rasa run`` with the model alone: REST channel, in-memory trackers, no action server."""

    def __init__(self, model: Path, port: int, work_dir: Path):
        self.model, self.port, self.work_dir = model, port, work_dir
        self.process: subprocess.Popen | None = None

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def start(self) -> "PlainRasa":
        from bot.stack import wait_until_up

        credentials = self.work_dir / "credentials.yml"
        credentials.write_text("rest:\n", encoding="utf-8")
        log_file = self.work_dir / "plain-rasa.log"
        env = dict(os.environ, RASA_TELEMETRY_ENABLED="false", SANIC_WORKERS="1")
        env.pop("REDIS_URL", None)
        with open(log_file, "ab") as handle:
            self.process = subprocess.Popen(
                [sys.executable, "-m", "rasa", "run", "--model", str(self.model), "--port", str(self.port),
                 "--interface", "127.0.0.1", "--credentials", str(credentials), "--enable-api"],
                cwd=self.work_dir, env=env, stdout=handle, stderr=subprocess.STDOUT, start_new_session=True)
        wait_until_up(f"{self.url}/status", self.process, log_file, 600)
        return self

    def stop(self) -> None:
        if self.process and self.process.poll() is None:
            self.process.terminate()
            try:
                self.process.wait(timeout=15)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait()


def start_kefu(model: Path, data_dir: Path, workers: int | None, root: Path | None = None):
    from bot.embedded_redis import free_port
    from bot.settings import from_environment
    from bot.stack import KefuStack

    env = dict(os.environ, KEFU_DATA_DIR=str(data_dir), KEFU_RASA_PORT=str(free_port()),
               KEFU_ACTION_PORT=str(free_port()))
    env.pop("KEFU_DATABASE_URL", None)
    if root is not None:  # another checkout of Kefu (e.g. before a change): its code, endpoints, content
        env["KEFU_ROOT"] = str(root)
    if workers:
        env["KEFU_WORKERS"] = str(workers)
    return KefuStack(from_environment(env), model=model).start(timeout=600)


def kefu_pids(stack) -> dict[str, int]:
    pids = {}
    for process in stack.processes:
        args = process.args if isinstance(process.args, list) else [str(process.args)]
        module = args[2] if len(args) > 2 else ""
        name = ("kefu rasa" if module in ("rasa", "bot.security.rasa_server") else
                "kefu actions" if module in ("rasa_sdk", "bot.security.action_server") else "kefu process")
        while name in pids:
            name += "'"
        pids[name] = process.pid
    redis = getattr(stack, "_redis", None)
    if redis is not None and redis.process is not None:
        pids["kefu redis"] = redis.process.pid
    return pids


def scripted_conversations(prefix: str, count: int) -> list[tuple[str, list[str]]]:
    names = itertools.cycle(SCRIPTS)
    return [(f"{prefix}-{index}", SCRIPTS[next(names)]) for index in range(count)]


def fmt(seconds: float) -> str:
    return f"{seconds * 1000:.0f}"


def print_tables(results: dict[tuple[str, str], PhaseResult], rss: dict[str, tuple[float, float]],
                 workers: int | None) -> None:
    print()
    print(f"Kefu workers: {workers or 'default (KEFU_WORKERS or cores)'}; cores: {os.cpu_count()}")
    print("| scenario | system | turns | turns/s | p50 ms | p95 ms | p99 ms | errors | CPU ms/turn | Kefu/Rasa turns/s |")
    print("|---|---|---|---|---|---|---|---|---|---|")
    scenarios = sorted({scenario for scenario, _ in results}, key=lambda s: (s.split()[0], int(s.split()[-1])))
    for scenario in scenarios:
        rasa = results.get((scenario, "rasa"))
        for system, result in (("plain rasa", rasa), ("kefu", results.get((scenario, "kefu"))),
                               ("kefu before", results.get((scenario, "before")))):
            if result is None:
                continue
            lat = result.latencies
            ratio = result.turns_per_second / rasa.turns_per_second if rasa and rasa.turns_per_second else 0
            tail = f"{ratio:.2f}×" if system != "plain rasa" and ratio else ""
            print(f"| {scenario} | {system} | {len(lat)} | {result.turns_per_second:.1f} | {fmt(percentile(lat, .5))} "
                  f"| {fmt(percentile(lat, .95))} | {fmt(percentile(lat, .99))} | {result.errors} "
                  f"| {result.cpu_ms_per_turn:.0f} | {tail} |")
    print()
    print("| process | RSS MB | PSS MB (end of run) |")
    print("|---|---|---|")
    for name, (size, proportional) in sorted(rss.items()):
        print(f"| {name} | {size:.0f} | {proportional:.0f} |")


async def benchmark(args) -> None:
    from bot.embedded_redis import free_port
    from bot.training import ensure_model

    model, _ = ensure_model(ROOT, ROOT / "models")
    work = Path(tempfile.mkdtemp(prefix="kefu-chatbench-"))
    levels = [int(level) for level in args.levels.split(",")]
    systems = [s for s in ("rasa", "kefu", "before") if s in args.systems.split(",")]
    if "before" in systems and not args.before_root:
        raise SystemExit("--systems before needs --before-root (a checkout of the Kefu to compare with)")
    new_turns = sum(level * 5 for level in levels) * args.rounds * len(systems)
    long_turns = args.long_level * args.long_turns * len(systems) if args.long_turns else 0
    print(f"model {model.name}; work dir {work}", file=sys.stderr)
    plain = PlainRasa(model, free_port(), work).start() if "rasa" in systems else None
    kefu = start_kefu(model, work / "kefu", args.workers) if "kefu" in systems else None
    before = start_kefu(model, work / "before", args.before_workers, Path(args.before_root).resolve()) \
        if "before" in systems else None
    urls = {"rasa": plain.url if plain else "", "kefu": kefu.settings.rasa_url if kefu else "",
            "before": before.settings.rasa_url if before else ""}
    system_pids = {"rasa": [plain.process.pid] if plain else [],
                   "kefu": list(kefu_pids(kefu).values()) if kefu else [],
                   "before": list(kefu_pids(before).values()) if before else []}
    results: dict[tuple[str, str], PhaseResult] = {}
    progress = Progress(new_turns + long_turns)
    try:
        for level in levels:
            for round_ in range(args.rounds):
                for system in systems:
                    label = f"new {level} {system} r{round_ + 1}"
                    conversations = scripted_conversations(f"{system}-n{level}-r{round_}", level)
                    result = await run_phase(urls[system], conversations, progress, label, args.phase_seconds,
                                             pids=system_pids[system])
                    results.setdefault((f"new {level}", system), PhaseResult()).merge(result)
        if args.long_turns:
            warm = args.long_turns - 5
            for system in systems:  # bring the conversations to their late turns (not timed)
                conversations = [(f"{system}-long-{i}", list(itertools.islice(itertools.cycle(LONG_FILLER), warm)))
                                 for i in range(args.long_level)]
                await run_phase(urls[system], conversations, progress, f"long warm-up {system}", 1800, timed=False)
            for system in systems:
                conversations = [(f"{system}-long-{i}", SCRIPTS["bill"]) for i in range(args.long_level)]
                result = await run_phase(urls[system], conversations, progress, f"long {system}", args.phase_seconds,
                                         pids=system_pids[system])
                results[(f"long{args.long_turns} {args.long_level}", system)] = result
        progress.close()
        pids = {"plain rasa": plain.process.pid} if plain else {}
        pids.update(kefu_pids(kefu) if kefu else {})
        pids.update({name.replace("kefu", "before"): pid for name, pid in (kefu_pids(before) if before else {}).items()})
        print_tables(results, process_tree_rss(pids), args.workers)
    finally:
        progress.close()
        for stack in (kefu, before):
            if stack:
                stack.stop()
        if plain:
            plain.stop()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--levels", default="10,50,100", help="concurrent conversations per level")
    parser.add_argument("--rounds", type=int, default=2, help="alternating rounds per level and system")
    parser.add_argument("--long-turns", type=int, default=50, help="turn count of the long scenario (0: skip)")
    parser.add_argument("--long-level", type=int, default=10, help="concurrent long conversations")
    parser.add_argument("--workers", type=int, default=None, help="KEFU_WORKERS for Kefu (default: its own)")
    parser.add_argument("--phase-seconds", type=float, default=120, help="stop sending new turns after this")
    parser.add_argument("--systems", default="rasa,kefu", help="which of rasa,kefu,before to run")
    parser.add_argument("--before-root", default=None, help="checkout of Kefu for the 'before' system")
    parser.add_argument("--before-workers", type=int, default=1, help="KEFU_WORKERS for 'before'")
    asyncio.run(benchmark(parser.parse_args()))


if __name__ == "__main__":
    main()
