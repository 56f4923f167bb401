"""The shape of an IVR flow, as read from ``ivr_flows/<id>.yml`` (one flow per file).

Flows are editors' data: every sentence a caller hears is in the file (``say``), optionally
replaced by a recording ``prompts/<prompt>.wav``. A flow is a graph of nodes; the engine
(:mod:`bot.ivr.engine`) walks it one Kefu event at a time. Node kinds:

``play``            say something, go on to ``next``
``menu``            options chosen by key (``digits``) or by voice (``phrases``, also the ASR
                    phrase list); retries on no input / no match, then escalation
``collect_digits``  an account or phone number: length, ``pattern``, optional ``checksum``
``bot``             free speech handed to the Rasa assistant, replies spoken
``record``          a voice message: beep, max length, confirm or re-record
``transfer``        into the human queue with a ``skill`` (and ``priority``)
``notify``          send a text (self-help link...) to the caller's phone; one naming the self-help it
                    links (``selfhelp``) is not sent to a proven caller who said that did not help
                    (``tried_say``, then ``on_tried``); ``on_failure``: where a caller goes who was
                    sent nothing (so ``next`` may say it was sent)
``callback``        book a call back (a ticket for an agent); ``on_failure``: where a caller goes
                    who was booked nothing (so ``next`` may say it was booked)
                    (both reach the caller's own line only when the trunk vouched for it; else the
                    number keyed at their ``ask_number`` collect_digits node)
``hold``            keep the caller on the line (the assistant already queued them for an agent)
``goto``            jump, optionally by ``cases`` whose ``when`` conditions look at business
                    hours, the caller's VIP tier and the current queue wait
``hangup``          say goodbye and end the call
``answer``          record the customer's answer to an outbound contact (``answer``: fixed,
                    not_fixed, csat, opt_out, heard; ``value`` may use {vars}), go on to ``next``
"""
from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

# Seconds a caller may leave between two keys of a number before what they keyed is checked.
# 3 s (the old value, and many platforms' default) rejected older callers reading a number off a
# bill digit by digit (accessibility audit); Microsoft's SALT dtmf object waits 10 s. A flow sets
# its own in ``defaults`` or per node (``inter_digit_timeout_s``, docs/editing.md).
DEFAULT_INTER_DIGIT_S = 6.0
# Silence a caller may keep after the assistant asked them something (a number, a code): time to
# find a bill or read a text message before the question is asked again (bot node ``question_timeout_s``).
DEFAULT_QUESTION_TIMEOUT_S = 15.0

# The key that repeats a menu, the same in every flow (a caller learns it once, and every menu says it). A menu
# offers it as an option whose target is the menu itself; `kefu validate` warns about a menu that does not.
REPEAT_KEY = "9"

# A notify node's ``selfhelp`` naming the whole catalogue (a general guide, not one entry's page).
ALL_SELFHELP = "all"

INPUT_KINDS = ("menu", "collect_digits", "bot", "record")
NODE_KINDS = ("play", "goto", "hangup", "hold", "transfer", "notify", "callback", "answer") + INPUT_KINDS


@dataclass(frozen=True)
class Condition:
    """All the given tests must hold; an empty condition always holds."""

    business_hours: bool | None = None
    vip_tier_at_least: int | None = None
    known_customer: bool | None = None
    queue_wait_over_s: float | None = None
    skill: str = "general"  # the queue ``queue_wait_over_s`` looks at

    @property
    def empty(self) -> bool:
        return (self.business_hours is None and self.vip_tier_at_least is None
                and self.known_customer is None and self.queue_wait_over_s is None)


@dataclass(frozen=True)
class Case:
    when: Condition
    target: str


@dataclass(frozen=True)
class MenuOption:
    digits: str
    phrases: tuple[str, ...]
    target: str
    when: Condition = field(default_factory=Condition)


@dataclass(frozen=True)
class Retry:
    """How a node waiting for input copes with silence and with input it cannot use."""

    timeout_s: float
    max_no_input: int
    max_no_match: int
    no_input_say: str
    no_match_say: str
    on_no_input: str | None  # escalation targets; None: end the call
    on_no_match: str | None


