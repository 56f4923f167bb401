"""A write whose COMMIT reached the database but whose answer did not (PostgreSQL restarting, a network
blip between the two) is retried by ``_retry_transient``; the retry must not write it a second time.

The lost answer is real: the database's own COMMIT runs, then the driver raises the error a dropped
connection raises, once. On SQLite and, with KEFU_TEST_POSTGRES_URL, on PostgreSQL (``kefu_env``).
"""
from __future__ import annotations

import contextlib
import datetime as dt
import uuid

import pytest

from bot.db.recordings import CALLER_CLIP, VOICE_MESSAGE, RecordingStore
from bot.db.repository import Repository
from bot.dispatch.events import CHANNEL as TICKET_EVENTS
from bot.dispatch.status import StatusRequest, apply_status

WAV = b"RIFF" + bytes(40)


@pytest.fixture
def repo(kefu_env):
    return Repository(kefu_env.database_url)


@contextlib.contextmanager
def acknowledgement_lost(engine):
    """The next COMMIT on ``engine`` is carried out by the database, then its answer is lost: the driver
    raises the error of a connection closed under it, as psycopg2 does when the server goes away."""
    dialect = engine.dialect
    real_commit = dialect.do_commit
    lost = []

    def commit_then_drop(dbapi_connection):
        real_commit(dbapi_connection)
        if not lost:
            lost.append(True)
            raise dialect.dbapi.OperationalError("server closed the connection unexpectedly")

    dialect.do_commit = commit_then_drop
    try:
        yield lost
    finally:
        del dialect.do_commit  # the class's own again
    assert lost, "no COMMIT ran in the block"


def test_a_complaint_whose_acknowledgement_was_lost_is_filed_once(repo):
    with acknowledgement_lost(repo.engine):
        ticket_id = repo.create_ticket(kind="complaint", customer_id=2, summary="装维人员态度差")
    assert [t["ticket_id"] for t in repo.tickets_for(2)] == [ticket_id]
    assert [h["to_status"] for h in repo.ticket_history(ticket_id)] == ["open"]


def test_a_text_whose_acknowledgement_was_lost_is_queued_once(repo):
    with acknowledgement_lost(repo.engine):
        outbound_id = repo.add_outbound(channel="sms", recipient="13800000001", kind="selfhelp",
                                        payload={"text": "重启光猫"})
    assert [m["id"] for m in repo.outbound(channel="sms")] == [outbound_id]


def test_a_chase_whose_acknowledgement_was_lost_raises_the_priority_one_step(repo):
    ticket_id = repo.create_ticket(kind="fault", customer_id=1, summary="no signal")
    with acknowledgement_lost(repo.engine):
        assert repo.chase_ticket(ticket_id, "reported again (webchat): 还没修好") is True
    assert repo.get_ticket(ticket_id)["priority"] == 1
    assert [h["note"] for h in repo.ticket_history(ticket_id)][1:] == ["reported again (webchat): 还没修好"]


def test_a_note_and_a_new_visit_time_whose_acknowledgements_were_lost_are_recorded_once(repo, monkeypatch):
    from bot import settings

    monkeypatch.setenv("KEFU_DISPATCH_EVENTS_URL", "http://127.0.0.1:9/kefu/events")  # ticket events queued
    monkeypatch.setenv("KEFU_DISPATCH_EVENTS_SECRET", "s" * 32)
    settings.get_settings.cache_clear()
    ticket_id = repo.create_ticket(kind="visit", customer_id=1, summary="上门")
    with acknowledgement_lost(repo.engine):
        repo.note_ticket(ticket_id, "客户又来电")
    with acknowledgement_lost(repo.engine):
        repo.update_ticket_details(ticket_id, {"visit_time": "明天上午"}, "改约")
    assert [h["note"] for h in repo.ticket_history(ticket_id)][1:] == ["客户又来电", "改约"]
    events = [m["kind"] for m in repo.outbound(channel=TICKET_EVENTS) if m["recipient"] == ticket_id]
    assert events == ["ticket_created", "ticket_updated"]  # the engineer is told of the new time once


