"""Read and validate flow files; every problem is a :class:`FlowError` naming file, node and field.

Validation is strict on purpose (unknown keys are typos, dangling targets are dead ends on a
live phone line): a flow that loads can be walked without surprises.
"""
from __future__ import annotations

import hashlib
import re
from pathlib import Path
from typing import Any

import yaml

from bot.ivr.errors import FlowError
from bot.ivr.flow import ALL_SELFHELP, DEFAULT_INTER_DIGIT_S, DEFAULT_QUESTION_TIMEOUT_S, INPUT_KINDS, NODE_KINDS, Case, Condition, Flow, HoldOptions, MenuOption, Node, Retry
from bot.yaml_load import safe_load

DTMF_KEYS = "0123456789*#"
# The longest voice message a record node may take (its ``max_seconds``). The message is kept as a
# 16 kHz WAV in the database, which takes recordings up to 4 MiB (``bot.db.recordings``, ~131 s);
# the phone's voicemail pipeline takes this plus the little a recording runs over (bot/channels/ivr.py).
# It was 300 while the pipeline took 120 s: every longer message was lost.
MAX_RECORD_SECONDS = 120
STOP_WAITING_KEY = "*"  # while waiting for an agent, always: stop waiting (bot.ivr.engine)
_ID = re.compile(r"^[a-z][a-z0-9_]{0,63}$")
_COMMON = {"type", "say", "say_keys_only", "prompt", "barge_in", "next"}
_RETRY_KEYS = {"timeout_s", "max_no_input", "max_no_match", "no_input_say", "no_match_say",
               "on_no_input", "on_no_match", "escalate"}
_DEFAULT_KEYS = _RETRY_KEYS | {"inter_digit_timeout_s"}  # what a flow's `defaults` may set
_KIND_KEYS = {
    "play": set(),
    "hangup": set(),
    "hold": set(),
    "goto": {"cases", "target"},
    "menu": {"options", "free_speech"} | _RETRY_KEYS,
    "collect_digits": {"length", "min_length", "max_length", "pattern", "checksum", "terminator",
                       "inter_digit_timeout_s", "store_as", "invalid_say", "too_short_say"} | _RETRY_KEYS,
    "bot": {"intro", "max_turns", "keys", "on_handoff", "inter_digit_timeout_s", "question_timeout_s"} | _RETRY_KEYS,
    "record": {"beep", "max_seconds", "min_seconds", "end_silence_s", "finish_key", "confirm_say",
               "max_rerecord", "saved_say"} | _RETRY_KEYS,
    "transfer": {"skill", "priority", "vip_priority_bonus", "on_failure", "on_nobody"},
    "notify": {"channel", "text", "ask_number", "on_failure", "selfhelp", "tried_say", "on_tried"},
    "callback": {"skill", "priority", "ask_number", "on_failure"},
    "answer": {"answer", "value"},
}
_NEEDS_SAY = {"play", "menu", "collect_digits", "record"}
_NEEDS_NEXT = {"play", "collect_digits", "record", "notify", "callback", "answer"}
_CONDITION_KEYS = {"business_hours", "vip_tier_at_least", "known_customer", "queue_wait_over_s", "skill"}
_RETRY_DEFAULTS = {"timeout_s": 6.0, "max_no_input": 2, "max_no_match": 2,
                   "no_input_say": "", "no_match_say": ""}
# A call knows the caller's number, not a WeChat account: a text queued for "wechat" had no address any
# sender could use and no sender under `kefu run`, so it waited forever while the caller heard it was sent.
NOTIFY_CHANNELS = ("sms",)


def queue_waits(nodes: dict[str, Node]) -> dict[str, float]:
    """Where the flow's conditions look at the queue's wait (``'agent_route' cases[2]``) and the seconds each says."""
    found = {}
    for node in nodes.values():
        for i, case in enumerate(node.cases):
            if case.when.queue_wait_over_s is not None:
                found[f"'{node.id}' cases[{i}]"] = case.when.queue_wait_over_s
        for i, option in enumerate(node.options):
            if option.when.queue_wait_over_s is not None:
                found[f"'{node.id}' options[{i}]"] = option.when.queue_wait_over_s
    return found


