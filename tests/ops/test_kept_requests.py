"""A repair, a complaint or a callback asked for while the database is down is kept and filed once it is back.

Found by an on-call SRE tester (finding 9, "nothing lost"): with the database down, the customer's
complaint got "系统暂时查询不到您的信息" and was filed nowhere. Real SQLite (its folder moved away, as a
database that cannot be opened), a real Redis, the real actions and the real action server.
"""
from __future__ import annotations

import asyncio
import copy
import json
import os
import subprocess
import time
import uuid

import pytest
import redis as sync_redis
import requests
from rasa_sdk import Tracker
from rasa_sdk.executor import CollectingDispatcher

from actions.chain import find_action
from actions.kept_requests import LOOK_EVERY_S, KeptRequests, file_kept, kept_key, kept_requests
from bot import settings as settings_module
from bot.db.repository import Repository
from bot.db.seed import seed_demo
from bot.embedded_redis import free_port
from bot.outcomes.recorder import recorder_for
from bot.security.secrets import load_secrets
from tests.action_tests.trackers import Turn, entity, load_tracker
from tests.conftest import PROJECT_ROOT, _clear_caches
from tests.handoff.conftest import redis, redis_url  # noqa: F401 - a real Redis
from tests.ops.faults import wait_for

COMPLAINT = "我要投诉，你们的装机师傅态度太差了，我的号码13800000001"


class Database:
    """A real SQLite database in a folder of its own, which can go away and come back."""

    def __init__(self, root) -> None:
        self.folder = root / "db"
        self.url = f"sqlite:///{self.folder}/kefu.sqlite3"

    def down(self) -> None:
        self.folder.rename(self.folder.with_name("db-away"))

    def up(self) -> None:
        self.folder.with_name("db-away").rename(self.folder)


@pytest.fixture
def database(tmp_path, monkeypatch, redis_url, redis):  # noqa: F811
    """Settings on SQLite (also on CI, whose PostgreSQL cannot be stopped by one test) and the test's Redis."""
    base = Database(tmp_path)
    base.folder.mkdir()
    monkeypatch.setenv("KEFU_DATA_DIR", str(tmp_path / "var"))
    monkeypatch.setenv("KEFU_DATABASE_URL", base.url)
    monkeypatch.setenv("REDIS_URL", redis_url)
    _clear_caches()
    settings = settings_module.get_settings()
    settings.data_dir.mkdir(parents=True)
    seed_demo(Repository(base.url), settings.content_dir / "demo" / "seed.yml")
    for name, value in load_secrets(settings).environment().items():  # as kefu run hands them to its servers
        monkeypatch.setenv(name, value)
    _clear_caches()
    yield base
    _clear_caches()


async def run(name: str, tracker) -> Turn:
    dispatcher = CollectingDispatcher()
    return Turn(dispatcher.messages, await find_action(name).run(dispatcher, tracker, {}))


def complaint(sender: str, **slots):
    return load_tracker("query_bill", text=COMPLAINT, intent="complaint",
                        entities=[entity("phone_number", "13800000001")], sender=sender, **slots)


# Customer 1 proven in the conversation: only then does a complaint join their open one (actions/tickets.py).
PROVEN_1 = {"customer_id": "1", "verified_customer_id": "1", "verified_by": "sms_code", "verified_channel": "rest"}


def then_says(tracker: Tracker, text: str, intent: str, entities: list, **slots) -> Tracker:
    """The conversation one user turn later (the earlier turns kept: the request is in them)."""
    state = copy.deepcopy(tracker.current_state())
    message = {"text": text, "intent": {"name": intent, "confidence": 0.95}, "entities": entities}
    state["events"] += [{"event": "action", "name": "action_listen"},
                        {"event": "user", "text": text, "parse_data": message, "input_channel": "rest"}]
    state["latest_message"] = message
    state["slots"].update(slots)
    return Tracker.from_dict(state)