def test_a_dispatch_status_whose_acknowledgement_was_lost_is_answered_as_applied(repo):
    """The retry found the ticket resolved already and told the dispatch system it had changed nothing."""
    ticket_id = repo.create_ticket(kind="fault", customer_id=1, summary="no signal")
    with acknowledgement_lost(repo.engine):
        outcome = apply_status(repo, ticket_id, StatusRequest(status="resolved", external_ref="JOB-7"))
    assert (outcome.changed, outcome.reason, outcome.moves) == (True, "moved", ("resolved",))
    assert [h["to_status"] for h in repo.ticket_history(ticket_id)] == ["open", "resolved"]


def test_a_voice_message_whose_acknowledgement_was_lost_is_stored_once_not_refused(repo):
    """Refused, the pipeline kept it on disk and the refiling pass found it stored: never routed."""
    message_id = uuid.uuid4().hex
    with acknowledgement_lost(repo.engine):
        repo.add_voice_message(message_id=message_id, audio=WAV, conversation_id=f"voicemail:{message_id}",
                               duration_s=1.0, caller_phone="13800000001", channel="phone")
    assert [m["id"] for m in repo.voice_messages(outcome="received")] == [message_id]
    assert RecordingStore(repo.url).get(message_id, VOICE_MESSAGE).audio == WAV


def test_a_recording_whose_acknowledgement_was_lost_is_saved_not_refused(repo):
    store, clip_id = RecordingStore(repo.url), uuid.uuid4().hex
    with acknowledgement_lost(store.engine):
        store.save(recording_id=clip_id, kind=CALLER_CLIP, conversation_id="ivr:c1", audio=WAV)
    assert store.get(clip_id, CALLER_CLIP).audio == WAV


def test_receipts_are_deleted_by_the_tidy_pass_an_hour_after_their_write(kefu_env, repo):
    """One receipt a write: without the pass, the table grew by one row for every ticket, text and note."""
    import threading

    import sqlalchemy as sa

    from bot.db.recordings import tidy_forever
    from bot.db.schema import write_receipts

    def receipts() -> set[str]:
        with repo.engine.connect() as conn:
            return set(conn.execute(sa.select(write_receipts.c.id)).scalars())

    repo.create_ticket(kind="fault", customer_id=1, summary="an hour ago")
    (old,) = receipts()
    with repo.engine.begin() as conn:  # by the database's own clock, as the pass reads it
        now = conn.execute(sa.select(write_receipts.c.at)).scalar_one()
        conn.execute(write_receipts.update().values(at=now - dt.timedelta(minutes=61)))
    repo.add_outbound(channel="sms", recipient="13800000001", kind="selfhelp", payload={"text": "重启光猫"})
    assert old in receipts() and len(receipts()) == 2

    stop = threading.Event()
    stop.set()  # one pass, then it returns
    tidy_forever(kefu_env, stop)
    assert len(receipts()) == 1 and old not in receipts()


class CommitSwallowingProxy:
    """A loopback TCP relay to the PostgreSQL server that, once armed, cuts the next connection that sends
    ``COMMIT`` as a NAT or firewall does on a network blip: the client's side is reset before the COMMIT is
    passed on, and the server's side is kept open and silent, so the server keeps that transaction open
    (idle in transaction) as it does until its own TCP keepalive gives up (hours, by default)."""

    def __init__(self, host: str, port: int) -> None:
        import socket
        import threading

        self.target = (host, port)
        self.listener = socket.create_server(("127.0.0.1", 0))
        self.port = self.listener.getsockname()[1]
        self.armed = threading.Event()
        self.swallowed = threading.Event()
        self.kept: list = []  # the server sides of cut connections, open until close()
        self.sockets: list = [self.listener]
        threading.Thread(target=self._accept, daemon=True).start()

    def _accept(self) -> None:
        import socket
        import threading

        while True:
            try:
                client, _ = self.listener.accept()
            except OSError:
                return
            server = socket.create_connection(self.target)
            self.sockets += [client, server]
            threading.Thread(target=self._pump, args=(client, server, True), daemon=True).start()
            threading.Thread(target=self._pump, args=(server, client, False), daemon=True).start()

    def _pump(self, source, sink, to_server: bool) -> None:
        import socket
        import struct

        while True:
            try:
                data = source.recv(65536)
            except OSError:
                return
            if not data:
                return
            if to_server and b"COMMIT\x00" in data and self.armed.is_set():
                self.armed.clear()
                self.kept.append(sink)  # the server's side: open, and nothing more sent on it
                source.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
                source.close()  # the client's side: reset
                self.swallowed.set()
                return
            try:
                sink.sendall(data)
            except OSError:
                return

    def close(self) -> None:
        for sock in self.sockets:
            try:
                sock.close()
            except OSError:
                pass


