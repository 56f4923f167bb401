"""Contact details agents correct at the desk: the number to call back and the address.

The customer record keeps the registered phone (the proof of identity for codes, never changed
here) and the address on file; a correction is stored beside it and wins over it, and every
correction is kept with who made it, when and in which conversation. Synchronous SQLAlchemy;
async callers use ``asyncio.to_thread``.
"""
from __future__ import annotations

import datetime as dt
import re

import sqlalchemy as sa

from bot.db.repository import Customer, engine_for
from bot.db.schema import customer_contact_changes, customer_contacts
from bot.db.schema_ready import require_tables

MOBILE = re.compile(r"1[3-9]\d{9}")
LANDLINE = re.compile(r"0\d{9,11}")
ADDRESS_CHARS = (4, 200)
HISTORY_SHOWN = 10


class ContactDetailError(ValueError):
    """An unknown field or a value that cannot be right; ``code`` is a key of the desk's UI strings."""

    def __init__(self, code: str) -> None:
        super().__init__(code)
        self.code = code


def _phone(value: str) -> str:
    digits = re.sub(r"[\s\-()（）]", "", value)
    if not (MOBILE.fullmatch(digits) or LANDLINE.fullmatch(digits)):
        raise ContactDetailError("error_contact_phone")
    return digits


def _address(value: str) -> str:
    text = " ".join(value.split())
    if not ADDRESS_CHARS[0] <= len(text) <= ADDRESS_CHARS[1]:
        raise ContactDetailError("error_contact_address")
    return text


CLEANERS = {"callback_phone": _phone, "address": _address}
ON_FILE = {"callback_phone": lambda c: c.phone, "address": lambda c: c.address}


def phone_number(value: str) -> str | None:
    """A number an operator typed as Kefu keeps it (a mobile in any usual spelling as 11 digits, a landline
    as the desk keeps a callback number), else None."""
    from bot.phone import local_phone

    try:
        return local_phone(value) or _phone(value)
    except ContactDetailError:
        return None


class ContactDetails:
    def __init__(self, database_url: str) -> None:
        self.engine = engine_for(database_url)
        require_tables(self.engine, customer_contacts, customer_contact_changes)

    def current(self, customer: Customer) -> dict[str, dict]:
        """Each field's value now: the latest correction, else what the customer record says."""
        with self.engine.connect() as conn:
            rows = conn.execute(sa.select(customer_contacts).where(
                customer_contacts.c.customer_id == customer.id)).mappings().all()
        corrected = {row["field"]: row for row in rows}
        return {field: ({"value": corrected[field]["value"], "corrected_by": corrected[field]["updated_by"],
                         "corrected_at": corrected[field]["updated_at"]} if field in corrected
                        else {"value": on_file(customer) or "", "corrected_by": None, "corrected_at": None})
                for field, on_file in ON_FILE.items()}

    def history(self, customer_id: int, limit: int = HISTORY_SHOWN) -> list[dict]:
        query = (sa.select(customer_contact_changes).where(customer_contact_changes.c.customer_id == customer_id)
                 .order_by(customer_contact_changes.c.id.desc()).limit(limit))
        with self.engine.connect() as conn:
            return [dict(row) for row in conn.execute(query).mappings()]

    def correct(self, customer: Customer, field: str, value: str, *, by: str, conversation_id: str = "") -> str:
        """Store a corrected value and its history row in one transaction; returns the cleaned value."""
        if field not in CLEANERS:
            raise ContactDetailError("error_contact_field")
        cleaned = CLEANERS[field](str(value or ""))
        old = self.current(customer)[field]["value"]
        if cleaned == old:
            raise ContactDetailError("error_contact_unchanged")
        now = dt.datetime.utcnow()
        key = (customer_contacts.c.customer_id == customer.id) & (customer_contacts.c.field == field)
        with self.engine.begin() as conn:
            if conn.execute(customer_contacts.update().where(key).values(
                    value=cleaned, updated_by=by, updated_at=now)).rowcount == 0:
                conn.execute(customer_contacts.insert().values(customer_id=customer.id, field=field, value=cleaned,
                                                               updated_by=by, updated_at=now))
            conn.execute(customer_contact_changes.insert().values(
                customer_id=customer.id, field=field, old_value=old, new_value=cleaned, changed_by=by,
                conversation_id=conversation_id, changed_at=now))
        return cleaned


def callback_number(database_url: str, customer: Customer) -> str:
    """The number to call the customer back on: the agents' latest correction, else the registered phone."""
    return ContactDetails(database_url).current(customer)["callback_phone"]["value"]
