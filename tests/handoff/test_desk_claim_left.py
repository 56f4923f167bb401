"""A customer who leaves as an agent claims them: the bot is theirs again, not paused with nobody there.

Real ``RasaConversations`` over the Redis tracker store (the stand-in processor of test_desk_proof_ends).
"""
from __future__ import annotations

import pytest

from bot.db.repository import Repository
from bot.handoff.accounts import AccountStore
from bot.handoff.desk import Desk
from bot.handoff.queue import HandoffRequest
from tests.handoff.test_desk_proof_ends import conversations, domain  # noqa: F401 - fixtures


async def wang_at_the_desk(queue, kefu_env, conversations) -> Desk:  # noqa: F811
    """The desk, with agent wang signed in for billing and free for two customers."""
    AccountStore(kefu_env.database_url).add("wang", "wang-pass-1", ["billing"])
    await queue.roster.register("wang", name="wang", skills=["billing"], capacity=2, status="available")
    return Desk(queue, conversations, AccountStore(kefu_env.database_url), Repository(kefu_env.database_url))


async def test_a_customer_who_leaves_between_the_claim_and_the_pause_gets_the_bot_back(queue, kefu_env,
                                                                                       conversations):  # noqa: F811
    """Found in review: the leaving (an unfollow, a hang-up) gives the conversation back to the bot, but it
    was not paused yet; the desk then paused it, and the customer coming back met a bot that never answered."""
    desk = await wang_at_the_desk(queue, kefu_env, conversations)
    for conversation_id in ("wx-leaves", "wx-stays"):
        await queue.enqueue(HandoffRequest(conversation_id, "wechat", "billing", 0, None, {}))
        queue.clock.advance(1)
    pause = conversations.pause

    async def left_just_before(conversation_id: str) -> None:
        if conversation_id == "wx-leaves":  # queue left, then the bot given back (QueueHandoff.leave's order)
            await queue.abandon(conversation_id, "wechat_unsubscribed")
            await conversations.unpause(conversation_id)
        await pause(conversation_id)

    conversations.pause = left_just_before
    view = await desk.claim("wang", "王芳")

    store = conversations.agent.tracker_store
    assert not (await store.retrieve("wx-leaves")).is_paused(), "the customer who left has the bot again"
    assert view["conversation_id"] == "wx-stays", "the agent gets the next customer instead"
    assert (await store.retrieve("wx-stays")).is_paused()


async def test_a_caller_who_hangs_up_as_the_desk_tells_them_an_agent_joined_is_passed_over(queue, kefu_env, events,
                                                                                         conversations):  # noqa: F811
    """The caller hangs up just after the claim's pause was checked, before "an agent joined" is said (the call's
    process: ``QueueHandoff.leave``). Found in review: the words paused again the conversation the leave had just
    handed back, were said to nobody, and the claim answered ``error_not_serving``; the agent had to press again."""
    from bot.ivr.handoff import QueueHandoff

    desk = await wang_at_the_desk(queue, kefu_env, conversations)
    for conversation_id in ("ivr:hangs-up", "ivr:stays"):
        await queue.enqueue(HandoffRequest(conversation_id, "ivr", "billing", 0, None, {}))
        queue.clock.advance(1)
    phone = QueueHandoff(queue.redis, repository=None, conversations=conversations)
    phone.queue = queue
    join = conversations.join

    async def hung_up_just_before(conversation_id: str, response: str, **values) -> bool:
        if conversation_id == "ivr:hangs-up":
            await phone.leave(conversation_id, "caller_hung_up")
        return await join(conversation_id, response, **values)

    conversations.join = hung_up_just_before
    view = await desk.claim("wang", "王芳")

    store = conversations.agent.tracker_store
    def said(tracker) -> list[str]:
        return [e.get("name") for e in tracker.as_dialogue().as_dict()["events"]]

    gone = await store.retrieve("ivr:hangs-up")
    assert not gone.is_paused(), "the call that ended is paused, with nobody on it"
    assert "utter_agent_joined" not in said(gone), "an agent joined, said to a caller who hung up"
    assert "utter_agent_joined" in said(await store.retrieve("ivr:stays"))
    assert view is not None and view["conversation_id"] == "ivr:stays", "the agent gets the next caller instead"
    assert await queue.serving("wang") == ["ivr:stays"]
    assert [k for c, k, _, _ in events.recorded if c == "ivr:hangs-up"][-1] == "handoff_abandoned"


async def test_a_claim_lost_to_the_agents_sign_out_is_not_made_again(queue, kefu_env, conversations):  # noqa: F811
    """The agent signs out (``departures.sign_out``: the customer back at the head of the queue) between the
    claim and "an agent joined". Found in review: the claim took the same customer again for the agent who had
    just signed out, told them an agent joined, and left them paused with nobody until ``agent_gone_after_s``."""
    from bot.handoff.departures import sign_out
    from bot.handoff.desk import DeskError

    desk = await wang_at_the_desk(queue, kefu_env, conversations)
    await queue.enqueue(HandoffRequest("wx-a", "wechat", "billing", 0, None, {}))
    join = conversations.join

    async def signed_out_just_before(conversation_id: str, response: str, **values) -> bool:
        await sign_out(queue, "wang", None)
        return await join(conversation_id, response, **values)

    conversations.join = signed_out_just_before
    with pytest.raises(DeskError) as refused:
        await desk.claim("wang", "王芳")

    assert refused.value.code == "error_not_serving"
    assert await queue.serving("wang") == [], "the agent who signed out was given the customer again"
    assert (await queue.entry("wx-a"))["state"] == "waiting", "the customer is not back in line for another agent"
    said = [e.get("name") for e in
            (await conversations.agent.tracker_store.retrieve("wx-a")).as_dialogue().as_dict()["events"]]
    assert "utter_agent_joined" not in said, "told an agent joined by one who had signed out"