@contextlib.contextmanager
def through_a_relay(kefu_env):
    """A Repository whose connections to the test's PostgreSQL database pass a CommitSwallowingProxy."""
    import sqlalchemy as sa

    from bot.db.repository import engine_for
    from tests.postgres import postgres_server_url

    if not postgres_server_url():
        pytest.skip("a connection to a database server (KEFU_TEST_POSTGRES_URL)")
    url = sa.engine.make_url(kefu_env.database_url)
    proxy = CommitSwallowingProxy(url.host, url.port)
    through = url.set(host="127.0.0.1", port=proxy.port).render_as_string(hide_password=False)
    try:
        yield Repository(through), proxy
    finally:
        proxy.close()  # the server's side closed: its transaction rolls back, a waiting writer goes on
        engine_for(through).dispose()


def cut_before_its_commit(repo, proxy, write) -> tuple[list, "threading.Thread"]:
    """``write(repo)`` in a thread, its first COMMIT cut on the way; its results and the thread."""
    import threading

    repo.tickets_for(2)  # connected through the relay
    proxy.armed.set()
    done: list = []
    writer = threading.Thread(target=lambda: done.append(write(repo)), daemon=True)
    writer.start()
    writer.join(timeout=30)
    assert proxy.swallowed.is_set()
    return done, writer


def test_a_write_whose_connection_was_cut_before_its_commit_is_filed_once_not_held_for_hours(kefu_env):
    """The connection was cut on the way out (a NAT reset the client, the server's side never heard of it):
    the COMMIT never reached the server, whose transaction stays open for hours. The retry filed the
    complaint before receipts; it must not wait for that transaction, which nothing will ever end."""
    with through_a_relay(kefu_env) as (repo, proxy):
        filed, writer = cut_before_its_commit(
            repo, proxy, lambda r: r.create_ticket(kind="complaint", customer_id=2, summary="装维人员态度差"))
        assert not writer.is_alive(), "the complaint's write was still waiting after 30 s"
        assert [t["ticket_id"] for t in Repository(kefu_env.database_url).tickets_for(2)
                if t["summary"] == "装维人员态度差"] == filed


def test_a_ticket_row_a_stranded_transaction_locked_is_free_again_within_seconds(kefu_env, monkeypatch):
    """A chase whose COMMIT was cut leaves its transaction open on the server, holding the ticket's row: every
    later write to that ticket (its own retry, an agent's note) waited until the server's TCP keepalive gave
    up, hours later. The server now ends a transaction left idle, and the chase is recorded once."""
    from bot.db import repository

    monkeypatch.setattr(repository, "STRANDED_TRANSACTION_S", 2)  # 30 s in service
    direct = Repository(kefu_env.database_url)
    ticket_id = direct.create_ticket(kind="fault", customer_id=2, summary="no signal")
    with through_a_relay(kefu_env) as (repo, proxy):
        chased, writer = cut_before_its_commit(repo, proxy, lambda r: r.chase_ticket(ticket_id, "还没修好"))
        assert not writer.is_alive(), "the chase's retry was still waiting for the stranded transaction after 30 s"
        direct.note_ticket(ticket_id, "agent: 已联系装维")
    assert chased == [True]
    assert direct.get_ticket(ticket_id)["priority"] == 1
    assert [h["note"] for h in direct.ticket_history(ticket_id)][1:] == ["还没修好", "agent: 已联系装维"]


