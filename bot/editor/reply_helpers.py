"""Functions that send the reply one of their parameters names: each call of one is a sender.

``recorded(dispatcher, …, response="utter_message_recorded", **values)`` (actions/ticket_records.py) says
``response`` or ``f"{response}_registered_phone"`` with ``ticket_id``, ``phone_masked`` and whatever its
caller passes; ``ask_to_confirm(dispatcher, CONFIRM_NEW, when)`` (actions/visits.py) says its ``question``
with ``visit_time``. Read only from inside them, their replies were not determined and were checked
against every name the code passes anywhere: a reply deleted or given a placeholder nothing fills there
passed `kefu validate`. A call of such a function names the reply (its argument, or the parameter's
default) and the values (the function's own, and the caller's keywords where it passes ``**kwargs`` on).

A helper is a module-level function, defined once in the code read, whose parameter is read only as the
reply of the senders in it (``bot.editor.reply_senders.SENDERS``), written as the name or an f-string of it,
or tested (``if reply:``). A function passing its parameter on as another helper's reply is one too, with that
one's sends (``chase_if_known(…, reply=CHASED)`` calls ``chase_repair(…, reply=reply)``, which says it with
``ticket_id``); a default naming a module constant (``reply=CHASED``) is that constant's reply.
"""
from __future__ import annotations

import ast
import functools
import re
from dataclasses import dataclass

from bot.editor.reply_reads import _parents, defined_in
from bot.editor.reply_senders import HOW, PREFIX, SENDERS, _assignments, _dict_keys, _forwarded, _pattern, parsed

ARGUMENT = "\0"  # where a send's template takes the regex of the reply name the caller gives


@dataclass(frozen=True)
class Send:
    template: str  # regex of the reply, ARGUMENT for the parameter's value
    names: frozenset[str] | None  # the values the function passes itself; None: not known
    forwards: bool  # its ``**kwargs`` passed on: the caller's other keywords fill the reply too
    fills_slots: bool
    where: str  # "file:line" of the send in the function


@dataclass(frozen=True)
class Helper:
    function: str
    label: str  # the module defining it
    index: int  # the parameter's position in a call
    parameter: str
    parameters: frozenset[str]  # every named parameter: a caller's keyword naming one is not the reply's
    default: str | None  # regex of the reply the parameter's default names, None without one
    sends: tuple[Send, ...]


@functools.lru_cache(maxsize=4096)
def helpers_in(source: str, label: str, known: tuple[Helper, ...] = ()) -> tuple[Helper, ...]:
    """``known``: the helpers found so far, whose calls with a parameter as the reply make a helper too."""
    if PREFIX not in source:  # as module_sends: a helper elsewhere leaves its callers' replies not determined
        return ()
    tree = parsed(source)
    return tuple(helper for function in tree.body if isinstance(function, (ast.FunctionDef, ast.AsyncFunctionDef))
                 if (helper := _helper(tree, function, label, source, {h.function: h for h in known})) is not None)