@dataclass(frozen=True)
class Node:
    """One node; ``kind`` tells which of the optional fields are meaningful."""

    id: str
    kind: str
    say: str = ""
    say_keys_only: str = ""  # said instead on a line with no speech recogniser (no "just say it")
    prompt: str = ""  # recorded prompt id (prompts/<id>.wav), defaults to "<flow>.<node>"
    barge_in: bool = True
    next: str | None = None
    retry: Retry | None = None
    # menu
    options: tuple[MenuOption, ...] = ()
    free_speech: str | None = None  # unmatched speech goes to this bot node as its first turn
    # goto
    cases: tuple[Case, ...] = ()
    target: str | None = None
    # collect_digits
    min_length: int = 0
    max_length: int = 0
    pattern: str = ""
    checksum: str = ""  # "" or "luhn"
    terminator: str = "#"
    inter_digit_timeout_s: float = DEFAULT_INTER_DIGIT_S  # also a bot node's, for a number the assistant asked for
    store_as: str = "digits"
    invalid_say: str = ""  # a number keyed that is not valid ({count}: how many digits were keyed)
    too_short_say: str = ""  # fewer digits than ``min_length`` (the caller stopped, or paused too long)
    # bot
    intro: str = ""  # a message sent to the assistant on entry (payload or text, {vars})
    max_turns: int = 10
    keys: tuple[tuple[str, str], ...] = ()  # key -> node while talking to the bot
    on_handoff: str | None = None  # where a caller the assistant queued for an agent waits
    question_timeout_s: float = DEFAULT_QUESTION_TIMEOUT_S  # silence allowed after the assistant asked something
    # record
    beep: bool = True
    max_seconds: float = 60.0
    min_seconds: float = 1.0
    end_silence_s: float = 3.0
    finish_key: str = "#"
    confirm_say: str = ""
    max_rerecord: int = 2
    saved_say: str = ""
    # transfer
    skill: str = "general"
    priority: int = 0
    vip_priority_bonus: int = 1
    on_failure: str | None = None
    on_nobody: str | None = None  # where to go, without queueing, when no agent of the skill is signed in
    # notify
    channel: str = "sms"
    text: str = ""
    selfhelp: tuple[str, ...] = ()  # the catalogue entries the text links; ("all",): a guide to all of them
    tried_say: str = ""  # said instead of texting self-help the proven caller already said did not help
    on_tried: str | None = None  # where the call goes then (an agent, a repair)
    # notify, callback: the collect_digits node asking for a number when the caller ID is unproven
    ask_number: str | None = None
    # answer
    answer: str = ""
    value: str = ""

    def targets(self) -> list[tuple[str, str]]:
        """(field, node id) of every node this one can lead to, for validation."""
        found = [(name, getattr(self, name)) for name in
                 ("next", "target", "free_speech", "on_handoff", "on_failure", "on_nobody", "ask_number", "on_tried") if getattr(self, name)]
        if self.retry is not None:
            found += [(f"on_{what}", t) for what, t in
                      (("no_input", self.retry.on_no_input), ("no_match", self.retry.on_no_match)) if t]
        found += [(f"options[{i}].target", o.target) for i, o in enumerate(self.options)]
        found += [(f"cases[{i}].target", c.target) for i, c in enumerate(self.cases)]
        found += [(f"keys.{k}", t) for k, t in self.keys]
        return found

    def phrases(self) -> list[str]:
        return [p for option in self.options for p in option.phrases]


@dataclass(frozen=True)
class HoldOptions:
    """What a caller waiting for an agent may do instead (the flow's top-level ``hold``).

    ``reminder`` is read every few seconds (``content/ivr.yml`` → ``hold.reminder_every_s``)
    over the hold audio; ``keys`` map a key to the node the caller goes to, leaving the queue
    (a ``callback`` node books the callback from the queue entry, with what the caller said; a ``notify``
    node to the caller's proven line is sent first, and one not sent keeps them in the queue; a caller who leaves to key
    a number for either comes back to the place they left when it will not do: ``FlowEngine._back_in_line``).
    ``long_wait_say`` is read once in a call instead of a reminder when the caller's own estimated wait
    has grown past ``long_wait_over_s`` on hold (the flow's ``queue_wait_over_s`` unless written: flow_loader), unless the flow offered them the wait already as it
    routed them (a ``goto`` case on ``queue_wait_over_s``, the peak offer): ``bot.ivr.long_wait``.
    """

    reminder: str = ""
    keys: tuple[tuple[str, str], ...] = ()
    long_wait_over_s: float = 0.0  # 0: never
    long_wait_say: str = ""


@dataclass(frozen=True)
class Flow:
    id: str
    start: str
    nodes: dict[str, Node]
    version: str  # content hash: a call keeps the version it started with
    source: str  # file name, for messages
    raw: Any = field(default=None, repr=False, compare=False)
    hold: HoldOptions = field(default_factory=HoldOptions)

    def node(self, node_id: str) -> Node:
        return self.nodes[node_id]

    def prompt_id(self, node: Node, suffix: str = "") -> str:
        base = node.prompt or f"{self.id}.{node.id}"
        return f"{base}.{suffix}" if suffix else base
