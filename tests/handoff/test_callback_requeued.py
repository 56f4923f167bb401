"""A booked callback put back in the queue because the agent who took it left is told to its customer.

Found in review: an agent takes a booked callback (the customer is told that agent is ringing them), then signs out
or is put off it; the callback goes back in line, and a chat customer put back so is told their agent left, but the
callback's customer heard nothing: waiting for a call that was not coming, the assistant paused for the agent. On a
real Redis queue and database, through the desk, the sign-out and the waiting room's pass.
"""
from __future__ import annotations

import datetime as dt

import pytest

from bot.contacts.offer import offer_to_agents
from bot.db.repository import Repository
from bot.handoff.departures import requeue, sign_out
from bot.handoff.callback_requeued import tell_requeued as tell_callback_requeued
from bot.handoff.joined import say_joined, told
from bot.handoff.queue import transfer_mark
from bot.handoff.waiting_settings import load_waiting_room
from bot.handoff.watcher import WaitingRoom
from bot.ticket_notes import history_entry
from tests.conftest import PROJECT_ROOT
from tests.handoff.test_waiting_room import Conversations, agent_available, wait_in_line

BOOKED = "web-booked"


@pytest.fixture
def repository(kefu_env):
    return Repository(kefu_env.database_url)


@pytest.fixture
def conversations(clock):
    return Conversations(clock)


def room_settings():
    return load_waiting_room(PROJECT_ROOT / "content" / "waiting_room.yml")


@pytest.fixture
def room(queue, conversations):
    return WaitingRoom(queue, conversations, room_settings())


async def taken(queue, conversations, agent_id: str, agent_name: str, conversation_id: str) -> None:
    """``agent_id`` takes the next in line, ``conversation_id``, and the customer is told, as the desk's claim does."""
    await agent_available(queue, agent_id)
    request = await queue.claim_next(agent_id)
    assert request.conversation_id == conversation_id
    await say_joined(conversations, request, agent_name, once=f"joined:{agent_id}")
    await told(queue, conversation_id)


async def callback_taken(queue, clock, conversations, repository) -> str:
    """A callback booked in a web chat, offered to the agents and taken by 王芳 (wang), who is told to ring it;
    the callback ticket's id."""
    ticket_id = repository.create_ticket(kind="callback", customer_id=None, summary="电视没信号, 请给我回电话",
                                         details={"callback_phone": "13900001234"}, channel="webchat",
                                         conversation_id=BOOKED)
    due = dt.datetime.fromtimestamp(clock() - 60, dt.timezone.utc).replace(tzinfo=None)
    contact = {"id": 41, "ticket_id": ticket_id, "phone": "13900001234", "purpose": "callback", "rule": "booked",
               "customer_id": None, "due_at": due, "created_at": due,
               "details": {"conversation_id": BOOKED, "channel": "webchat", "skill": "tv",
                           "context": {"customer_said": ["电视没信号, 请给我回电话"]}}}
    assert await offer_to_agents(queue, contact)
    await taken(queue, conversations, "wang", "王芳", BOOKED)
    return ticket_id


def requeued_notes(repository, ticket_id: str) -> list[dict]:
    """The callback ticket's history notes that it went back in line, as the desk's ledger reads them."""
    notes = [history_entry(row["note"]) for row in repository.ticket_history(ticket_id)]
    return [note for note in notes if note and note["kind"] == "callback_requeued"]


async def test_a_callback_whose_agent_signed_out_is_told_it_stands_and_its_ticket_says_so(
        queue, clock, room, conversations, repository):
    ticket_id = await callback_taken(queue, clock, conversations, repository)
    assert conversations.responses(BOOKED) == ["utter_agent_calling_back"]

    assert await sign_out(queue, "wang", None) == 1
    assert await queue.waiting("tv") == [BOOKED], "back in line, for the next agent to ring"
    clock.advance(1)
    await room.tick()

    assert conversations.responses(BOOKED) == ["utter_agent_calling_back", "utter_callback_requeued"]
    said = dict(conversations.said[BOOKED])["utter_callback_requeued"]
    assert said["phone_masked"] != "13900001234" and said["phone_masked"].endswith("1234")
    assert conversations.resumed[BOOKED] == "utter_callback_requeued", "the assistant answers them again"
    assert requeued_notes(repository, ticket_id) == [{"kind": "callback_requeued", "agent": "王芳"}]

    clock.advance(1)
    await room.tick()
    assert conversations.responses(BOOKED).count("utter_callback_requeued") == 1, "told once"
    assert len(requeued_notes(repository, ticket_id)) == 1


