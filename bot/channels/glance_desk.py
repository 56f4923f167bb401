"""The desk's screen pop routes: the customer at a glance for the conversation on screen, and
correcting a contact detail (recorded with who and when, and as a ``contact_details_corrected``
outcome event).

Added to the app by ``agent_desk.DeskBlueprint`` and guarded by its ``signed_in``; only the agent
who holds the conversation sees its customer (``Desk.packet``).
"""
from __future__ import annotations

import asyncio

from sanic import response
from sanic.request import Request
from sanic.response import HTTPResponse

from bot.channels.agent_desk import body, signed_in
from bot.handoff.contact_details import ContactDetailError, ContactDetails
from bot.handoff.desk import Desk, DeskError
from bot.handoff.glance import customer_glance
from bot.ledger.rules import load_rules
from bot.outcomes import record
from bot.settings import get_settings


def glance(desk: Desk, packet: dict) -> dict:
    rules = load_rules(get_settings().content_dir / "ledger.yml")
    return {**customer_glance(desk.repository, rules, packet), "step_labels": dict(rules.step_labels)}


@signed_in
async def customer_at_a_glance(request: Request, desk: Desk, agent: dict, conversation_id: str) -> HTTPResponse:
    packet = await desk.packet(agent["agent_id"], conversation_id)
    return response.json(await asyncio.to_thread(glance, desk, packet), headers={"Cache-Control": "no-store"})


def correct(desk: Desk, packet: dict, field: str, value: str, agent_id: str) -> None:
    customer_id = (packet.get("customer") or {}).get("id")
    customer = desk.repository.get_customer(int(customer_id)) if customer_id is not None else None
    if customer is None:
        raise DeskError("error_contact_unverified", 409)
    try:
        ContactDetails(desk.repository.url).correct(customer, field, value, by=agent_id,
                                                    conversation_id=packet["conversation_id"])
    except ContactDetailError as exc:
        raise DeskError(exc.code) from exc


@signed_in
async def correct_contact(request: Request, desk: Desk, agent: dict, conversation_id: str) -> HTTPResponse:
    data = body(request)
    field = str(data.get("field", ""))[:32]
    packet = await desk.packet(agent["agent_id"], conversation_id)
    await asyncio.to_thread(correct, desk, packet, field, str(data.get("value", ""))[:300], agent["agent_id"])
    await record(conversation_id, "contact_details_corrected", database_url=desk.repository.url,
                 field=field, agent_id=agent["agent_id"])
    return response.json(await asyncio.to_thread(glance, desk, packet), headers={"Cache-Control": "no-store"})


ROUTES = [
    ("/agent/api/conversations/<conversation_id:str>/customer", customer_at_a_glance, ["GET"]),
    ("/agent/api/conversations/<conversation_id:str>/customer/contact", correct_contact, ["POST"]),
]
