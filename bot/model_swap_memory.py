"""Give the old model's memory back after a hot swap (``PUT /model``, what ``kefu train`` publishes with).

Rasa drops its reference to the old agent when it loads a new one, but the freed TensorFlow and
Python buffers stay in glibc's heap, so each publish left the server larger (measured in
``bench/hot_swap_memory.py``). After a swap the server collects garbage and asks glibc to return
free pages to the system (``malloc_trim``), off the event loop.
"""
from __future__ import annotations

import asyncio
import ctypes
import ctypes.util
import gc
import logging

from sanic.request import Request
from sanic.response import HTTPResponse

logger = logging.getLogger(__name__)


def _trim() -> None:
    gc.collect()
    libc_name = ctypes.util.find_library("c")
    if libc_name:
        try:
            ctypes.CDLL(libc_name).malloc_trim(0)
        except (OSError, AttributeError):  # not glibc: the collection above is all there is
            pass


async def release_after_swap(request: Request, response: HTTPResponse) -> None:
    """Response middleware: once a model swap answered, free what the old model held."""
    if request.method == "PUT" and request.path == "/model" and response.status == 204:
        await asyncio.to_thread(_trim)
        logger.info("model.swap.memory_released")
