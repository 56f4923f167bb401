"""The speech cache's entries a customer's conversations produced, where they can be told apart.

The cache (voice/tts.py) names each WAV by a hash of the text spoken, the voice and the rate, not by
the listener. Bot replies kept in a customer's trackers can be hashed again to find the entries
spoken to them — as the phone read them: a reply with buttons is its text and its keys ("…查账单请按1",
``bot.ivr.bot_turns.spoken_replies``, the keys numbered across the replies of one turn), so each turn
is read again the same way, with the hotline's button wording. Texts said to nobody in particular (a
shared prompt) may belong to anyone's call and are deleted too, which only costs a re-synthesis.
Replies a phone flow spoke outside a tracker cannot be found this way (README says so).
"""
from __future__ import annotations

from typing import Iterable, Iterator

from bot.ivr.bot_turns import spoken_replies
from voice.speakable import speakable

SAMPLE_RATES = (8000, 16000)  # the phone line's and the browser softphone's


def _messages(events: list[dict]) -> Iterator[list[dict]]:
    """Each turn's bot messages as the phone channel had them (a turn ends at the caller's next words),
    and each message alone (one an agent sent during the call is read by itself)."""
    turn: list[dict] = []
    for event in events:
        if event.get("event") == "user":
            if turn:
                yield turn
            turn = []
        elif event.get("event") == "bot":
            data = event.get("data") or {}
            message = {"text": event.get("text") or "", "buttons": data.get("buttons") or []}
            turn.append(message)
            yield [message]
    if turn:
        yield turn


def spoken_texts(events: list[dict], button_template: str | None, max_buttons: int,
                 agent_button: tuple[str, ...] = ()) -> set[str]:
    """Every text the speech cache may hold of these tracker events."""
    texts = {str(e.get("text") or "") for e in events if e.get("event") == "bot"}
    if button_template:
        for messages in _messages(events):
            texts |= set(spoken_replies(messages, button_template, max_buttons, agent_button=agent_button).texts)
    return {said for said in (speakable(t.strip()) for t in texts) if said}


def delete_spoken(engine, trackers: Iterable[list[dict]], button_template: str | None = None,
                  max_buttons: int = 0, agent_button: tuple[str, ...] = ()) -> int:
    """Delete the cache entries of the bot texts in ``trackers``; ``engine`` has ``cache_path``;
    ``button_template``/``max_buttons``/``agent_button``: how the hotline reads buttons (content/ivr.yml ``speech``)."""
    removed = 0
    for events in trackers:
        for text in spoken_texts(events, button_template, max_buttons, agent_button):
            for rate in SAMPLE_RATES:
                path = engine.cache_path(text, rate)
                if path.exists():
                    path.unlink()
                    removed += 1
    return removed