async def test_a_callback_a_supervisor_put_back_is_told(queue, clock, room, conversations, repository):
    ticket_id = await callback_taken(queue, clock, conversations, repository)
    assert await requeue(queue, BOOKED, "wang", "supervisor", by="boss")
    await room.tick()
    assert conversations.responses(BOOKED)[-1] == "utter_callback_requeued"
    assert len(requeued_notes(repository, ticket_id)) == 1


async def test_a_callback_another_agent_took_before_the_pass_is_not_told(queue, clock, room, conversations,
                                                                          repository):
    ticket_id = await callback_taken(queue, clock, conversations, repository)
    assert await requeue(queue, BOOKED, "wang", "supervisor", by="boss")
    await taken(queue, conversations, "li", "李雷", BOOKED)  # li is ringing them already

    await room.tick()
    assert conversations.responses(BOOKED) == ["utter_agent_calling_back"] * 2, "only that li is ringing them"
    assert requeued_notes(repository, ticket_id) == []


async def test_a_chat_customer_put_back_is_still_told_their_place(queue, clock, room, conversations):
    """The chat's own notice is unchanged: their agent left, then the place (bot.handoff.watcher.notify_if_changed)."""
    await wait_in_line(queue, "chat")
    await taken(queue, conversations, "wang", "王芳", "chat")
    assert await sign_out(queue, "wang", None) == 1
    await agent_available(queue, "li")
    await room.tick()
    assert conversations.responses("chat")[-2:] == ["utter_queue_agent_left", "utter_queue_update"]


async def test_a_callback_another_agent_took_as_the_pass_began_is_not_noted_as_left(queue, clock, room, conversations,
                                                                                     repository):
    """Found in review: the pass read the callback waiting from 王芳's leaving, 李雷 took it meanwhile; its ticket
    was noted "back in line for another agent" while 李雷 was ringing. Nothing of 王芳 is said after he took it, nor
    once he transfers it on."""
    ticket_id = await callback_taken(queue, clock, conversations, repository)
    assert await sign_out(queue, "wang", None) == 1
    as_read = await queue.entry(BOOKED)  # the waiting room's pass finds it waiting, its customer not yet told
    await taken(queue, conversations, "li", "李雷", BOOKED)
    await tell_callback_requeued(queue, conversations, BOOKED, as_read)  # the pass goes on

    assert conversations.responses(BOOKED) == ["utter_agent_calling_back"] * 2, "only that li is ringing them"
    assert requeued_notes(repository, ticket_id) == [], "its ticket does not say it waits for another agent"

    await queue.transfer(BOOKED, "li", "billing", agent_name="李雷")
    clock.advance(1)
    await room.tick()
    assert "utter_callback_requeued" not in conversations.responses(BOOKED)
    assert requeued_notes(repository, ticket_id) == []


async def test_a_chat_customer_another_agent_took_as_the_pass_began_hears_nothing_of_the_last(queue, clock):
    """Found in review: the pass found the chat waiting from 王芳's leaving and 李雷 took it meanwhile; the pass went
    on to tell his customer that their agent had left, and their place. Told only while it is true, and once."""
    from tests.handoff.test_callback_transferred import HandingOver  # it imports this module

    conversations = HandingOver(clock)  # hand_over asks still_owed, as the real one does under the lock
    room = WaitingRoom(queue, conversations, room_settings())
    await wait_in_line(queue, "chat")
    await taken(queue, conversations, "wang", "王芳", "chat")
    assert await sign_out(queue, "wang", None) == 1
    place = await queue.position("chat")  # the pass finds them in line, waiting from 王芳's leaving
    await taken(queue, conversations, "li", "李雷", "chat")
    await room.notify_if_changed("chat", place, True)  # the pass goes on
    assert conversations.responses("chat") == ["utter_agent_joined"] * 2, "nothing of 王芳, nor a place"

    await queue.transfer("chat", "li", "billing", agent_name="李雷")  # back in a queue, not because li left
    await agent_available(queue, "zhao")
    clock.advance(1)
    await room.tick()
    assert "utter_queue_agent_left" not in conversations.responses("chat")


