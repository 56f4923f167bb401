"""Fill the schedule from the ledger and the customer data, by the rules of ``content/contacts.yml``.

Run on every worker pass, reading only the tickets changed since the last one (``planner_mark``);
idempotent by construction: each contact has a ``dedupe_key`` (the rule,
the ticket and how many times it was resolved; the customer and the month for arrears), so a
second pass, a second worker or a restart adds nothing twice. A ticket reopened and resolved again
gets a new follow-up.
"""
from __future__ import annotations

import datetime as dt

import sqlalchemy as sa

from bot.arrears import IN_ARREARS, owed_yuan
from bot.contacts.addresses import reach_of
from bot.contacts.decision import PAID
from bot.contacts.planner_mark import advance_mark, changed_tickets, history_state, read_mark, rules_fingerprint
from bot.contacts.rules import ContactRule, ContactRules
from bot.contacts.schedule import Schedule
from bot.db.repository import Repository, in_chunks
from bot.db.schema import customers, tickets as tickets_table
from bot.handoff.tickets import CUSTOMER_PROVEN, callback_number, customer_proven
from bot.ledger.ledger import LedgerItem, build_items
from bot.ledger.rules import LedgerRules

LOOK_BACK = dt.timedelta(days=60)  # tickets older than this are not followed up any more
RESOLVED = ("resolved", "customer_told")


def _tickets(repository: Repository, since: dt.datetime, *, ticket_ids: list[str] | None = None,
             customer_ids: set[int] | None = None) -> list[dict]:
    """The look-back's tickets with these ids, or of these customers (chunked: the lists may be long)."""
    column, wanted = ((tickets_table.c.ticket_id, list(ticket_ids)) if ticket_ids is not None
                      else (tickets_table.c.customer_id, sorted(customer_ids or ())))
    found: list[dict] = []
    with repository.engine.connect() as conn:
        for chunk in in_chunks(wanted):
            query = sa.select(tickets_table).where(tickets_table.c.created_at >= since, column.in_(chunk))
            found += [dict(r) for r in conn.execute(query).mappings()]
    return sorted(found, key=lambda t: t["id"])


def _resolutions(history: list[dict]) -> list[dt.datetime]:
    return [row["at"] for row in history if row["to_status"] == "resolved"]


def current_addresses(repository: Repository, customer_ids: set[int]) -> dict[int, tuple[str, str]]:
    """customer id -> (phone, WeChat openid or ""); the phone is the callback number an agent corrected, if any."""
    return {customer_id: (reach.phone, reach.openid)
            for customer_id, reach in reach_of(repository, customer_ids).items()}


