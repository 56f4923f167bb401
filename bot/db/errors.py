"""A database error as one log field an on-call engineer can act on.

Logged as ``error=OperationalError`` only, an SRE tester could not tell "connection refused to
10.0.0.5:5432" from a locked SQLite file or a bad password. The driver's first line names the reason
and (for PostgreSQL) the host and port; SQLAlchemy's own text adds the SQL and its parameters, which
may hold customer data, so only the driver's first line is kept, with any password in it masked.
"""
from __future__ import annotations

import re

_URL_PASSWORD = re.compile(r"(://[^:/@\s]*:)[^@\s]*@")
_PASSWORD_FIELD = re.compile(r"(password\s*[=:]\s*)\S+", re.IGNORECASE)
MAX_CHARS = 200


def database_error(exc: BaseException, url=None) -> str:
    """``OperationalError: connection to server at "127.0.0.1", port 5432 failed: Connection refused``
    (+ ``host=…`` from ``url``, an engine URL, when given), never a password."""
    reason = getattr(exc, "orig", None) or exc
    first = next((line.strip() for line in str(reason).splitlines() if line.strip()), "")
    first = _PASSWORD_FIELD.sub(r"\1***", _URL_PASSWORD.sub(r"\1***@", first))[:MAX_CHARS]
    text = f"{type(exc).__name__}: {first}" if first else type(exc).__name__
    host = getattr(url, "host", None)
    if host:
        text += f" host={host}:{url.port}" if url.port else f" host={host}"
    return text


def why_unusable(exc: BaseException) -> str:
    """Why a command cannot use the database, in one line: the driver's reason (under Kefu's DatabaseError),
    or Kefu's own word on the URL; never the URL (it may hold a password)."""
    from bot.db.repository import DatabaseError

    while exc.__cause__ is not None and str(exc) == str(exc.__cause__):  # a wrapper saying only what it wraps
        exc = exc.__cause__
    if isinstance(exc, DatabaseError):  # Kefu's own word: "KEFU_DATABASE_URL is not usable: …", a schema's
        return next((line for line in str(exc).splitlines() if line.strip()), type(exc).__name__)
    return database_error(exc)


def unusable_database(exc: BaseException) -> str:
    """The line a one-shot ``kefu`` command prints for a database it cannot reach or use (README "Logs")."""
    return f"kefu: error: the database cannot be used: {why_unusable(exc)}"
