"""Playwright for the page tests, started once more when its driver died at its start.

A worker's spawn of Playwright's driver has twice been stuck before exec; tests/stuck_spawn_watchdog.py ends such a
child, which leaves Playwright talking to a dead driver. Starting again gets a live one, so a page test fails only
for what its page does."""
from __future__ import annotations

import sys
from contextlib import asynccontextmanager, contextmanager

ATTEMPTS = 2
# What starting says when the driver has died: Playwright's words when it reads first, uvloop's when it writes first
DEAD_DRIVER_SIGNS = ("Connection closed while reading from the driver", "the handler is closed")


def _start_again(attempt: int, error: Exception) -> bool:
    """Whether to start again after ``error`` (only a driver that died, and only once), saying so on stderr."""
    if attempt == ATTEMPTS or not any(sign in str(error) for sign in DEAD_DRIVER_SIGNS):
        return False
    print(f"[playwright_start] the driver died at its start ({error}); starting it again", file=sys.stderr,
          flush=True)
    return True


@asynccontextmanager
async def async_playwright_started():
    """``async with async_playwright() as playwright``, with a driver that died at its start started again."""
    from playwright.async_api import async_playwright

    for attempt in range(1, ATTEMPTS + 1):
        try:
            playwright = await async_playwright().start()
            break
        except Exception as error:  # Playwright raises a bare Exception, uvloop a RuntimeError
            if not _start_again(attempt, error):
                raise
    try:
        yield playwright
    finally:
        await playwright.stop()


@contextmanager
def sync_playwright_started():
    """``with sync_playwright() as playwright``, with a driver that died at its start started again."""
    from playwright.sync_api import sync_playwright

    for attempt in range(1, ATTEMPTS + 1):
        try:
            playwright = sync_playwright().start()
            break
        except Exception as error:
            if not _start_again(attempt, error):
                raise
    try:
        yield playwright
    finally:
        playwright.stop()
