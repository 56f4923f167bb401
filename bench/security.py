"""What the security checks cost per message, beside what they sit next to (run: python bench/security.py).

Rows: a log line with and without number masking; checking the signed claims of one message
(nothing / a channel claim / an integration token) against a plain dict lookup; one service
password check (scrypt, run off the event loop) against one SMS-code HMAC check.
"""
from __future__ import annotations

import logging
import time
import timeit

import jwt

from bot.handoff.accounts import hash_password, verify_password
from bot.security import log_masking
from bot.security.claims import CALLER_ID, channel_claim, proven_claims
from bot.security.otp import CodeLedger

SECRET = "s" * 43


def per_call(stmt, number: int) -> float:
    return min(timeit.repeat(stmt, number=number, repeat=3)) / number


def log_line_cost(number: int = 20_000) -> tuple[float, float]:
    logger = logging.getLogger("bench.security")
    logger.addHandler(logging.NullHandler())
    logger.propagate = False
    logger.setLevel(logging.INFO)
    line = lambda: logger.info("ivr.call.started call=%s caller=%s", "MZ123", "+8613800000002")  # noqa: E731
    plain = per_call(line, number)
    original = logging.getLogRecordFactory()
    log_masking.install()
    masked = per_call(line, number)
    logging.setLogRecordFactory(original)
    return plain, masked


def main() -> None:
    rows = []
    plain, masked = log_line_cost()
    rows.append(("log line", "plain", plain, "masked", masked))
    metadata = {"channel": "rest"}
    lookup = per_call(lambda: metadata.get("kefu_channel_claim"), 200_000)
    claim = channel_claim(CALLER_ID, "13800000002", "ivr:MZ1", secret=SECRET)
    token = {"auth_token": jwt.encode({"aud": "kefu", "sub": "8800000002", "exp": int(time.time()) + 300},
                                      SECRET, algorithm="HS256")}
    rows.append(("claims, none", "dict lookup", lookup, "proven_claims",
                 per_call(lambda: proven_claims(metadata, "c", channel_secret=SECRET, jwt_secret=SECRET), 50_000)))
    rows.append(("claims, caller ID", "dict lookup", lookup, "proven_claims",
                 per_call(lambda: proven_claims(claim, "ivr:MZ1", channel_secret=SECRET, jwt_secret=SECRET), 5_000)))
    rows.append(("claims, token", "dict lookup", lookup, "proven_claims",
                 per_call(lambda: proven_claims(token, "c", channel_secret=SECRET, jwt_secret=SECRET), 5_000)))
    ledger = CodeLedger(None, SECRET, ttl_s=300, max_attempts=3, per_number_per_hour=5, per_sender_per_hour=5)
    digest = ledger.digest("123456")
    stored = hash_password("246802")
    hmac_check = per_call(lambda: ledger.digest("123457") == digest, 50_000)
    rows.append(("proof check", "SMS code (HMAC)", hmac_check, "service password (scrypt)",
                 per_call(lambda: verify_password("246801", stored), 5)))
    print(f"{'what':<20} {'baseline':<18} {'µs':>9}   {'measured':<26} {'µs':>9} {'ratio':>9}")
    for what, base_name, base, name, value in rows:
        print(f"{what:<20} {base_name:<18} {base * 1e6:9.2f}   {name:<26} {value * 1e6:9.2f} {value / base:9.1f}")


if __name__ == "__main__":
    main()
