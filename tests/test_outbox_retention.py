"""Finished outbox rows are deleted KEFU_OUTBOX_EXPIRY_SECONDS (30 days) after they were queued, by the
pass `kefu run` makes every 10 minutes (review: texts with verification codes and numbers, WeChat
messages with openids, and ticket events carrying the customer's account were kept for ever). A row
still to be sent, and a ticket event given up (it holds its ticket's later events), are never deleted."""
from __future__ import annotations

import dataclasses
import datetime as dt
import threading
import time

import pytest
import sqlalchemy as sa

from bot.db.recordings import tidy_forever
from bot.db.repository import Repository
from bot.db.schema import outbox
from bot.dispatch.events import CHANNEL as TICKET_EVENTS
from bot.outbound.retention import prune
from bot.settings import SettingError, from_environment

DAY = 24 * 3600


def test_finished_rows_are_kept_30_days_by_default_and_0_keeps_them_for_ever():
    assert from_environment({}).outbox_expiry_s == 30 * DAY
    assert from_environment({"KEFU_OUTBOX_EXPIRY_SECONDS": "0"}).outbox_expiry_s == 0
    with pytest.raises(SettingError, match="KEFU_OUTBOX_EXPIRY_SECONDS"):
        from_environment({"KEFU_OUTBOX_EXPIRY_SECONDS": "-1"})


def queue(repository: Repository, rows: dict[str, tuple[str, str]], age: dt.timedelta) -> dict[str, int]:
    """Rows by name: (channel, status), queued ``age`` ago by the database's own clock."""
    ids = {name: repository.add_outbound(channel=channel, recipient="13800000001" if channel != TICKET_EVENTS
                                         else "T0001", kind="verification_code", payload={"text": "验证码 123456"})
           for name, (channel, _) in rows.items()}
    with repository.engine.begin() as conn:
        now = conn.execute(sa.select(outbox.c.created_at).where(outbox.c.id == min(ids.values()))).scalar_one()
        for name, (_, status) in rows.items():
            conn.execute(outbox.update().where(outbox.c.id == ids[name]).values(status=status, created_at=now - age))
    return ids


def remaining(repository: Repository) -> set[int]:
    with repository.engine.connect() as conn:
        return set(conn.execute(sa.select(outbox.c.id)).scalars())


OLD = {
    "text sent": ("sms", "sent"),
    "text given up": ("sms", "failed"),
    "text lapsed": ("sms", "dropped"),
    "wechat sent": ("wechat", "sent"),
    "text still retrying": ("sms", "pending"),
    "text being sent": ("sms", "sending"),
    "event sent": (TICKET_EVENTS, "sent"),
    "event dropped": (TICKET_EVENTS, "dropped"),
    "event given up": (TICKET_EVENTS, "failed"),  # holds its ticket's later events
    "event still retrying": (TICKET_EVENTS, "pending"),
}
KEPT = {"text still retrying", "text being sent", "event given up", "event still retrying"}


def test_the_tidy_pass_deletes_finished_rows_past_their_expiry_and_keeps_those_still_to_go(kefu_env):
    settings = dataclasses.replace(kefu_env, outbox_expiry_s=30 * DAY)
    repository = Repository(settings.database_url)
    old = queue(repository, OLD, dt.timedelta(days=31))
    recent = queue(repository, {"text sent yesterday": ("sms", "sent"), "event sent": (TICKET_EVENTS, "sent")},
                   dt.timedelta(days=1))
    expected = {old[name] for name in KEPT} | set(recent.values())

    stop = threading.Event()
    pass_runner = threading.Thread(target=tidy_forever, args=(settings, stop), daemon=True)
    pass_runner.start()  # its first pass runs at once, as at `kefu run`'s start
    try:
        deadline = time.monotonic() + 10
        while remaining(repository) != expected and time.monotonic() < deadline:
            time.sleep(0.05)
        assert remaining(repository) == expected
    finally:
        stop.set()
        pass_runner.join(timeout=10)
    assert not pass_runner.is_alive()


def test_with_0_nothing_is_deleted_and_a_second_instance_finds_nothing_more(kefu_env):
    repository = Repository(kefu_env.database_url)
    ids = queue(repository, OLD, dt.timedelta(days=400))
    assert prune(repository, 0) == 0 and remaining(repository) == set(ids.values())
    assert prune(repository, 30 * DAY) == len(OLD) - len(KEPT)
    assert prune(repository, 30 * DAY) == 0  # another instance's pass right after: harmless
    assert remaining(repository) == {ids[name] for name in KEPT}
