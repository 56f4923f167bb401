"""Routing rules from ``content/handoff.yml``: skill group, priority, wait-estimate defaults."""
from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

import yaml

from bot.settings import get_settings
from bot.yaml_load import safe_load


# What ``summary_template`` may name: what the agent's summary fills in (bot/handoff/context.py summary).
SUMMARY_FIELDS = ("customer", "tier", "channel", "skill", "fault", "code", "selfhelp", "selfhelp_outcome",
                  "tickets", "wait")


class HandoffRulesError(ValueError):
    """``content/handoff.yml`` is missing a part or names an unknown skill group."""


@dataclass(frozen=True)
class HandoffRules:
    skills: dict[str, str]
    default_skill: str
    intent_skills: dict[str, str]
    fault_skills: dict[str, str]
    vip_bonus: dict[int, int]
    repeat_bonus: int
    repeat_window_hours: float
    complaint_bonus: int
    direct_min_vip_tier: int
    selfhelp_failures_before_offer: int
    sla_seconds: dict[str, float]
    default_handle_time_s: float
    handle_time_window: int
    agent_capacity: int
    presence_timeout_s: float
    watch_interval_s: float
    status_refresh_s: float
    waiting_commands: dict[str, str]
    summary_template: str
    summary_words: dict[str, str]
    channel_names: dict[str, str] = field(default_factory=dict)
    max_wait_s: float = 0.0  # a request waiting longer is ended (timeout) and the bot offers a callback
    # An agent whose desk has not checked in for this long (closed browser, expired session) holds no
    # customer any more: the waiting room puts them back in the queue (bot/handoff/departures.py); 0 = never.
    agent_gone_after_s: float = 300.0

    def skill_for(self, intent: str | None, fault_type: str | None) -> str:
        """The skill group for the intent that led here, else the fault type, else the default."""
        return self.intent_skills.get(intent or "") or self.fault_skills.get(fault_type or "") or self.default_skill

    def skill_for_faults(self, intent: str | None, faults: list[str]) -> str:
        """The skill group for a conversation about several faults still in play ("电视和宽带都不行了", in the order
        ``bot.repair_faults.faults_of`` gives): the group they share, else ``default_skill`` — a queue takes one
        group, and no one specialist group serves all of them (the agent's packet names every fault). An intent
        that routes to a group of its own that is no fault's (a bill question) still wins, as in ``skill_for``."""
        if len(faults) < 2 or (intent in self.intent_skills and intent not in self.fault_skills):
            return self.skill_for(intent, faults[0] if faults else None)
        groups = {self.fault_skills.get(fault, self.default_skill) for fault in faults}
        return groups.pop() if len(groups) == 1 else self.default_skill

    def ticket_skill(self, kind: str, named: str | None, fault_type: str | None) -> str:
        """The skill group whose agents work a ticket: the one it names (a handoff's), else by its type
        (``complaint`` routes like the intent) and fault, else the default."""
        return named if named in self.skills else self.skill_for(kind, fault_type)

    def priority_for(self, vip_tier: int, repeat_contact: bool, complaint: bool) -> int:
        return (self.vip_bonus.get(int(vip_tier or 0), 0) + (self.repeat_bonus if repeat_contact else 0)
                + (self.complaint_bonus if complaint else 0))


