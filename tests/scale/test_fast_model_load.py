"""Kefu's model load (bot/fast_model_load.py) gives the model Rasa's own load gives, or leaves the load to Rasa."""
from __future__ import annotations

import logging
from pathlib import Path

import numpy as np
import pytest

from bot import fast_model_load

pytestmark = pytest.mark.slow


def weights(agent) -> dict[str, dict[str, np.ndarray]]:
    """Per component of the agent with a TensorFlow model, its weights by name."""
    return {name: {weight.name: weight.numpy() for weight in node._component.model.weights}
            for name, node in agent.processor.graph_runner._instantiated_nodes.items()
            if getattr(getattr(node._component, "model", None), "weights", None)}


def load(model: Path, caplog) -> tuple[dict, list[str]]:
    """The loaded model's weights, and what the fast load warned while loading it."""
    from rasa.core.agent import Agent

    fast_model_load.install()
    caplog.clear()
    with caplog.at_level(logging.WARNING, logger=fast_model_load.__name__):
        agent = Agent.load(str(model))
    return weights(agent), [r.getMessage() for r in caplog.records if r.name == fast_model_load.__name__]


def test_the_quick_build_loads_the_weights_rasas_load_gives_and_a_mismatch_falls_back(trained_model, monkeypatch,
                                                                                     caplog):
    quick, quick_warnings = load(trained_model, caplog)
    assert quick_warnings == []  # no component needed Rasa's load

    def mismatched(*args):
        raise AssertionError("Unresolved object in checkpoint")  # what assert_consumed raises

    monkeypatch.setattr(fast_model_load, "_build", mismatched)
    rasas, fallback_warnings = load(trained_model, caplog)
    assert len(fallback_warnings) == len(rasas) == 2 and all("model.load.fallback" in w for w in fallback_warnings)
    assert quick.keys() == rasas.keys()
    for component, variables in rasas.items():
        assert quick[component].keys() == variables.keys()
        for name, value in variables.items():
            assert np.array_equal(quick[component][name], value), f"{component}: {name}"
