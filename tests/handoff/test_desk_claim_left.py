"""A customer who leaves as an agent claims them: the bot is theirs again, not paused with nobody there.

Real ``RasaConversations`` over the Redis tracker store (the stand-in processor of test_desk_proof_ends).
"""
from __future__ import annotations

from bot.db.repository import Repository
from bot.handoff.accounts import AccountStore
from bot.handoff.desk import Desk
from bot.handoff.queue import HandoffRequest
from tests.handoff.test_desk_proof_ends import conversations, domain  # noqa: F401 - fixtures


async def test_a_customer_who_leaves_between_the_claim_and_the_pause_gets_the_bot_back(queue, kefu_env,
                                                                                       conversations):  # noqa: F811
    """Found in review: the leaving (an unfollow, a hang-up) gives the conversation back to the bot, but it
    was not paused yet; the desk then paused it, and the customer coming back met a bot that never answered."""
    AccountStore(kefu_env.database_url).add("wang", "wang-pass-1", ["billing"])
    await queue.roster.register("wang", name="wang", skills=["billing"], capacity=2, status="available")
    desk = Desk(queue, conversations, AccountStore(kefu_env.database_url), Repository(kefu_env.database_url))
    for conversation_id in ("wx-leaves", "wx-stays"):
        await queue.enqueue(HandoffRequest(conversation_id, "wechat", "billing", 0, None, {}))
        queue.clock.advance(1)
    pause = conversations.pause

    async def left_just_before(conversation_id: str) -> None:
        if conversation_id == "wx-leaves":  # as bot.channels.wechat_followers does on an unfollow
            await queue.abandon(conversation_id, "wechat_unsubscribed")
            await conversations.unpause(conversation_id)
        await pause(conversation_id)

    conversations.pause = left_just_before
    view = await desk.claim("wang", "王芳")

    store = conversations.agent.tracker_store
    assert not (await store.retrieve("wx-leaves")).is_paused(), "the customer who left has the bot again"
    assert view["conversation_id"] == "wx-stays", "the agent gets the next customer instead"
    assert (await store.retrieve("wx-stays")).is_paused()
