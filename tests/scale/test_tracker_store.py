"""The incremental Redis tracker store keeps Rasa's semantics and appends only new events."""
from __future__ import annotations

import pytest
import redis
import redis.asyncio as aioredis
from rasa.core.brokers.broker import EventBroker
from rasa.shared.core.domain import Domain
from rasa.shared.core.events import ActionExecuted, BotUttered, SessionStarted, SlotSet, UserUttered

from bot.settings import redis_parts
from bot.tracker_store import IncrementalRedisTrackerStore

DOMAIN = Domain.from_yaml("""
version: "3.1"
slots:
  phone:
    type: text
    influence_conversation: false
    mappings: [{type: custom}]
""")


@pytest.fixture(scope="module")
def redis_url(tmp_path_factory):
    from bot.embedded_redis import EmbeddedRedis

    server = EmbeddedRedis(tmp_path_factory.mktemp("redis")).start()
    yield server.url
    server.stop()


def make_store(redis_url: str, **kwargs) -> IncrementalRedisTrackerStore:
    parts = redis_parts(redis_url)
    return IncrementalRedisTrackerStore(DOMAIN, host=parts["host"], port=parts["port"], db=parts["db"], **kwargs)


def turn(tracker, text: str, answer: str) -> None:
    for event in (UserUttered(text), ActionExecuted("utter_x"), BotUttered(answer), ActionExecuted("action_listen")):
        tracker.update(event)


async def test_turns_are_appended_and_read_back_in_order(redis_url):
    store = make_store(redis_url)
    tracker = await store.get_or_create_tracker("c1")
    for n in range(30):
        turn(tracker, f"q{n}", f"a{n}")
        tracker.update(SlotSet("phone", f"1380000000{n % 10}"))
        await store.save(tracker)
    again = await make_store(redis_url).retrieve("c1")
    said = [e.text for e in again.events if isinstance(e, (UserUttered, BotUttered))]
    assert said == [x for n in range(30) for x in (f"q{n}", f"a{n}")]
    assert again.get_slot("phone") == "13800000009"
    raw = aioredis.Redis.from_url(redis_url)
    assert await raw.llen("kefu:events:c1") == len(again.events)  # nothing written twice


async def test_a_save_writes_only_the_new_events(redis_url):
    store = make_store(redis_url)
    tracker = await store.get_or_create_tracker("c2")
    for n in range(20):
        turn(tracker, f"q{n}", f"a{n}")
        await store.save(tracker)
    read = await store.retrieve("c2")
    raw = aioredis.Redis.from_url(redis_url)
    before = await raw.llen("kefu:events:c2")
    turn(read, "late", "answer")
    await store.save(read)
    await store.save(read)  # saving the same tracker twice adds nothing
    assert await raw.llen("kefu:events:c2") == before + 4


class Collected(EventBroker):
    """An event broker that keeps what it is given (the metrics' and outcome record's place)."""

    def __init__(self) -> None:
        self.events: list[dict] = []

    def publish(self, event: dict) -> None:
        self.events.append(event)


async def test_the_event_broker_gets_each_event_once_in_order(redis_url):
    """The metrics and the outcome record see every event of a turn once, from any process."""
    broker = Collected()
    store = make_store(redis_url, event_broker=broker)
    tracker = await store.get_or_create_tracker("broker-1")
    turn(tracker, "q0", "a0")
    await store.save(tracker)
    again = await make_store(redis_url, event_broker=broker).retrieve("broker-1")  # another process
    turn(again, "q1", "a1")
    await store.save(again)
    await store.save(again)  # nothing new: nothing published
    texts = [e.get("text") for e in broker.events if e["event"] in ("user", "bot")]
    assert texts == ["q0", "a0", "q1", "a1"]
    assert {e["sender_id"] for e in broker.events} == {"broker-1"}


async def test_retrieve_returns_the_latest_session_and_full_returns_all(redis_url):
    store = make_store(redis_url)
    tracker = await store.get_or_create_tracker("c3")
    turn(tracker, "old", "old answer")
    for event in (ActionExecuted("action_session_start"), SessionStarted(), ActionExecuted("action_listen")):
        tracker.update(event)
    turn(tracker, "new", "new answer")
    await store.save(tracker)
    latest = await store.retrieve("c3")
    full = await store.retrieve_full_tracker("c3")
    assert [e.text for e in latest.events if isinstance(e, UserUttered)] == ["new"]
    assert [e.text for e in full.events if isinstance(e, UserUttered)] == ["old", "new"]


async def test_a_tracker_rebuilt_elsewhere_adds_only_what_is_missing(redis_url):
    store = make_store(redis_url)
    tracker = await store.get_or_create_tracker("c4")
    turn(tracker, "one", "first")
    await store.save(tracker)
    from rasa.shared.core.trackers import DialogueStateTracker

    rebuilt = DialogueStateTracker.from_events("c4", list(tracker.events), DOMAIN.slots)
    turn(rebuilt, "two", "second")
    await store.save(rebuilt)
    texts = [e.text for e in (await store.retrieve("c4")).events if isinstance(e, UserUttered)]
    assert texts == ["one", "two"]


