"""Kefu's custom actions, split by topic; rasa-sdk discovers every Action subclass here."""
from bot.observability import action_server

action_server.install()  # rasa-sdk imports this package once at start: Kefu's logs from here on

from actions import (  # noqa: E402,F401
    accounts, csat, desk_proof, escalation, handoff, identity, knowledge_answers, new_install, opt_out, plan_end, selfhelp,
    tickets, visits)
