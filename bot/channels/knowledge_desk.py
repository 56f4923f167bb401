"""The desk's knowledge routes: search the articles for the conversation on screen, push one to the customer.

Added to the app by ``agent_desk.DeskBlueprint`` and guarded by its ``signed_in`` (session cookie,
CSRF header on writes). With no words typed, the conversation's fault type, recent intents and
fault code are the query, so the likely article is already there when the agent opens a customer.
Pushing sends the article's approved customer-facing summary through the desk's agent-message path.
"""
from __future__ import annotations

import asyncio

from sanic import response
from sanic.request import Request
from sanic.response import HTTPResponse

from bot.channels.agent_desk import body, signed_in
from bot.handoff.desk import Desk, DeskError
from bot.knowledge.index import Hit, index_for
from bot.outcomes import record
from bot.settings import get_settings

MAX_QUERY = 200
RECENT_INTENTS = 3


def conversation_query(view: dict) -> tuple[tuple[str, ...], str | None]:
    """The intents (fault type first, then the customer's latest ones) and the fault code of a desk view."""
    slots = view.get("slots") or {}
    recent = [i.get("intent") for i in reversed(view.get("intents") or []) if i.get("intent")]
    intents = tuple(i for i in dict.fromkeys([slots.get("fault_type"), *recent[:RECENT_INTENTS]]) if i)
    return intents, slots.get("fault_code") or None


def shown(hit: Hit) -> dict:
    return {"id": hit.id, "title": hit.title, "summary": hit.summary, "body": hit.body, "tags": list(hit.tags)}


@signed_in
async def knowledge_search(request: Request, desk: Desk, agent: dict) -> HTTPResponse:
    text = str(request.args.get("q", ""))[:MAX_QUERY].strip()
    conversation_id = str(request.args.get("conversation_id", "")).strip()
    intents: tuple[str, ...] = ()
    fault_code = None
    if conversation_id:
        intents, fault_code = conversation_query(await desk.view(agent["agent_id"], conversation_id))
    index = index_for(get_settings())
    hits = await asyncio.to_thread(index.search, text, intents=intents, fault_code=fault_code)
    return response.json({"query": {"text": text, "intents": list(intents), "fault_code": fault_code},
                          "articles": [shown(h) for h in hits]})


@signed_in
async def knowledge_push(request: Request, desk: Desk, agent: dict, article_id: str) -> HTTPResponse:
    conversation_id = str(body(request).get("conversation_id", ""))
    hit = await asyncio.to_thread(index_for(get_settings()).article, article_id)
    if hit is None:
        raise DeskError("error_knowledge", 404)
    await desk.send(agent["agent_id"], agent["name"], conversation_id, hit.summary)
    await record(conversation_id, "knowledge_sent", article_id=hit.id, agent_id=agent["agent_id"])
    return response.json({"ok": True})


ROUTES = [
    ("/agent/api/knowledge", knowledge_search, ["GET"]),
    ("/agent/api/knowledge/<article_id:str>/push", knowledge_push, ["POST"]),
]
