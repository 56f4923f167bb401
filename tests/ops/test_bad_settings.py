"""A setting with a value Kefu cannot use stops every ``kefu`` command with one line that names the
variable and what it takes, exit code 2 — not a Python traceback (``KEFU_RASA_PORT=5005x`` gave
``ValueError: invalid literal for int()`` from bot/settings.py), and not, for ``KEFU_WORKERS``, a
traceback only after ``kefu run`` had prepared the database and the model. Real ``kefu`` processes."""
from __future__ import annotations

import os
import subprocess
import sys

import pytest

from bot.embedded_redis import free_port
from tests.conftest import PROJECT_ROOT

KEFU = [sys.executable, "-c", "import sys; from bot.cli import main; sys.exit(main())"]


def kefu(args: list[str], tmp_path, **settings: str) -> subprocess.CompletedProcess:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("KEFU_", "PROMETHEUS_"))}
    env.pop("REDIS_URL", None)
    env.update(KEFU_DATA_DIR=str(tmp_path / "var"), KEFU_RASA_PORT=str(free_port()),
               KEFU_ACTION_PORT=str(free_port()), KEFU_REDIS_PORT=str(free_port()))
    env.update(settings)
    (tmp_path / "var").mkdir(mode=0o700, exist_ok=True)
    return subprocess.run(KEFU + args, cwd=PROJECT_ROOT, env=env, capture_output=True, text=True, timeout=120)


@pytest.mark.parametrize("name, value", [
    ("KEFU_RASA_PORT", "5005x"),
    ("KEFU_ACTION_PORT", "70000"),
    ("KEFU_REDIS_PORT", "-1"),
    ("KEFU_REDIS_TIMEOUT_SECONDS", "0"),  # README: "seconds (> 0)"
    ("KEFU_LOG_MAX_MB", "fifty"),
    ("KEFU_LOG_LEVEL", "VERBOSE"),
    ("KEFU_OTP_TTL_SECONDS", "5 min"),
    ("KEFU_TRACKER_EXPIRY_SECONDS", "-5"),
    # Shorter than the waiting room's 30 s grace: a step cut off short lost what it owed the customer.
    ("KEFU_QUEUE_RECORD_EXPIRY_SECONDS", "20"),
    ("KEFU_WEBCHAT_PING_INTERVAL_S", "often"),
    # A misspelt switch was read as its default, silently: "of" loaded the demo customers (auto, SQLite).
    ("KEFU_DEMO_DATA", "of"),
    ("KEFU_DEMO_CARRIER", "disabled"),
    ("KEFU_ALLOW_VOLATILE_REDIS", "yes please"),
    ("WECHAT_USE_RECOGNITION", "treu"),
    ("KEFU_LOG_FORMAT", "jsonl"),  # was console, silently: the log shipper got no JSON
    # Without its scheme every link Kefu sends (videos, telephony callbacks) pointed nowhere, silently.
    ("KEFU_PUBLIC_URL", "kefu.example.com"),
])
def test_a_bad_setting_is_named_in_one_line(tmp_path, name, value):
    result = kefu(["db", "current"], tmp_path, **{name: value})
    assert "Traceback" not in result.stderr, result.stderr
    assert result.returncode == 2, (result.returncode, result.stdout, result.stderr)
    assert result.stderr.startswith("kefu: error: "), result.stderr
    assert name in result.stderr and value in result.stderr


def test_kefu_run_refuses_a_bad_setting_before_preparing_anything(tmp_path):
    result = kefu(["run"], tmp_path, KEFU_RASA_PORT="http://0.0.0.0:5005")
    assert "Traceback" not in result.stderr, result.stderr
    assert result.returncode == 2
    assert "Kefu cannot start: KEFU_RASA_PORT" in result.stderr
    assert not (tmp_path / "var" / "kefu.sqlite3").exists()


def test_kefu_run_refuses_a_bad_worker_count_before_preparing_anything(tmp_path):
    result = kefu(["run"], tmp_path, KEFU_WORKERS="two")
    assert "Traceback" not in result.stderr, result.stderr
    assert result.returncode == 2
    assert "Kefu cannot start: KEFU_WORKERS" in result.stderr
    assert "preparing database" not in result.stdout  # said before minutes of work, not after
    assert not (tmp_path / "var" / "kefu.sqlite3").exists()


