"""What a customer owes: the one definition of arrears, used by the chat's bill answer
(``actions/accounts.py``), the arrears reminders (``bot/contacts/planner.py``) and, by the same rule,
the agent desk's glance (``bot/web/agent/glance.js``: a negative balance shows as 欠费).

A customer is in arrears when the account balance (``customers.balance_cents``) is below zero, and
owes minus the balance. Why the balance and not the bills marked unpaid: an operator's billing system
(BSS) keeps the account balance as the net of every charge, payment, prepayment, credit and
adjustment — it is the figure its own suspension (欠费停机) and restoration after payment work on,
and what the reminder's "您的账户已欠费…元" must match. A bill's status is a per-statement flag: a
partly paid bill or one covered by prepaid credit is still "unpaid", a bill not yet due is "unpaid"
too, and its spelling varies by billing system ("UNPAID", "overdue"). Chat said "您目前没有未缴的账单"
to a customer with a -50.00 balance while a reminder for 50.00 was scheduled (found by a tester);
with one definition both say 50.00. Bills stay the detail a customer can read, by their status.
"""
from __future__ import annotations

from bot.db.schema import customers

# For queries over the whole customer base (the planner): the same test as :func:`owed_cents`.
IN_ARREARS = customers.c.balance_cents < 0


def owed_cents(balance_cents: int | None) -> int:
    """The amount in arrears, in cents: minus a negative balance, else 0."""
    return max(0, -(balance_cents or 0))


def owed_yuan(balance_cents: int | None) -> str:
    """The amount in arrears as a reminder names it (``{amount}``): yuan with two decimals."""
    return f"{owed_cents(balance_cents) / 100:.2f}"


def bill_status(raw: object) -> str:
    """A bill's status as the labels know it (``bill_status`` in content/labels.yml): billing systems
    export "UNPAID" or " unpaid "; the schema's values are lower-case "paid" / "unpaid"."""
    return str(raw or "").strip().lower()
