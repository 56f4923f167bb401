"""Voice messages the database refused are filed again by kefu run's pass, each exactly once.

A real database that refuses (SQLite in a folder that is not there yet, or a PostgreSQL database not
created yet), then returns with its schema and the demo customers; the recogniser is absent (no Vosk
model), so each filed message becomes a work item for a person."""
from __future__ import annotations

import asyncio
import dataclasses
import uuid

import pytest
import sqlalchemy as sa

import bot.db.repository
from bot.db.repository import DatabaseError, Repository
from bot.db.schema import tickets, voice_messages
from bot.db.seed import seed_demo
from tests.postgres import postgres_server_url
from voice.pcm import pcm_to_wav_bytes
from voice.voicemail import RasaHttpNlu, VoicemailPipeline
from voice.voicemail.unsaved import kept_messages, refile_pass, refile_unsaved, unsaved_dir

CALLER = "13800000002"  # a demo customer


class DownDatabase:
    """A database URL that refuses connections until ``bring_back`` (then upgraded and seeded)."""

    def __init__(self, tmp_path) -> None:
        server = postgres_server_url()
        if server:
            self.name = f"kefu_test_down_{uuid.uuid4().hex[:10]}"
            self.server, self.url = server, str(sa.engine.make_url(server).set(database=self.name))
        else:
            self.server, self.folder = None, tmp_path / "db-down"
            self.url = f"sqlite:///{self.folder}/kefu.sqlite3"

    def bring_back(self, seed_file) -> None:
        if self.server:
            engine = sa.create_engine(self.server, isolation_level="AUTOCOMMIT", future=True)
            with engine.connect() as conn:
                conn.execute(sa.text(f'CREATE DATABASE "{self.name}"'))
            engine.dispose()
            seed_demo(Repository(self.url), seed_file)
            return
        ready = self.folder.with_name("db-ready")
        ready.mkdir()
        seed_demo(Repository(f"sqlite:///{ready}/kefu.sqlite3"), seed_file)
        ready.rename(self.folder)


@pytest.fixture
def down(tmp_path, monkeypatch) -> DownDatabase:
    monkeypatch.setattr(bot.db.repository, "WRITE_RETRY_S", 0.5)  # the database's refusal comes sooner
    return DownDatabase(tmp_path)


@pytest.fixture
def settings(kefu_env, down):
    return dataclasses.replace(kefu_env, vosk_model_path=None, database_url=down.url)


def pipeline(settings) -> VoicemailPipeline:
    return VoicemailPipeline.from_settings(settings, nlu=RasaHttpNlu("http://127.0.0.1:9", timeout=1))


def message() -> bytes:
    return pcm_to_wav_bytes(b"\x00\x10" * 16000 * 2, 16000)  # 2 s


def rows(url, table) -> list[dict]:
    with sa.create_engine(url, future=True).connect() as conn:
        return [dict(r) for r in conn.execute(sa.select(table)).mappings()]


async def test_a_message_refused_while_the_database_is_down_is_filed_once_when_it_returns(settings, down):
    storage = settings.data_dir / "voicemail"
    with pytest.raises(DatabaseError):
        await pipeline(settings).handle_bytes(message(), "wav", caller_phone=CALLER, channel="wechat")
    [kept] = kept_messages(storage)
    assert (kept.caller_phone, kept.channel) == (CALLER, "wechat")

    assert (await refile_unsaved(pipeline(settings), storage)).left == 1  # still down: it waits
    assert kept_messages(storage) == [kept]

    down.bring_back(settings.demo_seed_file)
    done = await asyncio.to_thread(refile_pass, settings)  # as kefu run's pass makes it
    assert (done.filed, done.already, done.left) == (1, 0, 0)
    assert list(unsaved_dir(storage).iterdir()) == []
    [stored] = rows(settings.database_url, voice_messages)
    assert stored["id"] == kept.message_id and stored["channel"] == "wechat"
    assert stored["customer_id"] == Repository(settings.database_url).find_customer(phone=CALLER).id
    [work_item] = [t for t in rows(settings.database_url, tickets)
                   if (t["details"] or {}).get("voice_message_id") == kept.message_id]
    assert work_item["needs_human"] == 1


async def test_files_left_by_a_crash_after_filing_or_a_racing_instance_make_no_second_work_item(settings, down):
    storage = settings.data_dir / "voicemail"
    down.bring_back(settings.demo_seed_file)
    wav = message()
    flow = pipeline(settings)
    flow._keep("a" * 32, wav, CALLER, "ivr")  # as kept during an outage
    saved = {p.name: p.read_bytes() for p in unsaved_dir(storage).iterdir()}

    racing = await asyncio.gather(refile_unsaved(pipeline(settings), storage), refile_unsaved(flow, storage))
    assert sum(d.filed for d in racing) == 1

    for name, data in saved.items():  # a pass that stored it, then died before deleting its files
        (unsaved_dir(storage) / name).write_bytes(data)
    done = await refile_unsaved(flow, storage)
    assert (done.filed, done.already) == (0, 1)
    assert list(unsaved_dir(storage).iterdir()) == []
    assert [r["id"] for r in rows(settings.database_url, voice_messages)] == ["a" * 32]
    assert len([t for t in rows(settings.database_url, tickets)
                if (t["details"] or {}).get("voice_message_id") == "a" * 32]) == 1