def flow_version(text: str) -> str:
    return hashlib.sha256(text.encode("utf-8")).hexdigest()[:16]


def load_flow_file(path: Path) -> Flow:
    """Read one flow file; the flow id is the file name without ``.yml``."""
    name = path.name
    try:
        data = path.read_bytes()
        text = data.decode("utf-8")
    except OSError as exc:
        raise FlowError(name, "", "", f"cannot read the file: {exc.strerror}") from exc
    except UnicodeDecodeError as exc:  # an editor's tool saved it as GBK/ANSI: at its line, in validate's words
        from bot.editor.encoding_checks import utf8_mistake

        line, message = utf8_mistake(data)
        raise FlowError(name, "", "", message, line=line) from exc
    return parse_flow(text, name, path.stem)


def parse_flow(text: str, source: str, flow_id: str) -> Flow:
    try:
        raw = safe_load(text)
    except yaml.YAMLError as exc:
        from bot.editor.yaml_lines import syntax_error

        line, message = syntax_error(exc, text)
        where = f" (line {line})" if line else ""
        raise FlowError(source, "", "", message.replace("not valid YAML", f"not valid YAML{where}", 1)) from exc
    return _FlowParser(source, flow_id, raw).parse(flow_version(text))


class _FlowParser:
    def __init__(self, source: str, flow_id: str, raw: Any) -> None:
        self.source, self.flow_id, self.raw = source, flow_id, raw
        self._node = ""
        self._defaults: dict = {}

    def error(self, field: str, problem: str) -> FlowError:
        return FlowError(self.source, self._node, field, problem)

    def parse(self, version: str) -> Flow:
        raw = self.raw
        if not isinstance(raw, dict):
            raise self.error("", "the file must be a mapping with `flow`, `start` and `nodes`")
        unknown = set(raw) - {"flow", "start", "defaults", "nodes", "description", "hold"}
        if unknown:
            raise self.error(sorted(unknown)[0], "unknown top-level key")
        if raw.get("flow") != self.flow_id:
            raise self.error("flow", f"must be {self.flow_id!r} (the file name), got {raw.get('flow')!r}")
        defaults = raw.get("defaults") or {}
        if not isinstance(defaults, dict) or set(defaults) - _DEFAULT_KEYS:
            raise self.error("defaults", f"must be a mapping of {sorted(_DEFAULT_KEYS)}")
        self._defaults = defaults
        nodes_raw = raw.get("nodes")
        if not isinstance(nodes_raw, dict) or not nodes_raw:
            raise self.error("nodes", "must be a non-empty mapping of node id to node")
        nodes = {}
        for node_id, body in nodes_raw.items():
            self._node = str(node_id)
            if not isinstance(node_id, str) or not _ID.match(node_id):
                raise self.error("", "node ids are lower_case_with_underscores")
            nodes[node_id] = self.node(node_id, body, defaults)
        self._node = ""
        start = raw.get("start")
        if start not in nodes:
            raise self.error("start", f"names no node: {start!r}")
        flow = Flow(self.flow_id, start, nodes, version, self.source, raw, self.hold(raw.get("hold"), nodes))
        self.check_targets(flow)
        self.check_loops(flow)
        return flow

    # -- nodes -------------------------------------------------------------------------
    def node(self, node_id: str, body: Any, defaults: dict) -> Node:
        if not isinstance(body, dict):
            raise self.error("", "a node must be a mapping with a `type`")
        kind = body.get("type")
        if kind not in NODE_KINDS:
            raise self.error("type", f"must be one of {list(NODE_KINDS)}, got {kind!r}")
        unknown = set(body) - _COMMON - _KIND_KEYS[kind]
        if unknown:
            raise self.error(sorted(unknown)[0], f"not a field of a {kind} node")
        say = self.text(body, "say", required=kind in _NEEDS_SAY)
        fields: dict[str, Any] = dict(
            id=node_id, kind=kind, say=say, say_keys_only=self.text(body, "say_keys_only"), prompt=self.text(body, "prompt"),
            barge_in=self.boolean(body, "barge_in", True), next=self.ref(body, "next"),
        )
        if kind in _NEEDS_NEXT and not fields["next"]:
            raise self.error("next", f"a {kind} node needs `next`")
        if kind in INPUT_KINDS:
            fields["retry"] = self.retry({**_RETRY_DEFAULTS, **defaults, **{k: v for k, v in body.items() if k in _RETRY_KEYS}})
        getattr(self, f"fields_{kind}", lambda b, f: None)(body, fields)
        return Node(**fields)

    def fields_goto(self, body: dict, fields: dict) -> None:
        cases = body.get("cases") or []
        if not isinstance(cases, list):
            raise self.error("cases", "must be a list of {when, target}")
        parsed = []
        for i, case in enumerate(cases):
            if not isinstance(case, dict) or set(case) != {"when", "target"}:
                raise self.error(f"cases[{i}]", "each case needs exactly `when` and `target`")
            parsed.append(Case(self.condition(case["when"], f"cases[{i}].when"), self.ref(case, "target", f"cases[{i}].target")))
        fields["cases"] = tuple(parsed)
        fields["target"] = self.ref(body, "target")
        if not fields["target"]:
            raise self.error("target", "a goto node needs a `target` (used when no case holds)")

    def fields_menu(self, body: dict, fields: dict) -> None:
        options = body.get("options")
        if not isinstance(options, list) or not options:
            raise self.error("options", "a menu needs a list of options")
        parsed, seen = [], set()
        for i, option in enumerate(options):
            where = f"options[{i}]"
            if not isinstance(option, dict) or set(option) - {"digits", "phrases", "target", "when"}:
                raise self.error(where, "an option has `digits`, `phrases`, `target` and optional `when`")
            digits = str(option.get("digits", ""))
            if len(digits) != 1 or digits not in DTMF_KEYS:
                raise self.error(f"{where}.digits", f"one key of {DTMF_KEYS}, got {digits!r}")
            if digits in seen:
                raise self.error(f"{where}.digits", f"key {digits!r} is used by two options")
            seen.add(digits)
            phrases = option.get("phrases") or []
            if not isinstance(phrases, list) or not all(isinstance(p, str) and p.strip() for p in phrases):
                raise self.error(f"{where}.phrases", "must be a list of non-empty strings")
            parsed.append(MenuOption(digits, tuple(p.strip() for p in phrases), self.ref(option, "target", f"{where}.target"),
                                     self.condition(option.get("when") or {}, f"{where}.when")))
            if not parsed[-1].target:
                raise self.error(f"{where}.target", "every option needs a target")
        fields["options"] = tuple(parsed)
        fields["free_speech"] = self.ref(body, "free_speech")

    def fields_collect_digits(self, body: dict, fields: dict) -> None:
        length = body.get("length")
        low = body.get("min_length", length if isinstance(length, int) else None)
        high = body.get("max_length", length if isinstance(length, int) else None)
        if not isinstance(low, int) or not isinstance(high, int) or not 1 <= low <= high <= 32:
            raise self.error("length", "give `length` or `min_length`/`max_length` (1..32)")
        pattern = self.text(body, "pattern")
        if pattern:
            try:
                re.compile(pattern)
            except re.error as exc:
                raise self.error("pattern", f"not a valid regular expression: {exc}") from exc
        checksum = self.text(body, "checksum")
        if checksum not in ("", "luhn"):
            raise self.error("checksum", "must be `luhn` or left out")
        terminator = str(body.get("terminator", "#"))
        if terminator not in ("#", "*"):
            raise self.error("terminator", "must be # or *")
        store_as = self.text(body, "store_as") or "digits"
        if not _ID.match(store_as):
            raise self.error("store_as", "a lower_case name")
        fields.update(min_length=low, max_length=high, pattern=pattern, checksum=checksum, terminator=terminator,
                      inter_digit_timeout_s=self.inter_digit(body), store_as=store_as,
                      invalid_say=self.text(body, "invalid_say"), too_short_say=self.text(body, "too_short_say"))

    def inter_digit(self, body: dict) -> float:
        """The node's pause allowed between two keys of a number, else the flow's `defaults`, else 6 s."""
        if "inter_digit_timeout_s" in body:
            return self.number(body, "inter_digit_timeout_s", DEFAULT_INTER_DIGIT_S, 0.5, 30)
        return self.number(self._defaults, "inter_digit_timeout_s", DEFAULT_INTER_DIGIT_S, 0.5, 30)

    def fields_bot(self, body: dict, fields: dict) -> None:
        keys = body.get("keys") or {}
        if not isinstance(keys, dict):
            raise self.error("keys", "must map a key to a node id")
        pairs = []
        for key, target in keys.items():
            if str(key) not in DTMF_KEYS or len(str(key)) != 1:
                raise self.error(f"keys.{key}", f"one key of {DTMF_KEYS}")
            pairs.append((str(key), self.ref(keys, key, f"keys.{key}")))
        fields.update(intro=self.text(body, "intro"), max_turns=int(self.number(body, "max_turns", 10, 1, 100)),
                      keys=tuple(pairs), on_handoff=self.ref(body, "on_handoff"),
                      inter_digit_timeout_s=self.inter_digit(body),
                      question_timeout_s=self.number(body, "question_timeout_s", DEFAULT_QUESTION_TIMEOUT_S, 1, 120))

    def fields_record(self, body: dict, fields: dict) -> None:
        fields.update(beep=self.boolean(body, "beep", True),
                      max_seconds=self.number(body, "max_seconds", 60, 2, MAX_RECORD_SECONDS),
                      min_seconds=self.number(body, "min_seconds", 1.0, 0, 30),
                      end_silence_s=self.number(body, "end_silence_s", 3.0, 0.5, 30),
                      finish_key=str(body.get("finish_key", "#")),
                      confirm_say=self.text(body, "confirm_say"),
                      max_rerecord=int(self.number(body, "max_rerecord", 2, 0, 10)),
                      saved_say=self.text(body, "saved_say"))
        if fields["finish_key"] not in DTMF_KEYS:
            raise self.error("finish_key", f"one key of {DTMF_KEYS}")

    def fields_transfer(self, body: dict, fields: dict) -> None:
        fields.update(skill=self.text(body, "skill") or "general",
                      priority=int(self.number(body, "priority", 0, 0, 9)),
                      vip_priority_bonus=int(self.number(body, "vip_priority_bonus", 1, 0, 9)),
                      on_failure=self.ref(body, "on_failure"), on_nobody=self.ref(body, "on_nobody"))
        if not fields["on_failure"]:
            raise self.error("on_failure", "a transfer needs `on_failure` (the queue may be unavailable)")

    def fields_notify(self, body: dict, fields: dict) -> None:
        channel = self.text(body, "channel") or "sms"
        if channel not in NOTIFY_CHANNELS:
            raise self.error("channel", f"one of {list(NOTIFY_CHANNELS)} (a call knows the caller's number, not a "
                                        "WeChat account)")
        fields.update(channel=channel, text=self.text(body, "text", required=True), ask_number=self.ref(body, "ask_number"),
                      on_failure=self.ref(body, "on_failure"))  # not sent (gateway down, number's budget used up)
        selfhelp = body.get("selfhelp") or []
        selfhelp = [selfhelp] if selfhelp == ALL_SELFHELP else selfhelp
        if not isinstance(selfhelp, list) or not all(isinstance(e, str) and e for e in selfhelp):
            raise self.error("selfhelp", f"a list of self-help entry ids, or {ALL_SELFHELP!r}")
        fields.update(selfhelp=tuple(selfhelp), tried_say=self.text(body, "tried_say"), on_tried=self.ref(body, "on_tried"))
        if selfhelp and not fields["on_tried"]:
            raise self.error("on_tried", "a notify node naming `selfhelp` needs `on_tried` (where a caller goes "
                             "who already said it did not help)")

    def fields_callback(self, body: dict, fields: dict) -> None:
        fields.update(skill=self.text(body, "skill") or "general",
                      priority=int(self.number(body, "priority", 1, 0, 9)), ask_number=self.ref(body, "ask_number"),
                      on_failure=self.ref(body, "on_failure"))  # nothing booked (an unproven number, no ticket made)

    def fields_answer(self, body: dict, fields: dict) -> None:
        from bot.contacts.answers import ANSWERS

        answer = self.text(body, "answer", required=True)
        if answer not in ANSWERS:
            raise self.error("answer", f"one of {list(ANSWERS)}, got {answer!r}")
        fields.update(answer=answer, value=self.text(body, "value"))

    def hold(self, raw: Any, nodes: dict[str, Node]) -> HoldOptions:
        if raw is None:
            return HoldOptions()
        if not isinstance(raw, dict) or set(raw) - {"reminder", "keys", "long_wait_over_s", "long_wait_say"}:
            raise self.error("hold", "a mapping with `reminder`, `keys`, `long_wait_over_s` and `long_wait_say`")
        if "long_wait_over_s" in raw and "long_wait_say" not in raw:
            raise self.error("hold.long_wait_over_s", "nothing is said past it: write `hold.long_wait_say` too")
        keys = raw.get("keys") or {}
        if not isinstance(keys, dict):
            raise self.error("hold.keys", "must map a key to a node id")
        pairs = []
        for key, target in keys.items():
            if len(str(key)) != 1 or str(key) not in DTMF_KEYS or str(key) == STOP_WAITING_KEY:
                raise self.error(f"hold.keys.{key}", f"one key of {DTMF_KEYS} other than {STOP_WAITING_KEY} "
                                                     "(which always stops waiting)")
            pairs.append((str(key), self.ref(keys, key, f"hold.keys.{key}")))
        long_wait_say = self.text(raw, "long_wait_say")
        return HoldOptions(self.text(raw, "reminder"), tuple(pairs),
                           self.long_wait_over_s(raw, nodes) if "long_wait_say" in raw else 0.0, long_wait_say)

    def long_wait_over_s(self, hold: dict, nodes: dict[str, Node]) -> float:
        """The wait ``hold.long_wait_say`` is said past: its own ``long_wait_over_s``, else the one the flow's
        ``queue_wait_over_s`` conditions route by (the peak offer's), so editors write the threshold once."""
        if "long_wait_over_s" in hold:
            value = hold["long_wait_over_s"]
            if not isinstance(value, (int, float)) or isinstance(value, bool) or not 0 <= value <= 7200:
                raise self.error("hold.long_wait_over_s", f"seconds, a number from 0 to 7200, got {value!r}")
            return float(value)
        waits = queue_waits(nodes)
        if len(set(waits.values())) == 1:
            return next(iter(waits.values()))
        if not waits:
            raise self.error("hold.long_wait_say", "no `queue_wait_over_s` condition in the flow says when the wait "
                                                   "is long: write `hold.long_wait_over_s` (seconds)")
        named = ", ".join(f"{wait:g} at {where}" for where, wait in waits.items())
        raise self.error("hold.long_wait_say", f"the flow's `queue_wait_over_s` conditions differ ({named}): write "
                                               "the one meant in `hold.long_wait_over_s` (seconds)")

    # -- values ------------------------------------------------------------------------
    def retry(self, values: dict) -> Retry:
        escalate = values.get("escalate")
        return Retry(
            timeout_s=self.number(values, "timeout_s", 6.0, 1, 60),
            max_no_input=int(self.number(values, "max_no_input", 2, 0, 10)),
            max_no_match=int(self.number(values, "max_no_match", 2, 0, 10)),
            no_input_say=self.text(values, "no_input_say"),
            no_match_say=self.text(values, "no_match_say"),
            on_no_input=self.ref(values, "on_no_input") or self.ref(values, "escalate"),
            on_no_match=self.ref(values, "on_no_match") or (escalate if isinstance(escalate, str) else None),
        )

    def condition(self, raw: Any, where: str) -> Condition:
        if not isinstance(raw, dict):
            raise self.error(where, "a condition is a mapping")
        unknown = set(raw) - _CONDITION_KEYS
        if unknown:
            raise self.error(f"{where}.{sorted(unknown)[0]}", f"unknown condition; known: {sorted(_CONDITION_KEYS)}")
        for key in ("business_hours", "known_customer"):
            if key in raw and not isinstance(raw[key], bool):
                raise self.error(f"{where}.{key}", "must be true or false")
        tier = raw.get("vip_tier_at_least")
        if tier is not None and (not isinstance(tier, int) or isinstance(tier, bool) or not 0 <= tier <= 9):
            raise self.error(f"{where}.vip_tier_at_least", "a tier number 0..9")
        wait = raw.get("queue_wait_over_s")
        if wait is not None and (not isinstance(wait, (int, float)) or isinstance(wait, bool) or wait < 0):
            raise self.error(f"{where}.queue_wait_over_s", "seconds, a number >= 0")
        return Condition(raw.get("business_hours"), tier, raw.get("known_customer"),
                         float(wait) if wait is not None else None, str(raw.get("skill") or "general"))

    def text(self, body: dict, key: str, required: bool = False) -> str:
        value = body.get(key, "")
        if value is None:
            value = ""
        if not isinstance(value, str):
            raise self.error(key, "must be text")
        if required and not value.strip():
            raise self.error(key, "is required")
        return value.strip()

    def ref(self, body: dict, key: Any, field: str | None = None) -> str | None:
        value = body.get(key)
        if value is None:
            return None
        if not isinstance(value, str) or not value:
            raise self.error(field or str(key), "must be a node id")
        return value

    def boolean(self, body: dict, key: str, default: bool) -> bool:
        value = body.get(key, default)
        if not isinstance(value, bool):
            raise self.error(key, "must be true or false")
        return value

    def number(self, body: dict, key: str, default: float, low: float, high: float) -> float:
        value = body.get(key, default)
        if not isinstance(value, (int, float)) or isinstance(value, bool) or not low <= value <= high:
            raise self.error(key, f"a number from {low:g} to {high:g}, got {value!r}")
        return float(value)

    # -- graph ---------------------------------------------------------------------------
    def check_targets(self, flow: Flow) -> None:
        for key, target in flow.hold.keys:
            if target not in flow.nodes:
                raise FlowError(self.source, "", f"hold.keys.{key}", f"names no node: {target!r}")
        for node in flow.nodes.values():
            for field, target in node.targets():
                if target not in flow.nodes:
                    raise FlowError(self.source, node.id, field, f"names no node: {target!r}")
            if node.free_speech and flow.nodes[node.free_speech].kind != "bot":
                raise FlowError(self.source, node.id, "free_speech", "must name a bot node")
            if node.ask_number and flow.nodes[node.ask_number].kind != "collect_digits":
                raise FlowError(self.source, node.id, "ask_number", "must name a collect_digits node")

    def check_loops(self, flow: Flow) -> None:
        """A cycle of nodes that never wait for the caller would spin forever."""
        def passes(node: Node) -> list[str]:
            if node.kind in INPUT_KINDS or node.kind in ("hangup", "hold", "transfer"):
                return []
            return [t for f, t in node.targets()]

        state: dict[str, int] = {}

        def visit(node_id: str, path: list[str]) -> None:
            state[node_id] = 1
            for target in passes(flow.nodes[node_id]):
                if state.get(target) == 1:
                    cycle = path[path.index(target):] + [target] if target in path else [node_id, target]
                    raise FlowError(self.source, node_id, "next",
                                    "loop without waiting for the caller: " + " -> ".join(cycle))
                if target not in state:
                    visit(target, path + [target])
            state[node_id] = 2

        for node_id in flow.nodes:
            if node_id not in state:
                visit(node_id, [node_id])
