"""Shared fixtures: an isolated Kefu environment per test, and one trained model per run."""
from __future__ import annotations

import os
import shutil
from pathlib import Path

import pytest

from tests.stuck_spawn_watchdog import start_for_this_process

# Started first, before this process loads TensorFlow's threads: ends a subprocess stuck before exec, which no
# thread of a worker can do (tests/stuck_spawn_watchdog.py); a test then fails instead of the run stalling.
STUCK_SPAWN_WATCHDOG = start_for_this_process()
# Importing Rasa's channels (aiogram, for Telegram) installs uvloop's event-loop policy, which forgets
# the loop of the policy before. Done here, before pytest-asyncio makes a test's loop, a module run alone
# is set up as in the whole suite (whose collection imports them first); imported later, by a lazy import
# inside a test, it left that test without a loop (tests/ops/test_state_metrics.py run alone).
import rasa.core.channels  # noqa: F401

from bot import settings as settings_module
from tests.worker_redis import move_to_own_databases

move_to_own_databases()  # a pytest-xdist worker's own Redis databases, before anything reads REDIS_URL
PROJECT_ROOT = Path(__file__).resolve().parent.parent
SHARED_SPEECH = PROJECT_ROOT.parent / "shared" / "speech"
# The Mandarin test model (../shared/models/README.md): real Vosk recognition of Kefu's own TTS.
# Set before any settings are read, so the test stack and every subprocess use it too.
TEST_VOSK_MODEL = PROJECT_ROOT.parent / "shared" / "models" / "vosk-model-kefu-test-zh"
if TEST_VOSK_MODEL.is_dir():
    os.environ.setdefault("VOSK_MODEL_PATH", str(TEST_VOSK_MODEL.resolve()))
# Debian's Chromium, driven by Playwright without `playwright install`; the flags keep it off the
# network (this machine has none) and out of first-run chores.
CHROMIUM = "/usr/bin/chromium"
CHROMIUM_ARGS = ["--no-sandbox", "--disable-gpu", "--disable-background-networking", "--disable-component-update",
                 "--disable-sync", "--no-first-run"]


def _clear_caches() -> None:
    from actions import backend

    settings_module.get_settings.cache_clear()
    backend.repository.cache_clear()


@pytest.fixture
def kefu_env(tmp_path, monkeypatch):
    """Settings pointing at a fresh data dir with the demo database loaded."""
    from tests.demo_database import end_connections, seed_copy
    from tests.postgres import postgres_server_url, unused_database_url

    monkeypatch.setenv("KEFU_DATA_DIR", str(tmp_path / "var"))
    monkeypatch.setenv("KEFU_DEMO_DATA", "on")  # seeded below, on SQLite and on CI's PostgreSQL alike
    monkeypatch.delenv("KEFU_DATABASE_URL", raising=False)
    if postgres_server_url():  # CI: the same tests against PostgreSQL
        monkeypatch.setenv("KEFU_DATABASE_URL", unused_database_url(postgres_server_url()))  # made by seed_copy
    _clear_caches()
    settings = settings_module.get_settings()
    settings.data_dir.mkdir(parents=True)
    seed_copy(settings.database_url, settings.content_dir / "demo" / "seed.yml")
    yield settings
    _clear_caches()
    end_connections(settings.database_url)


@pytest.fixture
def media_dir(kefu_env, tmp_path, monkeypatch) -> Path:
    """An empty media folder of the test's own, as on a fresh install before any video is rendered."""
    folder = tmp_path / "media"
    folder.mkdir()
    monkeypatch.setenv("KEFU_MEDIA_DIR", str(folder))
    settings_module.get_settings.cache_clear()
    return folder


@pytest.fixture
def selfhelp_videos(media_dir) -> Path:
    """The catalogue's videos and posters in place, as once rendered (small ones, made with ffmpeg)."""
    from tests.channels.stack_env import make_media

    if not shutil.which("ffmpeg"):
        pytest.skip("ffmpeg is not installed (needed to make the videos)")
    make_media(media_dir, PROJECT_ROOT / "content" / "selfhelp.yml")
    return media_dir


@pytest.fixture
def agents_hours(tmp_path, monkeypatch):
    """Pin the hotline's hours (``business_hours`` of content/ivr.yml) for a test: a customer queued with nobody online
    is told when the agents are back outside them (bot/handoff/service_hours.py), so a test of anything else must not
    hang on the hour it runs at. Called with the business_hours fields to change; ``closed_dates`` as dates."""
    import yaml

    def pin(**business_hours) -> Path:
        config = yaml.safe_load((PROJECT_ROOT / "content" / "ivr.yml").read_text(encoding="utf-8"))
        config["hold"]["audio"] = str(PROJECT_ROOT / "content" / config["hold"]["audio"])  # relative to the file
        config["business_hours"].update({key: [d.isoformat() for d in value] if key == "closed_dates" else value
                                         for key, value in business_hours.items()})
        path = tmp_path / "ivr-hours.yml"
        path.write_text(yaml.safe_dump(config, allow_unicode=True), encoding="utf-8")
        monkeypatch.setenv("KEFU_IVR_CONFIG", str(path))
        settings_module.get_settings.cache_clear()
        return path

    yield pin
    settings_module.get_settings.cache_clear()