async def test_unknown_conversations_and_keys(redis_url):
    store = make_store(redis_url)
    assert await store.retrieve("nobody") is None
    assert not await store.exists("nobody")
    await store.get_or_create_tracker("c5")
    assert await store.exists("c5")
    assert "c5" in await store.keys()


async def test_record_exp_expires_idle_conversations(redis_url):
    store = make_store(redis_url, record_exp=100)
    tracker = await store.get_or_create_tracker("c6")
    turn(tracker, "hi", "hello")
    await store.save(tracker)
    raw = aioredis.Redis.from_url(redis_url)
    assert 0 < await raw.ttl("kefu:events:c6") <= 100


async def test_a_process_reading_again_sees_what_another_process_appended(redis_url):
    here, there = make_store(redis_url), make_store(redis_url)
    tracker = await here.get_or_create_tracker("c7")
    turn(tracker, "one", "first")
    await here.save(tracker)
    assert [e.text for e in (await here.retrieve("c7")).events if isinstance(e, UserUttered)] == ["one"]
    elsewhere = await there.retrieve("c7")
    turn(elsewhere, "two", "second")
    await there.save(elsewhere)
    again = await here.retrieve("c7")  # from its cache plus the tail in Redis
    assert [e.text for e in again.events if isinstance(e, UserUttered)] == ["one", "two"]
    assert len(again.events) == len((await make_store(redis_url).retrieve("c7")).events)


async def test_a_conversation_created_again_after_expiry_is_not_mixed_with_the_old_one(redis_url):
    store = make_store(redis_url)
    tracker = await store.get_or_create_tracker("c8")
    for n in range(3):
        turn(tracker, f"old{n}", "x")
    await store.save(tracker)
    await store.retrieve("c8")  # cached
    raw = aioredis.Redis.from_url(redis_url)
    await raw.delete(*store._keys("c8"))  # expired
    other = make_store(redis_url)
    fresh = await other.get_or_create_tracker("c8")
    for n in range(4):
        turn(fresh, f"new{n}", "y")
    await other.save(fresh)
    texts = [e.text for e in (await store.retrieve("c8")).events if isinstance(e, UserUttered)]
    assert texts == [f"new{n}" for n in range(4)]


def test_the_session_cache_is_bounded_by_events():
    from bot.tracker_store import CachedSession, SessionCache

    cache = SessionCache(max_events=10)
    for n in range(5):
        cache.put(f"s{n}", CachedSession("g", 0, tuple(ActionExecuted("action_listen") for _ in range(4))))
    assert cache.get("s0") is None and cache.get("s4") is not None
    assert sum(len(cache.get(k).events) for k in ("s3", "s4")) <= 10


async def test_a_code_or_password_given_as_proof_is_never_stored(redis_url):
    """Found by a data-protection audit: the service password (kept elsewhere only as a hash) was in
    the stored conversation as typed. The action checks it in the turn's tracker; Redis gets ******."""
    store = make_store(redis_url)
    tracker = await store.get_or_create_tracker("proof-1")
    tracker.update(SlotSet("awaiting", "verification_code"))
    tracker.update(UserUttered("密码是271828", parse_data={"text": "密码是271828", "intent": {"name": "inform"},
                                                         "entities": [{"entity": "code", "value": "271828"}]}))
    tracker.update(SlotSet("phone", "271828"))  # a slot filled from the answer is blanked with it
    tracker.update(SlotSet("awaiting", None))
    assert tracker.latest_message.text == "密码是271828", "the turn itself still reads the answer"
    await store.save(tracker)
    turn(tracker, "订单号 314159 到了吗", "a")  # not an answer to the proof prompt: kept as typed
    await store.save(tracker)

    raw = aioredis.Redis.from_url(redis_url)
    stored = b"".join(await raw.lrange("kefu:events:proof-1", 0, -1)).decode()
    assert "271828" not in stored and "密码是******" in stored
    assert "314159" in stored
    again = await make_store(redis_url).retrieve("proof-1")
    assert again.get_slot("phone") == "******"
    assert [e.text for e in again.events if isinstance(e, UserUttered)] == ["密码是******", "订单号 314159 到了吗"]
    await store.save(again)  # read back and saved again: nothing is added twice
    assert await raw.llen("kefu:events:proof-1") == len(again.events)

    # The message saved before the rest of its turn: the turn's events are blanked all the same.
    split = await store.get_or_create_tracker("proof-2")
    split.update(SlotSet("awaiting", "verification_code"))
    split.update(UserUttered("246802"))
    await store.save(split)
    split.update(SlotSet("phone", "246802"))
    await store.save(split)
    assert b"246802" not in b"".join(await raw.lrange("kefu:events:proof-2", 0, -1))


