"""Reading an import file: JSON Lines, one record per line, each checked on its own.

Each line is a JSON object whose ``type`` says what it is (``plan``, ``customer``, ``bill``,
``usage``); the fields are in ``FIELDS``. Money is integer cents (fen) and data integer MB, as Kefu
stores them, so nothing is rounded on the way in. A record is the whole row: a field left out takes
its default. Checks that need other records (duplicates, unknown plans or customers) are in
``bot/customers/extract.py``.
"""
from __future__ import annotations

import datetime as dt
import json
import re
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Callable, Iterator

from bot.phone import local_phone

BILL_STATUSES = ("paid", "unpaid")  # what the bill answers and the arrears read (content/labels.yml bill_status)
VIP_TIERS = range(0, 4)  # 0 normal .. 3 top
# ASCII digits, the whole text (``\d`` alone takes full-width digits, ``$`` a trailing line break).
PERIOD = re.compile(r"\d{4}-(0[1-9]|1[0-2])", re.ASCII)
DATE = re.compile(r"\d{4}-\d{2}-\d{2}", re.ASCII)
COLUMN_INTEGER = range(-2 ** 31, 2 ** 31)  # what an INTEGER column holds on PostgreSQL (SQLite takes more)
MISSING = object()


class Invalid(ValueError):
    """A field's value that cannot be stored; the message completes "<field> ..."."""


@dataclass(frozen=True)
class Where:
    source: str  # the file as given on the command line
    line: int  # 1-based

    def __str__(self) -> str:
        return f"{self.source}:{self.line}"


@dataclass(frozen=True)
class Record:
    type: str
    values: dict[str, Any]
    where: Where


@dataclass(frozen=True)
class Problem:
    where: Where
    message: str

    def __str__(self) -> str:
        return f"{self.where}: {self.message}"


def text(limit: int, *, default: Any = MISSING) -> Callable[[Any], Any]:
    def check(value: Any) -> Any:
        if value is MISSING or value is None or (isinstance(value, str) and not value.strip()):
            if default is MISSING:
                raise Invalid("is missing")
            return default
        if isinstance(value, bool) or not isinstance(value, (str, int)):
            raise Invalid("must be text")
        value = str(value).strip()
        if "\x00" in value:  # PostgreSQL's text cannot hold it (the write failed after every check passed)
            raise Invalid("must not contain a NUL character (\\u0000)")
        if len(value) > limit:
            raise Invalid(f"is longer than {limit} characters")
        return value
    return check


def integer(*, low: int | None = None, high: int | None = None, default: Any = MISSING) -> Callable[[Any], Any]:
    def check(value: Any) -> Any:
        if value is MISSING or value is None:
            if default is MISSING:
                raise Invalid("is missing")
            return default
        if isinstance(value, bool) or not isinstance(value, int):
            raise Invalid(f"must be a whole number, not {json.dumps(value, ensure_ascii=False)}")
        if (low is not None and value < low) or (high is not None and value > high):
            raise Invalid(f"must be {_range(low, high)}, not {value}")
        if value not in COLUMN_INTEGER:
            raise Invalid(f"must be {_range(low if low is not None else COLUMN_INTEGER.start, COLUMN_INTEGER.stop - 1)}, "
                          f"not {value}")
        return value
    return check


def _range(low: int | None, high: int | None) -> str:
    if high is None:
        return f"{low} or more"
    return f"from {low} to {high}" if low is not None else f"{high} or less"


def boolean(default: bool) -> Callable[[Any], bool]:
    def check(value: Any) -> bool:
        if value is MISSING or value is None:
            return default
        if not isinstance(value, bool):
            raise Invalid("must be true or false")
        return value
    return check


def choice(options: tuple[str, ...]) -> Callable[[Any], str]:
    def check(value: Any) -> str:
        if value is MISSING or value is None:
            raise Invalid("is missing")
        if value not in options:
            raise Invalid(f"must be one of {', '.join(options)}, not {json.dumps(value, ensure_ascii=False)}")
        return value
    return check


