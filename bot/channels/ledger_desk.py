"""The desk's ledger page (``/agent/ledger/``) and its API: filter the user-experience ledger, close a step.

Same sign-in and CSRF rules as the rest of the desk (``agent_desk.signed_in``); the agent who closes
a step is recorded in the ticket's history and owns an item nobody owned. Each item shows its
follow-up contact, which an agent can bring forward ("call now", recorded as an outcome event).
"""
from __future__ import annotations

import asyncio
import dataclasses
import datetime as dt
from typing import Callable

from sanic import response
from sanic.request import Request
from sanic.response import HTTPResponse

from bot.analytics.config import centre_zone
from bot.channels.agent_desk import DESK_PAGE_CSP, WEB_DIR, body, signed_in
from bot.contacts.schedule import Schedule
from bot.db.repository import TicketTransitionError
from bot.handoff import masking
from bot.handoff.desk import Desk, DeskError
from bot.ledger.ledger import Ledger, LedgerItem
from bot.ledger.rules import load_rules
from bot.outcomes import record
from bot.settings import get_settings
from bot.ticket_notes import history_line

FLAGS = {"overdue": lambda i: i.overdue, "repeat": lambda i: bool(i.repeat_of)}


def ledger_for(desk: Desk) -> Ledger:
    return Ledger(desk.repository, load_rules(get_settings().content_dir / "ledger.yml"))


def shown(item: LedgerItem) -> dict:
    data = dataclasses.asdict(item)
    data["step"] = item.step
    # Numbers as the desk shows them everywhere: summaries and agents' notes alike ("客户新号码 139…").
    data["summary"] = masking.mask_text(item.summary)
    for key in ("registered_at", "due_at"):
        data[key] = data[key].isoformat() + "Z" if data[key] else None
    # Notes in the agents' words (content/labels.yml ``ticket_history``); one written before as it was.
    data["steps"] = [{"step": s.step, "at": s.at.isoformat() + "Z", "note": masking.mask_text(history_line(s.note))}
                     for s in item.steps]
    data["history"] = [{"at": n.at.isoformat() + "Z", "line": masking.mask_text(history_line(n.note))}
                       for n in item.history]
    return data


def filtered(items: list[LedgerItem], args) -> list[LedgerItem]:
    flag = FLAGS.get(args.get("flag", ""))
    owner, kind = args.get("owner"), args.get("kind")
    return [i for i in items
            if (flag is None or flag(i)) and (not owner or i.owner == owner) and (not kind or i.kind == kind)
            and (args.get("all") == "1" or i.next_step is not None)]


async def ledger_page(_: Request) -> HTTPResponse:
    return await response.file(WEB_DIR / "ledger.html", headers={
        "Content-Security-Policy": DESK_PAGE_CSP, "X-Content-Type-Options": "nosniff",
        "Cache-Control": "no-cache", "Referrer-Policy": "no-referrer"})


def followups(desk: Desk, items: list[LedgerItem]) -> dict[str, dict]:
    """Each listed ticket's follow-up contact: status, due time, last result (the page's follow-up column)."""
    found = Schedule(desk.repository).followups_of([i.ticket_id for i in items])
    return {ticket_id: {"status": c["status"], "due_at": c["due_at"].isoformat() + "Z", "result": c["result"] or "",
                        "attempts": c["attempts"]} for ticket_id, c in found.items()}


async def visible(desk: Desk, agent: dict) -> Callable[[LedgerItem], bool]:
    """Which items the agent may see: their skill groups' (a supervisor's: all), as their work items."""
    account = await asyncio.to_thread(desk.accounts.get, agent["agent_id"])
    rules = desk.queue.rules
    return lambda item: account is not None and account.sees(rules.ticket_skill(item.kind, item.skill, item.fault))


async def seen_item(desk: Desk, agent: dict, ledger: Ledger, ticket_id: str) -> None:
    """404 for an item the agent may not see (or none): they do not act on other groups' tickets."""
    try:
        item = await asyncio.to_thread(ledger.item, ticket_id)
    except TicketTransitionError as exc:
        raise DeskError("error_ticket", 404) from exc
    if not (await visible(desk, agent))(item):
        raise DeskError("error_ticket", 404)


@signed_in
async def ledger_items(request: Request, desk: Desk, agent: dict) -> HTTPResponse:
    ledger = await asyncio.to_thread(ledger_for, desk)
    current = await asyncio.to_thread(ledger.current_items, finished=request.args.get("all") == "1")
    items = filtered(list(filter(await visible(desk, agent), current)), request.args)
    return response.json({"items": [shown(i) for i in items], "followups": await asyncio.to_thread(followups, desk, items),
                          "step_labels": dict(ledger.rules.step_labels), "flag_labels": dict(ledger.rules.flag_labels),
                          "timezone": centre_zone().key})


@signed_in
async def ledger_followup_now(request: Request, desk: Desk, agent: dict, ticket_id: str) -> HTTPResponse:
    """"Call now": the ticket's scheduled follow-up becomes due now (the rules' quiet hours still apply)."""
    ticket_id = ticket_id.upper()
    await seen_item(desk, agent, await asyncio.to_thread(ledger_for, desk), ticket_id)
    moved = await asyncio.to_thread(Schedule(desk.repository).bring_forward, ticket_id, dt.datetime.utcnow())
    if not moved:
        raise DeskError("error_followup_not_scheduled", 409)
    for contact_id in moved:
        await record(f"contact:{contact_id}", "contact_brought_forward", channel="agent_desk",
                     database_url=desk.repository.url, contact_id=contact_id, ticket_id=ticket_id,
                     agent_id=agent["agent_id"])
    return response.json({"contacts": moved})


@signed_in
async def ledger_close_step(request: Request, desk: Desk, agent: dict, ticket_id: str) -> HTTPResponse:
    ledger = await asyncio.to_thread(ledger_for, desk)
    await seen_item(desk, agent, ledger, ticket_id)
    try:
        item = await asyncio.to_thread(ledger.close_step, ticket_id, agent["agent_id"],
                                       str(body(request).get("note", ""))[:500])
    except TicketTransitionError as exc:
        raise DeskError("error_ledger_step", 409) from exc
    return response.json({"item": shown(item)})


ROUTES = [
    ("/agent/api/ledger", ledger_items, ["GET"]),
    ("/agent/api/ledger/<ticket_id:str>/done", ledger_close_step, ["POST"]),
    ("/agent/api/ledger/<ticket_id:str>/followup-now", ledger_followup_now, ["POST"]),
]
