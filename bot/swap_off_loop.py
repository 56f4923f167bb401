"""A model hot swap (``PUT /model``) loads the new model in a thread: the worker answers meanwhile.

Rasa 3.6 loads the model inside the request handler, synchronously, on the worker's event loop
(``Agent.load_model``: unpacking, TensorFlow graphs, TED's one-step ``fit``). For the whole load —
about 25 s, 62 s on a busy 2-core machine — that worker answered nothing: on a one-worker server
every customer's message waited behind ``kefu train``'s publish, and clients gave up at 60 s
(seen in tests/editor/test_publish.py). Here the agent's stores, broker and endpoints are built on
the loop as Rasa builds them, and only the model file is loaded in a thread, where the new model also
parses once (``bot.warm_up``: its first parse cost a customer's turn about 0.6 s on the loop); the old
agent serves until Rasa's handler puts the new one in its place. Anything else (a model server, remote storage, a
path that does not exist) goes to Rasa's own code unchanged.
"""
from __future__ import annotations

import asyncio
import logging
import os
from http import HTTPStatus

from bot.warm_up import warm_in_thread

logger = logging.getLogger(__name__)

_original = None  # rasa.server._load_agent, kept for what this module leaves to Rasa
_one_load = None  # asyncio.Lock of this worker: two swaps at once load one after the other, as before


async def agent_without_model(endpoints):
    """An agent wired to ``endpoints`` as ``rasa.core.agent.load_agent`` (Rasa 3.6) wires it, no model yet."""
    from rasa.core.agent import Agent
    from rasa.core.brokers.broker import EventBroker
    from rasa.core.lock_store import LockStore
    from rasa.core.http_interpreter import RasaNLUHttpInterpreter
    from rasa.core.tracker_store import TrackerStore

    broker = await EventBroker.create(endpoints.event_broker)
    return Agent(
        generator=endpoints.nlg,
        tracker_store=TrackerStore.create(endpoints.tracker_store, event_broker=broker),
        lock_store=LockStore.create(endpoints.lock_store),
        action_endpoint=endpoints.action,
        http_interpreter=RasaNLUHttpInterpreter(endpoints.nlu) if endpoints.nlu else None,
    )


def loads_a_local_file(model_path, model_server, remote_storage, endpoints) -> bool:
    return (bool(model_path) and os.path.exists(model_path) and model_server is None and remote_storage is None
            and endpoints is not None and endpoints.model is None)


async def load_agent(model_path=None, model_server=None, remote_storage=None, endpoints=None):
    """``rasa.server._load_agent`` with the model loaded off the event loop; same answers on failure
    (Rasa answers 400 for a model it could not load)."""
    from rasa.server import ErrorResponse

    if not loads_a_local_file(model_path, model_server, remote_storage, endpoints):
        return await _original(model_path=model_path, model_server=model_server, remote_storage=remote_storage,
                               endpoints=endpoints)
    global _one_load
    _one_load = _one_load or asyncio.Lock()
    async with _one_load:  # never two models loading beside the one served (memory)
        agent = await agent_without_model(endpoints)
        logger.info("model.swap.loading model=%s", os.path.basename(str(model_path)))
        try:
            await asyncio.to_thread(agent.load_model, model_path)
        except Exception as exc:  # noqa: BLE001 - as Rasa: a model that cannot be loaded is refused, the old one serves
            logger.error("model.swap.load_failed model=%s error=%s: %s", model_path, type(exc).__name__, exc)
        if agent.is_ready():  # its first parse (TensorFlow's graphs) here too, not in a customer's turn
            await asyncio.to_thread(warm_in_thread, agent)
    if not agent.is_ready():
        raise ErrorResponse(HTTPStatus.BAD_REQUEST, "BadRequest", f"Agent with name '{model_path}' could not be loaded.",
                            {"parameter": "model", "in": "query"})
    return agent


def install() -> None:
    """In the Rasa server process, before the app is built: ``PUT /model`` calls ``rasa.server._load_agent``
    by its module name, so replacing it there is enough."""
    global _original
    import rasa.server

    if _original is None:
        _original = rasa.server._load_agent
        rasa.server._load_agent = load_agent