def test_good_values_still_start_commands(tmp_path):
    result = kefu(["db", "current"], tmp_path, KEFU_RASA_PORT=" 5105 ", KEFU_REDIS_TIMEOUT_SECONDS="0.5",
                  KEFU_LOG_LEVEL="debug", KEFU_LOG_MAX_MB="", KEFU_REDIS_PORT="0", KEFU_DEMO_DATA="Off",
                  KEFU_DEMO_CARRIER="", WECHAT_USE_RECOGNITION="TRUE", KEFU_LOG_FORMAT="JSON")
    assert "Traceback" not in result.stderr, result.stderr
    assert result.returncode == 1  # an empty database: an upgrade is due


def test_db_current_on_a_fresh_clone_says_an_upgrade_is_due(tmp_path):
    """No ``var/`` yet (a fresh clone): ``kefu db current`` said "Kefu cannot use the database: unable to
    open database file", exit 2 (refused), when KEFU_LOG_LEVEL was set; without it, its cli.log happened
    to make the folder and the same command answered "empty", exit 1."""
    fresh = tmp_path / "fresh-var"
    result = kefu(["db", "current"], tmp_path, KEFU_DATA_DIR=str(fresh), KEFU_LOG_LEVEL="WARNING")
    assert "Traceback" not in result.stderr, result.stderr
    assert (result.returncode, result.stderr) == (1, ""), (result.returncode, result.stdout, result.stderr)
    assert "empty" in result.stdout and "kefu db upgrade" in result.stdout


@pytest.mark.parametrize("url", ["127.0.0.1:6379", "redis-host:6379/0", "http://127.0.0.1:6379"])
def test_a_redis_url_without_its_scheme_is_named(tmp_path, url):
    """``REDIS_URL=127.0.0.1:6379`` (no ``redis://``) ended ``kefu run`` with redis-py's ValueError traceback."""
    for args in (["run"], ["db", "current"]):
        result = kefu(args, tmp_path, REDIS_URL=url)
        assert "Traceback" not in result.stderr, result.stderr
        assert result.returncode == 2
        assert "REDIS_URL" in result.stderr and "redis://" in result.stderr


def test_a_database_url_whose_driver_is_not_installed_is_named(tmp_path):
    """``mysql://…`` (no MySQL driver in Kefu) ended ``kefu db upgrade`` with a ModuleNotFoundError traceback,
    where a misspelt scheme was already one line."""
    result = kefu(["db", "upgrade"], tmp_path, KEFU_DATABASE_URL="mysql://kefu@127.0.0.1/kefu")
    assert "Traceback" not in result.stderr, result.stderr
    assert result.returncode == 2
    assert "KEFU_DATABASE_URL is not usable" in result.stderr


@pytest.mark.parametrize("command", [["agent", "list"], ["agent", "add", "bob", "--skills", "general"],
                                     ["ledger", "list"], ["outbox", "list"], ["dispatch", "events"],
                                     ["contacts", "plan"], ["customer", "export", "1"]])
def test_a_database_that_cannot_be_reached_is_one_line_not_a_traceback(tmp_path, command):
    """PostgreSQL down (or a wrong host in KEFU_DATABASE_URL): these commands printed SQLAlchemy's
    two chained tracebacks, ending in "(Background on this error at: https://sqlalche.me/e/14/e3q8)"."""
    down = f"postgresql://kefu@127.0.0.1:{free_port()}/kefu"  # nothing listens there
    result = kefu(command, tmp_path, KEFU_DATABASE_URL=down)
    assert "Traceback" not in result.stderr, result.stderr[-2000:]
    assert result.returncode == 1
    assert result.stderr.startswith("kefu: error: "), result.stderr
    assert "Connection refused" in result.stderr and "127.0.0.1" in result.stderr
    assert "Traceback" in (tmp_path / "var" / "logs" / "cli.log").read_text(encoding="utf-8")  # kept for a bug report