class Planner:
    def __init__(self, repository: Repository, rules: ContactRules, ledger_rules: LedgerRules) -> None:
        self.repository = repository
        self.schedule = Schedule(repository)
        self.rules = rules
        self.ledger_rules = ledger_rules

    def plan(self, now: dt.datetime) -> list[int]:
        """Add every contact the rules call for that is not scheduled yet; returns the new ids.

        Reads only the tickets changed since the last pass (``planner_mark``); every ticket of the
        look-back on the first pass and after the rules changed."""
        fingerprint = rules_fingerprint(self.rules, self.ledger_rules)
        state = history_state(self.repository)
        mark = read_mark(self.repository)
        if mark is None or mark.fingerprint != fingerprint:
            tickets = context = self.repository.tickets_since(now - LOOK_BACK)
        elif mark.state == state:
            tickets = context = []  # nothing changed since the last pass
        else:
            tickets = _tickets(self.repository, now - LOOK_BACK,
                               ticket_ids=changed_tickets(self.repository, mark, state.top))
            customers_changed = {t["customer_id"] for t in tickets if t["customer_id"] is not None}
            context = (_tickets(self.repository, now - LOOK_BACK, customer_ids=customers_changed)
                       if customers_changed and self.rules.by_trigger("repeat_fault") else [])
        added = self._add(self._called_for(tickets, context, now))
        advance_mark(self.repository, state, fingerprint)
        return added

    def preview(self, now: dt.datetime) -> list[dict]:
        """What a pass would add now if it read every ticket of the look-back, as the first pass does
        (after it, passes add only what changes), each as the schedule would keep it: nothing is
        written. For `kefu contacts plan` (bot/contacts/dry_run.py), to see before go-live whom the
        worker would call or text — every customer in arrears, at once."""
        tickets = self.repository.tickets_since(now - LOOK_BACK)
        return self._fresh(self._called_for(tickets, tickets, now))

    def _called_for(self, tickets: list[dict], context: list[dict], now: dt.datetime) -> list[dict]:
        return self._wanted(tickets, context, now) + [w for rule in self.rules.by_trigger("arrears")
                                                      for w in self._arrears(rule, now)]

    def _wanted(self, tickets: list[dict], context: list[dict], now: dt.datetime) -> list[dict]:
        """The contacts ``tickets`` call for; ``context`` is every look-back ticket of their customers
        (a repeat fault is one against the customer's earlier tickets)."""
        if not tickets:
            return []
        histories = self.repository.ticket_histories(sorted({t["ticket_id"] for t in tickets + context}))
        wanted: list[dict] = []
        for rule in self.rules.by_trigger("ticket_resolved") + self.rules.by_trigger("service_change"):
            wanted += self._after_resolution(rule, tickets, histories)
        changed = {t["ticket_id"] for t in tickets}
        for rule in self.rules.by_trigger("repeat_fault"):
            wanted += self._repeats(rule, build_items(context, histories, self.ledger_rules, now), changed)
        for rule in self.rules.by_trigger("callback"):
            wanted += self._callbacks(rule, tickets, now)
        return wanted

    def _repeats(self, rule: ContactRule, items: list[LedgerItem], changed: set[str]) -> list[dict]:
        """One care contact per customer and repeated fault: the newest repeat, and none while one is
        still to be made (found by a tester: one outage scheduled five calls to the same customer)."""
        newest: dict[tuple[int, str | None], LedgerItem] = {}
        for item in items:
            if item.repeat_of and item.customer_id is not None and item.ticket_id in changed:
                newest[(item.customer_id, item.fault)] = item  # items are oldest first
        pending = self.schedule.pending_problems(rule.name, {customer for customer, _ in newest})
        return [{"key": f"{rule.name}:{i.ticket_id}", "rule": rule, "ticket": i.ticket_id,
                 "customer_id": i.customer_id, "due": i.registered_at + rule.delay,
                 "details": {"repeat_of": list(i.repeat_of), "fault": i.fault}}
                for problem, i in newest.items() if problem not in pending]

    def _after_resolution(self, rule: ContactRule, tickets: list[dict], histories: dict) -> list[dict]:
        found = []
        for ticket in tickets:
            if ticket["status"] not in RESOLVED or ticket.get("customer_id") is None:
                continue
            if rule.trigger == "ticket_resolved" and ticket["kind"] not in rule.ticket_kinds:
                continue
            if rule.trigger == "service_change" and (ticket["kind"] != "service_change" or
                                                     (ticket["details"] or {}).get("service_action")
                                                     not in rule.service_actions):
                continue
            resolved = _resolutions(histories.get(ticket["ticket_id"], []))
            if not resolved:
                continue
            found.append({"key": f"{rule.name}:{ticket['ticket_id']}:{len(resolved)}", "rule": rule,
                          "ticket": ticket["ticket_id"], "customer_id": ticket["customer_id"],
                          "due": resolved[-1] + rule.delay, "details": {"ticket_kind": ticket["kind"]}})
        return found

    def _callbacks(self, rule: ContactRule, tickets: list[dict], now: dt.datetime) -> list[dict]:
        """Callback tickets from any path (waiting room, IVR, agent disposition) not scheduled yet."""
        found = []
        for ticket in tickets:
            if ticket["kind"] != "callback" or ticket["status"] not in ("open", "assigned"):
                continue
            details = ticket["details"] or {}
            if details.get(WORK_ITEM_ONLY):
                continue  # an agent's 预约回电: the desk's work item, not a place in the queue again
            if details.get(ERASED):
                continue  # its customer was erased, and with them the callback's contact (and its dedupe key)
            found.append({"key": callback_key(ticket["ticket_id"]), "rule": rule, "ticket": ticket["ticket_id"],
                          "customer_id": ticket.get("customer_id"), "due": due_from(details, now) + rule.delay,
                          "phone": callback_number(details) or "",
                          "details": {"conversation_id": ticket["conversation_id"], "channel": ticket["channel"],
                                      "skill": details.get("skill") or "general", "priority": ticket["priority"],
                                      CUSTOMER_PROVEN: customer_proven(details),
                                      "context": {"customer_said": details.get("customer_said") or []}}})
        return found

    def _arrears(self, rule: ContactRule, now: dt.datetime) -> list[dict]:
        """Customers in arrears by the one definition the chat uses too (bot/arrears.py), once a month:
        the customers' month (``timezone`` of the rules), and none for a customer whose reminder of
        the month before is still to be made in this one (postponed by quiet hours, the daily limit or
        a failed send: found in review, two reminders went out on the first morning of a month)."""
        local = self.rules.local(now)
        month = local.strftime("%Y-%m")
        month_start = (local.replace(day=1, hour=0, minute=0, second=0, microsecond=0)
                       .astimezone(dt.timezone.utc).replace(tzinfo=None))
        query = sa.select(customers.c.id, customers.c.balance_cents).where(IN_ARREARS)
        with self.repository.engine.connect() as conn:
            owing = list(conn.execute(query))
        # One not made because the customer had paid meanwhile is no reminder: one in arrears again later
        # that month is reminded then (found in review: they heard nothing until the next month), under a
        # key of its own that every worker gives it (the month's, then :2, :3 after each dropped one).
        reminded, dropped = self.schedule.made_or_due_since(rule.name, {row.id for row in owing}, month_start,
                                                            not_made=PAID)
        return [{"key": f"{rule.name}:{row.id}:{month}" + (f":{dropped[row.id] + 1}" if row.id in dropped else ""),
                 "rule": rule, "ticket": None, "customer_id": row.id,
                 "due": now + rule.delay, "details": {"amount": owed_yuan(row.balance_cents)}}
                for row in owing if row.id not in reminded]

    def _fresh(self, wanted: list[dict]) -> list[dict]:
        """The wanted contacts not scheduled yet (the first of each key), with the fields
        :meth:`Schedule.add` takes: the customer's addresses looked up, the rule's channels."""
        known = self.schedule.known_keys([w["key"] for w in wanted])
        fresh: dict[str, dict] = {}
        for want in wanted:
            if want["key"] not in known:
                fresh.setdefault(want["key"], want)
        addresses = current_addresses(self.repository, {w["customer_id"] for w in fresh.values()
                                                 if w["customer_id"] is not None})
        contacts = []
        for want in fresh.values():
            phone, openid = addresses.get(want["customer_id"], ("", ""))
            rule: ContactRule = want["rule"]
            contacts.append({"dedupe_key": want["key"], "purpose": rule.purpose, "rule": rule.name,
                             "due_at": want["due"], "channels": list(rule.channels),
                             "customer_id": want["customer_id"], "phone": want.get("phone") or phone,
                             "openid": openid, "ticket_id": want["ticket"], "details": want["details"]})
        return contacts

    def _add(self, wanted: list[dict]) -> list[int]:
        added = []
        for contact in self._fresh(wanted):
            contact_id = self.schedule.add(**contact)
            if contact_id is not None:
                added.append(contact_id)
        return added


WORK_ITEM_ONLY = "work_item_only"  # in a callback ticket's details: the desk's work item, never queued
ERASED = "erased"  # in a ticket's details once its customer was erased (bot/privacy/erase.py)


def callback_key(ticket_id: str) -> str:
    return f"callback:{ticket_id}"


def due_from(details: dict, now: dt.datetime) -> dt.datetime:
    """The time the customer chose (``callback_at``, UTC ISO), else now: offered as soon as possible."""
    promised = details.get("callback_at") or ""
    try:
        return dt.datetime.fromisoformat(promised) if promised else now
    except ValueError:
        return now