def tickets_of(conversation_id: str) -> list[dict]:
    return Repository(settings_module.get_settings().database_url).tickets_for(None, conversation_id=conversation_id)


async def event_kinds(conversation_id: str) -> list[str]:
    assert await recorder_for().flush()
    events = Repository(settings_module.get_settings().database_url).events_for(conversation_id)
    return [e["kind"] for e in events]


def filed_as(ticket: dict) -> dict:
    """What the ticket says, without what differs between any two tickets."""
    details = {k: v for k, v in ticket["details"].items() if k != "kept_request"}
    return {k: ticket[k] for k in ("kind", "customer_id", "status", "priority", "needs_human", "summary",
                                   "channel")} | {"details": details}


async def test_a_complaint_while_the_database_is_down_is_filed_once_when_it_is_back(database):
    database.down()

    turn = await run("action_complaint", complaint("kept-c1"))

    assert turn.responses == ["utter_complaint_kept"], turn.responses  # told it is kept; no ticket number
    assert "ticket_id" not in turn.messages[0] and turn.slots["awaiting"] == "offer_human"
    assert await kept_requests().drain(file_kept) == 0  # still down: it stays for the next look
    assert await kept_requests().count() == 1
    database.up()

    assert await kept_requests().drain(file_kept) == 1
    assert await kept_requests().drain(file_kept) == 0 and await kept_requests().count() == 0
    [ticket] = tickets_of("kept-c1")
    assert ticket["kind"] == "complaint" and ticket["customer_id"] == 1 and ticket["needs_human"]
    assert "装机师傅态度太差了" in ticket["summary"] and ticket["channel"] == "rest"
    assert await event_kinds("kept-c1") == ["ticket_created"]


async def test_a_password_named_in_a_kept_request_is_not_kept_in_redis(database, redis):  # noqa: F811
    """The tracker store never writes a code or password the customer names (README, "Retention and
    logs": not in Redis, not in its append-only file); a request kept while the database is down keeps
    the conversation in Redis too, and kept it as typed."""
    database.down()
    tracker = load_tracker("query_bill", text="我的服务密码是135790，套餐被人改了，我要投诉", intent="complaint",
                           entities=[entity("phone_number", "13800000001")], sender="kept-secret")

    assert (await run("action_complaint", tracker)).responses == ["utter_complaint_kept"]

    kept = [raw.decode() for raw in await redis.lrange(kept_requests().key, 0, -1)]
    assert len(kept) == 1 and "135790" not in kept[0] and "套餐被人改了" in kept[0], kept
    database.up()
    assert await kept_requests().drain(file_kept) == 1
    [ticket] = tickets_of("kept-secret")
    assert "135790" not in ticket["summary"] and "套餐被人改了" in ticket["summary"]


async def test_a_kept_complaint_is_a_ticket_of_its_own_like_a_normal_one(database):
    """Without an open complaint to join, the kept complaint becomes the ticket a normal filing makes."""
    said = "我要投诉，你们的客服一直不回电话，我的号码13999999999"
    tracker = lambda sender: load_tracker("query_bill", text=said, intent="complaint",  # noqa: E731
                                          entities=[entity("phone_number", "13999999999")], sender=sender)
    await run("action_complaint", tracker("kept-normal-2"))
    database.down()
    assert (await run("action_complaint", tracker("kept-c2"))).responses == ["utter_complaint_kept"]
    database.up()
    assert await kept_requests().drain(file_kept) == 1

    [ticket], [usual] = tickets_of("kept-c2"), tickets_of("kept-normal-2")
    assert filed_as(ticket) == filed_as(usual) and "客服一直不回电话" in ticket["summary"]
    assert ticket["details"]["callback_phone"] == "13999999999"
    assert await event_kinds("kept-c2") == await event_kinds("kept-normal-2") == ["ticket_created"]