def parse_rules(raw: dict) -> HandoffRules:
    try:
        skills = {str(k): str(v) for k, v in raw["skills"].items()}
        routing = raw.get("routing") or {}
        priority = raw.get("priority") or {}
        rules = HandoffRules(
            skills=skills,
            default_skill=str(raw["default_skill"]),
            intent_skills={str(k): str(v) for k, v in (routing.get("intents") or {}).items()},
            fault_skills={str(k): str(v) for k, v in (routing.get("fault_types") or {}).items()},
            vip_bonus={int(k): int(v) for k, v in (priority.get("vip_tier") or {}).items()},
            repeat_bonus=int(priority.get("repeat_contact", 0)),
            repeat_window_hours=float(priority.get("repeat_window_hours", 48)),
            complaint_bonus=int(priority.get("complaint", 0)),
            direct_min_vip_tier=int((raw.get("direct") or {}).get("min_vip_tier", 99)),
            selfhelp_failures_before_offer=int(raw.get("selfhelp_failures_before_offer", 2)),
            sla_seconds={str(k): float(v) for k, v in (raw.get("sla_seconds") or {}).items()},
            default_handle_time_s=float(raw.get("default_handle_time_s", 300)),
            handle_time_window=int(raw.get("handle_time_window", 20)),
            agent_capacity=int(raw.get("agent_capacity", 2)),
            presence_timeout_s=float(raw.get("presence_timeout_s", 60)),
            watch_interval_s=float(raw.get("watch_interval_s", 1.0)),
            status_refresh_s=float(raw.get("status_refresh_s", 60)),
            waiting_commands={str(k): str(v) for k, v in (raw.get("waiting_commands") or {}).items()},
            summary_template=str(raw["summary_template"]),
            summary_words={str(k): str(v) for k, v in (raw.get("summary_words") or {}).items()},
            channel_names={str(k): str(v) for k, v in (raw.get("channels") or {}).items()},
            max_wait_s=float(raw.get("max_wait_s", 0)),
            agent_gone_after_s=float(raw.get("agent_gone_after_s", 300)),
        )
    except (KeyError, TypeError, ValueError, AttributeError) as exc:
        raise HandoffRulesError(f"handoff.yml: {exc!r}") from exc
    try:  # found in review: "{custmer}" failed the desk's view of every conversation handed over
        rules.summary_template.format(**{name: "" for name in SUMMARY_FIELDS})
    except (KeyError, IndexError, ValueError, AttributeError, TypeError) as exc:
        raise HandoffRulesError(f"handoff.yml: summary_template cannot be filled in ({exc!r}): it may name "
                                f"{', '.join('{' + name + '}' for name in SUMMARY_FIELDS)}") from None
    try:  # a fault's self-help in the summary (bot/repair_faults.py selfhelp_by_fault)
        rules.summary_words.get("selfhelp_of_fault", "").format(fault="", selfhelp="")
    except (KeyError, IndexError, ValueError, AttributeError, TypeError) as exc:
        raise HandoffRulesError(f"handoff.yml: summary_words.selfhelp_of_fault cannot be filled in ({exc!r}): "
                                "it may name {fault}, {selfhelp}") from None
    if 0 < rules.agent_gone_after_s < rules.presence_timeout_s:
        # Shorter than "offline" would take customers from agents whose open desk is merely between check-ins.
        raise HandoffRulesError(f"handoff.yml: agent_gone_after_s ({rules.agent_gone_after_s:g}) must be 0 "
                                f"or at least presence_timeout_s ({rules.presence_timeout_s:g})")
    unknown = ({rules.default_skill} | set(rules.intent_skills.values()) | set(rules.fault_skills.values())) - set(skills)
    if unknown:
        raise HandoffRulesError(f"handoff.yml routes to unknown skill groups: {sorted(unknown)}")
    return rules


def parse_rules_file(path: Path) -> HandoffRules:
    try:
        return parse_rules(safe_load(path.read_text(encoding="utf-8")))
    except yaml.YAMLError as exc:
        raise HandoffRulesError(f"{path}: not valid YAML: {exc}") from exc
    except (KeyError, TypeError, AttributeError) as exc:
        raise HandoffRulesError(f"{path}: malformed ({type(exc).__name__}: {exc})") from exc


def load_rules(path: Path | None = None) -> HandoffRules:
    """The rules' last good version (bot/snapshot.py): editors change them without a restart."""
    from bot.snapshot import editor_file

    path = path or get_settings().content_dir / "handoff.yml"
    return editor_file(path, parse_rules_file, (HandoffRulesError,)).get()
