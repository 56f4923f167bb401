"""A callback or a message booked in the waiting room while the database cannot be reached.

The database is really unreachable: the settings point at a PostgreSQL port nobody listens on (as a
stopped server), then back at the test's own database. Found in a fault review: the booking's ticket
could not be written and the error ended the waiting room's whole pass — the customer who pressed
预约回电 was told nothing, their press counted as read and never acted on, and the customers behind
them in line were not answered in that pass.
"""
from __future__ import annotations

import pytest

from bot import settings as settings_module
from bot.db.repository import Repository
from bot.embedded_redis import free_port
from bot.handoff.watcher import WaitingRoom
from tests.handoff.test_waiting_room import Conversations, agent_available, wait_in_line


@pytest.fixture
def database_switch(kefu_env, monkeypatch):
    """``down()``: the settings' database is a server that is not running; ``up()``: the test's again."""
    url = kefu_env.database_url

    def use(value: str) -> None:
        monkeypatch.setenv("KEFU_DATABASE_URL", value)
        settings_module.get_settings.cache_clear()

    class Switch:
        @staticmethod
        def down() -> None:
            use(f"postgresql://kefu:x@127.0.0.1:{free_port()}/kefu")

        @staticmethod
        def up() -> None:
            use(url)

    return Switch


async def test_a_callback_pressed_while_the_database_is_down_is_answered_and_can_be_pressed_again(
        queue, clock, kefu_env, database_switch):
    room = WaitingRoom(queue, Conversations(clock))
    await agent_available(queue)
    await wait_in_line(queue, "db-down-1", customer={"id": 1, "phone": "13800000001"})
    await wait_in_line(queue, "db-down-2")
    await room.tick()  # the first visits

    database_switch.down()
    room.conversations.customer("db-down-1", "/leave_message", "leave_message")
    room.conversations.customer("db-down-2", "人呢")
    await room.tick()
    assert room.conversations.responses("db-down-1") == ["utter_service_unavailable"], \
        "told it did not go through, to send it again shortly"
    assert await queue.position("db-down-1") is not None, "still in line"
    assert room.conversations.responses("db-down-2") == ["utter_queue_noted"], "the customer behind is answered"

    database_switch.up()
    room.conversations.customer("db-down-1", "/leave_message", "leave_message")
    await room.tick()
    response, values = room.conversations.said["db-down-1"][-1]
    assert response == "utter_queue_callback_booked" and values["phone_masked"] == "138****0001"
    assert await queue.position("db-down-1") is None
    tickets = Repository(kefu_env.database_url).tickets_for(None, conversation_id="db-down-1")
    assert [t["kind"] for t in tickets] == ["callback"], "booked once"