async def test_a_callback_asked_for_while_the_database_is_down_is_filed_with_the_number_given(database):
    request = load_tracker("query_bill", text="我想留个言，网一直断，请尽快回电", intent="leave_message",
                           sender="kept-m1")
    asked = await run("action_leave_message", request)
    assert asked.responses[-1] == "utter_ask_identity"  # nothing to look up yet
    database.down()
    typed = then_says(request, "13800000002", "inform", [entity("phone_number", "13800000002")], **asked.slots)
    turn = await run("action_identify_customer", typed)
    assert turn.responses == ["utter_message_kept"], turn.responses
    assert turn.slots["pending_request"] is None
    database.up()

    assert await kept_requests().drain(file_kept) == 1
    [ticket] = tickets_of("kept-m1")
    assert ticket["kind"] == "callback" and ticket["customer_id"] == 2 and "网一直断" in ticket["summary"]
    assert await event_kinds("kept-m1") == ["ticket_created"]


async def test_a_repair_self_help_did_not_fix_while_the_database_is_down_is_filed_when_it_is_back(database):
    """A repair asked for after self-help failed, from a customer the conversation knows already."""
    known = {"customer_id": "3", "verified_customer_id": "3", "verified_by": "sms_code", "verified_channel": "rest"}
    database.down()
    turn = await run("action_create_fault_ticket", load_tracker("selfhelp_denied", sender="kept-r1", **known))
    assert turn.responses == ["utter_fault_ticket_kept"], turn.responses
    database.up()

    assert await kept_requests().drain(file_kept) == 1
    [ticket] = tickets_of("kept-r1")
    assert ticket["kind"] == "fault" and ticket["customer_id"] == 3 and ticket["details"]["fault_type"]
    assert await event_kinds("kept-r1") == ["ticket_created"]


async def test_a_callers_repair_kept_longer_than_the_caller_id_is_valid_is_still_filed(database, monkeypatch):
    """On the phone the caller is proven by the trunk's caller ID, a claim valid for ten minutes: a repair
    kept through a longer outage was filed with the claim expired, found nobody, and was set aside
    though the caller had heard it would be registered."""
    import datetime as dt

    import jwt.api_jwt

    from bot.security.claims import CALLER_ID, channel_claim

    tracker = load_tracker("selfhelp_denied", sender="ivr:KEPT-CALL")
    for event in tracker.events:
        if event.get("event") == "user":
            event["input_channel"] = "ivr"
    tracker.latest_message["metadata"] = channel_claim(CALLER_ID, "13800000003", "ivr:KEPT-CALL")
    database.down()
    turn = await run("action_create_fault_ticket", tracker)
    assert turn.responses == ["utter_fault_ticket_kept"], turn.responses
    database.up()

    class FifteenMinutesLater(dt.datetime):
        @classmethod
        def now(cls, tz=None):
            return dt.datetime.now(tz) + dt.timedelta(minutes=15)

    monkeypatch.setattr(jwt.api_jwt, "datetime", FifteenMinutesLater)
    assert await kept_requests().drain(file_kept) == 1
    assert await kept_requests().set_aside_count() == 0
    [ticket] = tickets_of("ivr:KEPT-CALL")
    assert ticket["kind"] == "fault" and ticket["customer_id"] == 3 and ticket["channel"] == "ivr"


async def test_a_kept_request_that_files_nothing_is_set_aside_for_an_operator(database, caplog):
    """An account number that turns out to be nobody's: nothing to file it on. It holds up no other."""
    database.down()
    nobody = load_tracker("query_bill", text="我要投诉，账号8899999999", intent="complaint", sender="kept-n1",
                          entities=[entity("account_number", "8899999999")])
    assert (await run("action_complaint", nobody)).responses == ["utter_complaint_kept"]
    await run("action_complaint", complaint("kept-n2"))
    database.up()

    assert await kept_requests().drain(file_kept) == 1
    kept = kept_requests()
    assert await kept.count() == 0 and await kept.client.llen(kept.failed_key) == 1
    assert tickets_of("kept-n1") == [] and len(tickets_of("kept-n2")) == 1
    assert any("requests.kept.not_filed" in r.getMessage() for r in caplog.records)


