"""The voice bridge: when an agent takes a phone conversation, the carrier connects the caller's
voice to the agent's phone, instead of Kefu relaying text through ASR and TTS.

It is the documented Twilio REST call "update a call in progress": ``POST
{api}/2010-04-01/Accounts/{AccountSid}/Calls/{CallSid}.json`` with HTTP Basic auth
(AccountSid:AuthToken) and the form field ``Twiml=<Response><Dial>…</Dial></Response>``. The
carrier then leaves the ``<Connect><Stream>`` (our media stream gets ``stop``) and dials the
agent. ``KEFU_VOICE_BRIDGE_TO`` names the agent's phone: a number, or a ``sip:`` URI, with
``{agent_id}`` replaced (e.g. ``sip:{agent_id}@pbx.example.cn``). Without it (or without
credentials) there is no bridge and the desk talks to the caller by text and TTS.

A bridged call is marked in Redis, so its media stream ending is not the caller leaving: the
agent still serves the conversation and closes it at the desk.
"""
from __future__ import annotations

import json
import logging
from dataclasses import dataclass
from urllib.parse import quote
from xml.sax.saxutils import escape

import aiohttp

from bot.ivr.call_state import call_key, bridged_key
from bot.ivr.line import call_id_of
from bot.redis_text import as_text_or_none

logger = logging.getLogger(__name__)

_TIMEOUT = aiohttp.ClientTimeout(total=10)
BRIDGED_TTL_S = 24 * 3600


async def bridged_agent(redis, conversation_id: str) -> str | None:
    """The agent whose phone the carrier connected to the call of ``conversation_id``; None: not bridged."""
    call_id = call_id_of(conversation_id)
    return as_text_or_none(await redis.get(bridged_key(call_id))) if call_id else None


class BridgeError(Exception):
    """The carrier refused or could not be reached; the desk keeps the text relay."""


def dial_twiml(target: str) -> str:
    """TwiML that dials ``target``: a SIP URI goes in ``<Sip>``, anything else is a number."""
    if target.lower().startswith("sip:"):
        return f"<Response><Dial><Sip>{escape(target)}</Sip></Dial></Response>"
    return f"<Response><Dial>{escape(target)}</Dial></Response>"


@dataclass(frozen=True)
class VoiceBridge:
    api_url: str
    account_sid: str
    auth_token: str
    dial_to: str  # template with {agent_id}

    @classmethod
    def from_settings(cls, settings) -> "VoiceBridge | None":
        if not (settings.telephony_account_sid and settings.telephony_auth_token and settings.voice_bridge_to):
            return None
        return cls(settings.telephony_api_url, settings.telephony_account_sid, settings.telephony_auth_token,
                   settings.voice_bridge_to)

    async def connect(self, redis, conversation_id: str, agent_id: str) -> bool:
        """Dial the agent into the call of ``conversation_id``; False when it is not a live call."""
        call_id = call_id_of(conversation_id)
        raw = await redis.get(call_key(call_id)) if call_id else None
        carrier_call_id = (json.loads(raw).get("carrier_call_id") or "") if raw else ""
        if not carrier_call_id:
            return False
        await redis.set(bridged_key(call_id), agent_id, ex=BRIDGED_TTL_S)
        try:
            await self.update_call(carrier_call_id, dial_twiml(self.dial_to.format(agent_id=agent_id)))
        except BridgeError:
            await redis.delete(bridged_key(call_id))
            raise
        logger.info("ivr.bridge.dialled conversation=%s agent=%s", conversation_id, agent_id)
        return True

    async def update_call(self, carrier_call_id: str, twiml: str) -> dict:
        url = f"{self.api_url.rstrip('/')}/2010-04-01/Accounts/{self.account_sid}/Calls/{quote(carrier_call_id, safe='')}.json"
        auth = aiohttp.BasicAuth(self.account_sid, self.auth_token)
        try:
            async with aiohttp.ClientSession(timeout=_TIMEOUT) as http:
                async with http.post(url, data={"Twiml": twiml}, auth=auth) as answer:
                    body = await answer.json(content_type=None)
                    if answer.status >= 400:
                        raise BridgeError(f"call update refused: HTTP {answer.status} code={(body or {}).get('code')}")
        except (aiohttp.ClientError, TimeoutError, ValueError) as exc:
            raise BridgeError(f"call update failed: {type(exc).__name__}") from exc
        return body or {}
