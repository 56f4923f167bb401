"""The conversation as the customer saw it, for the agent desk.

The tracker holds what was sent (``/deny``, ``#handoff:selfhelp``, a video attachment); the
agent should read what was on the customer's screen: the title of the button pressed, the
video's title, the buttons offered. Numbers are masked like the rest of the desk.
"""
from __future__ import annotations

from typing import Iterable

from bot.handoff import keys, masking
from bot.channels.wechat_followers import from_wechat
from bot.handoff.desk_proof import outcome
from bot.ivr.caller_clips import CLIP_KEY
from bot.selfhelp import sent_entry_id


def pushed_selfhelp_key(conversation_id: str) -> str:
    """List of self-help entry ids sent after the request (by the waiting room or an agent)."""
    return keys.conversation(conversation_id) + ":selfhelp"


def selfhelp_answers_key(conversation_id: str) -> str:
    """Hash: entry id -> the customer's answer to it while waiting (``failed``: 没解决)."""
    return pushed_selfhelp_key(conversation_id) + ":answers"


async def remember_pushed_selfhelp(redis, conversation_id: str, entry_id: str) -> None:
    """Add ``entry_id`` to the conversation's pushed self-help, kept as long as a finished queue
    record (``KEFU_QUEUE_RECORD_EXPIRY_SECONDS``): the list had no expiry and outlived the
    conversation it names (found by a data-protection review)."""
    from bot.settings import get_settings

    key = pushed_selfhelp_key(conversation_id)
    async with redis.pipeline(transaction=True) as pipe:
        pipe.rpush(key, entry_id)
        pipe.expire(key, get_settings().queue_record_expiry_s)
        await pipe.execute()


async def remember_selfhelp_answer(redis, conversation_id: str, entry_id: str, answer: str) -> None:
    """The customer's answer to an entry the waiting room sent, for the agent who takes them next:
    found in review, the packet listed it with no answer after the customer had said 没解决."""
    from bot.settings import get_settings

    key = selfhelp_answers_key(conversation_id)
    async with redis.pipeline(transaction=True) as pipe:
        pipe.hset(key, entry_id, answer)
        pipe.expire(key, get_settings().queue_record_expiry_s)
        await pipe.execute()


def with_pushed_selfhelp(packet: dict, pushed: list[str], titles: dict[str, str],
                         answers: dict[str, str] | None = None, faults: dict[str, str] | None = None) -> dict:
    """The packet with the self-help sent since it was built, and the answers given to it while waiting,
    so the agent sees every method tried and how it went (and, where ``faults`` knows it, for which fault)."""
    answers, faults = answers or {}, faults or {}
    known = {item.get("id") for item in packet.get("selfhelp") or []}
    extra = [{"id": entry_id, "title": titles.get(entry_id, entry_id), "answer": answers.get(entry_id),
              **({"fault_type": faults[entry_id]} if faults.get(entry_id) else {})}
             for entry_id in dict.fromkeys(pushed) if entry_id not in known]
    return {**packet, "selfhelp": list(packet.get("selfhelp") or []) + extra} if extra else packet


def with_selfhelp_pages(packet: dict, catalogue) -> dict:
    """Each self-help item the catalogue still holds with its entry's page (``page``: the desk's list links it, to
    open or send again) and its fault where the item does not name it: a packet queued before items named their
    fault (a flat list) is listed and summed up by fault as a new one is."""
    items = packet.get("selfhelp") or []
    shown = []
    for item in items:
        entry = catalogue.get(str(item.get("id") or ""))
        if entry is not None:
            item = {**item, "page": entry.page(), "fault_type": item.get("fault_type") or entry.fault_type}
        shown.append(item)
    return {**packet, "selfhelp": shown} if items else packet


def is_payload(text: str) -> bool:
    return text.startswith("/") or text.startswith("#")


def _buttons(data: dict) -> list[dict]:
    return [b for b in (data.get("buttons") or data.get("quick_replies") or []) if isinstance(b, dict)]


