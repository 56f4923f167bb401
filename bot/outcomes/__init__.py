"""The outcome record: one typed event shape, one recorder, one append-only table.

Every part of Kefu (actions, the handoff queue and desk, the phone engine, voice messages,
the Rasa event broker) reports what happened to a conversation through :func:`record`; the
KPIs in ``bot.analytics`` are computed from nothing else.
"""
from bot.outcomes.events import EVENT_KINDS, OutcomeEvent, outcome_event
from bot.outcomes.recorder import record, recorder_for

__all__ = ["EVENT_KINDS", "OutcomeEvent", "outcome_event", "record", "recorder_for"]
