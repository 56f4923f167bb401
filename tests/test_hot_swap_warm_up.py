"""A hot-swapped model (``kefu train``'s publish, ``PUT /model``) is warmed up off the event loop before
it serves (bot/swap_off_loop.py). The swap loaded the model in a thread but did not warm it there, so
the first customer turn after each publish paid the new model's first parse (TensorFlow's graphs:
about 0.6 s measured) on the worker's only event loop, and every other conversation of that worker
waited behind it."""
from __future__ import annotations

import threading

import pytest
from rasa.core.processor import MessageProcessor
from rasa.core.utils import AvailableEndpoints

from bot import swap_off_loop

pytestmark = pytest.mark.slow  # loads the trained model


async def test_a_hot_swapped_model_has_parsed_off_the_event_loop_before_it_serves(trained_model, monkeypatch):
    loop_thread = threading.get_ident()
    parses: list[tuple[MessageProcessor, bool]] = []  # (the model's processor, parsed on the event loop)
    parse = MessageProcessor._parse_message_with_graph

    def recorded(processor, *args, **kwargs):
        parses.append((processor, threading.get_ident() == loop_thread))
        return parse(processor, *args, **kwargs)

    monkeypatch.setattr(MessageProcessor, "_parse_message_with_graph", recorded)
    agent = await swap_off_loop.load_agent(model_path=str(trained_model), endpoints=AvailableEndpoints())
    # What Rasa's PUT /model puts in place: from here customers' turns reach this agent, on the loop.
    before_serving = [on_loop for processor, on_loop in parses if processor is agent.processor]
    assert before_serving == [False], "the new model's first parse is left to a customer's turn on the event loop"
    reply = await agent.parse_message("我家电视没信号了")
    assert reply["intent"]["name"] == "fault_tv"