async def test_a_follower_who_unsubscribes_as_the_desk_claims_them_gets_the_bot_back(queue, kefu_env, redis_url,
                                                                                    conversations,  # noqa: F811
                                                                                    monkeypatch):
    """``wechat_followers.follower_left`` in its own order: the conversation handed back to the bot first, then
    the queue left (its own client). The desk pauses between the two and finds the claim held; the leave lands
    before "an agent joined". Found in review: nobody undid the desk's pause, and the follower who came back met a
    bot that never answered until the waiting room's hand-back, ``HANDBACK_GRACE_S`` and its pass later."""
    import asyncio
    from types import SimpleNamespace

    from bot.channels import wechat_followers

    desk = await wang_at_the_desk(queue, kefu_env, conversations)
    for conversation_id in ("wx-leaves", "wx-stays"):
        await conversations.pause(conversation_id)  # the handoff paused the bot as they joined the queue
        await queue.enqueue(HandoffRequest(conversation_id, "wechat", "billing", 0, None, {}))
        queue.clock.advance(1)
    handed_back, desk_checked, left = asyncio.Event(), asyncio.Event(), asyncio.Event()
    leave_queue, pause, join = wechat_followers._leave_queue, conversations.pause, conversations.join

    async def queue_left_after_the_desks_check(settings, openid: str) -> None:
        handed_back.set()  # follower_left's first step, the conversation back to the bot, is done
        await desk_checked.wait()
        await leave_queue(settings, openid)
        left.set()

    async def paused_after_the_hand_back(conversation_id: str) -> None:
        if conversation_id == "wx-leaves":
            await handed_back.wait()
        await pause(conversation_id)

    async def told_after_the_leave(conversation_id: str, response: str, **values) -> bool:
        if conversation_id == "wx-leaves":  # the desk found the claim held after its pause (_take_and_pause)
            desk_checked.set()
            await left.wait()
        return await join(conversation_id, response, **values)

    monkeypatch.setattr(wechat_followers, "_leave_queue", queue_left_after_the_desks_check)
    conversations.pause, conversations.join = paused_after_the_hand_back, told_after_the_leave
    settings = SimpleNamespace(redis=SimpleNamespace(url=redis_url), database_url=kefu_env.database_url)
    _, view = await asyncio.gather(wechat_followers.follower_left(settings, conversations.app, "wx-leaves"),
                                   desk.claim("wang", "王芳"))

    store = conversations.agent.tracker_store
    assert (await queue.entry("wx-leaves"))["state"] == "left"
    assert not (await store.retrieve("wx-leaves")).is_paused(), "the follower who left is paused, with nobody on it"
    assert view is not None and view["conversation_id"] == "wx-stays", "the agent gets the next customer instead"
    assert (await store.retrieve("wx-stays")).is_paused()


async def test_a_claim_lost_to_the_agents_sign_out_before_its_pause_is_checked_is_not_made_again(
        queue, kefu_env, conversations):  # noqa: F811
    """The same sign-out, landing between the claim's pause and its check that the claim still holds
    (``Desk._take_and_pause``): the customer put back is not taken again for the agent who signed out, and stays
    paused, as everyone queued is (found in review: unpaused, they were told "您现在没有在排队" at the head of the
    queue)."""
    from bot.handoff.departures import sign_out
    from bot.handoff.desk import DeskError

    desk = await wang_at_the_desk(queue, kefu_env, conversations)
    await queue.enqueue(HandoffRequest("wx-a", "wechat", "billing", 0, None, {}))
    await conversations.pause("wx-a")  # as action_handoff's ConversationPaused leaves a customer queued
    pause, signed_out = conversations.pause, []

    async def signed_out_just_after(conversation_id: str) -> None:
        await pause(conversation_id)
        if not signed_out:
            signed_out.append(await sign_out(queue, "wang", None))

    conversations.pause = signed_out_just_after
    with pytest.raises(DeskError) as refused:
        await desk.claim("wang", "王芳")

    assert refused.value.code == "error_not_serving"
    assert await queue.serving("wang") == [], "the agent who signed out was given the customer again"
    assert (await queue.entry("wx-a"))["state"] == "waiting"
    assert (await conversations.agent.tracker_store.retrieve("wx-a")).is_paused(), "queued, yet given to the bot"


async def test_a_customer_put_back_by_a_sign_out_who_then_leaves_is_no_leave_from_this_claim(
        queue, kefu_env, conversations):  # noqa: F811
    """Found in review: a customer put back by the agent's sign-out who then hung up read as "left this claim", and
    the claim went on to the next customer for the agent who had just signed out."""
    from bot.handoff.departures import sign_out
    from bot.handoff.desk import DeskError

    desk = await wang_at_the_desk(queue, kefu_env, conversations)
    for conversation_id in ("wx-a", "wx-b"):
        await queue.enqueue(HandoffRequest(conversation_id, "wechat", "billing", 0, None, {}))
        queue.clock.advance(1)
    pause, signed_out = conversations.pause, []

    async def signed_out_then_left(conversation_id: str) -> None:
        await pause(conversation_id)
        if not signed_out:
            signed_out.append(await sign_out(queue, "wang", None))
            await queue.abandon(conversation_id, "wechat_unsubscribed")

    conversations.pause = signed_out_then_left
    with pytest.raises(DeskError) as refused:
        await desk.claim("wang", "王芳")

    assert refused.value.code == "error_not_serving"
    assert await queue.serving("wang") == [], "the agent who signed out was given the next customer"
    assert (await queue.entry("wx-b"))["state"] == "waiting"