def period(value: Any) -> str:
    if value is MISSING or value is None:
        raise Invalid("is missing")
    if not isinstance(value, str) or not PERIOD.fullmatch(value):
        raise Invalid(f"must be a month as YYYY-MM, not {json.dumps(value, ensure_ascii=False)}")
    return value


def date(*, default: Any = MISSING) -> Callable[[Any], Any]:
    def check(value: Any) -> Any:
        if value is MISSING or value is None or value == "":
            if default is MISSING:
                raise Invalid("is missing")
            return default
        try:
            if not isinstance(value, str) or not DATE.fullmatch(value):
                raise ValueError
            dt.date.fromisoformat(value)
        except ValueError:
            raise Invalid(f"must be a date as YYYY-MM-DD, not {json.dumps(value, ensure_ascii=False)}") from None
        return value
    return check


def mobile(value: Any) -> str:
    """Stored as ``local_phone`` writes it, the form every lookup compares (chat, phone calls, SMS)."""
    if value is MISSING or value is None or value == "":
        raise Invalid("is missing")
    phone = local_phone(value) if isinstance(value, (str, int)) and not isinstance(value, bool) else None
    if phone is None:
        shown = json.dumps(value, ensure_ascii=False)
        if re.sub(r"[\s-]", "", str(value)).startswith("0"):
            raise Invalid(f"{shown} is a landline; Kefu identifies and texts customers by their mainland mobile "
                          "number only: give the customer's mobile")
        raise Invalid(f"{shown} is not a mainland mobile number (11 digits starting 13-19, +86 allowed)")
    return phone


FIELDS: dict[str, dict[str, Callable[[Any], Any]]] = {
    "plan": {
        "code": text(32), "name": text(100), "category": text(32),
        "monthly_fee_cents": integer(low=0), "description": text(2000, default=""), "sellable": boolean(True),
    },
    "customer": {
        "external_id": text(64), "phone": mobile, "account_number": text(20), "name": text(50),
        "vip_tier": integer(low=VIP_TIERS.start, high=VIP_TIERS.stop - 1, default=0),
        "address": text(200, default=""), "plan_code": text(32, default=None), "balance_cents": integer(default=0),
        # the plan's last paid day (a yearly plan, a contract); left out or null: it renews monthly
        "plan_end_date": date(default=None),
    },
    "bill": {
        "customer": text(64), "period": period, "amount_cents": integer(),
        "status": choice(BILL_STATUSES), "due_date": date(),
    },
    "usage": {
        "customer": text(64), "period": period, "data_used_mb": integer(low=0),
        "data_quota_mb": integer(low=0, default=None), "minutes_used": integer(low=0, default=None),
        "minutes_quota": integer(low=0, default=None),
    },
}


def read(path: Path, source: str) -> Iterator[Record | Problem]:
    """Every record of one file, or the problem of each line that is not one."""
    try:
        handle = path.open(encoding="utf-8-sig")
    except OSError as exc:
        yield Problem(Where(source, 0), f"cannot be read: {exc.strerror}")
        return
    number = 1
    with handle:
        try:
            for number, line in enumerate(handle, start=1):
                if line.strip():
                    yield parse(line, Where(source, number))
        except UnicodeDecodeError:
            yield Problem(Where(source, number), "is not UTF-8 text")


def parse(line: str, where: Where) -> Record | Problem:
    try:
        raw = json.loads(line)
    except json.JSONDecodeError as exc:
        return Problem(where, f"not a JSON object ({exc.msg})")
    if not isinstance(raw, dict):
        return Problem(where, "not a JSON object")
    kind = raw.pop("type", None)
    if kind not in FIELDS:
        return Problem(where, f"type must be one of {', '.join(FIELDS)}, not {json.dumps(kind, ensure_ascii=False)}")
    fields = FIELDS[kind]
    errors = [f"unknown field {name!r}" for name in raw if name not in fields]
    values = {}
    for name, check in fields.items():
        try:
            values[name] = check(raw.get(name, MISSING))
        except Invalid as exc:
            errors.append(f"{name} {exc}")
    if errors:
        return Problem(where, f"{kind}: " + "; ".join(errors))
    return Record(kind, values, where)