async def test_two_drainers_file_each_request_once_and_a_filed_one_is_not_filed_again(database):
    database.down()
    for sender in ("kept-d1", "kept-d2", "kept-d3"):
        await run("action_complaint", load_tracker("query_bill", text=f"我要投诉 {sender}，电话13912345678",
                                                   intent="complaint", sender=sender,
                                                   entities=[entity("phone_number", "13912345678")]))
    database.up()
    kept = kept_requests()
    # A drainer died after filing the first one, before taking it off the list.
    await file_kept(json.loads(await kept.client.lindex(kept.key, 0)))
    other = KeptRequests(kept.client, database.url)
    results = await asyncio.gather(kept.drain(file_kept), other.drain(file_kept))
    assert sorted(results, key=str) == [2, None]  # one drains, the other finds it taken
    assert await kept.count() == 0
    assert [len(tickets_of(s)) for s in ("kept-d1", "kept-d2", "kept-d3")] == [1, 1, 1]


@pytest.fixture
def action_server(database, tmp_path):
    """The real action server with two workers (two processes that may drain at once)."""
    from bot.security.launch import action_server_command, secure_environment
    from bot.stack import wait_until_up

    settings = settings_module.get_settings()
    port = free_port()
    env = {**os.environ, **secure_environment(settings), "KEFU_ACTION_PORT": str(port),
           "ACTION_SERVER_SANIC_WORKERS": "2", "PYTHONPATH": str(PROJECT_ROOT)}
    env.pop("PROMETHEUS_MULTIPROC_DIR", None)
    log = tmp_path / "actions.log"
    with open(log, "wb") as out:
        process = subprocess.Popen(action_server_command(settings), cwd=PROJECT_ROOT, env=env, stdout=out,
                                   stderr=subprocess.STDOUT, start_new_session=True)
    try:
        wait_until_up(f"http://127.0.0.1:{port}/health", process, log, 120)
        yield f"http://127.0.0.1:{port}", env["KEFU_ACTION_SECRET"]
    finally:
        os.killpg(process.pid, 15)
        process.wait(30)


def test_the_action_server_files_a_kept_complaint_by_itself_once_the_database_is_back(action_server, database,
                                                                                       redis_url):  # noqa: F811
    from bot.security.action_server import SECRET_HEADER

    url, secret = action_server
    sender = "kept-" + uuid.uuid4().hex[:8]
    tracker = complaint(sender).current_state()
    database.down()
    answer = requests.post(f"{url}/webhook", headers={SECRET_HEADER: secret}, timeout=60, json={
        "next_action": "action_complaint", "sender_id": sender, "tracker": tracker, "domain": {},
        "version": "3.6.21"})
    assert answer.status_code == 200, answer.text
    assert [r.get("response") for r in answer.json()["responses"]] == ["utter_complaint_kept"]
    database.up()

    kept = sync_redis.Redis.from_url(redis_url)
    wait_for(lambda: tickets_of(sender), 30, "the kept complaint filed by the action server")
    wait_for(lambda: kept.llen(kept_key(database.url)) == 0, 10, "the kept list emptied")
    time.sleep(LOOK_EVERY_S * 2)  # both workers look again: neither files it a second time
    [ticket] = tickets_of(sender)
    assert "装机师傅态度太差了" in ticket["summary"] and ticket["details"]["kept_request"]


# --- What a data-protection officer and an operator notice (erasure, export, retention, set-aside) ---

ERASED_PHONE = "13800000001"  # the demo's customer 1, who makes the complaint of COMPLAINT


