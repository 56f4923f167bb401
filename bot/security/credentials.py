"""Service passwords (stored as scrypt hashes) and channel accounts bound to a customer.

Synchronous SQLAlchemy Core like the repository; async callers use ``asyncio.to_thread``.
Hashing reuses the agent desk's scrypt format (``bot.handoff.accounts``).
"""
from __future__ import annotations

import sqlalchemy as sa
from sqlalchemy.exc import IntegrityError, SQLAlchemyError

from bot.db.repository import DatabaseError, engine_for
from bot.db.schema import channel_bindings, customer_credentials
from bot.db.schema_ready import require_tables
from bot.handoff.accounts import hash_password, verify_password

SERVICE_PASSWORD_DIGITS = 6


class CredentialStore:
    def __init__(self, database_url: str) -> None:
        self.engine = engine_for(database_url)
        require_tables(self.engine, customer_credentials, channel_bindings)

    def set_service_password(self, customer_id: int, password: str) -> None:
        if not (password.isdigit() and len(password) == SERVICE_PASSWORD_DIGITS):
            raise ValueError(f"a service password is {SERVICE_PASSWORD_DIGITS} digits")
        stored = hash_password(password)
        try:
            with self.engine.begin() as conn:
                updated = conn.execute(customer_credentials.update()
                                       .where(customer_credentials.c.customer_id == customer_id)
                                       .values(service_password_hash=stored)).rowcount
                if not updated:
                    conn.execute(customer_credentials.insert().values(customer_id=customer_id,
                                                                      service_password_hash=stored))
        except SQLAlchemyError as exc:
            raise DatabaseError(str(exc)) from exc

    def service_password_matches(self, customer_id: int, password: str) -> bool:
        try:
            with self.engine.connect() as conn:
                stored = conn.execute(sa.select(customer_credentials.c.service_password_hash)
                                      .where(customer_credentials.c.customer_id == customer_id)).scalar_one_or_none()
        except SQLAlchemyError as exc:
            raise DatabaseError(str(exc)) from exc
        return stored is not None and verify_password(password, stored)

    def bind(self, channel: str, external_id: str, customer_id: int) -> None:
        """Bind a channel account to the customer it was verified as (a newer proof wins)."""
        try:
            with self.engine.begin() as conn:
                key = (channel_bindings.c.channel == channel) & (channel_bindings.c.external_id == external_id)
                conn.execute(channel_bindings.delete().where(key))
                conn.execute(channel_bindings.insert().values(channel=channel, external_id=external_id,
                                                              customer_id=customer_id))
        except IntegrityError:
            return  # bound by a concurrent turn a moment ago
        except SQLAlchemyError as exc:
            raise DatabaseError(str(exc)) from exc

    def unbind(self, channel: str, external_id: str) -> bool:
        """Forget which customer a channel account was verified as (a WeChat follower unsubscribed:
        whoever follows with that account next must verify again). True if one was bound."""
        try:
            with self.engine.begin() as conn:
                key = (channel_bindings.c.channel == channel) & (channel_bindings.c.external_id == external_id)
                return bool(conn.execute(channel_bindings.delete().where(key)).rowcount)
        except SQLAlchemyError as exc:
            raise DatabaseError(str(exc)) from exc

    def bound_customer(self, channel: str, external_id: str) -> int | None:
        try:
            with self.engine.connect() as conn:
                return conn.execute(sa.select(channel_bindings.c.customer_id).where(
                    (channel_bindings.c.channel == channel) & (channel_bindings.c.external_id == external_id)
                )).scalar_one_or_none()
        except SQLAlchemyError as exc:
            raise DatabaseError(str(exc)) from exc
