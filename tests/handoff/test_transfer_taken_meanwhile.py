"""An agent's transfer tells the customer "已为您转接" and their place in the new group; that group's agent may take the
customer meanwhile, his desk saying "an agent joined". Found in review: the transfer's words came after his anyway
(the place, or "目前没有人工客服在线…" as he was busy with this very customer now), an odd order though the state was
right. They are
said only while the customer still waits from the transfer, asked under the conversation's lock as his "joined" is
said: before it, or not at all.

Real ``RasaConversations`` over the Redis tracker store (the stand-in processor of test_desk_proof_ends), real queue
and desks; 李雷's claim comes as the first desk says its words (around its ``hand_over``).
"""
from __future__ import annotations

import pytest

from bot.db.repository import Repository
from bot.handoff.accounts import AccountStore
from bot.handoff.desk import Desk
from bot.handoff.queue import HandoffRequest
from tests.handoff.test_desk_close_faults import waiting_for_a_person
from tests.handoff.test_desk_opt_out import served
from tests.handoff.test_desk_proof_ends import conversations, domain  # noqa: F401 - fixtures
from tests.handoff.test_desk_transfer_faults import PLACE, TRANSFERRED, said

JOINED = "人工客服 李雷 已为您接入"
NOBODY = "目前没有人工客服在线"


def li_takes_the_customer(conversations, desk: Desk, taken: str) -> list[dict]:
    """李雷 of tv claims the next customer at his desk just before (``taken``: "before 已为您转接") or just after the first
    desk's next ``hand_over``; what his claims returned."""
    real, claims = conversations.hand_over, []

    async def with_li_claiming(*args, **kwargs):
        conversations.hand_over = real
        if taken == "before 已为您转接":
            claims.append(await desk.claim("li", "李雷"))
        handed = await real(*args, **kwargs)
        if taken == "before the place":
            claims.append(await desk.claim("li", "李雷"))
        return handed

    conversations.hand_over = with_li_claiming
    return claims


@pytest.mark.parametrize("taken", ["before 已为您转接", "before the place"])
async def test_a_customer_the_new_group_takes_as_the_transfer_is_told_hears_his_agent_last(
        queue, clock, kefu_env, conversations, taken):  # noqa: F811
    conversation_id = "transfer-taken-meanwhile"
    await waiting_for_a_person(conversations, conversation_id)
    wang = await served(queue, kefu_env, HandoffRequest(conversation_id, "webchat", "billing", 1, None, {}))
    wang.conversations = conversations
    await queue.roster.register("li", name="李雷", skills=["tv"], capacity=1, status="available")
    li = Desk(queue, conversations, AccountStore(kefu_env.database_url), Repository(kefu_env.database_url))
    claims = li_takes_the_customer(conversations, li, taken)
    clock.advance(60)

    answer = await wang.close("wang", conversation_id, "transfer", skill="tv", note="电视没信号", agent_name="王芳")

    assert answer["transferred_to"] == "tv"
    assert [claim["conversation_id"] for claim in claims] == [conversation_id]
    assert (await queue.entry(conversation_id))["agent_id"] == "li"
    words = await said(conversations, conversation_id)
    assert words[-1].startswith(JOINED), f"the customer hears last that 李雷 has them: {words}"
    assert not any(text.startswith((NOBODY, PLACE)) for text in words), words
    if taken == "before the place":
        assert [text for text in words if text.startswith((TRANSFERRED, JOINED))] == [words[-2], words[-1]], words
