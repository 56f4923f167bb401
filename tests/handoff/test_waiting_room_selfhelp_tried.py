"""The waiting room does not suggest self-help a proven customer already said did not help.

Customer 1 told the web chat yesterday that the "no signal" guide did not fix their TV (没解决, a real
outcome event in the database). Waiting for an agent today, they describe the same fault: the waiting
room suggests another entry, never that one. Someone whose request names no proven customer gets the
usual suggestion. Real Redis queue and database; the Rasa side is the stand-in of test_waiting_room.
"""
from __future__ import annotations

import pytest

from bot.handoff.waiting_settings import load_waiting_room
from bot.handoff.watcher import WaitingRoom
from bot.outcomes import record, recorder_for
from bot.outcomes.events import customer_key
from tests.conftest import PROJECT_ROOT
from tests.handoff.test_waiting_room import Conversations, agent_available, wait_in_line

PROVEN = {"id": 1, "name": "张伟", "phone": "13800000001"}


@pytest.fixture
def room(queue, clock, kefu_env):
    return WaitingRoom(queue, Conversations(clock), load_waiting_room(PROJECT_ROOT / "content" / "waiting_room.yml"))


async def no_signal_guide_did_not_help(kefu_env) -> None:
    await record("web-yesterday", "selfhelp_failed", channel="webchat", customer=customer_key(customer_id=1),
                 selfhelp_id="tv_no_signal", fault_type="fault_tv", database_url=kefu_env.database_url)
    assert await recorder_for(kefu_env.database_url).flush()


async def suggested_while_waiting(room, queue, conversation_id: str, **waiting) -> list[str]:
    """Wait in line, say the TV still has no signal: the entries the waiting room sent."""
    await agent_available(queue)
    await wait_in_line(queue, conversation_id, **waiting)
    await room.visit(conversation_id)
    room.conversations.customer(conversation_id, "电视还是没信号", "fault_tv")
    await room.visit(conversation_id)
    said = room.conversations.said.get(conversation_id, [])
    return [values["buttons"][0]["selfhelp_id"] for response, values in said if response == "utter_selfhelp_entry"]


async def test_a_proven_customer_is_not_suggested_the_guide_that_did_not_help(room, queue, kefu_env):
    await no_signal_guide_did_not_help(kefu_env)

    sent = await suggested_while_waiting(room, queue, "w-proven", customer=PROVEN)

    assert sent and "tv_no_signal" not in sent, sent


async def test_a_caller_the_trunk_vouched_for_is_not_suggested_it_either(room, queue, kefu_env):
    """A phone call queued with its customer (only a vouched caller ID names one): the same record."""
    await no_signal_guide_did_not_help(kefu_env)

    sent = await suggested_while_waiting(room, queue, "ivr:w-call", channel="ivr", customer=PROVEN,
                                         phone="13800000001")

    assert sent and "tv_no_signal" not in sent, sent


async def test_a_customer_who_proved_nothing_gets_the_usual_suggestion(room, queue, kefu_env):
    await no_signal_guide_did_not_help(kefu_env)

    assert await suggested_while_waiting(room, queue, "w-anonymous") == ["tv_no_signal"]


async def test_a_guide_said_not_to_help_while_waiting_is_marked_for_the_agent_and_not_sent_again(room, queue, kefu_env):
    """Found in review: 没解决 to the waiting room's guide was answered, but the agent's packet listed the
    guide with no answer, and the next contact (any channel) could send the same guide again."""
    from bot.db.repository import Repository
    from bot.handoff.accounts import AccountStore
    from bot.handoff.desk import Desk
    from bot.outcomes.selfhelp_tried import failed_recently

    sent = await suggested_while_waiting(room, queue, "w-said-no", customer=PROVEN)
    room.conversations.customer("w-said-no", "没解决", "deny")
    await room.visit("w-said-no")
    assert await recorder_for(kefu_env.database_url).flush()

    assert sent[-1] in failed_recently(Repository(kefu_env.database_url).engine, PROVEN["id"])
    assert (await queue.take_next("a1"))[1].conversation_id == "w-said-no"
    desk = Desk(queue, room.conversations, AccountStore(kefu_env.database_url), Repository(kefu_env.database_url))
    shown = {item["id"]: item["answer"] for item in (await desk.view("a1", "w-said-no"))["selfhelp"]}
    assert shown == {sent[-1]: "failed"}