def _helper(tree: ast.Module, function, label: str, source: str, known: dict[str, Helper]) -> Helper | None:
    positional = [a.arg for a in function.args.posonlyargs + function.args.args]
    kwarg = function.args.kwarg.arg if function.args.kwarg else None
    found: list[tuple[str, Send, int]] = []  # (parameter, send, reads of the parameter in it)
    scopes = None
    for call in ast.walk(function):
        if not isinstance(call, ast.Call):
            continue
        method = call.func.attr if isinstance(call.func, ast.Attribute) else getattr(call.func, "id", None)
        if isinstance(call.func, ast.Name) and method in known and method != function.name:
            found += _passed_on(call, known[method], positional)
            continue
        if method not in SENDERS:
            continue
        where, fills_slots = SENDERS[method]
        named = (next((k.value for k in call.keywords if k.arg == where), None) if isinstance(where, str)
                 else call.args[where] if len(call.args) > where else None)
        parameter, template = _template(named, positional)
        if parameter is None:
            continue
        scopes = _assignments(tree) if scopes is None else scopes
        names: set[str] | None = set()
        forwards = False
        for keyword in call.keywords:
            if keyword.arg is not None:
                names.add(keyword.arg)
            elif isinstance(keyword.value, ast.Name) and keyword.value.id == kwarg:
                forwards = True
            elif (keys := _dict_keys(keyword.value, scopes.get(id(call), {}))) is not None:
                names |= keys
            else:
                names = None
                break
        given = None if names is None else frozenset(names - HOW - {where})
        send = Send(template, given, forwards, fills_slots, f"{label}:{call.lineno}")
        found.append((parameter, send, sum(isinstance(n, ast.Name) and n.id == parameter for n in ast.walk(named))))
    parameters = {parameter for parameter, _, _ in found}
    if len(parameters) != 1:
        return None
    [parameter] = parameters
    parents = _parents(source)
    reads = sum(isinstance(n, ast.Name) and n.id == parameter and isinstance(n.ctx, ast.Load)
                and not _tested(n, parents) for n in ast.walk(function))
    if reads != sum(count for _, _, count in found):  # read otherwise too: who else may send it is not known
        return None
    index = positional.index(parameter)
    defaults = dict(zip(positional[len(positional) - len(function.args.defaults):], function.args.defaults))
    constants = {target.id: node.value for node in tree.body if isinstance(node, ast.Assign)
                 for target in node.targets if isinstance(target, ast.Name)}
    named_default = defaults.get(parameter)
    if isinstance(named_default, ast.Name) and isinstance(constants.get(named_default.id), ast.Constant):
        named_default = constants[named_default.id]  # reply=CHASED
    default = _pattern(named_default) if named_default is not None else None
    return Helper(function.name, label, index, parameter, frozenset(positional) | {a.arg for a in function.args.kwonlyargs},
                  default, tuple(send for _, send, _ in found))


def _tested(node: ast.AST, parents: dict[int, ast.AST]) -> bool:
    """Whether a read only tests the reply (``if reply:``, ``not reply``), saying nothing."""
    parent = parents.get(id(node))
    return (isinstance(parent, ast.UnaryOp) and isinstance(parent.op, ast.Not)
            or isinstance(parent, (ast.If, ast.While, ast.IfExp)) and node is parent.test)


def _passed_on(call: ast.Call, helper: Helper, parameters: list[str]) -> list[tuple[str, Send, int]]:
    """The sends of another helper a call passes a parameter to as its reply (``chase_repair(…, reply=reply)``):
    that helper's, with the call's own keywords where it passes them on."""
    named = (call.args[helper.index] if len(call.args) > helper.index
             else next((k.value for k in call.keywords if k.arg == helper.parameter), None))
    if not isinstance(named, ast.Name) or named.id not in parameters or any(isinstance(a, ast.Starred)
                                                                         for a in call.args):
        return []
    given = None if any(k.arg is None for k in call.keywords) else frozenset(
        k.arg for k in call.keywords if k.arg not in helper.parameters)
    return [(named.id, Send(send.template, _forwarded(send, given), False, send.fills_slots, send.where), 1)
            for send in helper.sends]


def _template(named: ast.AST | None, parameters: list[str]) -> tuple[str | None, str]:
    """(parameter, template) when the reply's name is a parameter or an f-string of one and text."""
    if isinstance(named, ast.Name) and named.id in parameters:
        return named.id, ARGUMENT
    if isinstance(named, ast.JoinedStr):
        values = [part.value for part in named.values if isinstance(part, ast.FormattedValue)]
        if (len(values) == 1 and isinstance(values[0], ast.Name) and values[0].id in parameters
                and all(isinstance(part, (ast.Constant, ast.FormattedValue)) for part in named.values)
                and not any(isinstance(part, ast.FormattedValue) and (part.format_spec or part.conversion != -1)
                            for part in named.values)):
            return values[0].id, "".join(ARGUMENT if isinstance(part, ast.FormattedValue) else re.escape(part.value)
                                         for part in named.values)
    return None, ""


def code_helpers(modules: list[tuple[str, str]]) -> tuple[Helper, ...]:
    """The helpers of ``modules`` ((label, source) each), but for a name defined more than once there (a call
    of it may be of the other) or one that is a sender's already."""
    defined: dict[str, int] = {}
    for _, source in modules:
        for name in defined_in(source):
            defined[name] = defined.get(name, 0) + 1
    found: tuple[Helper, ...] = ()
    for _ in range(8):  # again with those found, until a pass finds no more (a helper calling one)
        helpers = tuple(h for label, source in modules for h in helpers_in(source, label, found)
                        if defined.get(h.function) == 1 and h.function not in SENDERS)
        if helpers == found:
            break
        found = helpers
    return found

