"""README "Logs": a database a one-shot ``kefu`` command cannot reach or use is one line,
``kefu: error: the database cannot be used: …`` with the driver's reason, exit code 1 (its traceback
in cli.log). Found by following the README: ``kefu agent …`` printed a SQLAlchemy traceback for a URL it
cannot use, and ``kefu report`` / ``kefu compare`` printed the URL, password included, without the
reason ("is it created?" for a server that is down)."""
from __future__ import annotations

import socket

import pytest

from bot import settings as settings_module

PASSWORD = "s3cret-pw"


def unused_port() -> int:
    with socket.socket() as unused:
        unused.bind(("127.0.0.1", 0))
        return unused.getsockname()[1]


def kefu(tmp_path, monkeypatch, url: str, *argv: str) -> int:
    from bot.cli import main

    monkeypatch.setenv("KEFU_DATA_DIR", str(tmp_path / "var"))
    monkeypatch.setenv("KEFU_DATABASE_URL", url)
    monkeypatch.delenv("KEFU_LOG_LEVEL", raising=False)
    settings_module.get_settings.cache_clear()
    try:
        return main(list(argv))
    finally:
        settings_module.get_settings.cache_clear()


def said(capsys) -> list[str]:
    return [line for line in capsys.readouterr().err.splitlines() if line.strip()]


@pytest.mark.parametrize("argv", [("report", "--from", "today", "--to", "today"),
                                  ("compare", "--before", "yesterday", "--after", "today"),
                                  ("outbox", "list"), ("outbox", "resend", "5"), ("outbox", "resend", "--all-failed"),
                                  ("outbox", "drop", "5")])
def test_a_database_that_is_down_is_named_with_the_reason_and_no_password(tmp_path, monkeypatch, capsys, argv):
    port = unused_port()  # nobody listens
    url = f"postgresql://kefu:{PASSWORD}@127.0.0.1:{port}/kefu"
    assert kefu(tmp_path, monkeypatch, url, *argv) == 1
    [line] = said(capsys)
    assert line.startswith("kefu: error: the database cannot be used:") and f"port {port} failed" in line, line
    assert PASSWORD not in line


@pytest.mark.parametrize("argv", [("agent", "list"), ("agent", "add", "amy", "--skills", "tv", "--password", "12345678"),
                                  ("agent", "remove", "amy")])
@pytest.mark.parametrize("url", ["postgress://kefu@127.0.0.1/kefu", f"kefu:{PASSWORD}@db.example/kefu"])
def test_an_agent_command_on_a_url_it_cannot_use_says_so_in_one_line(tmp_path, monkeypatch, capsys, argv, url):
    assert kefu(tmp_path, monkeypatch, url, *argv) == 1  # a misspelt scheme; no scheme at all
    [line] = said(capsys)
    assert line.startswith("kefu: error: the database cannot be used:") and "KEFU_DATABASE_URL" in line, line
    assert PASSWORD not in line


@pytest.mark.parametrize("argv", [("db", "upgrade"), ("db", "init"), ("db", "current"), ("published",)])
def test_the_database_commands_say_a_server_that_is_down_in_one_line(tmp_path, monkeypatch, capsys, argv):
    """`kefu db …` and `kefu published` (exit 2, as `kefu run`) printed SQLAlchemy's text: the driver's
    message on two lines, then "(Background on this error at: https://sqlalche.me/…)"."""
    port = unused_port()
    assert kefu(tmp_path, monkeypatch, f"postgresql://kefu:{PASSWORD}@127.0.0.1:{port}/kefu", *argv) == 2
    [line] = said(capsys)
    assert line.startswith("Kefu cannot use the database:") and f"port {port} failed" in line, line
    assert PASSWORD not in line


def test_publishing_on_a_database_that_is_down_says_why_in_one_line(tmp_path, monkeypatch, capsys):
    """Found in review: `kefu publish` printed SQLAlchemy's text over several lines, its sqlalche.me link
    included, where the other commands say the reason in one line."""
    from pathlib import Path

    model = sorted(Path(__file__).resolve().parents[2].glob("models/kefu-*.tar.gz"))[-1]
    port = unused_port()
    url = f"postgresql://kefu:{PASSWORD}@127.0.0.1:{port}/kefu"
    assert kefu(tmp_path, monkeypatch, url, "publish", str(model)) == 1
    lines = said(capsys)
    assert lines[0].startswith("not published: ") and f"port {port} failed" in lines[0], lines
    assert lines[1:] == ["no machine changes its model"] and PASSWORD not in "".join(lines)
