"""Which model a Rasa server's workers serve, shared by them, so a replaced worker loads that one.

``kefu train`` hot-swaps a new model into every worker (``PUT /model``), while a worker that
:mod:`bot.sanic_workers` forks to replace a dead one would load the model on the server's command
line, i.e. the one it started with: the instance would then answer with two models. The Rasa main
process creates a small shared-memory record before forking (:func:`install`); a successful swap
writes the model file into it (:func:`remember_swap`, a response middleware) and a starting worker
loads the model it names, if any. The record lives and dies with that Rasa server, so a restarted
server starts from its command line again (``kefu run`` picks the model for the current data).
"""
from __future__ import annotations

import logging
import multiprocessing
from pathlib import Path

from sanic.request import Request
from sanic.response import HTTPResponse

logger = logging.getLogger(__name__)

_RECORD_BYTES = 4096
_current = None  # multiprocessing.Array("c"), created by install() in the Rasa main process


def current() -> str | None:
    """The model file the workers were last switched to, when there is one and it still exists."""
    if _current is None:
        return None
    path = _current.value.decode("utf-8", "replace")
    return path if path and Path(path).is_file() else None


def remember(path: str) -> None:
    if _current is None or not path:
        return
    encoded = path.encode("utf-8")
    if len(encoded) < _RECORD_BYTES:
        _current.value = encoded


async def remember_swap(request: Request, response: HTTPResponse) -> None:
    """Response middleware: a model swap that succeeded is what a replacement worker loads."""
    if request.method == "PUT" and request.path == "/model" and response.status == 204:
        try:
            model = (request.json or {}).get("model_file")
        except Exception:  # noqa: BLE001 (Rasa already answered 204: the body was valid JSON)
            model = None
        if isinstance(model, str):
            remember(model)


def install() -> None:
    """In the Rasa main process, before it forks: create the record and load from it on worker start."""
    global _current
    import rasa.core.run

    _current = multiprocessing.get_context("fork").Array("c", _RECORD_BYTES, lock=True)
    original = rasa.core.run.load_agent_on_start

    async def load_agent_on_start(model_path, endpoints, remote_storage, app, loop):
        swapped = current()
        if swapped and swapped != model_path:
            logger.info("model.start.published model=%s", Path(swapped).name)
            model_path = swapped
        return await original(model_path, endpoints, remote_storage, app, loop)

    rasa.core.run.load_agent_on_start = load_agent_on_start