def kept_raw(database) -> list[str]:
    """Every entry of both kept lists, as Redis holds it."""
    client = sync_redis.Redis.from_url(settings_module.get_settings().redis.url, decode_responses=True)
    try:
        return client.lrange(kept_key(database.url), 0, -1) + client.lrange(kept_key(database.url) + ":failed", 0, -1)
    finally:
        client.close()


def kefu(*args: str) -> int:
    from bot.cli import main

    return main(list(args))


async def keep_while_down(database, *trackers) -> None:
    database.down()
    for name, tracker in trackers:
        assert (await run(name, tracker)).responses[-1].endswith("_kept")
    database.up()
    assert await recorder_for().flush()  # events parked meanwhile are written (erase waits for them)


async def set_everything_aside() -> None:
    """A filing that fails with a bug: the real drain sets the entries aside in ``:failed``."""
    async def buggy(entry: dict) -> bool:
        raise RuntimeError("a bug")

    assert await kept_requests().drain(buggy) == 0


async def test_an_erased_customers_kept_requests_leave_redis_and_are_never_filed(database, capsys):
    """Customer 1 asks to be erased while one complaint is set aside and another still waits: nothing of
    theirs (words, number, conversation) stays in Redis's kept lists, and nothing is filed for them
    later; another customer's kept request stays and is filed."""
    await keep_while_down(database, ("action_complaint", complaint("kept-e1")))
    await set_everything_aside()
    other = load_tracker("query_bill", text="我要投诉，宽带老掉线，我的号码13800000002", intent="complaint",
                         entities=[entity("phone_number", "13800000002")], sender="kept-o1")
    await keep_while_down(database, ("action_complaint", complaint("kept-e2")), ("action_complaint", other))
    assert len(kept_raw(database)) == 3

    assert kefu("customer", "erase", ERASED_PHONE, "--yes") == 0

    left = kept_raw(database)
    assert not any(ERASED_PHONE in raw or "装机师傅态度太差了" in raw or "kept-e" in raw for raw in left)
    assert len(left) == 1 and "kept-o1" in left[0]
    said = capsys.readouterr().out
    assert "redis_kept_requests 2" in said, said  # the preview and the result say so
    assert await kept_requests().drain(file_kept) == 1
    assert tickets_of("kept-e1") == tickets_of("kept-e2") == [] and len(tickets_of("kept-o1")) == 1


async def test_an_erasure_that_cannot_stop_the_filing_erases_nothing_and_says_to_run_it_again(database, capsys,
                                                                                               monkeypatch):
    """A drainer holds the lock (it may be filing this very customer's request): erasing the rest and
    leaving that one to be filed would make a ticket of an erased customer's words."""
    from bot.kept_lists import drain_lock_key
    from bot.privacy import kept_requests as privacy_kept

    await keep_while_down(database, ("action_complaint", complaint("kept-b1")))
    monkeypatch.setattr(privacy_kept, "LOCK_WAIT_S", 0.5)
    assert await kept_requests().client.set(drain_lock_key(database.url), "a drainer", px=60_000)

    assert kefu("customer", "erase", ERASED_PHONE, "--yes") == 2

    assert "run the command again" in capsys.readouterr().err
    assert Repository(database.url).find_customer(phone=ERASED_PHONE) is not None
    assert len(kept_raw(database)) == 1


async def test_the_export_lists_the_customers_kept_requests(database, tmp_path):
    await keep_while_down(database, ("action_complaint", complaint("kept-x1")))
    await set_everything_aside()
    await keep_while_down(database, ("action_complaint", complaint("kept-x2")))

    folder = tmp_path / "export"
    assert kefu("customer", "export", ERASED_PHONE, "--out", str(folder)) == 0

    kept = json.loads((folder / "customer.json").read_text(encoding="utf-8"))["kept_requests"]
    assert [(k["list"], k["action"], k["conversation_id"]) for k in kept] == [
        ("waiting", "action_complaint", "kept-x2"), ("set_aside", "action_complaint", "kept-x1")]
    assert all(k["tracker"]["latest_message"]["text"] == COMPLAINT and k["kept_at"] for k in kept)