@pytest.fixture
def agents_in_all_day(agents_hours):
    """Agents' hours round the clock: "nobody online" is said as in the daytime, whatever the hour of the run."""
    agents_hours(open="00:00", close="24:00", days=["mon", "tue", "wed", "thu", "fri", "sat", "sun"])


@pytest.hookimpl(hookwrapper=True)
def pytest_runtest_call(item):
    """A real-time test's stalled event loop is logged with where it was (tests/loop_watch.py)."""
    from tests.loop_watch import watching

    with watching(item):
        yield


def pytest_terminal_summary(terminalreporter):
    from tests.loop_watch import summary

    summary(terminalreporter)


@pytest.hookimpl(tryfirst=True)  # before pytest-xdist reads the groups (its own hook of this name)
def pytest_collection_modifyitems(items):
    """Modules that need no trained model run first, while the trainings use the CPU (tests/trainings.py);
    the others follow, each group in its usual order.

    Run in alphabetical order, the first test needing the served model waited about 230 s while one
    core idled, and the ~400 s of tests needing none ran later. Modules marked ``realtime`` (they
    time audio or locks) wait too, so the trainings' CPU cannot stretch what they measure."""
    from tests import trainings

    waiting = {item.path for item in items
               if trainings.STARTERS.keys() & set(item.fixturenames) or item.get_closest_marker("realtime")}
    # Of those, with two workers, the modules one worker runs one after the other first: the run's longest chain.
    workers = "PYTEST_XDIST_WORKER" in os.environ
    items.sort(key=lambda item: (item.path in waiting, workers and worker_group(item) != SERIAL_GROUP))
    for item in items:
        item.add_marker(pytest.mark.xdist_group(worker_group(item)))


SERIAL_GROUP = "realtime-and-heavy"


def worker_group(item) -> str:
    """Which tests one pytest-xdist worker runs together, one after the other (``make test``: two
    workers, ``--dist loadgroup``): a module's tests (its module fixtures start once), and every
    module that times audio or locks with every module that trains a model or starts several Rasa
    servers (``heavy``), so their CPU never stretches what the other measures."""
    if item.get_closest_marker("realtime") or item.get_closest_marker("heavy"):
        return SERIAL_GROUP
    return item.nodeid.split("::")[0]


def pytest_collection_finish(session):
    """Start the trainings the collected tests need, side by side (tests/trainings.py)."""
    if not session.config.option.collectonly:
        from tests import trainings

        trainings.start({name for item in session.items for name in getattr(item, "fixturenames", ())})


def pytest_sessionfinish(session):
    from tests import trainings

    trainings.stop()


@pytest.fixture(scope="session")
def trained_model() -> Path:
    """The model for the current training data: trained once, reused across runs by content hash."""
    from tests import trainings

    return trainings.started("trained_model").result()


@pytest.fixture(scope="session")
def running_kefu(trained_model, tmp_path_factory):
    """The real Rasa and action servers on free ports, with their own database."""
    from bot.embedded_redis import free_port
    from bot.stack import KefuStack

    data_dir = tmp_path_factory.mktemp("stack")
    env = dict(os.environ)
    env.update(
        KEFU_DATA_DIR=str(data_dir),
        KEFU_RASA_PORT=str(free_port()),
        KEFU_ACTION_PORT=str(free_port()),
        # One worker: the web-chat tests also speak Socket.IO long-polling, whose requests must
        # reach the worker holding the session (README "Several processes"). Several processes
        # are tested in tests/scale (two servers on one Redis).
        KEFU_WORKERS="1",
        # As behind deploy/nginx.conf: Sanic takes the client from X-Forwarded-For (README "Behind a
        # reverse proxy"); requests without the header still come from their own address.
        SANIC_PROXIES_COUNT="1",
        # The stack tests speak as the demo customers, also on CI's PostgreSQL (where the default,
        # an external database, would load none: README "Demo data").
        KEFU_DEMO_DATA="on",
        # Every stack test's page connects from 127.0.0.1, the fuzzing's hundreds of sessions a minute
        # too: no budget of new sessions per address here (tests/channels/test_webchat_addresses.py tests
        # it); the limit of open connections per address stays on.
        KEFU_WEBCHAT_SESSIONS_PER_ADDRESS_PER_MINUTE="0",
    )
    # Channel tests: media folder with a generated self-help video, WeChat test credentials.
    from tests.channels.stack_env import channel_environment

    env.update(channel_environment(data_dir, PROJECT_ROOT, env))
    # IVR tests: a copy of the flows plus test flows, always-open hours, the test recogniser.
    from tests.ivr.stack_env import ivr_environment

    env.update(ivr_environment(data_dir, PROJECT_ROOT, env))
    env.pop("KEFU_DATABASE_URL", None)
    from tests.postgres import fresh_database_url, postgres_server_url

    if postgres_server_url():  # CI: the whole stack on PostgreSQL
        env["KEFU_DATABASE_URL"] = fresh_database_url(postgres_server_url())
    stack = KefuStack(settings_module.from_environment(env), model=trained_model)
    stack.start()
    yield stack
    stack.stop()


@pytest.fixture(scope="module")
def browser():
    """A headless Chromium for the page tests (web chat, agent desk)."""
    if not shutil.which(CHROMIUM):
        pytest.skip(f"{CHROMIUM} is not installed (apt-get install chromium fonts-wqy-microhei)")
    from tests.playwright_start import sync_playwright_started

    with sync_playwright_started() as playwright:
        browser = playwright.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
        yield browser
        browser.close()