async def test_a_chat_customer_whose_second_agent_left_is_told_once(queue, clock):
    """The next agent leaving them is true again: said once, under that leaving's mark."""
    from tests.handoff.test_callback_transferred import HandingOver  # it imports this module

    conversations = HandingOver(clock)
    room = WaitingRoom(queue, conversations, room_settings())
    await wait_in_line(queue, "chat")
    await taken(queue, conversations, "wang", "王芳", "chat")
    assert await sign_out(queue, "wang", None) == 1
    await taken(queue, conversations, "li", "李雷", "chat")
    assert await sign_out(queue, "li", None) == 1
    await agent_available(queue, "zhao")
    for _ in range(2):
        clock.advance(1)
        await room.tick()
    assert conversations.responses("chat").count("utter_queue_agent_left") == 1
    assert conversations.responses("chat")[-2:] == ["utter_queue_agent_left", "utter_queue_update"]


async def test_a_callback_whose_next_agent_took_it_and_left_as_the_pass_began_notes_that_agent(
        queue, clock, room, conversations, repository):
    """The pass read the callback waiting from 王芳's leaving; within the pass 李雷 took it and left it too. Its ticket
    credits 李雷, whose leaving is the one its customer is told of, once: not 王芳, whom he had taken it from."""
    ticket_id = await callback_taken(queue, clock, conversations, repository)
    assert await sign_out(queue, "wang", None) == 1
    as_read = await queue.entry(BOOKED)  # the waiting room's pass finds it waiting from 王芳's leaving
    clock.advance(1)
    await taken(queue, conversations, "li", "李雷", BOOKED)
    await queue.roster.register("li", name="李雷", skills=["tv"], capacity=2, status="available")  # his own name
    clock.advance(1)
    assert await sign_out(queue, "li", None) == 1
    await tell_callback_requeued(queue, conversations, BOOKED, as_read)  # the pass goes on
    for _ in range(2):
        clock.advance(1)
        await room.tick()

    assert requeued_notes(repository, ticket_id) == [{"kind": "callback_requeued", "agent": "李雷"}]
    assert conversations.responses(BOOKED).count("utter_callback_requeued") == 1, "told once"
    assert conversations.responses(BOOKED)[-1] == "utter_callback_requeued"


async def test_a_chat_customer_whose_next_agent_took_them_and_left_as_the_pass_began_is_told_once(queue, clock):
    """The chat's notice reads the record's leaving when it tells it (the transfer's mark, under the conversation's
    lock), not the one the pass found: 李雷 taking the customer and leaving them too as the pass goes on, the
    customer hears once that their agent left, under his leaving's mark, and their place."""
    from tests.handoff.test_callback_transferred import HandingOver  # it imports this module

    conversations = HandingOver(clock)
    room = WaitingRoom(queue, conversations, room_settings())
    await wait_in_line(queue, "chat")
    await taken(queue, conversations, "wang", "王芳", "chat")
    assert await sign_out(queue, "wang", None) == 1
    place = await queue.position("chat")  # the pass finds them in line, waiting from 王芳's leaving
    clock.advance(1)
    await taken(queue, conversations, "li", "李雷", "chat")
    clock.advance(1)
    li_left_at = clock()
    assert await sign_out(queue, "li", None) == 1
    await agent_available(queue, "zhao")
    await room.notify_if_changed("chat", place, True)  # the pass goes on
    for _ in range(2):
        clock.advance(1)
        await room.tick()

    left = [values for response, values in conversations.said["chat"] if response == "utter_queue_agent_left"]
    assert [values.get("once") for values in left] == [f"agent_left:{transfer_mark('li', li_left_at)}"], left


async def test_a_callback_put_back_while_the_database_is_down_is_noted_once_it_is_back(queue, clock, room,
                                                                                      conversations, repository):
    """Found in review: the note that its agent left was lost when the database did not answer as the pass told the
    customer; the pass, done, never tried it again. Owed, it is written once the database is back, once."""
    from bot.handoff.transfer_owed import TRANSFER_GRACE_S
    from tests.handoff.test_callback_transferred import database_down, notes_written  # it imports this module

    ticket_id = await callback_taken(queue, clock, conversations, repository)
    with database_down():
        assert await sign_out(queue, "wang", None) == 1
        clock.advance(1)
        await room.tick()
        await notes_written(room)
    assert conversations.responses(BOOKED)[-1] == "utter_callback_requeued", "told while the database was down"
    assert requeued_notes(repository, ticket_id) == []

    for _ in range(3):
        clock.advance(TRANSFER_GRACE_S + 1)  # the notes owed wait as long (bot.handoff.notes_owed)
        await room.tick()
        await notes_written(room)
    assert requeued_notes(repository, ticket_id) == [{"kind": "callback_requeued", "agent": "王芳"}], "noted once"