def aged(raw: str, days: float, *, old_format: bool = False) -> str:
    """The entry as if kept ``days`` ago (``old_format``: as kept before entries carried ``kept_at``)."""
    entry = json.loads(raw)
    then = time.time() - days * 24 * 3600
    if old_format:
        entry.pop("kept_at", None)
        entry["tracker"]["latest_event_time"] = then
    else:
        entry["kept_at"] = then
    return json.dumps(entry, ensure_ascii=False)


async def test_a_request_kept_longer_than_conversations_are_kept_is_dropped_not_filed(database, caplog):
    """KEFU_TRACKER_EXPIRY_SECONDS (30 days) applies to kept requests, waiting or set aside."""
    await keep_while_down(database, ("action_complaint", complaint("kept-old-aside")))
    await set_everything_aside()
    await keep_while_down(database, *[("action_complaint", complaint(s)) for s in ("kept-old", "kept-old-v1",
                                                                                  "kept-young")])
    kept = kept_requests()
    [aside] = await kept.client.lrange(kept.failed_key, 0, -1)
    await kept.client.lset(kept.failed_key, 0, aged(aside, 45))
    waiting = await kept.client.lrange(kept.key, 0, -1)
    await kept.client.lset(kept.key, 0, aged(waiting[0], 31))
    await kept.client.lset(kept.key, 1, aged(waiting[1], 31, old_format=True))

    assert await kept.drain(file_kept) == 1

    assert await kept.count() == 0 and await kept.client.llen(kept.failed_key) == 0
    assert [len(tickets_of(s)) for s in ("kept-old-aside", "kept-old", "kept-old-v1", "kept-young")] == [0, 0, 0, 1]
    expired = [r.getMessage() for r in caplog.records if "requests.kept.expired" in r.getMessage()]
    assert len(expired) == 3 and sum("list=set_aside" in line for line in expired) == 1, expired


async def test_an_operator_sees_the_set_aside_requests_in_the_metrics(database):
    from prometheus_client import generate_latest
    from prometheus_client.parser import text_string_to_metric_families

    from bot.observability.state import read_state, state_registry

    await keep_while_down(database, ("action_complaint", complaint("kept-s1")))
    await set_everything_aside()
    database.down()
    await run("action_complaint", complaint("kept-s2"))
    database.up()

    snapshot = await read_state(kept_requests().client, Repository(database.url))
    text = generate_latest(state_registry(snapshot)).decode()
    found = {s.labels["list"]: s.value for family in text_string_to_metric_families(text)
             for s in family.samples if s.name == "kefu_kept_requests"}
    assert found == {"waiting": 1, "set_aside": 1}


async def test_a_chase_filed_late_is_noted_once_when_its_drainer_died_before_taking_it_off(database):
    """Customer 1's complaint is open; they complain again, proven, while the database is down. The drainer
    that joins the kept request to the open complaint dies before taking it off the list: the next one must
    not note the chase (nor make the ticket more urgent, nor count it) a second time."""
    await run("action_complaint", complaint("kept-open"))
    [opened] = tickets_of("kept-open")
    await keep_while_down(database, ("action_complaint", complaint("kept-chase", **PROVEN_1)))
    kept = kept_requests()
    await file_kept(json.loads(await kept.client.lindex(kept.key, 0)))  # filed, then its drainer died

    await kept.drain(file_kept)

    repository = Repository(database.url)
    chases = [h for h in repository.ticket_history(opened["ticket_id"]) if h["from_status"] == h["to_status"]]
    assert len(chases) == 1 and "装机师傅态度太差了" in chases[0]["note"], chases
    assert tickets_of("kept-chase") == [] and await kept.count() == 0
    assert await event_kinds("kept-chase") == ["ticket_chased"]