def test_kefu_run_refuses_a_demo_supervisor_password_it_cannot_set(tmp_path):
    """README: KEFU_DEMO_AGENT_PASSWORD makes the demo supervisor on the first start. One shorter than an
    agent's password may be (8 characters) ended `kefu run` in a traceback (AccountError) after it had
    prepared the database; the line must not show the password."""
    result = kefu(["run"], tmp_path, KEFU_DEMO_AGENT_PASSWORD="kefu12")
    assert "Traceback" not in result.stderr, result.stderr
    assert result.returncode == 2
    assert "Kefu cannot start: KEFU_DEMO_AGENT_PASSWORD" in result.stderr and "8 characters" in result.stderr
    assert "kefu12" not in result.stderr


@pytest.mark.parametrize("command", [["db", "current"], ["agent", "list"], ["report", "--from", "today", "--to", "today"]])
def test_a_data_folder_that_is_a_file_is_named_in_one_line(tmp_path, command):
    """KEFU_DATA_DIR naming a file (a typo for its folder) ended each command in a NotADirectoryError traceback."""
    a_file = tmp_path / "kefu.conf"
    a_file.write_text("not a folder", encoding="utf-8")
    result = kefu(command, tmp_path, KEFU_DATA_DIR=str(a_file))
    assert "Traceback" not in result.stderr, result.stderr
    assert result.returncode == 2
    assert result.stderr.startswith("kefu: error: KEFU_DATA_DIR") and "not a folder" in result.stderr, result.stderr


@pytest.mark.parametrize("bound, reached", [("::", "http://[::1]:5005"), ("::1", "http://[::1]:5005"),
                                            ("0.0.0.0", "http://127.0.0.1:5005"), ("127.0.0.2", "http://127.0.0.2:5005")])
def test_the_servers_own_address_is_one_a_client_can_open_for_every_kefu_host(tmp_path, bound, reached):
    """Found in review: KEFU_HOST=:: (every IPv6 address) made Kefu's own address http://:::5005, which no
    client can open: the banner's link, the commands that find the running server, the links sent."""
    from urllib.parse import urlsplit

    from bot.settings import from_environment

    settings = from_environment({"KEFU_HOST": bound, "KEFU_DATA_DIR": str(tmp_path / "var")})
    assert settings.rasa_url == settings.public_url == reached
    assert urlsplit(settings.rasa_url).port == 5005


def test_kefu_run_refuses_a_content_file_the_bot_would_refuse_before_preparing_anything(tmp_path):
    """Found in review: at a first start there is no last good version of a content file to keep, so a
    labels.yml the bot refuses (a bill line naming {amout}) started a Kefu whose every bill, plan and
    ticket answer failed. It now says which file and why, before minutes of work."""
    import shutil

    content = shutil.copytree(PROJECT_ROOT / "content", tmp_path / "content")
    labels = content / "labels.yml"
    labels.write_text(labels.read_text(encoding="utf-8").replace("{amount}元（{status}）", "{amout}元（{status}）", 1),
                      encoding="utf-8")
    result = kefu(["run"], tmp_path, KEFU_CONTENT_DIR=str(content))
    assert "Traceback" not in result.stderr, result.stderr
    assert result.returncode == 2
    [line] = [l for l in result.stderr.splitlines() if l.startswith("Kefu cannot start:")]
    assert str(labels) in line and "bill_line" in line and "kefu validate" in line
    assert "preparing database" not in result.stdout and not (tmp_path / "var" / "kefu.sqlite3").exists()


def test_kefu_run_names_a_yaml_mistake_at_its_line_in_kefu_validates_words(tmp_path):
    """Found in review: a labels.yml with a tab at a first start stopped `kefu run` with the YAML parser's
    own message ("found character '\\t' that cannot start any token"), where `kefu validate` says which line
    to change and how."""
    import shutil

    content = shutil.copytree(PROJECT_ROOT / "content", tmp_path / "content")
    labels = content / "labels.yml"
    labels.write_text(labels.read_text(encoding="utf-8").replace("\n  assigned:", "\n\tassigned:", 1), encoding="utf-8")
    result = kefu(["run"], tmp_path, KEFU_CONTENT_DIR=str(content))
    assert result.returncode == 2, result.stderr
    [line] = [l for l in result.stderr.splitlines() if l.startswith("Kefu cannot start:")]
    assert f"{labels}:4: not valid YAML: a tab indents this line: indent with spaces, not tabs" in line, line