async def test_a_password_typed_to_an_agent_who_asked_for_it_is_never_stored(redis_url):
    """Found by a tester (HIGH 2): with an agent serving, "请回复您的6位服务密码" sets no ``awaiting``, and the
    customer's "135790" was stored as typed. Right after an agent's ask, or named anywhere, it is blanked."""
    store = make_store(redis_url)
    tracker = await store.get_or_create_tracker("desk-proof-1")
    agent = {"name": "王芳", "text": "麻烦先核实一下身份，请回复您的6位服务密码"}
    tracker.update(BotUttered(f"王芳：{agent['text']}", metadata={"utter_action": "utter_agent_message", "agent": agent}))
    tracker.update(UserUttered("135790"))
    tracker.update(UserUttered("我的服务密码是246802"))
    tracker.update(BotUttered("王芳：您的订单号是多少？", metadata={"agent": {"name": "王芳", "text": "您的订单号是多少？"}}))
    tracker.update(UserUttered("314159"))  # asked for something else: kept as typed
    await store.save(tracker)

    stored = b"".join(await aioredis.Redis.from_url(redis_url).lrange("kefu:events:desk-proof-1", 0, -1)).decode()
    assert "135790" not in stored and "246802" not in stored and "314159" in stored
    again = await make_store(redis_url).retrieve("desk-proof-1")
    assert [e.text for e in again.events if isinstance(e, UserUttered)] == ["******", "我的服务密码是******", "314159"]


async def test_six_digits_sent_unasked_to_the_assistant_are_never_stored(redis_url):
    """Found trying the chat: after a repair was filed on a number alone, the customer sent their service
    password unasked, and it was stored as typed. The assistant never asks for six digits but a code or a
    password; an agent's asking for an order number keeps its answer readable (above)."""
    store = make_store(redis_url)
    tracker = await store.get_or_create_tracker("unasked-1")
    turn(tracker, "宽带坏了", "已为您登记报修，需要预约上门时间或转人工客服吗？")
    turn(tracker, "135790", "为了您的账户安全，这串6位数字我没有保存。")
    turn(tracker, "我家门牌是 100201 号", "好的")  # not six digits alone: kept as typed
    await store.save(tracker)

    stored = b"".join(await aioredis.Redis.from_url(redis_url).lrange("kefu:events:unasked-1", 0, -1)).decode()
    assert "135790" not in stored and "100201" in stored
    again = await make_store(redis_url).retrieve("unasked-1")
    assert [e.text for e in again.events if isinstance(e, UserUttered)] == ["宽带坏了", "******", "我家门牌是 100201 号"]


async def test_events_redis_did_not_store_are_not_published(tmp_path):
    """The outcome record and the metrics were given a turn's events before Redis stored them: a save that
    Redis refused (stopped mid-turn; the customer gets the apology and sends again) had already counted
    the customer's message, intent and identification, and the turn run again counted them a second time
    (contacts and intents inflated by every fault). Published once they are stored: once each."""
    from bot.embedded_redis import EmbeddedRedis

    server = EmbeddedRedis(tmp_path / "redis").start()
    try:
        broker = Collected()
        store = make_store(server.url, event_broker=broker)
        tracker = await store.get_or_create_tracker("refused-1")
        turn(tracker, "q0", "a0")
        await store.save(tracker)
        turn(tracker, "q1", "a1")
        server.stop()
        with pytest.raises(redis.RedisError):
            await store.save(tracker)
        assert [e.get("text") for e in broker.events if e["event"] == "user"] == ["q0"]
        server.start()
        await store.save(tracker)
        texts = [e.get("text") for e in broker.events if e["event"] in ("user", "bot")]
        assert texts == ["q0", "a0", "q1", "a1"]
    finally:
        server.stop()


async def test_a_save_whose_answer_was_lost_is_not_stored_twice(redis_url):
    """Found in review: a save Redis ran but whose answer the network lost was sent once more by the
    client's reconnect rule, and the turn's events were stored twice — the desk showed the customer's
    message and the answer twice, and every later turn was predicted from a doubled history."""
    from bot.settings import redis_parts
    from tests.scale.reply_lost import ReplyLosingProxy

    proxy = await ReplyLosingProxy(redis_parts(redis_url)["port"]).start()
    try:
        store = make_store(f"redis://127.0.0.1:{proxy.port}/0")
        tracker = await store.get_or_create_tracker("lost-reply-1")
        turn(tracker, "q0", "a0")
        await store.save(tracker)
        turn(tracker, "q1", "a1")
        proxy.armed = True
        await store.save(tracker)
        assert proxy.lost == 1
        again = await make_store(redis_url).retrieve("lost-reply-1")
        assert [e.text for e in again.events if isinstance(e, (UserUttered, BotUttered))] == ["q0", "a0", "q1", "a1"]
    finally:
        await proxy.close()