def test_a_text_and_a_note_under_once_keys_are_written_once_hours_later_too(kefu_env, repo):
    """Found in review: a once-key's receipt went with the plain ones an hour after its write, and a try of its write
    after that (a lost call's SMS owed in its queue record, a ticket note owed in Redis, each tried again once Redis
    is back) queued the SMS twice, wrote the note twice. Kept as long as those can be tried again."""
    from bot.outbound.retention import RECEIPT_EXPIRY_S
    from tests.receipts_aged import hours_later

    ticket_id = repo.create_ticket(kind="callback", customer_id=1, summary="请回电")
    text = {"channel": "sms", "recipient": "13800000001", "kind": "agent_ticket_filed", "payload": {"text": "工单"}}
    assert repo.add_outbound(**text, once="lost_call_text:ivr:MZ1:a1:1") is not None
    assert repo.note_ticket(ticket_id, "转接到账务组", once="kefu:handoff:transfer_noted:web-1:wang:1") is True

    hours_later(kefu_env, repo.engine, 3 * RECEIPT_EXPIRY_S)  # Redis back after three hours: both tried again
    assert repo.add_outbound(**text, once="lost_call_text:ivr:MZ1:a1:1") is None
    assert repo.note_ticket(ticket_id, "转接到账务组", once="kefu:handoff:transfer_noted:web-1:wang:1") is False
    assert [m["kind"] for m in repo.outbound(channel="sms") if m["recipient"] == "13800000001"] == \
        ["agent_ticket_filed"], "the caller texted once"
    assert [h["note"] for h in repo.ticket_history(ticket_id)].count("转接到账务组") == 1, "the ticket noted once"


def test_once_key_receipts_go_once_nothing_can_try_their_write_again(kefu_env, repo):
    """The table does not grow for ever: a once-key's receipt is deleted after ``once_receipt_expiry_s``, a call's
    own after an hour, by the same pass."""
    import sqlalchemy as sa

    from bot.db.schema import write_receipts
    from bot.outbound.retention import RECEIPT_EXPIRY_S, once_receipt_expiry_s
    from tests.receipts_aged import hours_later

    def receipts() -> int:
        with repo.engine.connect() as conn:
            return conn.execute(sa.select(sa.func.count()).select_from(write_receipts)).scalar_one()

    repo.add_outbound(channel="sms", recipient="13800000001", kind="agent_ticket_filed", payload={"text": "工单"},
                      once="lost_call_text:ivr:MZ2:a1:1")
    assert receipts() == 2  # the call's own, and the once-key's
    hours_later(kefu_env, repo.engine, RECEIPT_EXPIRY_S + 60)
    assert receipts() == 1, "the call's own receipt goes after an hour; the once-key's stays"
    hours_later(kefu_env, repo.engine, once_receipt_expiry_s(kefu_env) - RECEIPT_EXPIRY_S - 120)
    assert receipts() == 1, "kept until its expiry"
    hours_later(kefu_env, repo.engine, 120)
    assert receipts() == 0, "then deleted"


def test_once_key_receipts_outlive_every_retry_of_their_writes(kefu_env, monkeypatch):
    """A lost call's SMS is owed as long as its queue record lives (KEFU_QUEUE_RECORD_EXPIRY_SECONDS, also when set
    longer), a ticket note's Redis once-key NOTED_KEPT_S: its receipt in the database outlives both."""
    from bot import settings as settings_module
    from bot.handoff.callback_transferred import NOTED_KEPT_S
    from bot.outbound.retention import ONCE_RECEIPT_EXPIRY_S, once_receipt_expiry_s

    assert once_receipt_expiry_s(kefu_env) >= max(NOTED_KEPT_S, kefu_env.queue_record_expiry_s)
    monkeypatch.setenv("KEFU_QUEUE_RECORD_EXPIRY_SECONDS", str(ONCE_RECEIPT_EXPIRY_S * 2))
    settings_module.get_settings.cache_clear()
    assert once_receipt_expiry_s(settings_module.get_settings()) == ONCE_RECEIPT_EXPIRY_S * 2
