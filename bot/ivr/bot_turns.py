"""Free speech on the phone goes to the same Rasa assistant as every other channel.

The call's speech is handed to Rasa in process through the channel's ``on_new_message`` with an
output channel named ``ivr``, so domain responses with ``channel: ivr`` variants are chosen.
What comes back is turned into what a phone can do (:func:`spoken_replies`): text is spoken,
payload buttons are read as "…请按1" (the wording is the template in ``content/ivr.yml``) and
pressing the key sends the button, while videos, images and link buttons cannot be heard and are
collected to be sent to the caller's phone. The assistant's structured ``queue_status`` message
(``{"custom": {"kind": "queue_status", ...}}``, sent by ``action_request_human``) tells the flow
engine that the caller is now waiting for an agent.
"""
from __future__ import annotations

import asyncio
from abc import ABC, abstractmethod
from dataclasses import dataclass, field
from typing import Any, Awaitable, Callable, Dict, List, Text

from rasa.core.channels.channel import OutputChannel, UserMessage

CHANNEL = "ivr"
QUESTION_MARKS = ("？", "?")  # a reply ending so waits for the caller's answer (said again after silence)
SENTENCE_ENDS = "。！？!?；;"


class IvrOutput(OutputChannel):
    """Collects the bot's messages whole (including ``utter_action``) for one turn."""

    def __init__(self) -> None:
        self.messages: List[Dict[Text, Any]] = []

    @classmethod
    def name(cls) -> Text:
        return CHANNEL

    async def send_response(self, recipient_id: Text, message: Dict[Text, Any]) -> None:
        self.messages.append(dict(message))

    async def send_text_message(self, recipient_id: Text, text: Text, **kwargs: Any) -> None:
        self.messages.append({"text": text})


class BotGateway(ABC):
    @abstractmethod
    async def turn(self, sender: str, text: str, metadata: dict) -> list[dict]:
        """Send one user message; the bot's messages for that turn."""

    @abstractmethod
    async def unheard(self, sender: str, metadata: dict) -> None:
        """Log a caller turn that has no words (its audio is named in ``metadata``), unparsed."""


class RasaInProcess(BotGateway):
    def __init__(self, on_new_message: Callable[[UserMessage], Awaitable[Any]], timeout_s: float = 20.0) -> None:
        self.on_new_message = on_new_message
        self.timeout_s = timeout_s

    async def turn(self, sender: str, text: str, metadata: dict) -> list[dict]:
        output = IvrOutput()
        message = UserMessage(text, output, sender, input_channel=CHANNEL, metadata=metadata)
        await asyncio.wait_for(self.on_new_message(message), self.timeout_s)
        return output.messages

    async def unheard(self, sender: str, metadata: dict) -> None:
        # Given parse data, Rasa logs the turn without running NLU on an empty text.
        message = UserMessage("", IvrOutput(), sender, input_channel=CHANNEL, metadata=metadata,
                              parse_data={"text": "", "intent": {"name": None, "confidence": 0.0}, "entities": []})
        await asyncio.wait_for(self.on_new_message(message), self.timeout_s)


@dataclass(frozen=True)
class QueueStatus:
    position: int
    wait_minutes: int


@dataclass
class SpokenReplies:
    texts: list[str] = field(default_factory=list)
    buttons: list[str] = field(default_factory=list)  # payloads, key 1 = buttons[0]
    agent_button: str = ""  # the agent button's payload, read with its own key (``agent_button``)
    links: list[dict] = field(default_factory=list)  # {"title", "url", "kind"}
    queued: QueueStatus | None = None  # the assistant put the caller in the human queue
    asks_number: bool = False  # the last reply asks for a number or code (``number_prompts``)
    asks_question: bool = False  # the last reply waits for an answer: a number, buttons, or a question mark
    question: str = ""  # what is said again when the caller stays silent after it (``asks_question``)
    says_goodbye: bool = False  # a reply takes leave of the caller (``goodbye_replies``)


def queue_status(message: dict) -> QueueStatus | None:
    custom = message.get("custom")
    if not isinstance(custom, dict) or custom.get("kind") != "queue_status":
        return None
    try:
        return QueueStatus(int(custom.get("position") or 0), int(custom.get("wait_minutes") or 0))
    except (TypeError, ValueError):
        return QueueStatus(0, 0)


def _is_link(button: dict) -> bool:
    return button.get("type") == "web_url" or ("url" in button and "payload" not in button)


def spoken_replies(messages: list[dict], button_template: str, max_buttons: int,
                   number_prompts: tuple[str, ...] = (), agent_button: tuple[str, ...] = (),
                   goodbye_replies: tuple[str, ...] = ()) -> SpokenReplies:
    """``agent_button``: (payload, key) of the button asking for an agent, read with that key (0 is an agent
    everywhere on the phone) rather than numbered with the others."""
    spoken = SpokenReplies()
    spoken.asks_number = bool(messages) and messages[-1].get("utter_action") in number_prompts
    spoken.says_goodbye = any(message.get("utter_action") in goodbye_replies for message in messages)
    for message in messages:
        status = queue_status(message)
        if status is not None:
            spoken.queued = status
        text = (message.get("text") or "").strip()
        readable = []
        for button in message.get("buttons") or []:
            if _is_link(button):
                spoken.links.append({"title": button.get("title", ""), "url": button.get("url", ""), "kind": "link"})
            elif agent_button and button.get("payload") == agent_button[0]:
                spoken.agent_button = agent_button[0]
                readable.append(button_template.format(title=button.get("title", ""), digit=agent_button[1]))
            elif button.get("payload") and len(spoken.buttons) < max_buttons:
                spoken.buttons.append(button["payload"])
                readable.append(button_template.format(title=button.get("title", ""), digit=len(spoken.buttons)))
        if text or readable:
            spoken.texts.append(" ".join(([text] if text else []) + readable))
        attachment = message.get("attachment")
        if isinstance(attachment, dict):
            payload = attachment.get("payload") or {}
            url = payload.get("src") or payload.get("url")
            if url:
                spoken.links.append({"title": payload.get("title", ""), "url": url, "kind": attachment.get("type", "file")})
        image = message.get("image")
        if isinstance(image, str) and image:
            spoken.links.append({"title": "", "url": image, "kind": "image"})
    last = spoken.texts[-1] if spoken.texts else ""
    keyed = spoken.asks_number or bool(spoken.buttons or spoken.agent_button)
    spoken.asks_question = keyed or last.rstrip().endswith(QUESTION_MARKS)
    if spoken.asks_question:
        # Asked in words, the question alone: the whole reply again said 太好了，问题已解决！ twice (found on a live
        # call). With keys or a number prompt, all of it: the keys are in it.
        spoken.question = last if keyed else last_sentence(last)
    return spoken


def last_sentence(text: str) -> str:
    body = text.rstrip()
    return body[max(body.rfind(mark, 0, len(body) - 1) for mark in SENTENCE_ENDS) + 1:].strip()