def shown_turns(events: Iterable[dict]) -> list[dict]:
    """Customer, bot and agent turns in order, each as it appeared on the customer's screen.

    A customer turn keeps ``intent`` and ``confidence``; a pressed button becomes its title with
    ``pressed: True``; a WeChat follower's picture or video carries ``media`` (kind and media id,
    for ``bot.channels.wechat_media_desk``). A bot turn may carry ``video`` (title), ``buttons`` (titles) and ``queue``
    (position and minutes of a queue notice).
    """
    turns: list[dict] = []
    offered: dict[str, str] = {}
    for event in masking.without_proofs(events):
        kind = event.get("event")
        if kind == "user":
            text = event.get("text") or ""
            intent = ((event.get("parse_data") or {}).get("intent") or {})
            metadata = event.get("metadata") or {}
            turn = {"who": "customer", "text": text, "intent": intent.get("name"),
                    "confidence": round(float(intent.get("confidence") or 0), 3), "at": event.get("timestamp"),
                    "voice": metadata.get("wechat_msg_type") == "voice" or bool(metadata.get("voice"))}
            if is_payload(text):
                turn.update(text=offered.get(text, ""), pressed=True)
            picture = str(metadata.get("wechat_pic_url") or "") if from_wechat(event) else ""
            if picture.startswith(("https://", "http://")):  # a WeChat follower's photo: the agent opens it
                turn["image_url"] = picture
            if metadata.get("wechat_media_id") and from_wechat(event):  # opened through WeChat's media API
                turn["media"] = {"kind": str(metadata.get("wechat_msg_type") or ""),
                                 "id": str(metadata["wechat_media_id"])}
            clip = metadata.get(CLIP_KEY)
            if isinstance(clip, dict):  # a caller's words nobody transcribed: the desk plays them
                turn["clip"] = {"id": str(clip.get("id") or ""), "seconds": clip.get("seconds")}
            turns.append(turn)
        elif kind == "bot":
            turn = bot_turn(event)
            if turn is not None:
                offered = {str(b.get("payload")): str(b.get("title") or "") for b in _buttons(event.get("data") or {})
                           if b.get("payload")} or offered
                turns.append(turn)
    for index, turn in enumerate(turns):
        turn["index"] = index
        turn["text"] = masking.mask_text(turn.get("text", ""))
    return turns


def agent_said(event: dict) -> tuple[str, str] | None:
    """(agent name, words) when a bot event is an agent's message, else None.

    The web chat's variant of ``utter_agent_message`` carries them in ``custom``; other channels'
    (WeChat: plain text "name：words") only in the metadata the desk adds when it says it.
    """
    custom = (event.get("data") or {}).get("custom") or {}
    if custom.get("kind") == "agent_message":
        return str(custom.get("agent_name") or ""), str(custom.get("text") or "")
    agent = (event.get("metadata") or {}).get("agent")
    if isinstance(agent, dict) and agent.get("text") is not None:
        return str(agent.get("name") or ""), str(agent["text"])
    return None


def bot_turn(event: dict) -> dict | None:
    data = event.get("data") or {}
    custom = data.get("custom") or {}
    attachment = data.get("attachment") or {}
    payload = attachment.get("payload") if isinstance(attachment, dict) else None
    turn: dict = {"who": "bot", "text": event.get("text") or "", "at": event.get("timestamp")}
    agent = agent_said(event)
    if agent is not None:
        turn.update(who="agent", text=agent[1], agent_name=agent[0])
    elif custom.get("kind") == "queue_status" and custom.get("agents_available") is not False:
        turn["queue"] = {"position": custom.get("position"), "wait_minutes": custom.get("wait_minutes")}
    proof = outcome((event.get("metadata") or {}).get("utter_action"))
    if proof:  # the bot's word on a proof (asked from the desk or before): the agent reads the outcome
        turn["proof"] = proof
    if isinstance(payload, dict) and attachment.get("type") == "video":
        turn["video"] = payload.get("title") or ""
    selfhelp_id = sent_entry_id(data)
    if selfhelp_id:
        turn["selfhelp_id"] = selfhelp_id
    titles = [str(b.get("title") or "") for b in _buttons(data)]
    if titles:
        turn["buttons"] = titles
    if not (turn["text"] or turn.get("video") or turn.get("queue") or titles):
        return None
    return turn
