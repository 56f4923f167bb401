"""Kefu's custom actions, split by topic; rasa-sdk discovers every Action subclass here."""
from actions import accounts, csat, escalation, handoff, identity, selfhelp, tickets  # noqa: F401
